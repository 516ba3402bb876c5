#include "server/llama_native.h"

#include <cstring>

namespace kvc::server {
namespace {

using Opt = std::optional<ApiError>;

ApiError wrong_type(const std::string& field, const std::string& want) {
  return bad_request("'" + field + "' must be " + want, field, "invalid_type");
}

Opt parse_body(std::string_view body, Json& out) {
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  out = std::move(std::get<Json>(parsed));
  return std::nullopt;
}

Opt piece_into(const Json& x, const std::string& field, PromptInput& in) {
  if (x.is_string()) {
    in.pieces.emplace_back(x.get<std::string>());
  } else if (x.is_number_integer()) {
    const bool in_range = x.is_number_unsigned() ? x.get<std::uint64_t>() <= INT32_MAX
                                                 : x.get<std::int64_t>() >= 0 && x.get<std::int64_t>() <= INT32_MAX;
    if (!in_range) return bad_request("'" + field + "' holds token id " + x.dump() + ", which is out of range", field);
    in.pieces.emplace_back(static_cast<std::int32_t>(x.get<std::int64_t>()));
  } else {
    return wrong_type(field, "a string, token ids, or an array of those");
  }
  return std::nullopt;
}

bool contains_numbers(const Json& a) {
  for (const Json& x : a)
    if (x.is_number_integer()) return true;
  return false;
}

bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

std::string base64(const void* data, std::size_t n) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    const std::uint32_t v = (static_cast<std::uint32_t>(p[i]) << 16) | (i + 1 < n ? p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

}  // namespace

std::variant<std::vector<PromptInput>, ApiError> parse_prompts(const Json& v, const std::string& field) {
  std::vector<PromptInput> out;
  auto one = [&](const Json& p) -> Opt {
    PromptInput in;
    if (p.is_object()) {
      // llama-server's {"prompt_string": …, "multimodal_data": [base64, …]}.
      if (p.contains("multimodal_data") && !p.at("multimodal_data").is_null() &&
          !(p.at("multimodal_data").is_array() && p.at("multimodal_data").empty()))
        return bad_request("'" + field + "' carries multimodal_data: kvc-server serves text models only", field,
                           "unsupported_value");
      if (!p.contains("prompt_string") || !p.at("prompt_string").is_string())
        return wrong_type(field, "a string, token ids, or {\"prompt_string\": string}");
      in.pieces.emplace_back(p.at("prompt_string").get<std::string>());
    } else if (p.is_array()) {
      for (const Json& x : p)
        if (auto e = piece_into(x, field, in)) return e;
    } else if (auto e = piece_into(p, field, in)) {
      return e;
    }
    if (in.pieces.empty()) return bad_request("'" + field + "' must not be empty", field);
    out.push_back(std::move(in));
    return std::nullopt;
  };
  if (v.is_array() && !contains_numbers(v)) {  // several prompts
    if (v.empty()) return bad_request("'" + field + "' must not be empty", field);
    for (const Json& p : v) {
      if (!p.is_string() && !p.is_array() && !p.is_object())
        return wrong_type(field, "a string, token ids, or an array of those");
      if (auto e = one(p)) return *e;
    }
  } else if (v.is_string() || v.is_array() || v.is_object()) {
    if (auto e = one(v)) return *e;
  } else {
    return wrong_type(field, "a string, token ids, or an array of those");
  }
  return out;
}

std::vector<std::int32_t> tokenize_prompt(const PromptInput& prompt, bool add_special, const TextTokenizer& tokenize) {
  std::vector<std::int32_t> out;
  bool first = true;
  for (const auto& piece : prompt.pieces) {
    if (const auto* text = std::get_if<std::string>(&piece)) {
      const auto ids = tokenize(*text, first && add_special);
      out.insert(out.end(), ids.begin(), ids.end());
    } else {
      out.push_back(std::get<std::int32_t>(piece));
    }
    first = false;
  }
  return out;
}

std::variant<NativeCompletionRequest, ApiError> parse_native_completion(std::string_view body) {
  NativeCompletionRequest r;
  if (auto e = parse_body(body, r.llama_params)) return *e;
  const Json& o = r.llama_params;
  if (!o.contains("prompt") || o.at("prompt").is_null()) return bad_request("'prompt' is required", "prompt", "missing_field");
  auto prompts = parse_prompts(o.at("prompt"), "prompt");
  if (auto* e = std::get_if<ApiError>(&prompts)) return *e;
  r.prompts = std::move(std::get<std::vector<PromptInput>>(prompts));
  return r;
}

std::string_view native_stop_type(FinishReason r) {
  switch (r) {
    case FinishReason::kEndOfGeneration: return "eos";
    case FinishReason::kStop: return "word";
    case FinishReason::kLength: return "limit";
    case FinishReason::kCancelled: break;
  }
  return "none";
}

Json native_completion_json(const NativeContext& c, const CompletionResult& result, const GenerationParams& p,
                            bool stream) {
  const RequestReport& r = result.report;
  // "truncated": the context filled up before the request's own limit.
  const bool truncated = r.finish_reason == FinishReason::kLength &&
                         (c.max_tokens == 0 || result.tokens.size() < c.max_tokens);
  Json j = {{"index", 0},
            {"content", stream ? std::string() : result.text},
            {"tokens", p.return_tokens && !stream ? Json(result.tokens) : Json::array()},
            {"id_slot", c.id_slot},
            {"stop", true},
            {"model", c.model},
            {"tokens_predicted", r.generated_tokens},
            {"tokens_evaluated", r.prompt_tokens},
            {"generation_settings", generation_settings_json(p, c.model)},
            {"prompt", c.prompt},
            {"has_new_line", result.text.find('\n') != std::string::npos},
            {"truncated", truncated},
            {"stop_type", native_stop_type(r.finish_reason)},
            {"stopping_word", result.stop_word},
            {"tokens_cached", r.prompt_tokens + r.generated_tokens},
            {"timings", timings_json(r)},
            {"kvc", kvc_json(r, result.tokens)}};
  if (!stream && !result.probs.empty())
    j["completion_probabilities"] = probs_json(result.probs, p.sampling.post_sampling_probs);
  return j;
}

Json native_chunk_json(const NativeContext& c, std::string_view text, std::span<const std::int32_t> tokens,
                       std::span<const TokenProbs> probs, const RequestReport& so_far, bool post_sampling) {
  Json j = {{"index", 0},
            {"content", std::string(text)},
            {"tokens", std::vector<std::int32_t>(tokens.begin(), tokens.end())},
            {"stop", false},
            {"id_slot", c.id_slot},
            {"tokens_predicted", so_far.generated_tokens},
            {"tokens_evaluated", so_far.prompt_tokens}};
  if (!probs.empty()) j["completion_probabilities"] = probs_json(probs, post_sampling);
  return j;
}

Json prompt_progress_json(const PromptProgress& p) {
  return Json{{"total", p.total}, {"cache", p.cached}, {"processed", p.processed}, {"time_ms", p.elapsed_ms}};
}

Json token_timings_json(const PromptProgress& p, std::size_t predicted_n, double predicted_ms) {
  // Progress events come after each decoded batch, and one before the first
  // (nothing processed beyond the cache): elapsed_ms then is the prompt's time so far.
  const std::size_t prompt_n = p.processed > p.cached ? p.processed - p.cached : 0;
  const double prompt_ms = prompt_n > 0 ? p.elapsed_ms : 0.0;
  const std::size_t steps = predicted_n > 0 ? predicted_n - 1 : 0;
  auto per_token = [](double ms, std::size_t n) { return n > 0 ? ms / static_cast<double>(n) : 0.0; };
  auto per_second = [](double ms, std::size_t n) { return ms > 0 ? 1e3 * static_cast<double>(n) / ms : 0.0; };
  return Json{{"cache_n", p.cached},
              {"prompt_n", prompt_n},
              {"prompt_ms", prompt_ms},
              {"prompt_per_token_ms", per_token(prompt_ms, prompt_n)},
              {"prompt_per_second", per_second(prompt_ms, prompt_n)},
              {"predicted_n", predicted_n},
              {"predicted_ms", predicted_ms},
              {"predicted_per_token_ms", per_token(predicted_ms, steps)},
              {"predicted_per_second", per_second(predicted_ms, steps)}};
}

Json progress_timings_json(const PromptProgress& p) { return token_timings_json(p, 0, 0.0); }

std::variant<TokenizeRequest, ApiError> parse_tokenize(std::string_view body) {
  Json o;
  if (auto e = parse_body(body, o)) return *e;
  TokenizeRequest r;
  if (o.contains("content") && !o.at("content").is_null()) {
    const Json& c = o.at("content");
    if (c.is_string()) {
      r.content.pieces.emplace_back(c.get<std::string>());
    } else if (c.is_array()) {
      for (const Json& x : c)
        if (auto e = piece_into(x, "content", r.content)) return *e;
    } else {
      return wrong_type("content", "a string, or an array of strings and token ids");
    }
  }
  for (auto [name, flag] : {std::pair{"add_special", &r.add_special}, {"parse_special", &r.parse_special},
                            {"with_pieces", &r.with_pieces}}) {
    if (o.contains(name) && !o.at(name).is_null()) {
      if (!o.at(name).is_boolean()) return wrong_type(name, "a boolean");
      *flag = o.at(name).get<bool>();
    }
  }
  return r;
}

Json tokenize_response(std::span<const TokenPiece> tokens, bool with_pieces) {
  Json arr = Json::array();
  for (const TokenPiece& t : tokens) {
    if (!with_pieces) {
      arr.push_back(t.id);
      continue;
    }
    Json piece;
    if (valid_utf8(t.piece)) {
      piece = t.piece;
    } else {
      piece = Json::array();
      for (unsigned char ch : t.piece) piece.push_back(static_cast<int>(ch));
    }
    arr.push_back({{"id", t.id}, {"piece", piece}});
  }
  return Json{{"tokens", arr}};
}

std::variant<std::vector<std::int32_t>, ApiError> parse_detokenize(std::string_view body) {
  Json o;
  if (auto e = parse_body(body, o)) return *e;
  std::vector<std::int32_t> out;
  if (!o.contains("tokens") || o.at("tokens").is_null()) return out;
  const Json& t = o.at("tokens");
  if (!t.is_array()) return wrong_type("tokens", "an array of token ids");
  for (const Json& x : t) {
    if (!x.is_number_integer()) return wrong_type("tokens", "an array of token ids");
    const bool out_of_range = x.is_number_unsigned() ? x.get<std::uint64_t>() > INT32_MAX
                                                     : x.get<std::int64_t>() < INT32_MIN || x.get<std::int64_t>() > INT32_MAX;
    if (out_of_range) return bad_request("'tokens' holds " + x.dump() + ", which is not a token id", "tokens");
    out.push_back(static_cast<std::int32_t>(x.get<std::int64_t>()));
  }
  return out;
}

std::variant<std::string, ApiError> parse_slot_filename(std::string_view body) {
  Json o;
  if (auto e = parse_body(body, o)) return *e;
  if (!o.contains("filename") || !o.at("filename").is_string())
    return bad_request("'filename' is required (a string)", "filename", "missing_field");
  const std::string f = o.at("filename").get<std::string>();
  if (f.empty() || f.size() > 255 || f == "." || f == ".." || f.find_first_of("/\\") != std::string::npos ||
      f.find('\0') != std::string::npos || f.front() == '.')
    return bad_request("Invalid filename: '" + f + "' must be a plain file name (no directories, not hidden)", "filename");
  return f;
}

Json slot_save_json(const SlotFileReport& r) {
  return Json{{"id_slot", r.slot}, {"filename", r.filename}, {"n_saved", r.n_tokens}, {"n_written", r.n_bytes},
              {"timings", {{"save_ms", r.ms}}}};
}

Json slot_restore_json(const SlotFileReport& r) {
  return Json{{"id_slot", r.slot}, {"filename", r.filename}, {"n_restored", r.n_tokens}, {"n_read", r.n_bytes},
              {"timings", {{"restore_ms", r.ms}}}};
}

Json slot_erase_json(const SlotFileReport& r) { return Json{{"id_slot", r.slot}, {"n_erased", r.n_tokens}}; }

Json slots_json(std::span<const SlotInfo> slots, int n_ctx_per_slot, const GenerationParams& defaults,
                const std::string& model) {
  Json arr = Json::array();
  for (const SlotInfo& s : slots) {
    arr.push_back({{"id", s.id},
                   {"id_task", -1},
                   {"n_ctx", n_ctx_per_slot},
                   {"speculative", false},
                   {"is_processing", s.processing},
                   {"params", generation_settings_json(defaults, model)},
                   {"kvc", {{"parked", s.parked}, {"n_tokens", s.n_tokens}}}});
  }
  return arr;
}

Json props_json(const PropsContext& c, const GenerationParams& defaults) {
  Json caps = Json::object();
  for (const auto& [k, v] : c.chat_template.caps) caps[k] = v;
  Json j = {{"default_generation_settings", {{"params", generation_settings_json(defaults, c.model_alias)},
                                            {"n_ctx", c.n_ctx_per_slot}}},
            {"total_slots", c.total_slots},
            {"model_alias", c.model_alias},
            {"model_ftype", c.model_ftype},
            {"model_path", c.model_path},
            {"modalities", {{"vision", false}, {"video", false}, {"audio", false}}},
            {"endpoint_slots", c.endpoint_slots},
            {"endpoint_props", false},
            {"endpoint_metrics", c.endpoint_metrics},
            {"ui", false},
            {"chat_template", c.chat_template.source},
            {"chat_template_caps", caps},
            {"bos_token", c.bos_token},
            {"eos_token", c.eos_token},
            {"build_info", c.build_info},
            {"is_sleeping", false}};
  if (c.chat_template.jinja && !c.chat_template.tool_use_source.empty())
    j["chat_template_tool_use"] = c.chat_template.tool_use_source;
  return j;
}

std::variant<EmbeddingRequest, ApiError> parse_embedding(std::string_view body, bool oai_endpoint) {
  Json o;
  if (auto e = parse_body(body, o)) return *e;
  EmbeddingRequest r;
  r.oai = oai_endpoint;
  const char* field = "input";
  if (!o.contains("input")) {
    if (!o.contains("content")) return bad_request("\"input\" or \"content\" must be provided", "input", "missing_field");
    field = "content";
    r.oai = false;  // "content" is not OpenAI's
  }
  auto inputs = parse_prompts(o.at(field), field);
  if (auto* e = std::get_if<ApiError>(&inputs)) return *e;
  r.inputs = std::move(std::get<std::vector<PromptInput>>(inputs));
  if (o.contains("encoding_format") && !o.at("encoding_format").is_null()) {
    const Json& f = o.at("encoding_format");
    if (!f.is_string() || (f != "float" && f != "base64"))
      return bad_request("The format to return the embeddings in. Can be either float or base64", "encoding_format");
    r.base64 = f == "base64";
  }
  if (o.contains("embd_normalize") && !o.at("embd_normalize").is_null()) {
    if (!o.at("embd_normalize").is_number_integer()) return wrong_type("embd_normalize", "an integer (-1, 0, 1, 2 or more)");
    const std::int64_t n = o.at("embd_normalize").get<std::int64_t>();
    if (n < -1 || n > 1000) return bad_request("'embd_normalize' must be between -1 and 1000", "embd_normalize");
    r.normalize = static_cast<int>(n);
  }
  if (o.contains("model") && o.at("model").is_string()) r.model = o.at("model").get<std::string>();
  return r;
}

Json embeddings_native_json(std::span<const Engine::Embedding> results) {
  Json arr = Json::array();
  for (std::size_t i = 0; i < results.size(); ++i) arr.push_back({{"index", i}, {"embedding", results[i].vectors}});
  return arr;
}

Json embeddings_oai_json(std::span<const Engine::Embedding> results, const EmbeddingRequest& req,
                         const std::string& model) {
  Json data = Json::array();
  std::size_t n_tokens = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const std::vector<float>& v = results[i].vectors.empty() ? std::vector<float>{} : results[i].vectors.front();
    Json e = {{"index", i}, {"object", "embedding"}};
    if (req.base64) {
      e["embedding"] = base64(v.data(), v.size() * sizeof(float));
      e["encoding_format"] = "base64";
    } else {
      e["embedding"] = v;
    }
    data.push_back(e);
    n_tokens += results[i].n_tokens;
  }
  return Json{{"model", req.model.empty() ? model : req.model},
              {"object", "list"},
              {"usage", {{"prompt_tokens", n_tokens}, {"total_tokens", n_tokens}}},
              {"data", data}};
}

}  // namespace kvc::server
