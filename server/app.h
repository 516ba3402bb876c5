// The server's shared state and what every route uses: JSON and error responses,
// the checks on a request head (API key, media type), the HTTP server's options
// from the config, and request metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kvc/engine.h"
#include "server/admission.h"
#include "server/config.h"
#include "server/llama_params.h"
#include "server/http_router.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/openai.h"

namespace kvc::server {

struct App {
  App(ServerConfig c, Engine& e);

  ServerConfig config;
  Engine& engine;
  AdmissionQueue queue;
  ServerMetrics metrics;
  std::vector<std::string> tier_names;  // index = tier id
  std::string model_name;               // the first alias, or the model's file name
  std::vector<std::string> model_names; // every alias (/v1/models); requests may name any model
  RequestLimits limits;
  GenerationDefaults defaults;          // what a request that names nothing gets (--temp, --seed, -n, …)
  std::string system_fingerprint;       // llama_build_info() (+ "-kvc" version)
  std::atomic<std::uint64_t> next_id{0};
  std::int64_t start_time_unix = 0;     // /metrics' Process-Start-Time-Unix header

  // "cmpl-…" / "chatcmpl-…": unique within this process.
  std::string new_id(const char* prefix);
};

HttpResponse json_response(int status, const Json& body);
HttpResponse error_response(const ApiError& e);
void send_json(const std::shared_ptr<Exchange>& ex, int status, const Json& body);
void send_error(const std::shared_ptr<Exchange>& ex, const ApiError& e);

// The error object of an error the HTTP layer found (malformed request, limits,
// timeouts, 404, 405): type invalid_request_error (server_error for 5xx).
HttpResponse http_error(int status, const std::string& message, const std::string& code);

// Checks a request head before its body is read: the API key (every route but
// public ones, and unknown paths: 'Authorization: Bearer KEY', compared in
// constant time; 'X-Api-Key: KEY' too, like llama-server) and the media type (multipart bodies get 415).
std::optional<HttpResponse> check_head(const App& app, const HttpRequest& head, const Router::Match& match);

// CORS fields of every response (llama-server's): with `origins` "*" the
// Access-Control-Allow-Origin echoes the request's Origin ("*" without one);
// "localhost": only an Origin on localhost, 127.0.0.1 or [::1] is echoed (none
// otherwise); else `origins` itself. An OPTIONS preflight also gets
// Allow-Credentials, Allow-Methods and Allow-Headers.
HttpFields cors_fields(const std::string& origins, const HttpRequest& head);

// The HTTP server's options from the config (limits, deadlines, threads, CORS).
HttpServerOptions http_options(const ServerConfig& c);

// Metrics label of a path: the route's path when routed, "other" otherwise.
std::string endpoint_label(const Router& router, const std::string& path);

void add_completion_routes(Router& router, App& app);  // /completion(s), /v1/completions, /v1/chat/completions
void add_info_routes(Router& router, App& app);        // /health, /v1/models, /metrics
// llama-server's: /tokenize, /detokenize, /apply-template, /props, /slots,
// /embedding(s), /v1/embeddings, OPTIONS (CORS preflight) on any path.
void add_llama_routes(Router& router, App& app);
void add_admin_routes(Router& router, App& app);       // /v1/cache/*

}  // namespace kvc::server
