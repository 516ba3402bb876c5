#include "server/llama_params.h"

#include <cmath>
#include <initializer_list>
#include <limits>
#include <map>

namespace kvc::server {
namespace {

using Opt = std::optional<ApiError>;
constexpr double kInf = std::numeric_limits<double>::infinity();

ApiError type_error(const std::string& field, const std::string& want) {
  return bad_request("'" + field + "' must be " + want, field, "invalid_type");
}

std::string num(double v) {
  if (std::isinf(v)) return v > 0 ? "infinity" : "-infinity";
  Json j = v;
  if (v == std::floor(v) && std::fabs(v) < 1e15) j = static_cast<std::int64_t>(v);
  return j.dump();
}

ApiError range_error(const std::string& field, double lo, double hi, const Json& got) {
  std::string range = std::isinf(hi) ? ">= " + num(lo) : std::isinf(lo) ? "<= " + num(hi) : "between " + num(lo) + " and " + num(hi);
  return bad_request("'" + field + "' must be " + range + ", got " + got.dump(), field);
}

// The first of `names` present with a non-null value (llama-server's aliases:
// the first listed wins); nullptr when none.
const Json* find(const Json& o, std::initializer_list<const char*> names, std::string& which) {
  for (const char* n : names) {
    auto it = o.find(n);
    if (it != o.end() && !it->is_null()) {
      which = n;
      return &*it;
    }
  }
  return nullptr;
}

Opt read_double(const Json& o, std::initializer_list<const char*> names, double lo, double hi, double& out) {
  std::string f;
  const Json* v = find(o, names, f);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return type_error(f, "a number");
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) return range_error(f, lo, hi, *v);
  out = d;
  return std::nullopt;
}

Opt read_float(const Json& o, std::initializer_list<const char*> names, double lo, double hi, float& out) {
  double d = out;
  if (auto e = read_double(o, names, lo, hi, d)) return e;
  out = static_cast<float>(d);
  return std::nullopt;
}

Opt read_int64(const Json& o, std::initializer_list<const char*> names, std::int64_t lo, std::int64_t hi,
               std::int64_t& out) {
  std::string f;
  const Json* v = find(o, names, f);
  if (v == nullptr) return std::nullopt;
  std::int64_t x = 0;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    x = u > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(u);
  } else if (v->is_number_integer()) {
    x = v->get<std::int64_t>();
  } else if (v->is_number_float() && std::isfinite(v->get<double>()) && v->get<double>() == std::floor(v->get<double>()) &&
             std::fabs(v->get<double>()) < 9e18) {
    x = static_cast<std::int64_t>(v->get<double>());
  } else {
    return type_error(f, "an integer");
  }
  if (x < lo || x > hi) return range_error(f, static_cast<double>(lo), static_cast<double>(hi), *v);
  out = x;
  return std::nullopt;
}

Opt read_int(const Json& o, std::initializer_list<const char*> names, std::int64_t lo, std::int64_t hi, int& out) {
  std::int64_t x = out;
  if (auto e = read_int64(o, names, lo, hi, x)) return e;
  out = static_cast<int>(x);
  return std::nullopt;
}

Opt read_bool(const Json& o, const char* name, bool& out) {
  auto it = o.find(name);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return type_error(name, "a boolean");
  out = it->get<bool>();
  return std::nullopt;
}

Opt read_strings(const Json& v, const std::string& field, std::vector<std::string>& out) {
  if (!v.is_array()) return type_error(field, "an array of strings");
  out.clear();
  for (const Json& s : v) {
    if (!s.is_string()) return type_error(field, "an array of strings");
    out.push_back(s.get<std::string>());
  }
  return std::nullopt;
}

