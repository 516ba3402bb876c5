// The OpenAI wire format as llama-server speaks it: request bodies of
// /v1/completions and /v1/chat/completions mapped onto llama-server's
// generation parameters (llama_params.h) and a chat request for the engine,
// and the responses, stream chunks and errors built from engine results. No
// I/O and no Engine calls here, so all of it is unit-testable.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kvc/engine.h"

namespace kvc::server {

using Json = nlohmann::json;

// An error: {"error": {"message", "type", "param", "code", …extra}}. `type` is
// llama-server's (invalid_request_error, authentication_error, not_found_error,
// server_error, permission_error, not_supported_error, unavailable_error,
// exceed_context_size_error); `code` is kvc's machine-readable reason.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" → null
  std::string code;   // "" → null
  Json extra = Json::object();  // more fields of "error" (n_prompt_tokens, n_ctx)
};
Json error_body(const ApiError& e);
// Serializes compactly; invalid UTF-8 (a model can emit any bytes) becomes U+FFFD.
std::string dump(const Json& j);
ApiError bad_request(std::string message, std::string param = "", std::string code = "invalid_value");
// 501 not_supported_error (e.g. embeddings on a server started without them).
ApiError not_supported(std::string message);
// llama-server's 400 exceed_context_size_error, with n_prompt_tokens and n_ctx
// (param: the field that holds the prompt).
ApiError exceed_context_error(std::size_t n_prompt_tokens, std::size_t n_ctx, std::string param = "");
// The HTTP error of an engine Status (kInvalidArgument → 400, kCancelled and
// kUnavailable → 503, anything else → 500).
ApiError engine_error(const Status& st);

// Bounds of max_tokens/n_predict from the server's flags.
struct RequestLimits {
  int max_tokens_limit = 4096;   // a request may not ask for more
  int default_max_tokens = 256;  // --n-predict: what a request that names none gets
};

// An OpenAI request mapped onto llama-server's parameters (its
// oaicompat_completion_params_parse / oaicompat_chat_params_parse).
struct OpenAiRequest {
  bool chat = false;
  std::string model;          // "model" as sent ("" when absent); any name is served
  Json llama_params;          // the body with OpenAI's fields mapped: give it to parse_generation
  Json prompt;                // completions: "prompt" (text, token ids, mixed, or several prompts)
  ChatRequest chat_request;   // chat: give it to Engine::apply_chat
};

// Parses a request body; `chat` selects /v1/chat/completions. Unknown fields are
// passed on (llama-server's extra sampling fields work here too); known fields
// of the wrong type or value are errors naming them.
std::variant<OpenAiRequest, ApiError> parse_openai_request(std::string_view body, bool chat);

// Parses an admin body that must be a JSON object ("" counts as {}).
std::variant<Json, ApiError> parse_object(std::string_view body);

// OpenAI finish_reason of an engine finish: "stop", "length", "tool_calls"
// (a stop with tool calls) or "cancelled".
std::string_view openai_finish_reason(FinishReason r, bool has_tool_calls = false);

// What every response of one request shares.
struct ResponseContext {
  std::string id;                  // "chatcmpl-…" / "cmpl-…"
  std::int64_t created = 0;        // unix seconds
  std::string model;               // the served name (llama-server does not echo the request's)
  std::string system_fingerprint;  // "b<llama build>-<commit>" (llama_build_info)
  bool post_sampling_probs = false;
};

// The cached tokens llama-server would report: it always decodes the prompt's
// last token, so at most prompt_tokens - 1 (a 77-token prompt sent twice: 76).
// kvc may reuse all of them (the row's stored logits: kvc.cached_tokens and
// kvc.logits_from_cache say so); usage and timings speak llama-server's count,
// and timings.prompt_n is the rest of the prompt.
std::size_t llama_cached_tokens(const RequestReport& r);
// usage: prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details.cached_tokens.
Json usage_json(const RequestReport& r);
// llama-server's timings: cache_n, prompt_n, prompt_ms, prompt_per_token_ms,
// prompt_per_second, predicted_n, predicted_ms, predicted_per_token_ms, predicted_per_second.
Json timings_json(const RequestReport& r);
// llama-server's "timings" object from its counts and times (rates 0 where a
// divisor is 0; generation rates count predicted_n - 1 decode steps).
Json timings_fields(std::size_t cache_n, std::size_t prompt_n, double prompt_ms, std::size_t predicted_n,
                    double predicted_ms);
// The kvc object: the per-request report of engine.md §3, finish_key, and the
// generated token ids (so a client can resume at token level with parent_key).
Json kvc_json(const RequestReport& r, const std::vector<std::int32_t>& completion_tokens);
// llama-server's probability entries: [{id, token, bytes, logprob, top_logprobs:
// [{id, token, bytes, logprob}]}] (with post_sampling: prob and top_probs).
Json probs_json(std::span<const TokenProbs> probs, bool post_sampling);
// The OpenAI assistant message of a parsed chat output.
Json chat_message_json(const ChatOutput& out);
// One OpenAI stream delta of a parsed chat change.
Json chat_delta_json(const ChatDelta& d);

// Whole (non-streamed) responses.
Json completion_response(const ResponseContext& c, const CompletionResult& result);
Json chat_response(const ResponseContext& c, const CompletionResult& result, const ChatOutput& message);

// Stream chunks (each one SSE event). A chat stream starts with
// chat_role_chunk, then chat_delta_chunk per delta (probs: the tokens whose
// text it carries), then chat_final_chunk; with stream_options.include_usage a
// usage_chunk follows (choices: [], usage). timings go on the last chunk
// (with_timings).
Json completion_chunk(const ResponseContext& c, std::string_view text, std::span<const TokenProbs> probs);
Json completion_final_chunk(const ResponseContext& c, const CompletionResult& result, bool with_timings);
Json chat_role_chunk(const ResponseContext& c);
Json chat_delta_chunk(const ResponseContext& c, const ChatDelta& d, std::span<const TokenProbs> probs);
Json chat_final_chunk(const ResponseContext& c, const CompletionResult& result, bool has_tool_calls, bool with_timings);
Json usage_chunk(const ResponseContext& c, const CompletionResult& result, bool chat);

}  // namespace kvc::server
