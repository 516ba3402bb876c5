// POST /completion and /completions (llama's native API), /v1/completions, and
// /v1/chat/completions (also /chat/completions), plain and streamed (SSE).
//
// The handler runs on a worker: it parses the body, maps OpenAI's fields onto
// llama-server's generation parameters, renders the chat (tools, response_format),
// tokenizes within the context budget (prompt_budget.h: a prompt that cannot fit
// is refused without tokenizing it whole), so every input error is a 4xx before
// any stream starts; then it waits for a sequence (AdmissionQueue) and runs the
// blocking Engine::complete. The exchange's cancel flag is the request's cancel
// flag: a client that goes away, or --request-timeout, stops the request queued
// or running. Streams: completion_stream.h.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include "server/app.h"
#include "server/completion_stream.h"
#include "server/llama_native.h"
#include "server/prompt_budget.h"

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
  // llama-server's counts, like the response's timings (cache_n ≤ prompt - 1).
  const std::size_t cached = llama_cached_tokens(rep);
  app.metrics.count_llama(rep.prompt_tokens - cached, cached, rep.prefill_ms / 1000.0, rep.generated_tokens,
                          std::max(0.0, rep.total_ms - rep.time_to_first_token_ms) / 1000.0,
                          rep.prompt_tokens + rep.generated_tokens);
}

// A parsed request on its way to the engine: the generation parameters, the
// rendered chat (for its output parser), the prompt text (native responses echo
// it), the engine request.
struct Prepared {
  StreamShape shape = StreamShape::kOaiCompletion;
  Json llama_params;
  Json prompt;  // completions: "prompt" as sent
  GenerationParams params;
  std::optional<ChatPrompt> chat;
  std::string prompt_text;
  CompletionRequest creq;
  // /completion with several prompts (not streamed): the others, run in turn.
  std::vector<std::vector<std::int32_t>> more_prompts;
  bool several_allowed = false;
};

const char* prompt_field(const Prepared& p) { return p.shape == StreamShape::kOaiChat ? "messages" : "prompt"; }

