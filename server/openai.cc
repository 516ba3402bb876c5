#include "server/openai.h"

#include <cmath>
#include <limits>
#include <utility>

namespace kvc::server {
namespace {

using Parsed = std::variant<ParsedRequest, ApiError>;

ApiError wrong_type(const std::string& field, const std::string& want) {
  return bad_request("'" + field + "' must be " + want, field, "invalid_type");
}

bool is_null_or_absent(const Json& obj, const char* key) { return !obj.contains(key) || obj.at(key).is_null(); }

// Optional number in [lo, hi] (absent or null keeps `out`).
std::optional<ApiError> number_field(const Json& obj, const char* key, double lo, double hi, float& out) {
  if (is_null_or_absent(obj, key)) return std::nullopt;
  const Json& v = obj.at(key);
  if (!v.is_number()) return wrong_type(key, "a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    return bad_request("'" + std::string(key) + "' must be between " + std::to_string(lo) + " and " +
                           std::to_string(hi) + ", got " + v.dump(),
                       key);
  }
  out = static_cast<float>(d);
  return std::nullopt;
}

std::optional<ApiError> int_field(const Json& obj, const char* key, std::int64_t lo, std::int64_t hi,
                                  std::optional<std::int64_t>& out) {
  if (is_null_or_absent(obj, key)) return std::nullopt;
  const Json& v = obj.at(key);
  if (!v.is_number_integer()) return wrong_type(key, "an integer");
  const std::int64_t x = v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)
                             ? INT64_MAX
                             : v.get<std::int64_t>();
  if (x < lo || x > hi) {
    return bad_request("'" + std::string(key) + "' must be between " + std::to_string(lo) + " and " +
                           std::to_string(hi) + ", got " + v.dump(),
                       key);
  }
  out = x;
  return std::nullopt;
}

std::optional<ApiError> bool_field(const Json& obj, const char* key, bool& out) {
  if (is_null_or_absent(obj, key)) return std::nullopt;
  if (!obj.at(key).is_boolean()) return wrong_type(key, "a boolean");
  out = obj.at(key).get<bool>();
  return std::nullopt;
}

std::optional<ApiError> token_array(const Json& arr, const std::string& field, std::vector<std::int32_t>& out) {
  for (const Json& t : arr) {
    if (!t.is_number_integer()) return wrong_type(field, "a string, an array of strings or an array of token ids");
    const std::int64_t x = t.is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(
                                                        t.get<std::uint64_t>(), INT64_MAX))
                                                  : t.get<std::int64_t>();
    if (x < 0 || x > std::numeric_limits<std::int32_t>::max()) {
      return bad_request("'" + field + "' holds token id " + std::to_string(x) + ", which is out of range", field);
    }
    out.push_back(static_cast<std::int32_t>(x));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_prompt(const Json& obj, ParsedRequest& r) {
  if (is_null_or_absent(obj, "prompt")) return bad_request("'prompt' is required", "prompt", "missing_field");
  const Json& p = obj.at("prompt");
  if (p.is_string()) {
    r.prompt = p.get<std::string>();
  } else if (p.is_array() && !p.empty() && p.size() == 1 && p[0].is_string()) {
    r.prompt = p[0].get<std::string>();
  } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
    r.prompt_tokens.emplace();
    if (auto e = token_array(p, "prompt", *r.prompt_tokens)) return e;
  } else if (p.is_array() && p.size() == 1 && p[0].is_array() && !p[0].empty()) {
    r.prompt_tokens.emplace();
    if (auto e = token_array(p[0], "prompt", *r.prompt_tokens)) return e;
  } else if (p.is_array() && p.size() > 1 && (p[0].is_string() || p[0].is_array())) {
    return bad_request("'prompt' holds several prompts; send one per request", "prompt", "unsupported_value");
  } else if (p.is_array()) {
    return bad_request("'prompt' is empty", "prompt");
  } else {
    return wrong_type("prompt", "a string, an array of strings or an array of token ids");
  }
  if (!r.prompt_tokens && r.prompt.empty()) return bad_request("'prompt' is empty", "prompt");
  return std::nullopt;
}

