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

}  // namespace
}  // namespace kvc
