// The server's shared state and the HTTP plumbing every route uses: JSON and
// error responses, Bearer auth, the body limit, the error handler for httplib's
// own errors (404, 413, …) and request metrics.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kvc/engine.h"
#include "server/admission.h"
#include "server/config.h"
#include "server/llama_params.h"
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

  // "cmpl-…" / "chatcmpl-…": unique within this process.
  std::string new_id(const char* prefix);
};

void send_json(httplib::Response& res, int status, const Json& body);
void send_error(httplib::Response& res, const ApiError& e);

// Auth, body limit, error handler, logger (request counts) and thread pool.
void install_middleware(httplib::Server& svr, App& app);

// Wraps a POST handler so that it sees the whole body in req.body, read with the
// --max-body-bytes bound enforced on every transfer encoding: cpp-httplib 0.11 bounds
// only bodies with a Content-Length, so a chunked upload would otherwise be read
// into memory without limit. Oversize bodies get 413 (and the connection is closed);
// multipart bodies get 415.
using BodyHandler = std::function<void(const httplib::Request&, httplib::Response&)>;
httplib::Server::HandlerWithContentReader bounded_body(App& app, BodyHandler handler);

void add_completion_routes(httplib::Server& svr, App& app);  // /v1/completions, /v1/chat/completions
void add_info_routes(httplib::Server& svr, App& app);        // /health, /v1/models, /metrics
void add_admin_routes(httplib::Server& svr, App& app);       // /v1/cache/*

}  // namespace kvc::server
