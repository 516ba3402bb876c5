// llama-server's own endpoints: POST /tokenize, /detokenize, /apply-template;
// GET /props (POST /props: 501, kvc has no --props); GET /slots and
// POST /slots/{id}?action=save|restore|erase (slot files are KVC v1 files in
// --slot-save-path, readable by `kvc inspect`); POST /embedding, /embeddings
// (native shape) and /v1/embeddings (OpenAI's); OPTIONS on any path (the CORS
// preflight, answered before the API-key check; the Access-Control-* fields come
// from cors_fields on every response).
#include <charconv>

#include "server/app.h"
#include "server/llama_native.h"

namespace kvc::server {
namespace {

TextTokenizer engine_tokenizer(const App& app, bool parse_special) {
  return [&app, parse_special](const std::string& text, bool add_special) {
    auto ids = app.engine.tokenize(text, add_special, parse_special);
    return ids.ok() ? ids.value() : std::vector<std::int32_t>{};
  };
}

// A slot action's engine error: a missing or unreadable file is the caller's
// (400 naming it), a busy slot 503, the rest by engine_error.
ApiError slot_error(const Status& st) {
  if (st.code() == Code::kNotFound || st.code() == Code::kCorrupt)
    return bad_request(st.message(), "filename", "invalid_slot_file");
  return engine_error(st);
}

GenerationParams default_params(const App& app) {
  auto p = parse_generation(Json::object(), app.defaults, app.engine.n_vocab(),
                            [](const std::string&) { return std::vector<std::int32_t>{}; });
  return std::holds_alternative<GenerationParams>(p) ? std::get<GenerationParams>(p) : GenerationParams{};
}

std::string token_text(const App& app, const std::string& meta_key) {
  const std::string id = app.engine.model_meta(meta_key);
  std::int32_t token = -1;
  if (id.empty() || std::from_chars(id.data(), id.data() + id.size(), token).ec != std::errc()) return "";
  if (token < 0 || token >= app.engine.n_vocab()) return "";
  const std::int32_t ids[] = {token};
  auto pieces = app.engine.token_pieces(ids);
  return pieces.empty() ? "" : pieces.front().piece;
}

void tokenize(App& app, HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
  auto parsed = parse_tokenize(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(ex, *e);
  const TokenizeRequest& t = std::get<TokenizeRequest>(parsed);
  const std::vector<std::int32_t> ids = tokenize_prompt(t.content, t.add_special, engine_tokenizer(app, t.parse_special));
  send_json(ex, 200, tokenize_response(app.engine.token_pieces(ids), t.with_pieces));
}

void detokenize(App& app, HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
  auto parsed = parse_detokenize(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(ex, *e);
  auto text = app.engine.detokenize(std::get<std::vector<std::int32_t>>(parsed));
  if (!text.ok()) return send_error(ex, bad_request(text.status().message(), "tokens"));
  send_json(ex, 200, {{"content", text.value()}});
}

void apply_template(App& app, HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
  auto parsed = parse_openai_request(req.body, /*chat=*/true);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(ex, *e);
  auto chat = app.engine.apply_chat(std::get<OpenAiRequest>(parsed).chat_request);
  if (!chat.ok()) return send_error(ex, bad_request(chat.status().message(), "messages"));
  send_json(ex, 200, {{"prompt", chat->prompt}});
}

void props(App& app, const std::shared_ptr<Exchange>& ex) {
  PropsContext c;
  c.model_alias = app.model_name;
  c.model_path = app.config.model;
  c.model_ftype = app.engine.model_meta("general.file_type");
  c.total_slots = app.engine.n_sequences();
  c.n_ctx_per_slot = app.engine.n_ctx_per_sequence();
  c.endpoint_slots = app.config.slots;
  c.endpoint_metrics = true;  // kvc serves /metrics regardless of --metrics
  c.bos_token = token_text(app, "tokenizer.ggml.bos_token_id");
  c.eos_token = token_text(app, "tokenizer.ggml.eos_token_id");
  c.build_info = app.system_fingerprint;
  c.chat_template = app.engine.chat_template_info();
  send_json(ex, 200, props_json(c, default_params(app)));
}

void get_slots(App& app, HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
  if (!app.config.slots) {
    return send_error(ex, not_supported("This server does not support slots endpoint. Start it with `--slots`"));
  }
  const std::vector<SlotInfo> slots = app.engine.slots();
  if (req.param("fail_on_no_slot")) {
    bool idle = false;
    for (const SlotInfo& s : slots) idle = idle || !s.processing;
    if (!idle) return send_error(ex, ApiError{503, "no slot available", "unavailable_error", "", "no_slot"});
  }
  send_json(ex, 200, slots_json(slots, app.engine.n_ctx_per_sequence(), default_params(app), app.model_name));
}

void slot_action(App& app, HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
  if (app.config.slot_save_path.empty()) {
    return send_error(ex, not_supported("This server does not support slots action. Start it with `--slot-save-path`"));
  }
  const std::string id_text = req.path.substr(std::string_view("/slots/").size());
  int id = -1;
  const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id < 0 || id >= app.engine.n_sequences()) {
    return send_error(ex, bad_request("Invalid slot ID '" + id_text + "': the slots are 0.." +
                                          std::to_string(app.engine.n_sequences() - 1) + " (--parallel)",
                                      "id_slot"));
  }
  const std::string action = req.param("action").value_or("");
  if (action == "save" || action == "restore") {
    auto name = parse_slot_filename(req.body);
    if (auto* e = std::get_if<ApiError>(&name)) return send_error(ex, *e);
    const std::string& file = std::get<std::string>(name);
    if (action == "save") {
      auto r = app.engine.save_slot(id, app.config.slot_save_path, file);
      return r.ok() ? send_json(ex, 200, slot_save_json(r.value())) : send_error(ex, slot_error(r.status()));
    }
    auto r = app.engine.restore_slot(id, app.config.slot_save_path, file);
    return r.ok() ? send_json(ex, 200, slot_restore_json(r.value())) : send_error(ex, slot_error(r.status()));
  }
  if (action == "erase") {
    auto r = app.engine.erase_slot(id);
    return r.ok() ? send_json(ex, 200, slot_erase_json(r.value())) : send_error(ex, slot_error(r.status()));
  }
  send_error(ex, bad_request("Invalid action '" + action + "': use ?action=save, restore or erase", "action"));
}

void embeddings(App& app, bool oai_endpoint, HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
  if (!app.engine.embeddings_enabled()) {
    return send_error(ex, not_supported("This server does not support embeddings. Start it with `--embeddings`"));
  }
  auto parsed = parse_embedding(req.body, oai_endpoint);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(ex, *e);
  const EmbeddingRequest& r = std::get<EmbeddingRequest>(parsed);
  if (r.oai && !app.engine.pooled_embeddings()) {
    return send_error(ex, bad_request("Pooling type 'none' is not OAI compatible. Please use a different pooling type",
                                      "input"));
  }
  std::vector<Engine::Embedding> results;
  const TextTokenizer tok = engine_tokenizer(app, true);
  for (const PromptInput& in : r.inputs) {
    const std::vector<std::int32_t> ids = tokenize_prompt(in, true, tok);
    auto e = app.engine.embed(ids, r.normalize);
    if (!e.ok()) return send_error(ex, bad_request(e.status().message(), r.oai ? "input" : "content"));
    results.push_back(std::move(e.value()));
  }
  if (r.oai) return send_json(ex, 200, embeddings_oai_json(results, r, app.model_name));
  send_json(ex, 200, embeddings_native_json(results));
}

}  // namespace

void add_llama_routes(Router& router, App& app) {
  const RouteOptions worker{.access = Access::kKey, .run_on = RunOn::kWorker};
  router.add("POST", {"/tokenize"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    tokenize(app, req, ex);
  }, worker);
  router.add("POST", {"/detokenize"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    detokenize(app, req, ex);
  }, worker);
  router.add("POST", {"/apply-template"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    apply_template(app, req, ex);
  }, worker);
  router.add("GET", {"/props"}, [&app](HttpRequest&, const std::shared_ptr<Exchange>& ex) { props(app, ex); }, worker);
  router.add("POST", {"/props"}, [](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    send_error(ex, not_supported("This server does not support changing global properties (llama-server's --props); "
                                 "restart kvc-server with other flags"));
  });
  router.add("GET", {"/slots"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    get_slots(app, req, ex);
  }, worker);
  router.add("POST", {"/slots/*"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    slot_action(app, req, ex);
  }, worker);
  router.add("POST", {"/embedding", "/embeddings"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    embeddings(app, false, req, ex);
  }, worker);
  router.add("POST", {"/v1/embeddings"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    embeddings(app, true, req, ex);
  }, worker);
  router.add_any_path("OPTIONS", [](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    ex->respond(HttpResponse::text(200, "", "text/html"));
  }, {.access = Access::kPublic, .run_on = RunOn::kIoThread});
}

}  // namespace kvc::server
