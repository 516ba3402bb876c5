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
#include "server/llama_native.h"
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

// A parsed request on its way to the engine: the generation parameters, the
// rendered chat (for its output parser), the engine request.
struct Prepared {
  OpenAiRequest oai;
  GenerationParams params;
  std::optional<ChatPrompt> chat;
  CompletionRequest creq;
};

// Builds the engine request: map the OpenAI fields onto llama-server's
// parameters, render the chat (tools, response_format), tokenize, check the context.
std::optional<ApiError> prepare(App& app, Prepared& p) {
  std::string text;
  if (p.oai.chat) {
    auto chat = app.engine.apply_chat(p.oai.chat_request);
    if (!chat.ok()) return bad_request(chat.status().message(), "messages");
    p.chat = std::move(chat.value());
  }
  const Tokenizer tok = [&app](const std::string& t) {
    auto ids = app.engine.tokenize(t, false, false);
    return ids.ok() ? ids.value() : std::vector<std::int32_t>{};
  };
  auto params = parse_generation(p.oai.llama_params, app.defaults, app.engine.n_vocab(), tok);
  if (auto* e = std::get_if<ApiError>(&params)) return *e;
  p.params = std::move(std::get<GenerationParams>(params));
  if (p.params.sampling.max_tokens > app.limits.max_tokens_limit)
    return bad_request("'max_tokens' must be at most " + std::to_string(app.limits.max_tokens_limit) +
                           " (--max-tokens-limit), got " + std::to_string(p.params.sampling.max_tokens),
                       "max_tokens");
  if (p.params.n_cmpl != 1) return bad_request("'n' > 1 is not served yet", "n", "unsupported_value");
  if (p.chat) apply_chat_prompt(*p.chat, p.params);
  CompletionRequest& out = p.creq;
  out.sampling = p.params.sampling;
  out.parent_key = p.params.parent_key;
  out.use_cache = p.params.cache_prompt;
  if (p.chat) {
    auto ids = app.engine.tokenize(p.chat->prompt, true);
    if (!ids.ok()) return bad_request(ids.status().message(), "messages");
    out.prompt_tokens = std::move(ids.value());
  } else {
    auto prompts = parse_prompts(p.oai.prompt, "prompt");
    if (auto* e = std::get_if<ApiError>(&prompts)) return *e;
    const auto& list = std::get<std::vector<PromptInput>>(prompts);
    if (list.size() != 1) return bad_request("'prompt' holds several prompts; send one per request", "prompt", "unsupported_value");
    out.prompt_tokens = tokenize_prompt(list.front(), true, [&app](const std::string& t, bool special) {
      auto ids = app.engine.tokenize(t, special);
      return ids.ok() ? ids.value() : std::vector<std::int32_t>{};
    });
  }
  const std::size_t n = out.prompt_tokens->size();
  const auto limit = static_cast<std::size_t>(app.engine.n_ctx_per_sequence());
  if (n == 0) return bad_request("the prompt is empty", p.oai.chat ? "messages" : "prompt");
  if (n >= limit) return exceed_context_error(n, limit, p.oai.chat ? "messages" : "prompt");
  return std::nullopt;
}

ResponseContext response_context(App& app, const Prepared& p) {
  return ResponseContext{app.new_id(p.oai.chat ? "chatcmpl" : "cmpl"), unix_now(), app.model_name,
                         app.system_fingerprint, p.params.sampling.post_sampling_probs};
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
  Stream(App& a, Prepared p, AdmissionQueue::Ticket t)
      : app(a), prep(std::move(p)), ticket(std::move(t)), ctx(response_context(app, prep)) {
    if (prep.chat) parser.emplace(app.engine.chat_parser(*prep.chat));
  }
  ~Stream() {
    channel.cancel();
    if (worker.joinable()) worker.join();
  }

  void start() {
    prep.creq.on_text = [this](std::string_view piece) { return channel.push(piece); };
    worker = std::thread([this] {
      result.emplace(app.engine.complete(std::move(prep.creq)));
      record(app, *result);
      ticket.release();
      channel.finish();
    });
  }

  // Chat text goes through the output parser (tool calls, reasoning) as deltas.
  std::string events_for(std::string_view text, bool final) {
    std::string out;
    if (!prep.oai.chat) {
      if (!text.empty()) out += sse_event(dump(completion_chunk(ctx, text, {})));
      return out;
    }
    auto deltas = parser->update(text, !final);
    if (!deltas.ok()) return out;
    for (const ChatDelta& d : *deltas) out += sse_event(dump(chat_delta_chunk(ctx, d, {})));
    return out;
  }

  // Writes everything; false when the client went away.
  bool run(httplib::DataSink& sink) {
    start();
    if (prep.oai.chat) {
      const std::string ev = sse_event(dump(chat_role_chunk(ctx)));
      if (!sink.write(ev.data(), ev.size())) return false;
    }
    for (;;) {
      PieceChannel::Batch b = channel.pop(std::chrono::milliseconds(200));
      if (!b.text.empty()) {
        const std::string ev = events_for(b.text, false);
        if (!ev.empty() && !sink.write(ev.data(), ev.size())) return false;
      }
      if (b.finished) break;
      if (!sink.is_writable()) return false;
    }
    std::string tail;
    if (result->ok()) {
      tail += events_for("", true);
      const bool usage = prep.params.include_usage;
      if (prep.oai.chat) {
        tail += sse_event(dump(chat_final_chunk(ctx, result->value(), !parser->output().tool_calls.empty(), !usage)));
      } else {
        tail += sse_event(dump(completion_final_chunk(ctx, result->value(), !usage)));
      }
      if (usage) tail += sse_event(dump(usage_chunk(ctx, result->value(), prep.oai.chat)));
    } else {
      tail += sse_event(dump(error_body(engine_error(result->status()))));
    }
    tail += kSseDone;
    if (!sink.write(tail.data(), tail.size())) return false;
    sink.done();
    return true;
  }

  App& app;
  Prepared prep;
  AdmissionQueue::Ticket ticket;
  ResponseContext ctx;
  std::optional<ChatOutputParser> parser;
  PieceChannel channel;
  std::optional<Result<CompletionResult>> result;
  std::thread worker;
};

void handle(App& app, bool chat, const httplib::Request& http_req, httplib::Response& res) {
  auto parsed = parse_openai_request(http_req.body, chat);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
  Prepared prep;
  prep.oai = std::move(std::get<OpenAiRequest>(parsed));
  if (auto e = prepare(app, prep)) return send_error(res, *e);

  AdmissionQueue::Entry entry = app.queue.enter();
  if (!entry.ticket) return send_error(res, refusal(entry.refusal, app));

  if (!prep.params.stream) {
    const ResponseContext ctx = response_context(app, prep);
    Result<CompletionResult> r = app.engine.complete(std::move(prep.creq));
    entry.ticket.release();
    record(app, r);
    if (!r.ok()) return send_error(res, engine_error(r.status()));
    if (!chat) return send_json(res, 200, completion_response(ctx, r.value()));
    ChatOutputParser parser = app.engine.chat_parser(*prep.chat);
    auto parsed_out = parser.update(r->text, false);
    if (!parsed_out.ok()) return send_error(res, engine_error(parsed_out.status()));
    return send_json(res, 200, chat_response(ctx, r.value(), parser.output()));
  }
  auto stream = std::make_shared<Stream>(app, std::move(prep), std::move(entry.ticket));
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
