// POST /v1/completions and POST /v1/chat/completions, plain and streamed (SSE).
//
// The handler runs on a worker: it parses the body, applies the chat template,
// tokenizes within the context budget (prompt_budget.h: a prompt that cannot fit
// is refused without tokenizing it whole), so every input error is a 4xx before
// any stream starts; then it waits for a sequence (AdmissionQueue) and runs the
// blocking Engine::complete. The exchange's cancel flag is the request's cancel
// flag: a client that goes away, or --request-timeout, stops the request queued
// or running, whether or not it is emitting text. Streamed text goes from the
// scheduler thread (on_text: append, maybe post) to the connection's I/O strand,
// which formats and writes the events; neither ever waits for the other.
#include <chrono>
#include <memory>
#include <optional>

#include "server/app.h"
#include "server/prompt_budget.h"
#include "server/sse.h"

namespace kvc::server {
namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void record(App& app, const Result<CompletionResult>& r) {
  if (!r.ok()) return;
  const RequestReport& rep = r->report;
  app.metrics.count_tokens(rep.prompt_tokens, rep.cached_tokens, rep.generated_tokens);
  if (rep.generated_tokens > 0) app.metrics.time_to_first_token().observe(rep.time_to_first_token_ms / 1000.0);
  if (rep.cached_tokens > 0) app.metrics.restore_time().observe(rep.restore_ms / 1000.0);
  app.metrics.request_duration().observe(rep.total_ms / 1000.0);
}

ApiError context_exceeded(std::string what, std::size_t limit, bool chat) {
  return bad_request("the prompt has " + what + " tokens; the context holds " + std::to_string(limit) +
                         " per sequence (--ctx-size / --parallel); shorten the prompt",
                     chat ? "messages" : "prompt", "context_length_exceeded");
}

// Builds the engine request: template (chat), bounded tokenize, check the context.
std::optional<ApiError> prepare(App& app, const ParsedRequest& req, CompletionRequest& out) {
  out.sampling = req.sampling;
  out.parent_key = req.parent_key;
  const auto limit = static_cast<std::size_t>(app.engine.n_ctx_per_sequence());
  const char* param = req.chat ? "messages" : "prompt";
  if (req.prompt_tokens) {
    out.prompt_tokens = req.prompt_tokens;
  } else {
    std::string text = req.prompt;
    if (req.chat) {
      auto t = app.engine.apply_chat_template(req.messages, true);
      if (!t.ok()) return bad_request("cannot apply the chat template: " + t.status().message(), "messages");
      text = std::move(t.value());
    }
    const TokenizeFn tokenize = [&app](std::string_view s, bool bos) { return app.engine.tokenize(s, bos); };
    auto ids = tokenize_bounded(tokenize, text, true, limit);
    if (!ids.ok()) return bad_request(ids.status().message(), param);
    if (ids->too_long) return context_exceeded("at least " + std::to_string(ids->at_least), limit, req.chat);
    out.prompt_tokens = std::move(ids->tokens);
  }
  const std::size_t n = out.prompt_tokens->size();
  if (n == 0) return bad_request("the prompt is empty", param);
  if (n >= limit) return context_exceeded(std::to_string(n), limit, req.chat);
  return std::nullopt;
}

ApiError refusal(AdmissionQueue::Refusal r, const App& app) {
  if (r == AdmissionQueue::Refusal::kClosed) {
    return ApiError{503, "the server is shutting down", "server_error", "", "shutting_down"};
  }
  return ApiError{503,
                  "the server is busy: " + std::to_string(app.queue.slots()) + " requests running and " +
                      std::to_string(app.queue.queue_size()) + " waiting (--parallel, --queue-size); retry later",
                  "server_error", "", "queue_full"};
}

ApiError timed_out(const App& app) {
  return ApiError{503,
                  "the request did not finish within " + std::to_string(app.config.request_timeout_ms / 1000.0) +
                      " s (--request-timeout) and was cancelled",
                  "server_error", "", "request_timeout"};
}

// A streamed response: the events are formatted and written on the I/O strand.
class Stream : public std::enable_shared_from_this<Stream> {
 public:
  Stream(const std::shared_ptr<Exchange>& ex, ParsedRequest req, std::string id)
      : ex_(ex), req_(std::move(req)), id_(std::move(id)), created_(unix_now()) {}

