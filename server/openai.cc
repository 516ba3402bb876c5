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

ApiError exceed_context_error(std::size_t n_prompt_tokens, std::size_t n_ctx, std::string param) {
  ApiError e{400,
             "the request exceeds the available context size: the prompt has " + std::to_string(n_prompt_tokens) +
                 " tokens and the context holds " + std::to_string(n_ctx) +
                 " per sequence (--ctx-size / --parallel); shorten the prompt or raise --ctx-size",
             "exceed_context_size_error", std::move(param), "context_length_exceeded"};
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

}  // namespace kvc::server
