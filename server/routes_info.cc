// GET /health, GET /v1/models, GET /metrics.
#include "server/app.h"

namespace kvc::server {

void add_info_routes(httplib::Server& svr, App& app) {
  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) { send_json(res, 200, {{"status", "ok"}}); });
  svr.Get("/v1/models", [&app](const httplib::Request&, httplib::Response& res) {
    Json model = {{"id", app.model_name},
                  {"object", "model"},
                  {"created", 0},
                  {"owned_by", "kvc"},
                  {"meta", {{"n_ctx_per_sequence", app.engine.n_ctx_per_sequence()},
                            {"parallel", app.config.parallel}}}};
    send_json(res, 200, {{"object", "list"}, {"data", Json::array({model})}});
  });
  svr.Get("/metrics", [&app](const httplib::Request&, httplib::Response& res) {
    std::string text = app.engine.cache().prometheus_text();
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += app.metrics.render(app.queue.running(), app.queue.waiting());
    res.status = 200;
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace kvc::server