Opt parse_stop(const Json& o, GenerationParams& p, const GenerationDefaults& d) {
  auto it = o.find("stop");
  if (it == o.end() || it->is_null()) return std::nullopt;
  std::vector<std::string> stop;
  if (it->is_string()) {
    stop.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const Json& w : *it) {
      if (!w.is_string()) return type_error("stop", "a string or an array of strings");
      stop.push_back(w.get<std::string>());
    }
  } else {
    return type_error("stop", "a string or an array of strings");
  }
  std::erase_if(stop, [](const std::string& s) { return s.empty(); });
  p.sampling.stop = stop.empty() ? d.stop : std::move(stop);
  return std::nullopt;
}

// llama-server's logit_bias: [[token|text, bias|false], …] or {"token|text": bias|false}.
// A text is tokenized and every one of its tokens gets the bias; false bans.
Opt parse_logit_bias(const Json& o, SamplingParams& s, int n_vocab, const Tokenizer& tokenize) {
  auto it = o.find("logit_bias");
  if (it == o.end() || it->is_null()) return std::nullopt;
  const std::string want = "an object {\"token id or text\": bias} or an array of [token id or text, bias] pairs "
                           "(bias a number, or false to ban the token)";
  auto bias_of = [](const Json& v, float& bias) {
    if (v.is_number() && std::isfinite(v.get<double>())) return bias = v.get<float>(), true;
    if (v.is_boolean() && !v.get<bool>()) return bias = -INFINITY, true;
    return false;
  };
  auto add_token = [&](std::int64_t tok, float bias, const std::string& shown) -> Opt {
    if (tok < 0 || tok >= n_vocab)
      return bad_request("'logit_bias' names token " + shown + ", which is not in the vocabulary (0.." +
                             std::to_string(n_vocab - 1) + ")",
                         "logit_bias");
    s.logit_bias.push_back({static_cast<std::int32_t>(tok), bias});
    return std::nullopt;
  };
  auto add_text = [&](const std::string& text, float bias) {
    for (std::int32_t t : tokenize(text)) s.logit_bias.push_back({t, bias});
  };
  s.logit_bias.clear();
  if (it->is_array()) {
    for (const Json& el : *it) {
      float bias = 0;
      if (!el.is_array() || el.size() != 2 || !bias_of(el[1], bias)) return type_error("logit_bias", want);
      if (el[0].is_number_integer()) {
        if (auto e = add_token(el[0].get<std::int64_t>(), bias, el[0].dump())) return e;
      } else if (el[0].is_string()) {
        add_text(el[0].get<std::string>(), bias);
      } else {
        return type_error("logit_bias", want);
      }
    }
  } else if (it->is_object()) {
    for (const auto& [key, value] : it->items()) {
      float bias = 0;
      if (!bias_of(value, bias)) return type_error("logit_bias", want);
      char* end = nullptr;
      const long long tok = key.empty() ? 0 : std::strtoll(key.c_str(), &end, 10);
      if (!key.empty() && end != nullptr && *end == '\0') {
        if (auto e = add_token(tok, bias, key)) return e;
      } else {
        add_text(key, bias);
      }
    }
  } else {
    return type_error("logit_bias", want);
  }
  return std::nullopt;
}

