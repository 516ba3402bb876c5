#include "server/openai.h"

#include <cmath>
#include <limits>
#include <utility>

namespace kvc::server {
namespace {

using Opt = std::optional<ApiError>;

ApiError wrong_type(const std::string& field, const std::string& want) {
  return bad_request("'" + field + "' must be " + want, field, "invalid_type");
}

bool present(const Json& obj, const char* key) { return obj.contains(key) && !obj.at(key).is_null(); }

Opt parse_json(std::string_view body, Json& out) {
  try {
    out = Json::parse(body);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 1E999
    return bad_request(std::string("the body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!out.is_object()) return bad_request("the body must be a JSON object", "", "invalid_json");
  return std::nullopt;
}

// "stop": a string becomes a one-element array (both endpoints).
void normalize_stop(const Json& body, Json& llama) {
  if (body.contains("stop") && body.at("stop").is_string()) llama["stop"] = Json::array({body.at("stop")});
}

// Copies the body's fields llama does not already hold (llama-server's "copy
// remaining properties": its extra sampling fields work on OpenAI endpoints).
void copy_rest(const Json& body, Json& llama) {
  for (const auto& [k, v] : body.items()) {
    if (!llama.contains(k) || k == "n_predict") llama[k] = v;
  }
}

// The shape only; parse_prompts (llama_native.h) reads the prompts themselves.
Opt check_prompt(const Json& p) {
  const std::string want = "a string, token ids, {\"prompt_string\": …}, or an array of such prompts";
  if (p.is_string() || p.is_object()) return std::nullopt;
  if (!p.is_array()) return wrong_type("prompt", want);
  if (p.empty()) return bad_request("'prompt' is empty", "prompt");
  for (const Json& x : p) {
    if (x.is_string() || x.is_number_integer() || x.is_object()) continue;
    if (!x.is_array()) return wrong_type("prompt", want);
    for (const Json& y : x)
      if (!y.is_number_integer() && !y.is_string()) return wrong_type("prompt", want);
  }
  return std::nullopt;
}

Opt parse_completion(const Json& body, OpenAiRequest& r) {
  if (!present(body, "prompt")) return bad_request("'prompt' is required", "prompt", "missing_field");
  if (auto e = check_prompt(body.at("prompt"))) return e;
  r.prompt = body.at("prompt");
  if (present(body, "echo")) {
    if (!body.at("echo").is_boolean()) return wrong_type("echo", "a boolean");
    if (body.at("echo").get<bool>()) return bad_request("'echo': only no echo is supported", "echo", "unsupported_value");
  }
  for (const char* p : {"best_of", "suffix"}) {  // OpenAI's, not llama-server's (/infill takes suffix)
    if (body.contains(p)) return bad_request(std::string("Unsupported param: ") + p, p, "unsupported_value");
  }
  normalize_stop(body, r.llama_params);
  copy_rest(body, r.llama_params);
  r.llama_params.erase("prompt");
  return std::nullopt;
}

Opt parse_messages(Json& messages) {
  if (!messages.is_array()) return wrong_type("messages", "an array of messages");
  if (messages.empty()) return bad_request("'messages' is empty", "messages");
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    Json& m = messages[i];
    if (!m.is_object()) return wrong_type(where, "an object");
    if (!m.contains("role") || !m.at("role").is_string() || m.at("role").get<std::string>().empty())
      return wrong_type(where + ".role", "a non-empty string");
    const std::string role = m.at("role").get<std::string>();
    if (role != "assistant" && !m.contains("content"))
      return bad_request("all non-assistant messages must contain 'content' (" + where + ")", where + ".content");
    if (role == "assistant" && !m.contains("content") && !m.contains("tool_calls"))
      return bad_request("an assistant message must contain either 'content' or 'tool_calls' (" + where + ")", where);
    if (!m.contains("content")) continue;
    const Json& c = m.at("content");
    if (c.is_string() || c.is_null()) continue;
    if (!c.is_array()) return wrong_type(where + ".content", "a string or an array of content parts");
    for (const Json& part : c) {
      const std::string type = part.is_object() && part.contains("type") && part.at("type").is_string()
                                   ? part.at("type").get<std::string>()
                                   : std::string();
      if (type == "image_url" || type == "input_audio" || type == "input_video" || type == "video_url")
        return bad_request("'" + type + "' input is not supported: kvc serves text models only (no multimodal projector)",
                           where + ".content", "unsupported_value");
      if (type != "text" || !part.contains("text") || !part.at("text").is_string())
        return wrong_type(where + ".content", "a string or an array of {\"type\": \"text\", \"text\": …} parts");
    }
  }
  return std::nullopt;
}

Opt parse_chat(Json& body, OpenAiRequest& r) {
  ChatRequest& c = r.chat_request;
  Json& llama = r.llama_params;
  if (!present(body, "messages")) return bad_request("'messages' is required", "messages", "missing_field");
  if (auto e = parse_messages(body.at("messages"))) return e;

  // tools and tool_choice
  bool has_tools = false;
  if (present(body, "tools")) {
    const Json& t = body.at("tools");
    if (!t.is_array()) return wrong_type("tools", "an array of tools");
    has_tools = !t.empty();
  }
  Json tools = has_tools ? body.at("tools") : Json();
  if (present(body, "tool_choice")) {
    const Json& tc = body.at("tool_choice");
    if (tc.is_string()) {
      c.tool_choice = tc.get<std::string>();
      if (c.tool_choice != "auto" && c.tool_choice != "none" && c.tool_choice != "required")
        return bad_request("'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", "
                           "\"function\": {\"name\": …}}",
                           "tool_choice");
    } else if (tc.is_object() && tc.value("type", "") == "function" && tc.contains("function") &&
               tc.at("function").is_object() && tc.at("function").contains("name") &&
               tc.at("function").at("name").is_string()) {
      // A named function: that one tool, and a call is required.
      const std::string name = tc.at("function").at("name").get<std::string>();
      Json only = Json::array();
      for (const Json& tool : tools.is_array() ? tools : Json::array()) {
        if (tool.is_object() && tool.contains("function") && tool.at("function").is_object() &&
            tool.at("function").value("name", "") == name)
          only.push_back(tool);
      }
      if (only.empty()) return bad_request("'tool_choice' names function '" + name + "', which is not in 'tools'", "tool_choice");
      tools = only;
      c.tool_choice = "required";
    } else {
      return wrong_type("tool_choice", "\"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}");
    }
  }
  if (has_tools) c.tools_json = tools.dump();
  if (present(body, "parallel_tool_calls")) {
    if (!body.at("parallel_tool_calls").is_boolean()) return wrong_type("parallel_tool_calls", "a boolean");
    c.parallel_tool_calls = body.at("parallel_tool_calls").get<bool>();
  }

  // response_format, json_schema and grammar
  Json schema = present(body, "json_schema") ? body.at("json_schema") : Json();
  if (!schema.is_null() && !schema.is_object()) return wrong_type("json_schema", "an object (a JSON schema)");
  std::string grammar;
  if (present(body, "grammar")) {
    if (!body.at("grammar").is_string()) return wrong_type("grammar", "a string (GBNF)");
    grammar = body.at("grammar").get<std::string>();
  }
  if (!schema.is_null() && !grammar.empty())
    return bad_request("cannot use both 'json_schema' and 'grammar'", "json_schema");
  if (present(body, "response_format")) {
    const Json& rf = body.at("response_format");
    if (!rf.is_object()) return wrong_type("response_format", "an object");
    const std::string type = rf.value("type", "");
    if (type == "json_object") {
      if (rf.contains("schema") || schema.is_null()) schema = rf.value("schema", Json::object());
    } else if (type == "json_schema") {
      const Json wrapper = rf.value("json_schema", Json::object());
      if (!wrapper.is_object()) return wrong_type("response_format.json_schema", "an object with a 'schema'");
      schema = wrapper.value("schema", Json::object());
    } else if (!type.empty() && type != "text") {
      return bad_request("response_format type must be one of \"text\", \"json_object\" or \"json_schema\", but got: " + type,
                         "response_format");
    }
    if (!schema.is_null() && !schema.is_object()) return wrong_type("response_format.json_schema.schema", "an object");
  }
  if (schema.is_object() && schema.empty()) schema["type"] = "object";  // an empty schema: any object
  if (!schema.is_null()) c.json_schema = schema.dump();
  c.grammar = grammar;
  if (has_tools && c.tool_choice != "none" && !grammar.empty())
    return bad_request("cannot use custom grammar constraints with tools", "grammar");

  // template inputs
  if (present(body, "add_generation_prompt")) {
    if (!body.at("add_generation_prompt").is_boolean()) return wrong_type("add_generation_prompt", "a boolean");
    c.add_generation_prompt = body.at("add_generation_prompt").get<bool>();
  }
  if (present(body, "continue_final_message")) {
    c.continue_final_message = body.at("continue_final_message").dump();
  } else {
    // llama-server's assistant prefill: a trailing assistant message is continued.
    const Json& ms = body.at("messages");
    if (ms.back().value("role", "") == "assistant") {
      if (ms.size() >= 2 && ms[ms.size() - 2].value("role", "") == "assistant")
        return bad_request("cannot have 2 or more assistant messages at the end of the list", "messages");
      c.continue_final_message = "true";
      c.add_generation_prompt = false;
    }
  }
  if (present(body, "chat_template_kwargs")) {
    const Json& kw = body.at("chat_template_kwargs");
    if (!kw.is_object()) return wrong_type("chat_template_kwargs", "an object");
    for (const auto& [k, v] : kw.items()) c.chat_template_kwargs[k] = v.dump();
  }
  if (present(body, "reasoning_format")) {
    if (!body.at("reasoning_format").is_string()) return wrong_type("reasoning_format", "a string");
    c.reasoning_format = body.at("reasoning_format").get<std::string>();
  }
  if (present(body, "reasoning_effort")) {
    if (!body.at("reasoning_effort").is_string()) return wrong_type("reasoning_effort", "a string");
    const std::string effort = body.at("reasoning_effort").get<std::string>();
    if (effort == "none") {
      c.enable_thinking = false;
      c.chat_template_kwargs.erase("reasoning_effort");
    } else if (!effort.empty()) {
      c.chat_template_kwargs["reasoning_effort"] = Json(effort).dump();
    }
  }
  c.messages_json = body.at("messages").dump();

  // logprobs / top_logprobs → n_probs (llama-server: 20 alternatives by default)
  const bool stream = body.value("stream", false) == true;
  if (present(body, "logprobs")) {
    if (!body.at("logprobs").is_boolean()) return wrong_type("logprobs", "a boolean");
  }
  if (present(body, "top_logprobs") && !body.at("top_logprobs").is_number_integer())
    return wrong_type("top_logprobs", "an integer");
  if (present(body, "logprobs") && body.at("logprobs").get<bool>()) {
    if (has_tools && stream) return bad_request("logprobs is not supported with tools + stream", "logprobs");
    const std::int64_t top = present(body, "top_logprobs") ? body.at("top_logprobs").get<std::int64_t>() : 20;
    if (top < 0 || top > 20) return bad_request("'top_logprobs' must be between 0 and 20, got " + std::to_string(top), "top_logprobs");
    llama["n_probs"] = top;
    llama["logprobs"] = true;
  } else if (present(body, "top_logprobs")) {
    return bad_request("top_logprobs requires logprobs to be set to true", "top_logprobs");
  } else {
    llama["logprobs"] = false;
  }
  normalize_stop(body, llama);
  copy_rest(body, llama);
  for (const char* k : {"messages", "tools", "tool_choice", "response_format", "json_schema", "grammar", "top_logprobs",
                        "chat_template_kwargs", "continue_final_message", "add_generation_prompt"})
    llama.erase(k);
  return std::nullopt;
}

std::vector<unsigned char> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

// The longest prefix of `s` that does not end inside a UTF-8 sequence (llama-server's validate_utf8).
std::string complete_utf8(const std::string& s) {
  std::size_t len = s.size();
  for (std::size_t i = 1; i <= 4 && i <= len; ++i) {
    const auto c = static_cast<unsigned char>(s[len - i]);
    if ((c & 0xE0) == 0xC0 && i < 2) return s.substr(0, len - i);
    if ((c & 0xF0) == 0xE0 && i < 3) return s.substr(0, len - i);
    if ((c & 0xF8) == 0xF0 && i < 4) return s.substr(0, len - i);
  }
  return s;
}

// log(p), with llama-server's floor for p = 0 (JSON has no -inf).
double logprob(float p) { return p == 0.0f ? std::numeric_limits<float>::lowest() : std::log(p); }

Json base(const ResponseContext& c, const char* object) {
  return Json{{"id", c.id}, {"created", c.created}, {"model", c.model}, {"system_fingerprint", c.system_fingerprint},
              {"object", object}};
}

}  // namespace

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Json error_body(const ApiError& e) {
  Json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  for (const auto& [k, v] : e.extra.items()) err[k] = v;
  return Json{{"error", err}};
}

ApiError bad_request(std::string message, std::string param, std::string code) {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

ApiError not_supported(std::string message) {
  return ApiError{501, std::move(message), "not_supported_error", "", "not_supported"};
}

ApiError exceed_context_error(std::size_t n_prompt_tokens, std::size_t n_ctx) {
  ApiError e{400,
             "the request exceeds the available context size: the prompt has " + std::to_string(n_prompt_tokens) +
                 " tokens and the context holds " + std::to_string(n_ctx) +
                 " per sequence (--ctx-size / --parallel); shorten the prompt or raise --ctx-size",
             "exceed_context_size_error", "", "context_length_exceeded"};
  e.extra = Json{{"n_prompt_tokens", n_prompt_tokens}, {"n_ctx", n_ctx}};
  return e;
}

ApiError engine_error(const Status& st) {
  switch (st.code()) {
    case Code::kInvalidArgument: return bad_request(st.message(), "", "invalid_request");
    case Code::kCancelled:
    case Code::kUnavailable:
      return ApiError{503, st.message(), "unavailable_error", "", "unavailable"};
    default: return ApiError{500, st.to_string(), "server_error", "", "internal_error"};
  }
}

std::variant<OpenAiRequest, ApiError> parse_openai_request(std::string_view body, bool chat) {
  Json obj;
  if (auto e = parse_json(body, obj)) return *e;
  OpenAiRequest r;
  r.chat = chat;
  r.llama_params = Json::object();
  if (present(obj, "model")) {
    if (!obj.at("model").is_string()) return wrong_type("model", "a string");
    r.model = obj.at("model").get<std::string>();
  }
  if (present(obj, "user") && !obj.at("user").is_string()) return wrong_type("user", "a string");
  if (auto e = chat ? parse_chat(obj, r) : parse_completion(obj, r)) return *e;
  r.llama_params.erase("model");
  return r;
}

std::variant<Json, ApiError> parse_object(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  Json obj;
  if (auto e = parse_json(body, obj)) return *e;
  return obj;
}

std::string_view openai_finish_reason(FinishReason r, bool has_tool_calls) {
  switch (r) {
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kStop:
    case FinishReason::kEndOfGeneration: break;
  }
  return has_tool_calls ? "tool_calls" : "stop";
}

Json usage_json(const RequestReport& r) {
  return Json{{"prompt_tokens", r.prompt_tokens},
              {"completion_tokens", r.generated_tokens},
              {"total_tokens", r.prompt_tokens + r.generated_tokens},
              {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

Json timings_json(const RequestReport& r) {
  const double prompt_ms = r.prefill_ms;
  const double predicted_ms = std::max(0.0, r.total_ms - r.time_to_first_token_ms);
  // llama-server's rates: the first token comes from the prompt's last logits
  // (no decode of its own), so generation is n - 1 decode steps.
  const std::size_t steps = r.generated_tokens > 0 ? r.generated_tokens - 1 : 0;
  auto per_token = [](double ms, std::size_t n) { return n > 0 ? ms / static_cast<double>(n) : 0.0; };
  auto per_second = [](double ms, std::size_t n) { return ms > 0 && n > 0 ? 1e3 * static_cast<double>(n) / ms : 0.0; };
  return Json{{"cache_n", r.cached_tokens},
              {"prompt_n", r.prefilled_tokens},
              {"prompt_ms", prompt_ms},
              {"prompt_per_token_ms", per_token(prompt_ms, r.prefilled_tokens)},
              {"prompt_per_second", per_second(prompt_ms, r.prefilled_tokens)},
              {"predicted_n", r.generated_tokens},
              {"predicted_ms", predicted_ms},
              {"predicted_per_token_ms", per_token(predicted_ms, steps)},
              {"predicted_per_second", per_second(predicted_ms, steps)}};
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
              {"restored_key", r.restored_key ? Json(r.restored_key->hex()) : Json(nullptr)},
              {"finish_key", r.finish_key ? Json(r.finish_key->hex()) : Json(nullptr)},
              {"finish_reason", finish_reason_name(r.finish_reason)}};
}

Json probs_json(std::span<const TokenProbs> probs, bool post_sampling) {
  const char* p_key = post_sampling ? "prob" : "logprob";
  auto value = [&](float p) { return post_sampling ? Json(p) : Json(logprob(p)); };
  Json out = Json::array();
  for (const TokenProbs& t : probs) {
    Json top = Json::array();
    for (const TokenProbability& a : t.top)
      top.push_back({{"id", a.token}, {"token", complete_utf8(a.piece)}, {"bytes", bytes_of(a.piece)}, {p_key, value(a.prob)}});
    out.push_back({{"id", t.token},
                   {"token", complete_utf8(t.piece)},
                   {"bytes", bytes_of(t.piece)},
                   {p_key, value(t.prob)},
                   {post_sampling ? "top_probs" : "top_logprobs", top}});
  }
  return out;
}

Json chat_message_json(const ChatOutput& out) {
  Json m = {{"role", "assistant"}, {"content", out.content}};
  if (!out.reasoning_content.empty()) m["reasoning_content"] = out.reasoning_content;
  if (!out.tool_calls.empty()) {
    if (out.content.empty()) m["content"] = nullptr;
    Json calls = Json::array();
    for (const ChatToolCall& c : out.tool_calls) {
      Json tc = {{"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
      if (!c.id.empty()) tc["id"] = c.id;
      calls.push_back(tc);
    }
    m["tool_calls"] = calls;
  }
  return m;
}

Json chat_delta_json(const ChatDelta& d) {
  Json delta = Json::object();
  if (!d.reasoning_content.empty()) delta["reasoning_content"] = d.reasoning_content;
  if (!d.content.empty()) delta["content"] = d.content;
  if (d.tool_call_index) {
    Json tc = {{"index", *d.tool_call_index}};
    if (!d.tool_call.id.empty()) {
      tc["id"] = d.tool_call.id;
      tc["type"] = "function";
    }
    if (!d.tool_call.name.empty() || !d.tool_call.arguments.empty()) {
      Json f = Json::object();
      if (!d.tool_call.name.empty()) f["name"] = d.tool_call.name;
      if (!d.tool_call.arguments.empty()) f["arguments"] = d.tool_call.arguments;
      tc["function"] = f;
    }
    delta["tool_calls"] = Json::array({tc});
  }
  return delta;
}

Json completion_response(const ResponseContext& c, const CompletionResult& result) {
  Json logprobs = nullptr;
  if (!result.probs.empty()) logprobs = {{"content", probs_json(result.probs, c.post_sampling_probs)}};
  Json j = base(c, "text_completion");
  j["choices"] = Json::array({Json{{"text", result.text},
                                   {"index", 0},
                                   {"logprobs", logprobs},
                                   {"finish_reason", openai_finish_reason(result.report.finish_reason)}}});
  j["usage"] = usage_json(result.report);
  j["timings"] = timings_json(result.report);
  j["kvc"] = kvc_json(result.report, result.tokens);
  return j;
}

Json chat_response(const ResponseContext& c, const CompletionResult& result, const ChatOutput& message) {
  Json choice = {{"index", 0},
                 {"finish_reason", openai_finish_reason(result.report.finish_reason, !message.tool_calls.empty())},
                 {"message", chat_message_json(message)}};
  if (!result.probs.empty()) choice["logprobs"] = {{"content", probs_json(result.probs, c.post_sampling_probs)}};
  Json j = base(c, "chat.completion");
  j["choices"] = Json::array({choice});
  j["usage"] = usage_json(result.report);
  j["timings"] = timings_json(result.report);
  j["kvc"] = kvc_json(result.report, result.tokens);
  return j;
}

Json completion_chunk(const ResponseContext& c, std::string_view text, std::span<const TokenProbs> probs) {
  Json logprobs = nullptr;
  if (!probs.empty()) logprobs = {{"content", probs_json(probs, c.post_sampling_probs)}};
  Json j = base(c, "text_completion");
  j["choices"] = Json::array({Json{{"text", std::string(text)}, {"index", 0}, {"logprobs", logprobs}, {"finish_reason", nullptr}}});
  return j;
}

Json completion_final_chunk(const ResponseContext& c, const CompletionResult& result, bool with_timings) {
  Json j = completion_chunk(c, "", {});
  j["choices"][0]["finish_reason"] = openai_finish_reason(result.report.finish_reason);
  j["usage"] = usage_json(result.report);
  j["kvc"] = kvc_json(result.report, result.tokens);
  if (with_timings) j["timings"] = timings_json(result.report);
  return j;
}

Json chat_role_chunk(const ResponseContext& c) {
  Json j = base(c, "chat.completion.chunk");
  j["choices"] = Json::array({Json{{"index", 0}, {"finish_reason", nullptr}, {"delta", {{"role", "assistant"}, {"content", nullptr}}}}});
  return j;
}

Json chat_delta_chunk(const ResponseContext& c, const ChatDelta& d, std::span<const TokenProbs> probs) {
  Json choice = {{"index", 0}, {"finish_reason", nullptr}, {"delta", chat_delta_json(d)}};
  if (!probs.empty()) choice["logprobs"] = {{"content", probs_json(probs, c.post_sampling_probs)}};
  Json j = base(c, "chat.completion.chunk");
  j["choices"] = Json::array({choice});
  return j;
}

Json chat_final_chunk(const ResponseContext& c, const CompletionResult& result, bool has_tool_calls, bool with_timings) {
  Json j = base(c, "chat.completion.chunk");
  j["choices"] = Json::array({Json{{"index", 0},
                                   {"finish_reason", openai_finish_reason(result.report.finish_reason, has_tool_calls)},
                                   {"delta", Json::object()}}});
  j["kvc"] = kvc_json(result.report, result.tokens);
  if (with_timings) j["timings"] = timings_json(result.report);
  return j;
}

Json usage_chunk(const ResponseContext& c, const CompletionResult& result, bool chat) {
  Json j = base(c, chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = Json::array();
  j["usage"] = usage_json(result.report);
  j["timings"] = timings_json(result.report);
  return j;
}

}  // namespace kvc::server