  // Scheduler thread: never blocks. False once the exchange is cancelled.
  bool push(std::string_view piece) {
    if (pieces_.push(piece)) ex_->post([self = shared_from_this()] { self->flush(); });
    return !ex_->cancel_flag()->load();
  }

  // Worker thread, after Engine::complete: the last chunk (or an error event) and [DONE].
  void finish(Result<CompletionResult> result, const App& app) {
    ex_->post([self = shared_from_this(), result = std::move(result), &app]() {
      self->flush();
      std::string tail;
      if (self->ex_->cancel_reason() == Exchange::CancelReason::kDeadline) {
        tail += sse_event(dump(error_body(timed_out(app))));
      } else if (result.ok()) {
        if (self->first_ && self->req_.chat) tail += event(self->req_, self->id_, self->created_, "", true);
        tail += sse_event(dump(stream_final_chunk(self->req_, result.value(), self->id_, self->created_)));
      } else {
        tail += sse_event(dump(error_body(engine_error(result.status()))));
      }
      tail += kSseDone;
      self->ex_->write(std::move(tail));
      self->ex_->end_stream();
    });
  }

 private:
  static std::string event(const ParsedRequest& req, const std::string& id, std::int64_t created,
                           std::string_view text, bool first) {
    return sse_event(dump(stream_chunk(req, id, created, text, first)));
  }
  void flush() {  // I/O strand
    const std::string text = pieces_.take();
    if (text.empty()) return;
    ex_->write(event(req_, id_, created_, text, first_));
    first_ = false;
  }

  std::shared_ptr<Exchange> ex_;
  ParsedRequest req_;
  std::string id_;
  std::int64_t created_;
  PieceBuffer pieces_;
  bool first_ = true;  // I/O strand only
};

void handle(App& app, bool chat, HttpRequest& http_req, const std::shared_ptr<Exchange>& ex) {
  auto parsed = parse_request(http_req.body, chat, app.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(ex, *e);
  ParsedRequest req = std::move(std::get<ParsedRequest>(parsed));
  CompletionRequest creq;
  if (auto e = prepare(app, req, creq)) return send_error(ex, *e);
  creq.cancel = ex->cancel_flag();
  const auto gone = [&ex] { return ex->cancel_reason() != Exchange::CancelReason::kDeadline; };

  ex->on_cancel([&app] { app.queue.wake(); });  // a queued request leaves the queue at once
  AdmissionQueue::Entry entry = app.queue.enter(creq.cancel.get());
  if (!entry.ticket) {
    if (entry.refusal != AdmissionQueue::Refusal::kCancelled) return send_error(ex, refusal(entry.refusal, app));
    return gone() ? void() : send_error(ex, timed_out(app));
  }
  if (!req.stream) {
    Result<CompletionResult> r = app.engine.complete(std::move(creq));
    entry.ticket.release();
    record(app, r);
    if (ex->cancel_flag()->load()) return gone() ? void() : send_error(ex, timed_out(app));
    if (!r.ok()) return send_error(ex, engine_error(r.status()));
    return send_json(ex, 200, completion_response(req, r.value(), app.new_id(chat ? "chatcmpl" : "cmpl"), unix_now()));
  }
  auto stream = std::make_shared<Stream>(ex, req, app.new_id(chat ? "chatcmpl" : "cmpl"));
  HttpResponse head = HttpResponse::text(200, "", "text/event-stream");
  head.set("Cache-Control", "no-cache");
  head.set("X-Accel-Buffering", "no");
  ex->set_probe(std::string(kSseComment));
  ex->start_stream(std::move(head));
  creq.on_text = [stream](std::string_view piece) { return stream->push(piece); };
  Result<CompletionResult> r = app.engine.complete(std::move(creq));
  entry.ticket.release();
  record(app, r);
  stream->finish(std::move(r), app);
}

}  // namespace

void add_completion_routes(Router& router, App& app) {
  const RouteOptions worker{.access = Access::kKey, .run_on = RunOn::kWorker};
  router.add("POST", {"/v1/completions"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    handle(app, false, req, ex);
  }, worker);
  router.add("POST", {"/v1/chat/completions"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    handle(app, true, req, ex);
  }, worker);
}

}  // namespace kvc::server