Opt parse_grammar(const Json& o, SamplingParams& s) {
  std::string f;
  const Json* schema = find(o, {"json_schema"}, f);
  const Json* grammar = find(o, {"grammar"}, f);
  if (grammar != nullptr && !grammar->is_string()) return type_error("grammar", "a string (GBNF)");
  if (grammar != nullptr && !grammar->get<std::string>().empty()) {
    s.grammar.gbnf = grammar->get<std::string>();
    auto type = o.find("grammar_type");  // set by llama-server's own chat conversion
    s.grammar.kind = type != o.end() && *type == "tool_calls" ? GrammarConstraint::Kind::kToolCalls
                                                              : GrammarConstraint::Kind::kUser;
  } else if (schema != nullptr) {
    if (!schema->is_object()) return type_error("json_schema", "an object (a JSON schema)");
    auto gbnf = json_schema_to_grammar(schema->dump());
    if (!gbnf.ok()) return bad_request("'json_schema' cannot be turned into a grammar: " + gbnf.status().message(), "json_schema");
    s.grammar.gbnf = std::move(gbnf.value());
    s.grammar.kind = GrammarConstraint::Kind::kOutputFormat;
  }
  if (auto e = read_bool(o, "grammar_lazy", s.grammar.lazy)) return e;
  if (auto it = o.find("preserved_tokens"); it != o.end() && !it->is_null()) {
    if (auto e = read_strings(*it, "preserved_tokens", s.grammar.preserved_tokens)) return e;
  }
  if (auto it = o.find("grammar_triggers"); it != o.end() && !it->is_null()) {
    if (!it->is_array()) return type_error("grammar_triggers", "an array of {\"type\", \"value\"} objects");
    for (const Json& t : *it) {
      if (!t.is_object() || !t.contains("value") || !t.at("value").is_string())
        return type_error("grammar_triggers", "an array of {\"type\", \"value\"} objects");
      GrammarTrigger g;
      g.value = t.at("value").get<std::string>();
      const Json type = t.value("type", Json(1));
      // llama-server's common_grammar_trigger_type: 0 token, 1 word, 2 pattern, 3 pattern_full.
      const int k = type.is_number_integer() ? type.get<int>() : -1;
      if (k == 0 && t.contains("token") && t.at("token").is_number_integer()) {
        g.kind = GrammarTrigger::Kind::kToken;
        g.token = t.at("token").get<std::int32_t>();
      } else if (k == 1) {
        g.kind = GrammarTrigger::Kind::kWord;
      } else if (k == 2) {
        g.kind = GrammarTrigger::Kind::kPattern;
      } else if (k == 3) {
        g.kind = GrammarTrigger::Kind::kPatternFull;
      } else {
        return bad_request("'grammar_triggers' has a trigger of unknown type " + type.dump(), "grammar_triggers");
      }
      s.grammar.triggers.push_back(std::move(g));
    }
  }
  if (auto it = o.find("generation_prompt"); it != o.end() && it->is_string())
    s.grammar.generation_prompt = it->get<std::string>();
  if (s.grammar.lazy && s.grammar.triggers.empty() && !s.grammar.gbnf.empty())
    return bad_request("'grammar_lazy' needs 'grammar_triggers'", "grammar_lazy");
  return std::nullopt;
}

Opt parse_samplers(const Json& o, SamplingParams& s) {
  auto it = o.find("samplers");
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    auto names = sampler_names_from_chars(it->get<std::string>());
    if (auto* e = std::get_if<ApiError>(&names)) return *e;
    s.samplers = std::get<std::vector<std::string>>(names);
    return std::nullopt;
  }
  if (auto e = read_strings(*it, "samplers", s.samplers)) return type_error("samplers", "an array of sampler names or a string of sampler letters");
  return std::nullopt;
}

// Fields llama-server has and kvc does not serve: a 400 naming them, never
// silently ignored.
Opt refuse_unsupported(const Json& o) {
  static const std::map<std::string, std::string> kWhy = {
      {"lora", "per-request LoRA scales are not supported: kvc loads adapters at start (--lora) and keys its cache on them"},
      {"n_indent", "'n_indent' is not supported by kvc"},
      {"t_max_predict_ms", "'t_max_predict_ms' is not supported by kvc"},
      {"n_cache_reuse", "'n_cache_reuse' (KV shifting) is not supported: kvc reuses cached prefixes from its cache rows"},
      {"chat_parser", "'chat_parser' is internal to llama-server; send tools to /v1/chat/completions instead"},
  };
  for (const auto& [name, why] : kWhy) {
    auto it = o.find(name);
    if (it == o.end() || it->is_null()) continue;
    if (name == "n_indent" && it->is_number() && it->get<double>() == 0) continue;
    if (name == "t_max_predict_ms" && it->is_number() && it->get<double>() <= 0) continue;
    if (name == "n_cache_reuse" && it->is_number() && it->get<double>() == 0) continue;
    if (name == "lora" && it->is_array() && it->empty()) continue;
    return bad_request(why, name, "unsupported_value");
  }
  return std::nullopt;
}

}  // namespace

