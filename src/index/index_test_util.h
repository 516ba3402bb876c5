// Test helpers for the index layer: a settable clock, namespaces and rows.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <vector>

#include "index/index.h"
#include "kvc/key.h"

namespace kvc::index::testing {

// A manual clock for Index::Options::now_ns (monotonic ns). Thread-safe.
class FakeClock {
 public:
  explicit FakeClock(std::int64_t start_ns = 1'700'000'000'000'000'000) : now_(std::make_shared<std::atomic<std::int64_t>>(start_ns)) {}
  std::int64_t now() const { return now_->load(); }
  void advance(std::chrono::nanoseconds d) { now_->fetch_add(d.count()); }
  std::function<std::int64_t()> fn() const {
    auto p = now_;
    return [p] { return p->load(); };
  }

 private:
  std::shared_ptr<std::atomic<std::int64_t>> now_;
};

inline Index::Options options(const FakeClock& clock, std::size_t shards = 4,
                              std::chrono::milliseconds ttl = std::chrono::milliseconds(60'000)) {
  Index::Options o;
  o.shards = shards;
  o.reservation_ttl = ttl;
  o.now_ns = clock.fn();
  return o;
}

inline KeyNamespace make_ns(std::uint8_t seed) {
  KeyNamespace ns;
  ns.fingerprint.fill(seed);
  ns.quant = 1;
  ns.ctx_hash.fill(static_cast<std::uint8_t>(seed ^ 0x5a));
  return ns;
}

inline std::vector<std::uint32_t> iota_tokens(std::size_t n, std::uint32_t start = 0) {
  std::vector<std::uint32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// An available row for `tokens` in `ns`, keyed by derive_key.
inline RowInfo make_row(const KeyNamespace& ns, std::vector<std::uint32_t> tokens, std::uint64_t size = 1000) {
  RowInfo r;
  r.key = derive_key(ns, tokens);
  r.ns = ns;
  r.size = size;
  r.header.cached_token_count = static_cast<std::uint32_t>(tokens.size());
  r.tokens = std::make_shared<const std::vector<std::uint32_t>>(std::move(tokens));
  return r;
}

// Explicit delete run to completion, as the cache does it: remove() hands back the
// copies to delete, and each is reported deleted at once. Returns what remove said.
inline Result<Dropped> remove_now(Index& index, const Key& key, bool only_if_unleased = false) {
  auto dropped = index.remove(key, only_if_unleased);
  if (dropped.ok()) {
    for (TierId t = 0; t < kMaxTiers; ++t)
      if (dropped->to_delete & tier_bit(t)) index.finish_delete(key, t);
  }
  return dropped;
}

// evict_next(tier) run to completion (no demotion): the victim's copy is deleted
// at once. nullopt when nothing in the tier may be evicted.
inline std::optional<Victim> evict_now(Index& index, TierId tier) {
  auto v = index.evict_next(tier);
  if (v) index.finish_evict(v->info.key, tier);
  return v;
}

}  // namespace kvc::index::testing
