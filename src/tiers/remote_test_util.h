// Test helpers for the remote-tier tests: valid KVC files as prefix + payload, and
// options pointing at a test Redis.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "format/kvc_file.h"
#include "support/redis_server.h"
#include "tiers/remote_options.h"

namespace kvc::tiers::remotetest {

using namespace std::chrono_literals;

struct File {
  KeyNamespace ns;
  std::vector<std::uint32_t> tokens;
  Key key;
  std::vector<std::byte> prefix;
  std::vector<std::byte> payload;
  std::uint64_t size() const { return prefix.size() + payload.size(); }
  std::vector<std::byte> whole() const {
    std::vector<std::byte> out(prefix);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  }
  std::string whole_string() const {
    const auto w = whole();
    return std::string(reinterpret_cast<const char*>(w.data()), w.size());
  }
};

// A valid file whose key depends on `seed`.
inline File make_file(std::uint32_t seed, std::size_t payload_size = 1000, std::size_t n_tokens = 16) {
  File f;
  f.ns.fingerprint.fill(0x11);
  f.ns.quant = 1;
  f.ns.ctx_hash.fill(0x22);
  for (std::size_t i = 0; i < n_tokens; ++i) f.tokens.push_back(seed * 1000003u + static_cast<std::uint32_t>(i));
  f.key = derive_key(f.ns, f.tokens);
  f.payload.resize(payload_size);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& b : f.payload) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x);
  }
  format::KvcBuildInput in;
  in.save_reason = format::SaveReason::kCold;
  in.context_size = 4096;
  in.creation_time = 1700000000;
  in.last_used_time = 1700000000;
  in.prompt_text = "a test prompt";
  in.ns = f.ns;
  in.tokens = f.tokens;
  in.hostname = "test-host";
  in.producer_version = "kvc test";
  f.prefix = format::build_prefix(in, f.payload);
  return f;
}

inline RemoteOptions single_options(const testing::RedisServer& s) {
  RemoteOptions o;
  o.url = s.url();
  // Generous: a 64 MiB reply under sanitizers on a loaded 2-core machine can take
  // longer than 50 ms to start. Tests never assert on time; fault tests that need a
  // timeout pass their own deadline.
  o.timeout = 1000ms;
  o.reconnect_min = 20ms;
  o.reconnect_max = 200ms;
  o.tail_block = 50ms;
  return o;
}

inline RemoteOptions cluster_options(const testing::RedisTestCluster& c) {
  RemoteOptions o;
  o.cluster_seeds = c.seeds();
  o.timeout = 1000ms;
  o.reconnect_min = 20ms;
  o.reconnect_max = 200ms;
  o.tail_block = 50ms;
  return o;
}

// Polls `cond` every 10 ms for up to `limit`.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

// prefix followed by n, built by appending (g++ 12 -O3 warns, wrongly, about
// `"literal" + std::to_string(n)`).
inline std::string numbered(std::string_view prefix, long long n, std::string_view suffix = {}) {
  std::string s(prefix);
  s += std::to_string(n);
  s += suffix;
  return s;
}

inline std::string as_string(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace kvc::tiers::remotetest
