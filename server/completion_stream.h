// A streamed completion response (SSE) in one of llama-server's three shapes:
// OpenAI text completion, OpenAI chat (through the chat output parser: content,
// reasoning, tool calls as deltas) or llama's native /completion.
//
// The engine's scheduler thread hands over each generated token (on_token) and
// prefill progress (on_progress, with return_progress or timings_per_token):
// both only append to a
// mutex-guarded list and, when no flush is pending, post one to the connection's
// I/O strand. The strand formats and writes the events (one per token, like
// llama-server), so neither thread ever waits for the other. finish() writes the
// last chunk (finish_reason, usage, timings), the separate usage chunk of
// stream_options.include_usage, or an error event, then [DONE].
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kvc/chat.h"
#include "kvc/engine.h"
#include "server/http_server.h"
#include "server/llama_native.h"
#include "server/llama_params.h"
#include "server/openai.h"

namespace kvc::server {

enum class StreamShape { kOaiCompletion, kOaiChat, kNative };

class CompletionStream : public std::enable_shared_from_this<CompletionStream> {
 public:
  // `parser` is required for kOaiChat (the rendered chat's output parser).
  CompletionStream(std::shared_ptr<Exchange> ex, StreamShape shape, ResponseContext ctx, NativeContext native,
                   GenerationParams params, std::optional<ChatOutputParser> parser);

  // Writes the head (and the chat's role chunk). Call once, before the engine runs.
  void start();
  // Installs on_token (and on_progress with return_progress) on `req`.
  void attach(CompletionRequest& req);
  // After Engine::complete: the final events and [DONE]. `timeout_error` is
  // written instead when the request was cancelled by --request-timeout.
  void finish(Result<CompletionResult> result, std::optional<ApiError> timeout_error);

 private:
  struct Item {
    std::string text;
    std::int32_t token = -1;  // -1: the held-back rest at the end (no token)
    std::optional<TokenProbs> probs;
    std::optional<PromptProgress> progress;  // a progress event instead of a token
    std::chrono::steady_clock::time_point at;  // when the scheduler handed it over
  };
  void push(Item item);   // scheduler thread
  void flush();           // I/O strand
  std::string events(const Item& item);  // I/O strand
  std::string tail(const Result<CompletionResult>& result);

  std::shared_ptr<Exchange> ex_;
  StreamShape shape_;
  ResponseContext ctx_;
  NativeContext native_;
  GenerationParams params_;
  std::optional<ChatOutputParser> parser_;
  std::mutex mu_;
  std::vector<Item> pending_;
  bool scheduled_ = false;
  // I/O strand only:
  RequestReport so_far_;                 // tokens_predicted / tokens_evaluated of native chunks
  std::vector<TokenProbs> carried_;      // chat: probs of tokens whose text produced no delta yet
  // timings_per_token: the prompt's last progress, and when the first token came.
  PromptProgress prompt_;
  std::optional<std::chrono::steady_clock::time_point> first_token_at_;
  std::optional<Json> token_timings(const Item& item);
};

}  // namespace kvc::server
