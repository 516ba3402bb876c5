// Leases: lock-free release, leases that outlive their row, and a stress test of
// checkout racing eviction, removal and reuse of the same key (run under TSan and
// ASan: no race, no use-after-free, lease counts back to 0).
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <random>
#include <thread>

#include "index/index.h"
#include "index/index_test_util.h"

namespace kvc::index {
namespace {

using testing::FakeClock;
using testing::make_ns;
using testing::make_row;
using testing::options;

std::uint64_t sum(const TokenList& t) { return std::accumulate(t->begin(), t->end(), std::uint64_t{0}); }

TEST(LeaseTest, OutlivesItsRowAndTheRowsInfo) {
  FakeClock clock;
  Index index(options(clock));
  RowInfo r = make_row(make_ns(1), {1, 2, 3});
  const std::uint64_t expected = sum(r.tokens);
  (void)index.register_copy(r, 0, 0, false);
  Lease a = std::move(index.checkout(r.key)).value();
  Lease b = std::move(index.checkout(r.key)).value();
  r.tokens.reset();  // the index and the leases hold the token list now
  ASSERT_TRUE(testing::remove_now(index, a.row().key).ok());
  EXPECT_FALSE(index.get(b.row().key).has_value());
  EXPECT_EQ(index.total_leases(), 0u) << "leases of rows that left the index are not counted";
  EXPECT_EQ(sum(a.row().tokens), expected);
  EXPECT_EQ(index.touch(a), 1u) << "touching a removed row is harmless";
  a.release();
  EXPECT_EQ(sum(b.row().tokens), expected) << "the last lease keeps the row";
  b.release();  // frees it (ASan checks)
}

TEST(LeaseTest, MovedLeasesReleaseOnce) {
  FakeClock clock;
  Index index(options(clock));
  RowInfo r = make_row(make_ns(1), {4});
  (void)index.register_copy(r, 0, 0, false);
  std::vector<Lease> leases;
  for (int i = 0; i < 100; ++i) leases.push_back(std::move(index.checkout(r.key)).value());  // moves on growth
  EXPECT_EQ(index.get(r.key)->leases, 100u);
  Lease self = std::move(leases.back());
  leases.pop_back();
  Lease& alias = self;
  self = std::move(alias);  // self-move keeps it
  EXPECT_TRUE(self);
  EXPECT_EQ(index.get(r.key)->leases, 100u);
  leases.clear();
  EXPECT_EQ(index.get(r.key)->leases, 1u);
  self = Lease();
  EXPECT_EQ(index.total_leases(), 0u);
}

// Readers check out and release two keys while other threads evict them, remove
// them and bring them back under the same keys:
//  - key A is only evicted and removed-if-unleased, so while a reader holds a
//    lease on A, A's copy in tier 0 must stay (a leased row is never a victim);
//  - key B is also removed by force and re-published while leased, so its leases
//    outlive their rows and are released after them.
TEST(LeaseTest, CheckoutRacesEvictionRemovalAndReuseOfTheSameKey) {
  FakeClock clock;
  Index index(options(clock, 2));
  const KeyNamespace ns = make_ns(3);
  const RowInfo a = make_row(ns, testing::iota_tokens(64, 1));
  const RowInfo b = make_row(ns, testing::iota_tokens(64, 1000));
  const std::uint64_t a_sum = sum(a.tokens);
  const std::uint64_t b_sum = sum(b.tokens);
  (void)index.register_copy(a, 0, 0, false);
  (void)index.register_copy(b, 0, 0, false);

  // Readers run at least kReaderRounds, and on until the other threads have
  // evicted and brought back rows a few times (a loaded machine may starve them),
  // within kMaxRounds.
  constexpr int kReaderRounds = 20'000;
  constexpr int kMaxRounds = 2'000'000;
  constexpr int kEnough = 20;
  std::atomic<int> readers_left{2};
  std::atomic<std::int64_t> served{0}, victims{0}, reused{0}, lost_copy{0}, bad_row{0};

  auto reader = [&](std::uint32_t seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < kMaxRounds && (i < kReaderRounds || victims.load() < kEnough || reused.load() < kEnough);
         ++i) {
      const bool on_a = rng() % 2 == 0;
      const RowInfo& row = on_a ? a : b;
      Lease lease;
      if (rng() % 3 == 0) {  // the stride walk's probe path
        StrideMatch m = index.longest_prefix(ns, *row.tokens, row.tokens->size(), 0);
        lease = std::move(m.lease);
      } else if (auto got = index.checkout(row.key); got.ok()) {
        lease = std::move(got).value();
      }
      if (!lease) continue;
      ++served;
      for (int spin = 0; spin < 4; ++spin) {
        if (lease.row().key != row.key || sum(lease.row().tokens) != (on_a ? a_sum : b_sum)) ++bad_row;
        if (on_a && !(lease.tiers() & tier_bit(0))) ++lost_copy;  // evicted or removed while leased
        if (spin == 1) (void)index.touch(lease);
        std::this_thread::yield();
      }
      if (rng() % 4 == 0) {
        Lease moved = std::move(lease);  // released from another object
      }
    }
    --readers_left;
  };
  auto evictor = [&] {
    while (readers_left.load() > 0) {
      if (auto v = index.evict_next(0)) {
        ++victims;
        if (v->info.key != a.key && v->info.key != b.key) ++bad_row;
        std::this_thread::yield();  // the copy is being deleted: re-saves must wait
        index.finish_evict(v->info.key, 0);
      }
    }
  };
  auto churn = [&] {
    std::mt19937 rng(99);
    while (readers_left.load() > 0) {
      switch (rng() % 6) {
        case 0: (void)testing::remove_now(index, a.key, /*only_if_unleased=*/true); break;
        case 1: (void)testing::remove_now(index, b.key, /*only_if_unleased=*/false); break;
        case 2:
          if (index.register_copy(a, 0, 1, false) == RegisterOutcome::kInserted) ++reused;
          break;
        case 3:
          if (index.register_copy(b, 0, 1, true) == RegisterOutcome::kInserted) ++reused;
          break;
        case 4: {
          auto r = index.reserve(b.key);
          if (r.ok() && index.publish(*r, b, 0).ok()) ++reused;
          break;
        }
        default:
          (void)index.pin(a.key);
          (void)index.unpin(a.key);
          break;
      }
    }
  };

  std::vector<std::thread> threads;
  threads.emplace_back(reader, 1u);
  threads.emplace_back(reader, 2u);
  threads.emplace_back(evictor);
  threads.emplace_back(churn);
  for (auto& t : threads) t.join();

  EXPECT_EQ(bad_row.load(), 0);
  EXPECT_EQ(lost_copy.load(), 0) << "a leased row lost its copy";
  EXPECT_GT(served.load(), 0);
  EXPECT_GT(victims.load(), 0);
  EXPECT_GT(reused.load(), 0);
  EXPECT_EQ(index.total_leases(), 0u);
  for (const auto& r : index.rows()) {
    EXPECT_EQ(r.leases, 0u);
    EXPECT_EQ(r.status, RowStatus::kAvailable) << "nothing left half-deleted";
  }
  while (testing::evict_now(index, 0)) {
  }
  EXPECT_EQ(index.copies(0), 0u);
  EXPECT_TRUE(index.rows().empty());
}

}  // namespace
}  // namespace kvc::index
