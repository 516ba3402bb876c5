#include "server/app.h"

#include <chrono>
#include <cstdio>

#include "kvc/version.h"

namespace kvc::server {
namespace {

bool same(const std::string& a, const std::string& b) {  // constant time for equal lengths
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// Endpoint label of a path: known routes by name, anything else "other".
std::string endpoint_label(const std::string& path) {
  static const char* known[] = {"/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions",
                                "/v1/cache/stats", "/v1/cache/rows", "/v1/cache/gc", "/v1/cache/evict",
                                "/v1/cache/pin", "/v1/cache/unpin"};
  for (const char* k : known) {
    if (path == k) return k;
  }
  return "other";
}

}  // namespace

App::App(ServerConfig c, Engine& e)
    : config(std::move(c)), engine(e), queue(config.parallel, config.queue_size), tier_names(server::tier_names(config)) {
  model_names = model_aliases(config, engine.model_name());
  model_name = model_names.front();
  limits.max_tokens_limit = config.max_tokens_limit;
  limits.default_max_tokens = config.default_max_tokens;
  defaults.sampling = default_sampling(config);
  defaults.n_predict = config.default_max_tokens;
  defaults.n_parallel = config.parallel;
  system_fingerprint = llama_build_info() + "-kvc" + KVC_VERSION;
}

std::string App::new_id(const char* prefix) {
  const auto now = std::chrono::system_clock::now().time_since_epoch().count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%llx%06llx", prefix, static_cast<unsigned long long>(now) & 0xffffffffffULL,
                static_cast<unsigned long long>(next_id.fetch_add(1)));
  return buf;
}

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, error_body(e)); }

namespace {

ApiError body_too_large(const App& app) {
  return {413, "the request body exceeds the limit of " + std::to_string(app.config.max_body_bytes) +
                   " bytes (--max-body-bytes)",
          "invalid_request_error", "", "body_too_large"};
}

}  // namespace

httplib::Server::HandlerWithContentReader bounded_body(App& app, BodyHandler handler) {
  return [&app, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                              const httplib::ContentReader& reader) {
    if (req.is_multipart_form_data()) {
      res.set_header("Connection", "close");  // the body is left unread
      send_error(res, {415, "multipart bodies are not accepted: send 'Content-Type: application/json'",
                       "invalid_request_error", "", "unsupported_media_type"});
      return;
    }
    std::string body;
    bool too_large = false;
    const bool read = reader([&](const char* data, std::size_t n) {
      if (n > app.config.max_body_bytes - body.size()) {
        too_large = true;
        return false;  // stop reading: nothing beyond the limit is buffered
      }
      body.append(data, n);
      return true;
    });
    if (too_large || (!read && res.status == 413)) {
      res.set_header("Connection", "close");
      send_error(res, body_too_large(app));
      return;
    }
    if (!read) {
      res.set_header("Connection", "close");
      send_error(res, {400, "the request body could not be read (truncated or malformed chunked encoding)",
                       "invalid_request_error", "", "bad_request"});
      return;
    }
    httplib::Request full = req;
    full.body = std::move(body);
    handler(full, res);
  };
}

void install_middleware(httplib::Server& svr, App& app) {
  const int threads = app.config.http_threads > 0 ? app.config.http_threads
                                                  : app.config.parallel + app.config.queue_size + 4;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  svr.set_payload_max_length(app.config.max_body_bytes);
  svr.set_keep_alive_timeout(2);
  svr.set_pre_routing_handler([&app](const httplib::Request& req, httplib::Response& res) {
    if (app.config.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string h = req.get_header_value("Authorization");
    if (h.empty()) {
      send_error(res, {401, "missing API key: send 'Authorization: Bearer <key>'", "authentication_error", "",
                       "missing_api_key"});
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!same(h, "Bearer " + app.config.api_key)) {
      send_error(res, {401, "invalid API key", "authentication_error", "", "invalid_api_key"});
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_error_handler([&app](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404:
        send_error(res, {404, "no endpoint " + req.method + " " + req.path, "invalid_request_error", "", "not_found"});
        break;
      case 413:
        if (req.get_header_value("Content-Type").find("x-www-form-urlencoded") != std::string::npos) {
          send_error(res, {413,
                           "form-encoded bodies are limited to 8192 bytes: send 'Content-Type: application/json'",
                           "invalid_request_error", "", "body_too_large"});
          break;
        }
        send_error(res, body_too_large(app));
        break;
      case 400:
        send_error(res, {400, "malformed HTTP request", "invalid_request_error", "", "bad_request"});
        break;
      default: {
        const int status = res.status;
        send_error(res, {status, "HTTP error " + std::to_string(status), status >= 500 ? "server_error"
                                                                                        : "invalid_request_error",
                         "", ""});
      }
    }
  });
  svr.set_logger([&app](const httplib::Request& req, const httplib::Response& res) {
    app.metrics.count_request(endpoint_label(req.path), res.status);
  });
}

}  // namespace kvc::server
