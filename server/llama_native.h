// llama-server's native API shapes: /completion (prompts as text, token ids or
// both mixed; responses with timings, tokens_cached, completion_probabilities,
// prompt_progress), /tokenize, /detokenize, /apply-template, /props, /slots and
// /embeddings (native and OpenAI). Pure parsing and building; the routes call
// the Engine. No I/O here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "kvc/engine.h"
#include "server/llama_params.h"
#include "server/openai.h"

namespace kvc::server {

// One prompt: text and token ids in order (llama-server's tokenize_mixed).
struct PromptInput {
  std::vector<std::variant<std::string, std::int32_t>> pieces;
};

// A "prompt"/"content"/"input" value: a string, token ids, text and ids mixed,
// or an array of such prompts (several completions or embeddings). Errors name
// `field`.
std::variant<std::vector<PromptInput>, ApiError> parse_prompts(const Json& value, const std::string& field);

// Token ids of a prompt: the first text piece gets add_special (BOS), later ones
// not; `tokenize(text, add_special)` is the engine's tokenizer.
using TextTokenizer = std::function<std::vector<std::int32_t>(const std::string& text, bool add_special)>;
std::vector<std::int32_t> tokenize_prompt(const PromptInput& prompt, bool add_special, const TextTokenizer& tokenize);

// POST /completion: the prompts and the generation parameters' source (the body).
struct NativeCompletionRequest {
  std::vector<PromptInput> prompts;
  Json llama_params;
};
std::variant<NativeCompletionRequest, ApiError> parse_native_completion(std::string_view body);

// What a native response reports besides the engine result.
struct NativeContext {
  std::string model;
  int id_slot = -1;            // the sequence that served it (-1 unknown)
  std::string prompt;          // the prompt text as sent (or detokenized)
  std::size_t max_tokens = 0;  // the request's limit (0: none): tells "limit" from a full context
};
// llama-server's stop_type: "eos", "word", "limit" or "none".
std::string_view native_stop_type(FinishReason r);
// The final /completion object (stream: the last event, without completion_probabilities).
Json native_completion_json(const NativeContext& c, const CompletionResult& result, const GenerationParams& p,
                            bool stream);
// A streamed /completion event of one token.
Json native_chunk_json(const NativeContext& c, std::string_view text, std::span<const std::int32_t> tokens,
                       std::span<const TokenProbs> probs, const RequestReport& so_far, bool post_sampling);
// {"total", "cache", "processed", "time_ms"} (return_progress).
Json prompt_progress_json(const PromptProgress& p);
// The "timings" of a progress event (with timings_per_token), llama-server's
// slot stats at that point: prompt_n counts the tokens decoded so far (not the
// cached ones), prompt_ms the time to the end of the last decoded batch — 0
// before the first one, as in llama-server's first event — and nothing is
// generated yet. Rates are 0 while their divisor is 0 (never inf or NaN).
Json progress_timings_json(const PromptProgress& p);
// The "timings" of a streamed token event (timings_per_token): the prompt's
// timings as of its last progress event, and `predicted_n` tokens generated in
// `predicted_ms` since the first (whose rate counts n - 1 decode steps, as
// llama-server's does).
Json token_timings_json(const PromptProgress& prompt, std::size_t predicted_n, double predicted_ms);

// /tokenize: content, add_special (false), parse_special (true), with_pieces (false).
struct TokenizeRequest {
  PromptInput content;
  bool add_special = false;
  bool parse_special = true;
  bool with_pieces = false;
};
std::variant<TokenizeRequest, ApiError> parse_tokenize(std::string_view body);
// {"tokens": [ids]} or with pieces [{"id", "piece"}] (a piece that is not valid
// UTF-8 becomes its byte values).
Json tokenize_response(std::span<const TokenPiece> tokens, bool with_pieces);
// /detokenize: {"tokens": [ids]} (absent: empty).
std::variant<std::vector<std::int32_t>, ApiError> parse_detokenize(std::string_view body);

// /slots?action=save|restore|erase: the filename of save and restore.
std::variant<std::string, ApiError> parse_slot_filename(std::string_view body);
Json slot_save_json(const SlotFileReport& r);
Json slot_restore_json(const SlotFileReport& r);
Json slot_erase_json(const SlotFileReport& r);
// GET /slots.
Json slots_json(std::span<const SlotInfo> slots, int n_ctx_per_slot, const GenerationParams& defaults,
                const std::string& model);

// GET /props.
struct PropsContext {
  std::string model_alias;
  std::string model_path;
  std::string model_ftype;
  int total_slots = 1;
  int n_ctx_per_slot = 0;
  bool endpoint_slots = true;
  bool endpoint_metrics = false;
  std::string bos_token;
  std::string eos_token;
  std::string build_info;
  ChatTemplateInfo chat_template;
};
Json props_json(const PropsContext& c, const GenerationParams& defaults);

// /embedding(s): "input" (OpenAI) or "content" (native), encoding_format
// ("float" or "base64"), embd_normalize.
struct EmbeddingRequest {
  std::vector<PromptInput> inputs;
  bool oai = true;  // false when the native "content" field was used
  bool base64 = false;
  int normalize = 2;
  std::string model;
};
std::variant<EmbeddingRequest, ApiError> parse_embedding(std::string_view body, bool oai_endpoint);
// Native: [{"index", "embedding": [[…]]}]. OpenAI: {"object": "list", "data": [...], "usage"}.
Json embeddings_native_json(std::span<const Engine::Embedding> results);
Json embeddings_oai_json(std::span<const Engine::Embedding> results, const EmbeddingRequest& req,
                         const std::string& model);

}  // namespace kvc::server