std::variant<std::vector<std::string>, ApiError> sampler_names_from_chars(const std::string& chars) {
  static const std::map<char, std::string> kNames = {
      {'d', "dry"}, {'k', "top_k"}, {'y', "typ_p"}, {'p', "top_p"}, {'m', "min_p"}, {'x', "xtc"},
      {'t', "temperature"}, {'e', "penalties"}, {'s', "top_n_sigma"}, {'a', "adaptive_p"}, {'i', "infill"},
  };
  std::vector<std::string> out;
  for (char c : chars) {
    auto it = kNames.find(c);
    if (it == kNames.end())
      return bad_request("'samplers' has an unknown sampler letter '" + std::string(1, c) + "' (known: dkypmxtesai)",
                         "samplers");
    out.push_back(it->second);
  }
  return out;
}

std::variant<GenerationParams, ApiError> parse_generation(const Json& o, const GenerationDefaults& d, int n_vocab,
                                                          const Tokenizer& tokenize) {
  GenerationParams p;
  SamplingParams& s = p.sampling;
  s = d.sampling;
  s.max_tokens = d.n_predict;
  s.stop = d.stop;
  p.verbose = d.verbose;
  if (!o.is_object()) return bad_request("the body must be a JSON object", "", "invalid_json");
  if (auto e = refuse_unsupported(o)) return *e;
  if (auto e = read_bool(o, "stream", p.stream)) return *e;
  if (auto it = o.find("stream_options"); it != o.end() && !it->is_null()) {
    if (!it->is_object()) return type_error("stream_options", "an object");
    if (auto e = read_bool(*it, "include_usage", p.include_usage))
      return type_error("stream_options.include_usage", "a boolean");
  }
  for (auto [name, flag] : {std::pair{"cache_prompt", &p.cache_prompt}, {"return_tokens", &p.return_tokens},
                            {"return_progress", &p.return_progress}, {"timings_per_token", &p.timings_per_token},
                            {"verbose", &p.verbose}, {"post_sampling_probs", &s.post_sampling_probs},
                            {"ignore_eos", &s.ignore_eos}, {"backend_sampling", &s.backend_sampling}}) {
    if (auto e = read_bool(o, name, *flag)) return *e;
  }
  if (auto e = read_int(o, {"n_predict", "max_completion_tokens", "max_tokens"}, -1, INT32_MAX, s.max_tokens)) return *e;
  // n_keep and n_discard steer llama-server's context shift, which kvc does not
  // do (docs/api-server.md): validated, and without effect as in llama-server
  // without --context-shift. sse_ping_interval: validated; kvc's SSE layer pings.
  int n_discard = 0, ping = 0;
  if (auto e = read_int(o, {"n_keep"}, -1, INT32_MAX, p.n_keep)) return *e;
  if (auto e = read_int(o, {"n_discard"}, 0, INT32_MAX, n_discard)) return *e;
  if (auto e = read_int(o, {"sse_ping_interval"}, -1, INT32_MAX, ping)) return *e;
  if (auto e = read_int(o, {"n_cmpl", "n"}, 1, std::max(d.n_parallel, 1), p.n_cmpl)) return *e;
  if (auto e = read_int(o, {"id_slot"}, -1, std::max(d.n_parallel, 1) - 1, p.id_slot)) return *e;
  if (auto it = o.find("response_fields"); it != o.end() && !it->is_null()) {
    if (auto e = read_strings(*it, "response_fields", p.response_fields)) return *e;
  }

  // Sampling (llama-server's ranges; the soft ones it clamps are refused here).
  if (auto e = read_int(o, {"top_k"}, 0, INT32_MAX, s.top_k)) return *e;
  if (auto e = read_float(o, {"top_p"}, 0, 1, s.top_p)) return *e;
  if (auto e = read_float(o, {"min_p"}, 0, 1, s.min_p)) return *e;
  if (auto e = read_float(o, {"top_n_sigma"}, -kInf, kInf, s.top_n_sigma)) return *e;
  if (auto e = read_float(o, {"xtc_probability"}, 0, 1, s.xtc_probability)) return *e;
  if (auto e = read_float(o, {"xtc_threshold"}, 0, 1, s.xtc_threshold)) return *e;
  if (auto e = read_float(o, {"typical_p"}, -kInf, kInf, s.typical_p)) return *e;
  if (auto e = read_float(o, {"temperature"}, 0, kInf, s.temperature)) return *e;
  if (auto e = read_float(o, {"dynatemp_range"}, -kInf, kInf, s.dynatemp_range)) return *e;
  if (auto e = read_float(o, {"dynatemp_exponent"}, -kInf, kInf, s.dynatemp_exponent)) return *e;
  if (auto e = read_int(o, {"repeat_last_n"}, 0, INT32_MAX, s.repeat_last_n)) return *e;
  if (auto e = read_float(o, {"repeat_penalty"}, std::numeric_limits<float>::min(), kInf, s.repeat_penalty)) return *e;
  if (auto e = read_float(o, {"frequency_penalty"}, -kInf, kInf, s.frequency_penalty)) return *e;
  if (auto e = read_float(o, {"presence_penalty"}, -kInf, kInf, s.presence_penalty)) return *e;
  if (auto e = read_float(o, {"dry_multiplier"}, -kInf, kInf, s.dry_multiplier)) return *e;
  if (auto e = read_float(o, {"dry_base"}, -kInf, kInf, s.dry_base)) return *e;
  if (s.dry_base < 1.0f) s.dry_base = d.sampling.dry_base;  // llama-server: below 1 means the default
  if (auto e = read_int(o, {"dry_allowed_length"}, 0, INT32_MAX, s.dry_allowed_length)) return *e;
  if (auto e = read_int(o, {"dry_penalty_last_n"}, 0, INT32_MAX, s.dry_penalty_last_n)) return *e;
  if (auto e = read_int(o, {"mirostat"}, 0, 2, s.mirostat)) return *e;
  if (auto e = read_float(o, {"mirostat_tau"}, -kInf, kInf, s.mirostat_tau)) return *e;
  if (auto e = read_float(o, {"mirostat_eta"}, -kInf, kInf, s.mirostat_eta)) return *e;
  if (auto e = read_float(o, {"adaptive_target"}, -kInf, 1, s.adaptive_target)) return *e;
  if (auto e = read_float(o, {"adaptive_decay"}, 0, 0.99, s.adaptive_decay)) return *e;
  std::int64_t seed = s.seed == SamplingParams::kRandomSeed ? -1 : static_cast<std::int64_t>(s.seed);
  if (auto e = read_int64(o, {"seed"}, -1, UINT32_MAX, seed)) return *e;
  s.seed = seed < 0 ? SamplingParams::kRandomSeed : static_cast<std::uint32_t>(seed);
  // "logprobs" is a count on /completion and /v1/completions (an alias of
  // n_probs) and a boolean on chat (OpenAI's: report probabilities at all).
  if (auto it = o.find("logprobs"); it != o.end() && it->is_boolean()) {
    s.probs = it->get<bool>();
    if (auto e = read_int(o, {"n_probs"}, 0, INT32_MAX, s.n_probs)) return *e;
  } else if (auto e = read_int(o, {"n_probs", "logprobs"}, 0, INT32_MAX, s.n_probs)) {
    return *e;
  }
  if (auto e = read_int(o, {"min_keep"}, 0, INT32_MAX, s.min_keep)) return *e;
  if (auto it = o.find("dry_sequence_breakers"); it != o.end() && !it->is_null()) {
    if (auto e = read_strings(*it, "dry_sequence_breakers", s.dry_sequence_breakers)) return *e;
    if (s.dry_sequence_breakers.empty())
      return bad_request("'dry_sequence_breakers' must be a non-empty array of strings", "dry_sequence_breakers");
  }
  if (auto e = parse_stop(o, p, d)) return *e;
  if (auto e = parse_samplers(o, s)) return *e;
  if (auto e = parse_logit_bias(o, s, n_vocab, tokenize)) return *e;
  if (auto e = parse_grammar(o, s)) return *e;

  if (auto it = o.find("parent_key"); it != o.end() && !it->is_null()) {
    if (!it->is_string()) return type_error("parent_key", "a string of 64 hex digits (a finish_key)");
    auto key = Key::from_hex(it->get<std::string>());
    if (!key.ok()) {
      return bad_request("'parent_key' must be 64 hex digits (a kvc.finish_key of an earlier response): " +
                             key.status().message(),
                         "parent_key");
    }
    p.parent_key = key.value();
  }
  return p;
}

