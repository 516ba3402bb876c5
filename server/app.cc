#include "server/app.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "kvc/version.h"

namespace kvc::server {
namespace {

bool same(std::string_view a, std::string_view b) {  // constant time for equal lengths
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
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
  defaults.verbose = config.verbose;
  system_fingerprint = llama_build_info() + "-kvc" + KVC_VERSION;
  start_time_unix = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string App::new_id(const char* prefix) {
  const auto now = std::chrono::system_clock::now().time_since_epoch().count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%llx%06llx", prefix, static_cast<unsigned long long>(now) & 0xffffffffffULL,
                static_cast<unsigned long long>(next_id.fetch_add(1)));
  return buf;
}

HttpResponse json_response(int status, const Json& body) {
  return HttpResponse::text(status, dump(body), "application/json");
}

HttpResponse error_response(const ApiError& e) { return json_response(e.status, error_body(e)); }

void send_json(const std::shared_ptr<Exchange>& ex, int status, const Json& body) {
  ex->respond(json_response(status, body));
}

void send_error(const std::shared_ptr<Exchange>& ex, const ApiError& e) { ex->respond(error_response(e)); }

HttpResponse http_error(int status, const std::string& message, const std::string& code) {
  return error_response({status, message, status >= 500 ? "server_error" : "invalid_request_error", "", code});
}

std::optional<HttpResponse> check_head(const App& app, const HttpRequest& head, const Router::Match& match) {
  const bool open = match.route != nullptr && match.route->options.access == Access::kPublic;
  if (!open && !app.config.api_key.empty()) {
    // llama-server's rules: 'Authorization: Bearer KEY', else 'X-Api-Key: KEY'
    // (Anthropic clients); the "Bearer " prefix is optional in both.
    std::string_view given = head.header("Authorization");
    if (given.empty()) given = head.header("X-Api-Key");
    if (given.empty()) {
      return error_response({401, "missing API key: send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'",
                             "authentication_error", "", "missing_api_key"});
    }
    if (given.substr(0, 7) == "Bearer ") given.remove_prefix(7);
    if (!same(given, app.config.api_key)) {
      return error_response({401, "invalid API key", "authentication_error", "", "invalid_api_key"});
    }
  }
  const std::string_view type = head.header("Content-Type");
  if (type.size() >= 10 && iequals(type.substr(0, 10), "multipart/")) {
    return error_response({415, "multipart bodies are not accepted: send 'Content-Type: application/json'",
                           "invalid_request_error", "", "unsupported_media_type"});
  }
  return std::nullopt;
}

HttpServerOptions http_options(const ServerConfig& c) {
  HttpServerOptions o;
  o.hosts = c.hosts;
  o.port = c.port;
  o.limits.max_header_bytes = c.max_header_bytes;
  o.limits.max_header_fields = static_cast<std::size_t>(c.max_header_fields);
  o.limits.max_body_bytes = c.max_body_bytes;
  o.header_timeout = std::chrono::milliseconds(c.header_timeout_ms);
  o.body_timeout = std::chrono::milliseconds(c.body_timeout_ms);
  o.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
  o.keep_alive_timeout = std::chrono::milliseconds(c.keep_alive_timeout_ms);
  o.request_timeout = std::chrono::milliseconds(c.request_timeout_ms);
  o.max_connections = static_cast<std::size_t>(c.max_connections);
  o.response_fields = [origins = c.cors_origins](const HttpRequest& head) { return cors_fields(origins, head); };
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  o.io_threads = c.http_threads > 0 ? c.http_threads : static_cast<int>(std::min(cores, 2u));
  // Every admitted generation request (running or queued) holds a worker while it
  // waits on the engine; a few more serve the admin routes meanwhile.
  o.worker_threads = c.parallel + c.queue_size + 4;
  return o;
}

namespace {

bool localhost_origin(std::string_view origin) {
  // scheme://host[:port]: the host is localhost, 127.0.0.1 or [::1].
  const std::size_t scheme = origin.find("://");
  if (scheme == std::string_view::npos) return false;
  std::string_view host = origin.substr(scheme + 3);
  host = host.substr(0, host.find('/'));
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

}  // namespace

HttpFields cors_fields(const std::string& origins, const HttpRequest& head) {
  const std::string_view origin = head.header("Origin");
  HttpFields f;
  if (origins == "*") {
    // With credentials allowed, "*" is not accepted by browsers: the Origin is echoed.
    f.emplace_back("Access-Control-Allow-Origin", origin.empty() ? "*" : std::string(origin));
  } else if (origins == "localhost") {
    if (!origin.empty() && localhost_origin(origin)) f.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  } else {
    f.emplace_back("Access-Control-Allow-Origin", origins);
  }
  if (head.method == "OPTIONS") {
    f.emplace_back("Access-Control-Allow-Credentials", "true");
    f.emplace_back("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    f.emplace_back("Access-Control-Allow-Headers", "*");
  }
  return f;
}

std::string endpoint_label(const Router& router, const std::string& path) {
  return router.pattern(path);
}

}  // namespace kvc::server