std::optional<ApiError> parse_messages(const Json& obj, ParsedRequest& r) {
  if (is_null_or_absent(obj, "messages")) return bad_request("'messages' is required", "messages", "missing_field");
  const Json& ms = obj.at("messages");
  if (!ms.is_array()) return wrong_type("messages", "an array of messages");
  if (ms.empty()) return bad_request("'messages' is empty", "messages");
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    const Json& m = ms[i];
    if (!m.is_object()) return wrong_type(where, "an object");
    if (!m.contains("role") || !m.at("role").is_string() || m.at("role").get<std::string>().empty()) {
      return wrong_type(where + ".role", "a non-empty string");
    }
    ChatMessage cm{m.at("role").get<std::string>(), ""};
    if (m.contains("content") && !m.at("content").is_null()) {
      const Json& c = m.at("content");
      if (c.is_string()) {
        cm.content = c.get<std::string>();
      } else if (c.is_array()) {
        for (const Json& part : c) {
          if (!part.is_object() || !part.contains("type") || part.at("type") != "text" || !part.contains("text") ||
              !part.at("text").is_string()) {
            return wrong_type(where + ".content", "a string or an array of {\"type\":\"text\",\"text\":...} parts");
          }
          cm.content += part.at("text").get<std::string>();
        }
      } else {
        return wrong_type(where + ".content", "a string or an array of text parts");
      }
    }
    r.messages.push_back(std::move(cm));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_common(const Json& obj, const RequestLimits& limits, ParsedRequest& r) {
  if (obj.contains("model") && !obj.at("model").is_null()) {
    if (!obj.at("model").is_string()) return wrong_type("model", "a string");
    r.model = obj.at("model").get<std::string>();
    bool known = limits.model_names.empty();
    for (const auto& n : limits.model_names) known = known || n == r.model;
    if (!known) {
      ApiError e = bad_request("the model '" + r.model + "' does not exist; this server serves '" +
                                   (limits.model_names.empty() ? "" : limits.model_names.front()) + "' (GET /v1/models)",
                               "model", "model_not_found");
      e.status = 404;
      return e;
    }
  }
  if (r.model.empty() && !limits.model_names.empty()) r.model = limits.model_names.front();

  std::optional<std::int64_t> max_tokens, n, top_k, seed;
  const char* mt_key = r.chat && !is_null_or_absent(obj, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (auto e = int_field(obj, mt_key, 1, limits.max_tokens_limit, max_tokens)) return e;
  r.sampling.max_tokens = static_cast<int>(max_tokens.value_or(limits.default_max_tokens));
  if (auto e = number_field(obj, "temperature", 0, 2, r.sampling.temperature)) return e;
  if (auto e = number_field(obj, "top_p", 0, 1, r.sampling.top_p)) return e;
  float ignored = 0;
  if (auto e = number_field(obj, "presence_penalty", -2, 2, ignored)) return e;
  if (auto e = number_field(obj, "frequency_penalty", -2, 2, ignored)) return e;
  if (auto e = int_field(obj, "top_k", 0, 1 << 20, top_k)) return e;
  if (top_k) r.sampling.top_k = static_cast<int>(*top_k);
  if (auto e = int_field(obj, "seed", INT64_MIN, INT64_MAX, seed)) return e;
  if (seed) r.sampling.seed = static_cast<std::uint32_t>(*seed);
  if (auto e = int_field(obj, "n", 1, 1, n)) return e;
  if (auto e = bool_field(obj, "stream", r.stream)) return e;
  if (!is_null_or_absent(obj, "stream_options")) {
    const Json& so = obj.at("stream_options");
    if (!so.is_object()) return wrong_type("stream_options", "an object");
    if (auto e = bool_field(so, "include_usage", r.include_usage)) return e;
  }
  if (!is_null_or_absent(obj, "stop")) {
    const Json& s = obj.at("stop");
    if (s.is_string()) {
      if (!s.get<std::string>().empty()) r.sampling.stop.push_back(s.get<std::string>());
    } else if (s.is_array() && s.size() <= 16) {
      for (const Json& x : s) {
        if (!x.is_string()) return wrong_type("stop", "a string or an array of up to 16 strings");
        if (!x.get<std::string>().empty()) r.sampling.stop.push_back(x.get<std::string>());
      }
    } else {
      return wrong_type("stop", "a string or an array of up to 16 strings");
    }
  }
  if (!is_null_or_absent(obj, "user") && !obj.at("user").is_string()) return wrong_type("user", "a string");
  if (!is_null_or_absent(obj, "echo")) {
    if (!obj.at("echo").is_boolean()) return wrong_type("echo", "a boolean");
    if (obj.at("echo").get<bool>()) return bad_request("'echo' is not supported", "echo", "unsupported_value");
  }
  if (!is_null_or_absent(obj, "logprobs")) {
    const Json& lp = obj.at("logprobs");
    if (!lp.is_boolean() && !lp.is_number_integer()) return wrong_type("logprobs", "a boolean or an integer");
    if ((lp.is_boolean() && lp.get<bool>()) || (lp.is_number_integer() && lp.get<std::int64_t>() != 0)) {
      return bad_request("'logprobs' is not supported", "logprobs", "unsupported_value");
    }
  }
  if (!is_null_or_absent(obj, "parent_key")) {
    const Json& pk = obj.at("parent_key");
    if (!pk.is_string()) return wrong_type("parent_key", "a string of 64 hex digits (a finish_key)");
    auto key = Key::from_hex(pk.get<std::string>());
    if (!key.ok()) {
      return bad_request("'parent_key' must be 64 hex digits (a kvc.finish_key of an earlier response): " +
                             key.status().message(),
                         "parent_key");
    }
    r.parent_key = key.value();
  }
  return std::nullopt;
}

}  // namespace

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json error_body(const ApiError& e) {
  Json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  return Json{{"error", err}};
}

ApiError bad_request(std::string message, std::string param, std::string code) {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

ApiError engine_error(const Status& st) {
  switch (st.code()) {
    case Code::kInvalidArgument: return bad_request(st.message(), "", "invalid_request");
    case Code::kCancelled:
    case Code::kUnavailable:
      return ApiError{503, st.message(), "server_error", "", "unavailable"};
    default: return ApiError{500, st.to_string(), "server_error", "", "internal_error"};
  }
}

std::variant<ParsedRequest, ApiError> parse_request(std::string_view body, bool chat, const RequestLimits& limits) {
  Json obj;
  try {
    obj = Json::parse(body);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 1E999
    return bad_request(std::string("the body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!obj.is_object()) return bad_request("the body must be a JSON object", "", "invalid_json");
  ParsedRequest r;
  r.chat = chat;
  if (auto e = chat ? parse_messages(obj, r) : parse_prompt(obj, r)) return *e;
  if (auto e = parse_common(obj, limits, r)) return *e;
  return r;
}

std::variant<Json, ApiError> parse_object(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  Json obj;
  try {
    obj = Json::parse(body);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 1E999
    return bad_request(std::string("the body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!obj.is_object()) return bad_request("the body must be a JSON object", "", "invalid_json");
  return obj;
}

std::string_view openai_finish_reason(FinishReason r) {
  switch (r) {
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kStop:
    case FinishReason::kEndOfGeneration: break;
  }
  return "stop";
}

Json usage_json(const RequestReport& r) {
  return Json{{"prompt_tokens", r.prompt_tokens},
              {"completion_tokens", r.generated_tokens},
              {"total_tokens", r.prompt_tokens + r.generated_tokens},
              {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

Json kvc_json(const RequestReport& r, const std::vector<std::int32_t>& completion_tokens) {
  return Json{{"completion_token_ids", completion_tokens},
              {"path", lookup_path_name(r.path)},
              {"miss_reason", miss_reason_name(r.miss_reason)},
              {"tier", r.tier.empty() ? Json(nullptr) : Json(r.tier)},
              {"prompt_tokens", r.prompt_tokens},
              {"cached_tokens", r.cached_tokens},
              {"prefilled_tokens", r.prefilled_tokens},
              {"generated_tokens", r.generated_tokens},
              {"logits_from_cache", r.logits_from_cache},
              {"restore_ms", r.restore_ms},
              {"prefill_ms", r.prefill_ms},
              {"time_to_first_token_ms", r.time_to_first_token_ms},
              {"total_ms", r.total_ms},
              {"saves", r.saves},
              {"save_blocked_ms", r.save_blocked_ms},
              {"restored_key", r.restored_key ? Json(r.restored_key->hex()) : Json(nullptr)},
              {"finish_key", r.finish_key ? Json(r.finish_key->hex()) : Json(nullptr)},
              {"finish_reason", finish_reason_name(r.finish_reason)}};
}

Json completion_response(const ParsedRequest& req, const CompletionResult& result, const std::string& id,
                         std::int64_t created) {
  Json choice = {{"index", 0}, {"finish_reason", openai_finish_reason(result.report.finish_reason)}};
  if (req.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", result.text}};
  } else {
    choice["text"] = result.text;
    choice["logprobs"] = nullptr;
  }
  return Json{{"id", id},
              {"object", req.chat ? "chat.completion" : "text_completion"},
              {"created", created},
              {"model", req.model},
              {"choices", Json::array({choice})},
              {"usage", usage_json(result.report)},
              {"kvc", kvc_json(result.report, result.tokens)}};
}

Json stream_chunk(const ParsedRequest& req, const std::string& id, std::int64_t created, std::string_view text,
                  bool first) {
  Json choice = {{"index", 0}, {"finish_reason", nullptr}};
  if (req.chat) {
    choice["delta"] = {{"content", std::string(text)}};
    if (first) choice["delta"]["role"] = "assistant";
  } else {
    choice["text"] = std::string(text);
    choice["logprobs"] = nullptr;
  }
  return Json{{"id", id},
              {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
              {"created", created},
              {"model", req.model},
              {"choices", Json::array({choice})}};
}

Json stream_final_chunk(const ParsedRequest& req, const CompletionResult& result, const std::string& id,
                        std::int64_t created) {
  Json j = stream_chunk(req, id, created, "", false);
  j["choices"][0]["finish_reason"] = openai_finish_reason(result.report.finish_reason);
  if (req.chat) j["choices"][0]["delta"] = Json::object();
  j["usage"] = usage_json(result.report);
  j["kvc"] = kvc_json(result.report, result.tokens);
  return j;
}

}  // namespace kvc::server
