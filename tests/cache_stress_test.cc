// Multi-threaded stress of kvc::Cache (run under TSan in CI): saves (sync and
// async), checkouts, loads, prefix lookups, pins, evictions and gc on a ram tier and
// a disk tier at once, with small quotas so eviction is constant. Bounded iteration
// counts; asserts invariants at the end.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "cache_test_util.h"
#include "support/temp_dir.h"

namespace kvc {
namespace {

using testing::make_request;
using testing::token_run;

TEST(CacheStress, ConcurrentMixedOperations) {
  testing::TempDir dir;
  CacheOptions o;
  o.tiers.push_back({TierKind::kRam, "", 200'000});
  o.tiers.push_back({TierKind::kDisk, dir.path(), 300'000});
  o.policy.min_tokens = 8;
  o.policy.cold_min_tokens = 8;
  o.policy.boundary_align_tokens = 8;
  o.policy.boundary_trim_tokens = 0;
  o.writers.threads = 2;
  o.writers.queue_capacity = 8;
  o.sweep_interval = std::chrono::milliseconds(5);
  auto opened = Cache::open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  Cache& cache = **opened;

  const int kThreads = 4;
  const int kIters = std::getenv("KVC_SOAK") ? 20000 : 600;
  std::atomic<std::uint64_t> loads_ok{0}, loads_failed{0}, saves_ok{0};
  std::atomic<std::uint64_t> loads_other_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1234 + t);
      for (int i = 0; i < kIters; ++i) {
        const std::uint32_t which = rng() % 24;
        auto toks = token_run(8 * (1 + which % 6), 1 + which / 6 * 1000);
        const std::size_t bytes = 4000 + 1000 * (which % 7);
        switch (rng() % 8) {
          case 0: {
            auto req = make_request(toks, bytes, static_cast<std::uint8_t>(which));
            if (cache.save(std::move(req), std::chrono::seconds(5)).ok()) saves_ok++;
            break;
          }
          case 1: {
            auto req = make_request(toks, bytes, static_cast<std::uint8_t>(which));
            (void)cache.save_async(std::move(req));
            break;
          }
          case 2:
          case 3: {
            auto lease = cache.checkout(derive_key(testing::ns_for_tests(), toks));
            if (lease.ok()) {
              auto loaded = cache.load(*lease);
              (loaded.ok() ? loads_ok : loads_failed)++;
              // A lease taken while the row's last copy moves down keeps the row
              // visible, but the move itself may be dropped (writer queue full):
              // then, and only then, the load is a plain miss.
              if (!loaded.ok() && loaded.status().code() != Code::kNotFound) {
                loads_other_errors++;
                ADD_FAILURE() << loaded.status().to_string();
              }
              if (loaded.ok()) {
                // The payload is exactly what was saved for these tokens.
                auto expect = make_request(toks, bytes, static_cast<std::uint8_t>(which));
                const auto want = expect.payload.span();
                const auto got = loaded->payload();
                EXPECT_TRUE(std::equal(want.begin(), want.end(), got.begin(), got.end()));
              }
            }
            break;
          }
          case 4: {
            auto longer = toks;
            longer.push_back(7);
            auto hit = rng() % 2 ? cache.longest_prefix(testing::ns_for_tests(), longer, 8)
                                 : cache.any_prefix(testing::ns_for_tests(), longer, true, 1);
            if (hit.lease) {
              EXPECT_LE(hit.length, longer.size());
            }
            break;
          }
          case 5: {
            const auto key = derive_key(testing::ns_for_tests(), toks);
            if (rng() % 2) (void)cache.pin(key);
            else (void)cache.unpin(key);
            break;
          }
          case 6: {
            const TierKind kinds[] = {rng() % 2 ? TierKind::kRam : TierKind::kDisk};
            cache.evict_bytes(10000, kinds);
            break;
          }
          case 7:
            if (rng() % 16 == 0) cache.gc();
            else (void)cache.remove(derive_key(testing::ns_for_tests(), toks));
            break;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  cache.flush();
  EXPECT_GT(saves_ok.load(), 0u);
  EXPECT_GT(loads_ok.load(), 0u);
  // Nobody else touches the files: a load fails only as a miss, and only for a row
  // whose copy below was dropped.
  EXPECT_EQ(loads_other_errors.load(), 0u);
  std::uint64_t dropped_copies = 0;
  for (const auto& t : cache.tier_stats()) dropped_copies += t.counters.write_through_drops;
  EXPECT_LE(loads_failed.load(), dropped_copies);
  EXPECT_NE(cache.prometheus_text().find("kvc_leases 0\n"), std::string::npos);
  EXPECT_TRUE(testing::cache_consistent(cache, "", 0));
  EXPECT_TRUE(testing::cache_consistent(cache, dir.path(), 1));
  EXPECT_TRUE(testing::cache_consistent(cache, dir.path(), 1));
}

}  // namespace
}  // namespace kvc
