// Shared helpers of the kvc benchmarks: a fixed key namespace, deterministic token
// streams and payloads, and scratch directories that are removed at exit.
#pragma once

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "kvc/key.h"

namespace kvc::bench {

inline KeyNamespace bench_ns() {
  KeyNamespace ns;
  ns.fingerprint.fill(0xb5);
  ns.quant = quant_byte("f16");
  ns.ctx_hash.fill(0x3c);
  return ns;
}

// xorshift64: deterministic, cheap, good enough for synthetic tokens and bytes.
struct Rng {
  std::uint64_t x;
  explicit Rng(std::uint64_t seed) : x(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  }
  // Uniform in [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) { return lo + static_cast<std::size_t>(next() % (hi - lo + 1)); }
};

// Tokens drawn from a 32 000-id vocabulary.
inline std::vector<std::uint32_t> random_tokens(std::size_t n, std::uint64_t seed) {
  Rng r(seed);
  std::vector<std::uint32_t> t(n);
  for (auto& v : t) v = static_cast<std::uint32_t>(r.next() % 32000);
  return t;
}

inline std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
  Rng r(seed);
  std::vector<std::byte> v(n);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t w = r.next();
    __builtin_memcpy(v.data() + i, &w, 8);
  }
  for (; i < n; ++i) v[i] = static_cast<std::byte>(r.next());
  return v;
}

// A fresh directory `<base>/<name>-<pid>`, removed (recursively) when destroyed.
class ScratchDir {
 public:
  ScratchDir(const std::string& base, const std::string& name)
      : path_(base + "/" + name + "-" + std::to_string(::getpid())) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    std::filesystem::create_directories(path_, ec);
    if (ec) {
      std::fprintf(stderr, "bench: cannot create %s: %s\n", path_.c_str(), ec.message().c_str());
      std::exit(1);
    }
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// CPU time of the calling thread, seconds. The I/O and scan benchmarks report it
// next to their wall time (counter cpu_ms): on a loaded machine the wall time
// includes waiting for a core, the thread CPU time does not.
inline double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Where disk-tier benchmarks write: $KVC_BENCH_DIR, else /var/tmp.
inline std::string disk_base() {
  const char* d = std::getenv("KVC_BENCH_DIR");
  return (d != nullptr && *d != '\0') ? std::string(d) : std::string("/var/tmp");
}

// Where ram_file-tier benchmarks write: $KVC_BENCH_SHM_DIR, else /dev/shm.
inline std::string shm_base() {
  const char* d = std::getenv("KVC_BENCH_SHM_DIR");
  return (d != nullptr && *d != '\0') ? std::string(d) : std::string("/dev/shm");
}

}  // namespace kvc::bench
