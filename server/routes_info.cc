// GET /health, GET /v1/models, GET /metrics.
#include "server/app.h"

namespace kvc::server {

void add_info_routes(Router& router, App& app) {
  router.add("GET", {"/health"}, [](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    send_json(ex, 200, {{"status", "ok"}});
  }, {.access = Access::kPublic, .run_on = RunOn::kIoThread});
  router.add("GET", {"/v1/models"}, [&app](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    Json model = {{"id", app.model_name},
                  {"object", "model"},
                  {"created", 0},
                  {"owned_by", "kvc"},
                  {"meta", {{"n_ctx_per_sequence", app.engine.n_ctx_per_sequence()},
                            {"parallel", app.config.parallel}}}};
    send_json(ex, 200, {{"object", "list"}, {"data", Json::array({model})}});
  });
  // The cache's exposition takes its locks: a worker, not the I/O thread.
  router.add("GET", {"/metrics"}, [&app](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    std::string text = app.engine.cache().prometheus_text();
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += app.metrics.render(app.queue.running(), app.queue.waiting());
    ex->respond(HttpResponse::text(200, std::move(text), "text/plain; version=0.0.4; charset=utf-8"));
  }, {.run_on = RunOn::kWorker});
}

}  // namespace kvc::server
