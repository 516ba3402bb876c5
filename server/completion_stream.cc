#include "server/completion_stream.h"

#include <utility>

#include "server/app.h"
#include "server/sse.h"

namespace kvc::server {

CompletionStream::CompletionStream(std::shared_ptr<Exchange> ex, StreamShape shape, ResponseContext ctx,
                                   NativeContext native, GenerationParams params,
                                   std::optional<ChatOutputParser> parser)
    : ex_(std::move(ex)),
      shape_(shape),
      ctx_(std::move(ctx)),
      native_(std::move(native)),
      params_(std::move(params)),
      parser_(std::move(parser)) {}

void CompletionStream::start() {
  HttpResponse head = HttpResponse::text(200, "", "text/event-stream");
  head.set("Cache-Control", "no-cache");
  head.set("X-Accel-Buffering", "no");
  ex_->set_probe(std::string(kSseComment));
  ex_->start_stream(std::move(head));
  if (shape_ == StreamShape::kOaiChat) ex_->write(sse_event(dump(chat_role_chunk(ctx_))));
}

void CompletionStream::attach(CompletionRequest& req) {
  auto self = shared_from_this();
  auto cancel = ex_->cancel_flag();
  req.on_token = [self, cancel](const TokenEvent& ev) {
    Item item;
    item.at = std::chrono::steady_clock::now();
    item.text = std::string(ev.text);
    item.token = ev.token;
    if (ev.probs != nullptr) item.probs = *ev.probs;
    self->push(std::move(item));
    return !cancel->load();
  };
  // timings_per_token needs the prompt's timings even without progress events.
  if (params_.return_progress || params_.timings_per_token) {
    req.on_progress = [self](const PromptProgress& p) {
      Item item;
      item.at = std::chrono::steady_clock::now();
      item.progress = p;
      self->push(std::move(item));
    };
  }
}

void CompletionStream::push(Item item) {
  bool schedule = false;
  {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(item));
    schedule = !scheduled_;
    scheduled_ = true;
  }
  if (schedule) ex_->post([self = shared_from_this()] { self->flush(); });
}

void CompletionStream::flush() {
  std::vector<Item> items;
  {
    std::lock_guard lock(mu_);
    items.swap(pending_);
    scheduled_ = false;
  }
  std::string out;
  for (const Item& item : items) out += events(item);
  if (!out.empty()) ex_->write(std::move(out));
}

// llama-server's slot timings at a token event: generation time runs from the
// first token (the prompt's end) to this one.
std::optional<Json> CompletionStream::token_timings(const Item& item) {
  if (!params_.timings_per_token || item.token < 0) return std::nullopt;
  if (!first_token_at_) first_token_at_ = item.at;
  const double ms = std::chrono::duration<double, std::milli>(item.at - *first_token_at_).count();
  return token_timings_json(prompt_, so_far_.generated_tokens, ms);
}

std::string CompletionStream::events(const Item& item) {
  if (item.progress) {
    prompt_ = *item.progress;
    if (!params_.return_progress) return "";
    Json j;
    switch (shape_) {
      case StreamShape::kOaiCompletion: j = completion_chunk(ctx_, "", {}); break;
      case StreamShape::kOaiChat: j = chat_role_chunk(ctx_); break;
      case StreamShape::kNative: {
        RequestReport r;
        r.prompt_tokens = item.progress->total;
        j = native_chunk_json(native_, "", {}, {}, r, params_.sampling.post_sampling_probs);
        break;
      }
    }
    if (params_.timings_per_token) j["timings"] = progress_timings_json(*item.progress);
    j["prompt_progress"] = prompt_progress_json(*item.progress);
    so_far_.prompt_tokens = item.progress->total;
    return sse_event(dump(j));
  }
  if (item.token >= 0) ++so_far_.generated_tokens;
  const std::optional<Json> timings = token_timings(item);
  std::vector<TokenProbs> probs;
  if (item.probs) probs.push_back(*item.probs);
  switch (shape_) {
    case StreamShape::kOaiCompletion: {
      if (item.text.empty() && probs.empty()) return "";
      Json j = completion_chunk(ctx_, item.text, probs);
      if (timings) j["timings"] = *timings;
      if (params_.verbose) {  // llama-server: every partial chunk carries its native form
        std::vector<std::int32_t> tokens;
        if (item.token >= 0) tokens.push_back(item.token);
        j["__verbose"] = native_chunk_json(native_, item.text, tokens, probs, so_far_,
                                           params_.sampling.post_sampling_probs);
      }
      return sse_event(dump(j));
    }
    case StreamShape::kNative: {
      if (item.text.empty() && probs.empty() && item.token < 0) return "";
      std::vector<std::int32_t> tokens;
      if (item.token >= 0) tokens.push_back(item.token);
      Json j = native_chunk_json(native_, item.text, tokens, probs, so_far_, params_.sampling.post_sampling_probs);
      if (timings) j["timings"] = *timings;
      return sse_event(dump(j));
    }
    case StreamShape::kOaiChat: {
      for (auto& p : probs) carried_.push_back(std::move(p));
      auto deltas = parser_->update(item.text, true);
      if (!deltas.ok() || deltas->empty()) return "";
      std::string out;
      for (std::size_t i = 0; i < deltas->size(); ++i) {
        const bool last = i + 1 == deltas->size();
        Json j = chat_delta_chunk(ctx_, (*deltas)[i], last ? std::span<const TokenProbs>(carried_)
                                                          : std::span<const TokenProbs>());
        if (last && timings) j["timings"] = *timings;
        out += sse_event(dump(j));
      }
      carried_.clear();
      return out;
    }
  }
  return "";
}

std::string CompletionStream::tail(const Result<CompletionResult>& result) {
  if (!result.ok()) return sse_event(dump(error_body(engine_error(result.status()))));
  const CompletionResult& r = result.value();
  const bool usage = params_.include_usage;
  std::vector<Json> events;
  switch (shape_) {
    case StreamShape::kOaiCompletion:
      events.push_back(completion_final_chunk(ctx_, r, !usage));
      break;
    case StreamShape::kOaiChat: {
      auto deltas = parser_->update("", false);
      if (deltas.ok()) {
        for (const ChatDelta& d : *deltas) events.push_back(chat_delta_chunk(ctx_, d, carried_));
      }
      carried_.clear();
      events.push_back(chat_final_chunk(ctx_, r, !parser_->output().tool_calls.empty(), !usage));
      break;
    }
    case StreamShape::kNative:
      return sse_event(dump(native_completion_json(native_, r, params_, /*stream=*/true)));
  }
  if (usage) events.push_back(usage_chunk(ctx_, r, shape_ == StreamShape::kOaiChat));
  // llama-server puts the final native object on the first of the last events.
  if (params_.verbose) events.front()["__verbose"] = native_completion_json(native_, r, params_, /*stream=*/true);
  std::string out;
  for (const Json& j : events) out += sse_event(dump(j));
  return out;
}

void CompletionStream::finish(Result<CompletionResult> result, std::optional<ApiError> timeout_error) {
  ex_->post([self = shared_from_this(), result = std::move(result), timeout_error = std::move(timeout_error)]() {
    self->flush();
    std::string out = timeout_error ? sse_event(dump(error_body(*timeout_error))) : self->tail(result);
    // llama's native stream has no [DONE] terminator; the OpenAI ones do.
    if (self->shape_ != StreamShape::kNative) out += kSseDone;
    self->ex_->write(std::move(out));
    self->ex_->end_stream();
  });
}

}  // namespace kvc::server
