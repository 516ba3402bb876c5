#include "tiers/temp_file.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <mutex>
#include <random>
#include <unordered_set>

namespace kvc::tiers {
namespace {

struct Registry {
  std::mutex mu;
  std::unordered_multiset<std::string> paths;
};

Registry& registry() {
  static Registry* const r = new Registry();  // never destroyed: used from any static context
  return *r;
}

std::uint64_t process_random() {
  // Re-drawn after fork: the pid in the name changes too, but a child in another
  // pid namespace could reuse the pid, so the random part must differ as well.
  static std::atomic<std::uint64_t> value{0};
  static std::atomic<pid_t> owner{0};
  const pid_t pid = ::getpid();
  if (owner.load(std::memory_order_acquire) != pid) {
    std::random_device rd;
    std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    value.store(v, std::memory_order_relaxed);
    owner.store(pid, std::memory_order_release);
  }
  return value.load(std::memory_order_relaxed);
}

}  // namespace

std::string temp_file_name(const std::string& hex) {
  static std::atomic<std::uint64_t> counter{0};
  const std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  char buf[96];
  std::snprintf(buf, sizeof buf, ".kvc.%ld-%llu-%016llx.tmp", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(process_random()));
  return hex + buf;
}

bool is_temp_name(std::string_view name) { return name.size() > 4 && name.substr(name.size() - 4) == ".tmp"; }

bool temp_is_stale(const std::string& path, std::string_view name) {
  {
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    if (r.paths.count(path) != 0) return false;
  }
  // <hex>.kvc.<pid>-<n>-<random>.tmp
  const auto at = name.find(".kvc.");
  if (at == std::string_view::npos) return true;
  const std::string_view rest = name.substr(at + 5);
  long pid = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || end == rest.data() || end == rest.data() + rest.size() || *end != '-' || pid <= 0)
    return true;
  if (pid == static_cast<long>(::getpid())) return true;  // ours but not in flight: a previous life
  if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return false;  // a live sibling
  return true;
}

InflightTemp::InflightTemp(std::string path) : path_(std::move(path)) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.paths.insert(path_);
}

InflightTemp::~InflightTemp() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = r.paths.find(path_);
  if (it != r.paths.end()) r.paths.erase(it);
}

}  // namespace kvc::tiers
