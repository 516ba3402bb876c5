#include "server/http_router.h"

#include <cstdio>
#include <cstdlib>

namespace kvc::server {

void Router::add(std::string method, std::vector<std::string> paths, Handler handler, RouteOptions options) {
  auto route = std::make_unique<Route>(Route{std::move(method), std::move(paths), std::move(handler), options});
  for (const std::string& p : route->paths) {
    const bool prefix = p.size() >= 2 && p.compare(p.size() - 2, 2, "/*") == 0;
    auto& methods = prefix ? by_prefix_[p.substr(0, p.size() - 1)] : by_path_[p];
    if (!methods.emplace(route->method, route.get()).second) {
      std::fprintf(stderr, "kvc-server: route %s %s registered twice\n", route->method.c_str(), p.c_str());
      std::abort();
    }
  }
  routes_.push_back(std::move(route));
}

void Router::add_any_path(std::string method, Handler handler, RouteOptions options) {
  auto route = std::make_unique<Route>(Route{method, {}, std::move(handler), options});
  if (!any_path_.emplace(method, route.get()).second) {
    std::fprintf(stderr, "kvc-server: route %s on any path registered twice\n", method.c_str());
    std::abort();
  }
  routes_.push_back(std::move(route));
}

const std::map<std::string, const Route*>* Router::methods_of(std::string_view path) const {
  if (auto it = by_path_.find(path); it != by_path_.end()) return &it->second;
  // The longest prefix that leaves a non-empty rest.
  const std::map<std::string, const Route*>* best = nullptr;
  std::size_t best_len = 0;
  for (const auto& [prefix, methods] : by_prefix_) {
    if (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix && prefix.size() > best_len) {
      best = &methods;
      best_len = prefix.size();
    }
  }
  return best;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match m;
  if (const auto* methods = methods_of(path)) {
    m.path_known = true;
    for (const auto& [name, route] : *methods) {
      m.allow += (m.allow.empty() ? "" : ", ") + name;
      if (name == method) m.route = route;
    }
  }
  if (m.route == nullptr) {
    if (auto it = any_path_.find(method); it != any_path_.end()) {
      m.route = it->second;
      m.path_known = true;
    }
  }
  return m;
}

bool Router::known_path(std::string_view path) const { return methods_of(path) != nullptr; }

std::string Router::pattern(std::string_view path) const {
  if (by_path_.find(path) != by_path_.end()) return std::string(path);
  for (const auto& [prefix, methods] : by_prefix_) {
    if (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix) return prefix + "*";
  }
  return "other";
}

}  // namespace kvc::server