// Maps the parameters, renders the chat, tokenizes, checks the context.
std::optional<ApiError> prepare(App& app, Prepared& p, const ChatRequest* chat_request) {
  if (chat_request != nullptr) {
    auto chat = app.engine.apply_chat(*chat_request);
    if (!chat.ok()) return bad_request(chat.status().message(), "messages");
    p.chat = std::move(chat.value());
  }
  const Tokenizer tok = [&app](const std::string& t) {
    auto ids = app.engine.tokenize(t, false, false);
    return ids.ok() ? ids.value() : std::vector<std::int32_t>{};
  };
  auto params = parse_generation(p.llama_params, app.defaults, app.engine.n_vocab(), tok);
  if (auto* e = std::get_if<ApiError>(&params)) return *e;
  p.params = std::move(std::get<GenerationParams>(params));
  if (p.params.sampling.max_tokens > app.limits.max_tokens_limit)
    return bad_request("'max_tokens' must be at most " + std::to_string(app.limits.max_tokens_limit) +
                           " (--max-tokens-limit), got " + std::to_string(p.params.sampling.max_tokens),
                       "max_tokens");
  if (p.params.n_cmpl != 1 && p.params.stream)
    return bad_request("'n' > 1 is not served when streaming; send n requests", "n", "unsupported_value");
  if (p.chat) apply_chat_prompt(*p.chat, p.params);
  CompletionRequest& out = p.creq;
  out.sampling = p.params.sampling;
  out.parent_key = p.params.parent_key;
  out.use_cache = p.params.cache_prompt;
  const auto limit = static_cast<std::size_t>(app.engine.n_ctx_per_sequence());
  const TokenizeFn bounded = [&app](std::string_view s, bool bos) { return app.engine.tokenize(s, bos); };
  const auto tokenize_text = [&](const std::string& text) -> std::optional<ApiError> {
    auto ids = tokenize_bounded(bounded, text, true, limit);
    if (!ids.ok()) return bad_request(ids.status().message(), prompt_field(p));
    if (ids->too_long) return exceed_context_error(ids->at_least, limit, prompt_field(p));
    out.prompt_tokens = std::move(ids->tokens);
    return std::nullopt;
  };
  if (p.chat) {
    if (auto e = tokenize_text(p.chat->prompt)) return e;
  } else {
    auto prompts = parse_prompts(p.prompt, "prompt");
    if (auto* e = std::get_if<ApiError>(&prompts)) return *e;
    const auto& list = std::get<std::vector<PromptInput>>(prompts);
    if (list.empty()) return bad_request("the prompt is empty", "prompt");
    if (list.size() != 1 && (!p.several_allowed || p.params.stream))
      return bad_request("'prompt' holds several prompts; send one per request" +
                             std::string(p.several_allowed ? " when streaming" : " (or use /completion)"),
                         "prompt", "unsupported_value");
    for (std::size_t i = 1; i < list.size(); ++i) {
      std::vector<std::int32_t> ids = tokenize_prompt(list[i], true, [&app](const std::string& t, bool special) {
        auto r = app.engine.tokenize(t, special);
        return r.ok() ? r.value() : std::vector<std::int32_t>{};
      });
      if (ids.empty()) return bad_request("prompt " + std::to_string(i) + " is empty", "prompt");
      if (ids.size() >= limit) return exceed_context_error(ids.size(), limit, "prompt");
      p.more_prompts.push_back(std::move(ids));
    }
    const PromptInput& in = list.front();
    if (in.pieces.size() == 1 && std::holds_alternative<std::string>(in.pieces.front())) {
      if (auto e = tokenize_text(std::get<std::string>(in.pieces.front()))) return e;
    } else {
      out.prompt_tokens = tokenize_prompt(in, true, [&app](const std::string& t, bool special) {
        auto ids = app.engine.tokenize(t, special);
        return ids.ok() ? ids.value() : std::vector<std::int32_t>{};
      });
    }
  }
  const std::size_t n = out.prompt_tokens->size();
  // Native responses echo the prompt as llama-server does: its tokens detokenized
  // (BOS included, "<s> …").
  if (auto text = app.engine.detokenize(*out.prompt_tokens, /*render_special=*/true); text.ok()) p.prompt_text = std::move(text.value());
  if (n == 0) return bad_request("the prompt is empty", prompt_field(p));
  if (n >= limit) return exceed_context_error(n, limit, prompt_field(p));
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

ResponseContext response_context(App& app, const Prepared& p) {
  return ResponseContext{app.new_id(p.shape == StreamShape::kOaiChat ? "chatcmpl" : "cmpl"), unix_now(),
                         app.model_name, app.system_fingerprint, p.params.sampling.post_sampling_probs};
}

NativeContext native_context(const App& app, const Prepared& p) {
  NativeContext c;
  c.model = app.model_name;
  c.prompt = p.prompt_text;
  c.max_tokens = p.params.sampling.max_tokens > 0 ? static_cast<std::size_t>(p.params.sampling.max_tokens) : 0;
  return c;
}

// llama-server's response_fields: only the listed paths ("a/b" is b inside a),
// flat, each under its path.
Json only_fields(const Json& full, const std::vector<std::string>& paths) {
  Json out = Json::object();
  for (const std::string& path : paths) {
    const Json* cur = &full;
    std::size_t start = 0;
    bool found = true;
    while (found) {
      const std::size_t slash = path.find('/', start);
      const std::string key = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      found = cur->is_object() && cur->contains(key);
      if (found) cur = &cur->at(key);
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (found) out[path] = *cur;
  }
  return out;
}

// The whole response of a finished request. With "verbose" (the request's, or
// --verbose by default) the OpenAI shapes carry llama-server's "__verbose"
// object: the native response, whose "prompt" is the rendered prompt.
std::variant<Json, ApiError> whole_response(App& app, const Prepared& p, const CompletionResult& r) {
  Json j;
  switch (p.shape) {
    case StreamShape::kOaiCompletion: j = completion_response(response_context(app, p), r); break;
    case StreamShape::kNative: {
      j = native_completion_json(native_context(app, p), r, p.params, false);
      if (!p.params.response_fields.empty()) return only_fields(j, p.params.response_fields);
      return j;
    }
    case StreamShape::kOaiChat: {
      ChatOutputParser parser = app.engine.chat_parser(*p.chat);
      auto out = parser.update(r.text, false);
      if (!out.ok()) return engine_error(out.status());
      j = chat_response(response_context(app, p), r, parser.output());
      break;
    }
  }
  if (p.params.verbose) j["__verbose"] = native_completion_json(native_context(app, p), r, p.params, false);
  return j;
}

void run(App& app, Prepared prep, const std::shared_ptr<Exchange>& ex) {
  CompletionRequest& creq = prep.creq;
  creq.cancel = ex->cancel_flag();
  const auto gone = [&ex] { return ex->cancel_reason() != Exchange::CancelReason::kDeadline; };

  ex->on_cancel([&app] { app.queue.wake(); });  // a queued request leaves the queue at once
  AdmissionQueue::Entry entry = app.queue.enter(creq.cancel.get());
  if (!entry.ticket) {
    if (entry.refusal != AdmissionQueue::Refusal::kCancelled) return send_error(ex, refusal(entry.refusal, app));
    return gone() ? void() : send_error(ex, timed_out(app));
  }
  if (!prep.params.stream && (!prep.more_prompts.empty() || prep.params.n_cmpl > 1)) {
    // Several prompts and/or n completions of each, run in turn on this request's
    // admission: native, llama-server's array of results; OpenAI, one response
    // whose choices are indexed in order and whose usage adds up.
    std::vector<std::vector<std::int32_t>> prompts{*creq.prompt_tokens};
    for (auto& more : prep.more_prompts) prompts.push_back(std::move(more));
    std::vector<Json> bodies;
    for (auto& prompt : prompts) {
      if (auto text = app.engine.detokenize(prompt, /*render_special=*/true); text.ok()) prep.prompt_text = std::move(text.value());
      for (int k = 0; k < prep.params.n_cmpl; ++k) {
        CompletionRequest one = creq;
        one.prompt_tokens = prompt;
        Result<CompletionResult> r = app.engine.complete(std::move(one));
        record(app, r);
        if (ex->cancel_flag()->load()) return gone() ? void() : send_error(ex, timed_out(app));
        if (!r.ok()) return send_error(ex, engine_error(r.status()));
        auto body = whole_response(app, prep, r.value());
        if (auto* e = std::get_if<ApiError>(&body)) return send_error(ex, *e);
        bodies.push_back(std::move(std::get<Json>(body)));
      }
    }
    entry.ticket.release();
    if (prep.shape == StreamShape::kNative) {
      Json all = Json::array();
      for (std::size_t i = 0; i < bodies.size(); ++i) {
        bodies[i]["index"] = i;
        all.push_back(std::move(bodies[i]));
      }
      return send_json(ex, 200, all);
    }
    Json out = bodies.front();
    out["choices"] = Json::array();
    std::size_t completion_tokens = 0;
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      Json choice = bodies[i]["choices"][0];
      choice["index"] = i;
      out["choices"].push_back(std::move(choice));
      completion_tokens += bodies[i]["usage"]["completion_tokens"].get<std::size_t>();
    }
    out["usage"]["completion_tokens"] = completion_tokens;
    out["usage"]["total_tokens"] = out["usage"]["prompt_tokens"].get<std::size_t>() + completion_tokens;
    return send_json(ex, 200, out);
  }
  if (!prep.params.stream) {
    Result<CompletionResult> r = app.engine.complete(std::move(creq));
    entry.ticket.release();
    record(app, r);
    if (ex->cancel_flag()->load()) return gone() ? void() : send_error(ex, timed_out(app));
    if (!r.ok()) return send_error(ex, engine_error(r.status()));
    auto body = whole_response(app, prep, r.value());
    if (auto* e = std::get_if<ApiError>(&body)) return send_error(ex, *e);
    return send_json(ex, 200, std::get<Json>(body));
  }
  std::optional<ChatOutputParser> parser;
  if (prep.chat) parser.emplace(app.engine.chat_parser(*prep.chat));
  auto stream = std::make_shared<CompletionStream>(ex, prep.shape, response_context(app, prep),
                                                   native_context(app, prep), prep.params, std::move(parser));
  stream->start();
  stream->attach(creq);
  Result<CompletionResult> r = app.engine.complete(std::move(creq));
  entry.ticket.release();
  record(app, r);
  std::optional<ApiError> timeout;
  if (ex->cancel_reason() == Exchange::CancelReason::kDeadline) timeout = timed_out(app);
  stream->finish(std::move(r), std::move(timeout));
}

void handle_openai(App& app, bool chat, HttpRequest& http_req, const std::shared_ptr<Exchange>& ex) {
  auto parsed = parse_openai_request(http_req.body, chat);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(ex, *e);
  OpenAiRequest& oai = std::get<OpenAiRequest>(parsed);
  Prepared prep;
  prep.shape = chat ? StreamShape::kOaiChat : StreamShape::kOaiCompletion;
  prep.llama_params = std::move(oai.llama_params);
  prep.prompt = std::move(oai.prompt);
  if (auto e = prepare(app, prep, chat ? &oai.chat_request : nullptr)) return send_error(ex, *e);
  run(app, std::move(prep), ex);
}

// POST /chat/completions/input_tokens: the prompt's token count, nothing generated.
void count_chat_tokens(App& app, HttpRequest& http_req, const std::shared_ptr<Exchange>& ex) {
  auto parsed = parse_openai_request(http_req.body, true);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(ex, *e);
  OpenAiRequest& oai = std::get<OpenAiRequest>(parsed);
  Prepared prep;
  prep.shape = StreamShape::kOaiChat;
  prep.llama_params = std::move(oai.llama_params);
  if (auto e = prepare(app, prep, &oai.chat_request)) return send_error(ex, *e);
  send_json(ex, 200, {{"input_tokens", prep.creq.prompt_tokens->size()}});
}

void handle_native(App& app, HttpRequest& http_req, const std::shared_ptr<Exchange>& ex) {
  auto parsed = parse_native_completion(http_req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(ex, *e);
  NativeCompletionRequest& n = std::get<NativeCompletionRequest>(parsed);
  Prepared prep;
  prep.shape = StreamShape::kNative;
  prep.several_allowed = true;
  prep.prompt = n.llama_params.at("prompt");
  prep.llama_params = std::move(n.llama_params);
  if (auto e = prepare(app, prep, nullptr)) return send_error(ex, *e);
  run(app, std::move(prep), ex);
}

}  // namespace

void add_completion_routes(Router& router, App& app) {
  const RouteOptions worker{.access = Access::kKey, .run_on = RunOn::kWorker};
  // Like llama-server: /completions is the native API too; only /v1/completions is OpenAI's.
  router.add("POST", {"/completion", "/completions"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    handle_native(app, req, ex);
  }, worker);
  router.add("POST", {"/v1/completions"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    handle_openai(app, false, req, ex);
  }, worker);
  router.add("POST", {"/v1/chat/completions", "/chat/completions"},
             [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) { handle_openai(app, true, req, ex); },
             worker);
  router.add("POST", {"/v1/chat/completions/input_tokens", "/chat/completions/input_tokens"},
             [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) { count_chat_tokens(app, req, ex); }, worker);
}

}  // namespace kvc::server
