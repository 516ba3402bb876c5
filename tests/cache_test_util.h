// Helpers shared by the cross-module cache tests.
#pragma once

#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "kvc/cache.h"

namespace kvc::testing {

inline KeyNamespace ns_for_tests(std::uint8_t salt = 1) {
  KeyNamespace ns;
  ns.fingerprint.fill(salt);
  ns.quant = 1;
  ns.ctx_hash.fill(0x42);
  return ns;
}

inline TierOptions tier_options(TierKind kind, std::string dir, std::uint64_t quota) {
  TierOptions t;
  t.kind = kind;
  t.dir = std::move(dir);
  t.quota_bytes = quota;
  return t;
}

inline std::vector<std::uint32_t> token_run(std::size_t n, std::uint32_t start = 1) {
  std::vector<std::uint32_t> t(n);
  std::iota(t.begin(), t.end(), start);
  return t;
}

inline SaveRequest make_request(std::vector<std::uint32_t> toks, std::size_t bytes, std::uint8_t seed = 3) {
  SaveRequest r;
  r.ns = ns_for_tests();
  r.tokens = std::move(toks);
  r.payload = BufferPool::shared().acquire(bytes);
  for (std::size_t i = 0; i < bytes; ++i) r.payload.data()[i] = std::byte(static_cast<std::uint8_t>(seed + i * 13));
  r.reason = SaveReason::kCold;
  return r;
}

// Files in dir whose names end with suffix.
inline std::vector<std::string> files_with_suffix(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(e.path().string());
  }
  return out;
}

inline std::uint64_t bytes_of(const std::vector<std::string>& files) {
  std::uint64_t n = 0;
  for (const auto& f : files) n += std::filesystem::file_size(f);
  return n;
}

// Invariants that must hold whenever no save is in flight: every available row's
// file exists, no row is writing, the tier's usage equals its rows' sizes (and, for
// a directory owned by this cache alone, the bytes of its *.kvc files), no temp file.
inline ::testing::AssertionResult cache_consistent(Cache& cache, const std::string& dir, std::size_t tier = 0) {
  std::uint64_t sum = 0;
  for (const auto& r : cache.rows(tier)) {
    if (r.status != RowStatus::kAvailable) return ::testing::AssertionFailure() << "row " << r.info.key.hex() << " is still writing";
    const std::string path = dir + "/" + r.info.key.hex() + ".kvc";
    if (!dir.empty() && !std::filesystem::exists(path))
      return ::testing::AssertionFailure() << "row " << r.info.key.hex() << " has no file " << path;
    sum += r.info.size;
  }
  const auto stats = cache.tier_stats()[tier];
  if (stats.used_bytes != sum)
    return ::testing::AssertionFailure() << "tier used " << stats.used_bytes << " != rows " << sum;
  if (stats.used_bytes > stats.quota_bytes)
    return ::testing::AssertionFailure() << "tier used " << stats.used_bytes << " > quota " << stats.quota_bytes;
  if (!dir.empty()) {
    auto tmps = files_with_suffix(dir, ".tmp");
    if (!tmps.empty()) return ::testing::AssertionFailure() << "temp file left: " << tmps[0];
    auto kvcs = files_with_suffix(dir, ".kvc");
    if (kvcs.size() != cache.rows(tier).size())
      return ::testing::AssertionFailure() << kvcs.size() << " files but " << cache.rows(tier).size() << " rows";
    if (bytes_of(kvcs) != sum) return ::testing::AssertionFailure() << "file bytes " << bytes_of(kvcs) << " != rows " << sum;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace kvc::testing
