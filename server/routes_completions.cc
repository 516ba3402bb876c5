// POST /v1/completions and POST /v1/chat/completions, plain and streamed (SSE).
//
// A request is parsed and tokenized on the HTTP thread (so every input error is a
// 4xx before any stream starts), admitted onto a sequence (or queued, or refused
// with 503), then run with Engine::complete. Streams run the engine call on a
// worker thread and forward text through a PieceChannel; a failed write (the
// client went away) cancels the channel, on_text returns false and the engine
// frees the sequence and its lease at once.
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

#include "server/app.h"
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

// Builds the engine request: template (chat), tokenize, check the context.
std::optional<ApiError> prepare(App& app, const ParsedRequest& req, CompletionRequest& out) {
  out.sampling = req.sampling;
  out.parent_key = req.parent_key;
  if (req.prompt_tokens) {
    out.prompt_tokens = req.prompt_tokens;
  } else {
    std::string text = req.prompt;
    if (req.chat) {
      ChatRequest chat;
      chat.messages_json = chat_messages_json(req.messages);
      auto t = app.engine.apply_chat(chat);
      if (!t.ok()) return bad_request("cannot apply the chat template: " + t.status().message(), "messages");
      text = std::move(t->prompt);
    }
    auto ids = app.engine.tokenize(text, true);
    if (!ids.ok()) return bad_request(ids.status().message(), req.chat ? "messages" : "prompt");
    out.prompt_tokens = std::move(ids.value());
  }
  const std::size_t n = out.prompt_tokens->size();
  const auto limit = static_cast<std::size_t>(app.engine.n_ctx_per_sequence());
  if (n == 0) return bad_request("the prompt is empty", req.chat ? "messages" : "prompt");
  if (n >= limit) {
    return bad_request("the prompt has " + std::to_string(n) + " tokens; the context holds " + std::to_string(limit) +
                           " per sequence (--ctx-size / --parallel); shorten the prompt",
                       req.chat ? "messages" : "prompt", "context_length_exceeded");
  }
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

struct Stream {
  Stream(App& a, ParsedRequest r, CompletionRequest c, AdmissionQueue::Ticket t)
      : app(a), req(std::move(r)), creq(std::move(c)), ticket(std::move(t)),
        id(app.new_id(req.chat ? "chatcmpl" : "cmpl")), created(unix_now()) {}
  ~Stream() {
    channel.cancel();
    if (worker.joinable()) worker.join();
  }

  void start() {
    creq.on_text = [this](std::string_view piece) { return channel.push(piece); };
    worker = std::thread([this] {
      result.emplace(app.engine.complete(std::move(creq)));
      record(app, *result);
      ticket.release();
      channel.finish();
    });
  }

  // Writes everything; false when the client went away.
  bool run(httplib::DataSink& sink) {
    start();
    bool first = true;
    for (;;) {
      PieceChannel::Batch b = channel.pop(std::chrono::milliseconds(200));
      if (!b.text.empty()) {
        const std::string ev = sse_event(dump(stream_chunk(req, id, created, b.text, first)));
        first = false;
        if (!sink.write(ev.data(), ev.size())) return false;
      }
      if (b.finished) break;
      if (!sink.is_writable()) return false;
    }
    std::string tail;
    if (result->ok()) {
      if (first && req.chat) tail += sse_event(dump(stream_chunk(req, id, created, "", true)));
      tail += sse_event(dump(stream_final_chunk(req, result->value(), id, created)));
    } else {
      tail += sse_event(dump(error_body(engine_error(result->status()))));
    }
    tail += kSseDone;
    if (!sink.write(tail.data(), tail.size())) return false;
    sink.done();
    return true;
  }

  App& app;
  ParsedRequest req;
  CompletionRequest creq;
  AdmissionQueue::Ticket ticket;
  std::string id;
  std::int64_t created;
  PieceChannel channel;
  std::optional<Result<CompletionResult>> result;
  std::thread worker;
};

void handle(App& app, bool chat, const httplib::Request& http_req, httplib::Response& res) {
  auto parsed = parse_request(http_req.body, chat, app.limits);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
  ParsedRequest req = std::move(std::get<ParsedRequest>(parsed));
  CompletionRequest creq;
  if (auto e = prepare(app, req, creq)) return send_error(res, *e);

  AdmissionQueue::Entry entry = app.queue.enter();
  if (!entry.ticket) return send_error(res, refusal(entry.refusal, app));

  if (!req.stream) {
    Result<CompletionResult> r = app.engine.complete(std::move(creq));
    entry.ticket.release();
    record(app, r);
    if (!r.ok()) return send_error(res, engine_error(r.status()));
    return send_json(res, 200, completion_response(req, r.value(), app.new_id(chat ? "chatcmpl" : "cmpl"), unix_now()));
  }
  auto stream = std::make_shared<Stream>(app, std::move(req), std::move(creq), std::move(entry.ticket));
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider("text/event-stream",
                                   [stream](std::size_t, httplib::DataSink& sink) { return stream->run(sink); });
}

}  // namespace

void add_completion_routes(httplib::Server& svr, App& app) {
  svr.Post("/v1/completions", bounded_body(app, [&app](const httplib::Request& req, httplib::Response& res) {
             handle(app, false, req, res);
           }));
  svr.Post("/v1/chat/completions", bounded_body(app, [&app](const httplib::Request& req, httplib::Response& res) {
             handle(app, true, req, res);
           }));
}

}  // namespace kvc::server
