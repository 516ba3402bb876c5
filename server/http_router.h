// Method + path routing for kvc-server. A route is one handler under one method
// and any number of exact paths (aliases, e.g. "/v1/models" and "/models"); it
// says whether it needs the API key and where it runs: on the I/O thread (fast,
// never blocking) or on a worker pool (anything that may block: disk, locks, the
// engine). The server consults the router on the request head, before any body
// byte is read: unknown paths are 404, known paths with another method 405.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_message.h"

namespace kvc::server {

class Exchange;  // http_server.h

// Whether the server's API-key check applies to the route.
enum class Access { kKey, kPublic };
// Where the handler runs: on the connection's I/O strand (it must return quickly
// and never block), or on the server's worker pool.
enum class RunOn { kIoThread, kWorker };

struct RouteOptions {
  Access access = Access::kKey;
  RunOn run_on = RunOn::kIoThread;
};

// Handles one request; answers through the exchange (exactly once: respond(), or
// a stream), from any thread, now or later.
using Handler = std::function<void(HttpRequest& request, const std::shared_ptr<Exchange>& exchange)>;

struct Route {
  std::string method;
  std::vector<std::string> paths;
  Handler handler;
  RouteOptions options;
};

class Router {
 public:
  // Registers `handler` for `method` on every path of `paths` (exact match, no
  // percent-decoding). A path ending in "/*" is a prefix: "/slots/*" matches
  // "/slots/0" (any non-empty rest; exact paths win). A path+method registered
  // twice is a programming error (aborts).
  void add(std::string method, std::vector<std::string> paths, Handler handler, RouteOptions options = {});
  // Registers `handler` for `method` on every path, known or not, that has no
  // route of its own for that method (e.g. OPTIONS, the CORS preflight).
  void add_any_path(std::string method, Handler handler, RouteOptions options = {});

  struct Match {
    const Route* route = nullptr;  // null: no route for this method and path
    bool path_known = false;       // some method is routed on this path (→ 405, else 404)
    std::string allow;             // the methods routed on the path ("GET, POST"), for 405's Allow
  };
  Match match(std::string_view method, std::string_view path) const;

  // Every path with a route (for metrics labels; unknown paths count as "other").
  bool known_path(std::string_view path) const;
  // The registered path a request path is routed by ("/slots/*" for "/slots/0"),
  // "other" for unknown paths: a bounded metrics label.
  std::string pattern(std::string_view path) const;

 private:
  // The methods routed on `path` (exact, else the longest prefix); null: none.
  const std::map<std::string, const Route*>* methods_of(std::string_view path) const;
  std::vector<std::unique_ptr<Route>> routes_;
  // path → method → route (prefix paths without their '*')
  std::map<std::string, std::map<std::string, const Route*>, std::less<>> by_path_;
  std::map<std::string, std::map<std::string, const Route*>, std::less<>> by_prefix_;
  std::map<std::string, const Route*, std::less<>> any_path_;  // method → route
};

}  // namespace kvc::server