void apply_chat_prompt(const ChatPrompt& chat, GenerationParams& p) {
  if (!chat.grammar.gbnf.empty() || !chat.grammar.triggers.empty()) p.sampling.grammar = chat.grammar;
  else p.sampling.grammar.generation_prompt = chat.grammar.generation_prompt;
  if (p.sampling.grammar.preserved_tokens.empty()) p.sampling.grammar.preserved_tokens = chat.grammar.preserved_tokens;
  for (const std::string& s : chat.additional_stops) p.sampling.stop.push_back(s);
}

Json generation_settings_json(const GenerationParams& p, const std::string& model) {
  const SamplingParams& s = p.sampling;
  Json bias = Json::array();
  for (const LogitBias& b : s.logit_bias) bias.push_back({{"bias", std::isinf(b.bias) ? Json(false) : Json(b.bias)}, {"token", b.token}});
  return Json{{"model", model},
              {"seed", s.seed},
              {"temperature", s.temperature},
              {"dynatemp_range", s.dynatemp_range},
              {"dynatemp_exponent", s.dynatemp_exponent},
              {"top_k", s.top_k},
              {"top_p", s.top_p},
              {"min_p", s.min_p},
              {"top_n_sigma", s.top_n_sigma},
              {"xtc_probability", s.xtc_probability},
              {"xtc_threshold", s.xtc_threshold},
              {"typical_p", s.typical_p},
              {"repeat_last_n", s.repeat_last_n},
              {"repeat_penalty", s.repeat_penalty},
              {"presence_penalty", s.presence_penalty},
              {"frequency_penalty", s.frequency_penalty},
              {"dry_multiplier", s.dry_multiplier},
              {"dry_base", s.dry_base},
              {"dry_allowed_length", s.dry_allowed_length},
              {"dry_penalty_last_n", s.dry_penalty_last_n},
              {"dry_sequence_breakers", s.dry_sequence_breakers},
              {"mirostat", s.mirostat},
              {"adaptive_target", s.adaptive_target},
              {"adaptive_decay", s.adaptive_decay},
              {"mirostat_tau", s.mirostat_tau},
              {"mirostat_eta", s.mirostat_eta},
              {"stop", s.stop},
              {"max_tokens", s.max_tokens},
              {"n_predict", s.max_tokens},
              {"n_keep", p.n_keep},
              {"ignore_eos", s.ignore_eos},
              {"stream", p.stream},
              {"logit_bias", bias},
              {"n_probs", s.n_probs},
              {"min_keep", s.min_keep},
              {"grammar", s.grammar.gbnf},
              {"grammar_lazy", s.grammar.lazy},
              {"preserved_tokens", s.grammar.preserved_tokens},
              {"samplers", s.samplers},
              {"timings_per_token", p.timings_per_token},
              {"post_sampling_probs", s.post_sampling_probs},
              {"backend_sampling", s.backend_sampling},
              {"lora", Json::array()}};
}

}  // namespace kvc::server
