#include "server/http_router.h"

#include <cstdio>
#include <cstdlib>

namespace kvc::server {

void Router::add(std::string method, std::vector<std::string> paths, Handler handler, RouteOptions options) {
  auto route = std::make_unique<Route>(Route{std::move(method), std::move(paths), std::move(handler), options});
  for (const std::string& p : route->paths) {
    auto& methods = by_path_[p];
    if (!methods.emplace(route->method, route.get()).second) {
      std::fprintf(stderr, "kvc-server: route %s %s registered twice\n", route->method.c_str(), p.c_str());
      std::abort();
    }
  }
  routes_.push_back(std::move(route));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match m;
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return m;
  m.path_known = true;
  for (const auto& [name, route] : it->second) {
    m.allow += (m.allow.empty() ? "" : ", ") + name;
    if (name == method) m.route = route;
  }
  return m;
}

bool Router::known_path(std::string_view path) const { return by_path_.find(path) != by_path_.end(); }

}  // namespace kvc::server
