// The OpenAI wire format: request bodies of /v1/completions and
// /v1/chat/completions parsed and validated into engine requests, and the
// response, stream-chunk and error JSON built from engine results. No I/O and no
// Engine calls here, so all of it is unit-testable.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kvc/engine.h"

namespace kvc::server {

using Json = nlohmann::json;

// An OpenAI-style error: {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" → null
  std::string code;   // "" → null
};
Json error_body(const ApiError& e);
// Serializes compactly; invalid UTF-8 (a model can emit any bytes) becomes U+FFFD.
std::string dump(const Json& j);
ApiError bad_request(std::string message, std::string param = "", std::string code = "invalid_value");
// The HTTP error of an engine Status (kInvalidArgument → 400, kCancelled and
// kUnavailable → 503, anything else → 500).
ApiError engine_error(const Status& st);

struct RequestLimits {
  int max_tokens_limit = 4096;
  int default_max_tokens = 256;
  std::vector<std::string> model_names;  // names accepted in "model" (empty: any)
};

struct ParsedRequest {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;
  std::string model;  // echoed back in responses
  std::string prompt;                                     // completions
  std::optional<std::vector<std::int32_t>> prompt_tokens;  // completions given token ids
  std::vector<ChatMessage> messages;                      // chat
  SamplingParams sampling;
  std::optional<Key> parent_key;
};

// Parses a request body; `chat` selects /v1/chat/completions. Unknown fields are
// ignored; known fields of the wrong type or out of range are errors naming them.
std::variant<ParsedRequest, ApiError> parse_request(std::string_view body, bool chat, const RequestLimits& limits);

// Parses an admin body that must be a JSON object ("" counts as {}).
std::variant<Json, ApiError> parse_object(std::string_view body);

// OpenAI finish_reason of an engine finish: "stop", "length" or "cancelled".
std::string_view openai_finish_reason(FinishReason r);

// usage: prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details.cached_tokens.
Json usage_json(const RequestReport& r);
// The kvc object: the per-request report of engine.md §3, finish_key, and the
// generated token ids (so a client can resume at token level with parent_key).
Json kvc_json(const RequestReport& r, const std::vector<std::int32_t>& completion_tokens);

// A whole (non-streamed) response.
Json completion_response(const ParsedRequest& req, const CompletionResult& result, const std::string& id,
                         std::int64_t created);
// A streamed piece of text (chat: the first chunk also carries the role).
Json stream_chunk(const ParsedRequest& req, const std::string& id, std::int64_t created, std::string_view text,
                  bool first);
// The last chunk: finish_reason, usage and kvc.
Json stream_final_chunk(const ParsedRequest& req, const CompletionResult& result, const std::string& id,
                        std::int64_t created);

}  // namespace kvc::server
