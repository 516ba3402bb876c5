// GET /health (also /v1/health), GET /v1/models (also /models), GET /metrics.
#include <ctime>

#include "server/app.h"

namespace kvc::server {

void add_info_routes(Router& router, App& app) {
  router.add("GET", {"/health", "/v1/health"}, [](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    send_json(ex, 200, {{"status", "ok"}});
  }, {.access = Access::kPublic, .run_on = RunOn::kIoThread});
  // llama-server's shape: "data" (OpenAI's list) and "models" (Ollama's), each
  // alias (--model-alias a,b) a model; a request may name any of them, or another.
  router.add("GET", {"/v1/models", "/models"}, [&app](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    Json data = Json::array(), models = Json::array();
    for (const std::string& name : app.model_names) {
      data.push_back({{"id", name},
                      {"aliases", app.model_names},
                      {"object", "model"},
                      {"created", static_cast<std::int64_t>(std::time(nullptr))},
                      {"owned_by", "llamacpp"},
                      {"meta", {{"n_vocab", app.engine.n_vocab()},
                                {"n_ctx", app.engine.n_ctx_per_sequence()},
                                {"n_ctx_train", app.engine.n_ctx_train()},
                                {"n_ctx_per_sequence", app.engine.n_ctx_per_sequence()},
                                {"parallel", app.config.parallel}}}});
      models.push_back({{"name", name},
                        {"model", name},
                        {"modified_at", ""},
                        {"size", ""},
                        {"digest", ""},
                        {"type", "model"},
                        {"description", ""},
                        {"tags", Json::array({""})},
                        {"capabilities", Json::array({"completion"})},
                        {"parameters", ""},
                        {"details", {{"parent_model", ""}, {"format", "gguf"}, {"family", ""},
                                     {"families", Json::array({""})}, {"parameter_size", ""},
                                     {"quantization_level", ""}}}});
    }
    send_json(ex, 200, {{"models", models}, {"object", "list"}, {"data", data}});
  });
  // The cache's exposition takes its locks: a worker, not the I/O thread. kvc's
  // own metrics (kvc_*), then llama-server's (llamacpp:*), always (llama-server
  // serves them only with --metrics).
  router.add("GET", {"/metrics"}, [&app](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    std::string text = app.engine.cache().prometheus_text();
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += app.metrics.render(app.queue.running(), app.queue.waiting());
    const Engine::DecodeStats d = app.engine.decode_stats();
    text += app.metrics.render_llama(app.queue.running(), app.queue.waiting(),
                                     ServerMetrics::DecodeStats{d.n_decode_total, d.busy_slots_total});
    HttpResponse res = HttpResponse::text(200, std::move(text), "text/plain; version=0.0.4; charset=utf-8");
    res.set("Process-Start-Time-Unix", std::to_string(app.start_time_unix));  // llama-server's
    ex->respond(std::move(res));
  }, {.run_on = RunOn::kWorker});
}

}  // namespace kvc::server
