// Property: for random sequences of saves, checkouts, releases, pins and unpins on
// a small quota, a quota is never exceeded after a save returns, a leased or pinned
// row is never evicted, and the byte accounting matches the files on disk.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include "cache_test_util.h"
#include "support/temp_dir.h"

namespace kvc {
namespace {

using testing::make_request;
using testing::token_run;

RC_GTEST_PROP(CacheQuotaProp, QuotaLeasesAndPinsHold, ()) {
  testing::TempDir dir;
  CacheOptions o;
  const std::uint64_t quota = *rc::gen::inRange<std::uint64_t>(20'000, 120'000);
  o.tiers.push_back({*rc::gen::element(TierKind::kRam, TierKind::kDisk), "", quota});
  if (o.tiers[0].kind == TierKind::kDisk) o.tiers[0].dir = dir.path();
  o.tiers[0].min_tokens = 1;
  o.watch_directories = false;
  auto opened = Cache::open(o);
  RC_ASSERT(opened.ok());
  Cache& cache = **opened;

  std::map<int, Lease> held;  // key id → lease
  std::set<int> pinned;
  const int n_ops = *rc::gen::inRange(10, 80);
  for (int step = 0; step < n_ops; ++step) {
    const int id = *rc::gen::inRange(0, 12);
    const auto toks = token_run(16, 1 + static_cast<std::uint32_t>(id) * 100);
    const Key key = derive_key(testing::ns_for_tests(), toks);
    switch (*rc::gen::inRange(0, 5)) {
      case 0:
      case 1: {
        const auto size = *rc::gen::inRange<std::size_t>(1000, 40'000);
        auto r = cache.save(make_request(toks, size), std::chrono::seconds(5));
        RC_ASSERT(r.ok() || r.status().code() == Code::kAlreadyPresent || r.status().code() == Code::kQuotaExceeded);
        RC_ASSERT(cache.tier_stats()[0].used_bytes <= quota);
        break;
      }
      case 2: {
        if (held.count(id)) break;
        auto lease = cache.checkout(key);
        if (lease.ok()) held.emplace(id, std::move(lease.value()));
        break;
      }
      case 3:
        held.erase(id);
        break;
      case 4:
        if (*rc::gen::arbitrary<bool>()) {
          if (cache.pin(key).ok()) pinned.insert(id);
        } else if (cache.unpin(key).ok()) {
          pinned.erase(id);
        }
        break;
    }
    // Leased and pinned rows are still there.
    for (const auto& [hid, lease] : held) RC_ASSERT(cache.rows().size() > 0 && cache.checkout(lease.row().key).ok());
    for (int pid : pinned)
      RC_ASSERT(cache.checkout(derive_key(testing::ns_for_tests(), token_run(16, 1 + static_cast<std::uint32_t>(pid) * 100))).ok());
  }
  held.clear();
  RC_ASSERT(testing::cache_consistent(cache, o.tiers[0].dir));
}

// The hierarchy: RAM → disk (write-through or on-evict, random per run) under
// small quotas, with random sync and async saves, hits (loads promote into RAM),
// evictions by tier, pins, leases and restarts. No tier is ever over its quota,
// leased and pinned rows survive, and after every restart the accounting of each
// file tier matches its files.
RC_GTEST_PROP(CacheQuotaProp, HierarchyQuotasHoldAcrossHitsEvictionsAndRestarts, ()) {
  testing::TempDir dir;
  CacheOptions o;
  o.tiers.push_back(testing::tier_options(TierKind::kRam, "", *rc::gen::inRange<std::uint64_t>(20'000, 100'000)));
  o.tiers.push_back(testing::tier_options(TierKind::kDisk, dir.path(), *rc::gen::inRange<std::uint64_t>(40'000, 160'000)));
  o.tiers[1].policy = *rc::gen::element(TierPolicy::kWriteThrough, TierPolicy::kOnEvict);
  o.tiers[1].min_tokens = *rc::gen::element(1, 16, 24);
  o.watch_directories = false;
  auto open_cache = [&] {
    auto c = Cache::open(o);
    RC_ASSERT(c.ok());
    return std::move(c.value());
  };
  auto cache = open_cache();
  auto within_quotas = [&] {
    for (const auto& t : cache->tier_stats()) RC_ASSERT(t.used_bytes <= t.quota_bytes);
  };
  std::map<int, Lease> held;
  std::set<int> pinned;
  const int n_ops = *rc::gen::inRange(10, 90);
  for (int step = 0; step < n_ops; ++step) {
    const int id = *rc::gen::inRange(0, 12);
    const auto toks = token_run(8 + static_cast<std::size_t>(id % 3) * 8, 1 + static_cast<std::uint32_t>(id) * 100);
    const Key key = derive_key(testing::ns_for_tests(), toks);
    switch (*rc::gen::inRange(0, 8)) {
      case 0: {
        auto r = cache->save(make_request(toks, *rc::gen::inRange<std::size_t>(1000, 30'000)), std::chrono::seconds(5));
        RC_ASSERT(r.ok() || r.status().code() == Code::kAlreadyPresent || r.status().code() == Code::kConflict ||
                  r.status().code() == Code::kQuotaExceeded);
        break;
      }
      case 1:
        (void)cache->save_async(make_request(toks, *rc::gen::inRange<std::size_t>(1000, 30'000)));
        break;
      case 2: {  // a hit: served from the fastest copy, promoted into RAM when it came from disk
        auto lease = cache->checkout(key);
        if (lease.ok()) {
          auto loaded = cache->load(*lease);
          RC_ASSERT(loaded.ok() || loaded.status().code() == Code::kBusy);
        }
        break;
      }
      case 3:
        if (!held.count(id)) {
          auto lease = cache->checkout(key);
          if (lease.ok()) held.emplace(id, std::move(lease.value()));
        } else {
          held.erase(id);
        }
        break;
      case 4:
        if (*rc::gen::arbitrary<bool>()) {
          if (cache->pin(key).ok()) pinned.insert(id);
        } else if (cache->unpin(key).ok()) {
          pinned.erase(id);
        }
        break;
      case 5: {
        const TierKind kinds[] = {*rc::gen::element(TierKind::kRam, TierKind::kDisk)};
        cache->evict_bytes(*rc::gen::inRange<std::uint64_t>(1, 60'000), kinds);
        break;
      }
      case 6:
        cache->flush();
        break;
      case 7:  // restart: RAM is lost, disk rows come back, pins do not survive
        held.clear();
        pinned.clear();
        cache.reset();
        cache = open_cache();
        RC_ASSERT(testing::cache_consistent(*cache, dir.path(), 1));
        break;
    }
    within_quotas();
    for (const auto& [hid, lease] : held) RC_ASSERT(cache->checkout(lease.row().key).ok());
    for (int pid : pinned) {
      const auto t = token_run(8 + static_cast<std::size_t>(pid % 3) * 8, 1 + static_cast<std::uint32_t>(pid) * 100);
      RC_ASSERT(cache->checkout(derive_key(testing::ns_for_tests(), t)).ok());
    }
  }
  held.clear();
  cache->flush();
  within_quotas();
  RC_ASSERT(testing::cache_consistent(*cache, "", 0));
  RC_ASSERT(testing::cache_consistent(*cache, dir.path(), 1));
}

}  // namespace
}  // namespace kvc
