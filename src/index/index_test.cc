// Index: lookups, leases, touch, registration, removal, eviction basics, pins, waiters.
#include "index/index.h"

#include <gtest/gtest.h>

#include <thread>

#include "index/index_test_util.h"

namespace kvc::index {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::make_ns;
using testing::make_row;
using testing::options;

constexpr std::int64_t kSecond = 1'000'000'000;

std::chrono::steady_clock::time_point generous_deadline() { return std::chrono::steady_clock::now() + 30s; }

class IndexTest : public ::testing::Test {
 protected:
  FakeClock clock;
  Index index{options(clock)};
  KeyNamespace ns = make_ns(1);
};

TEST_F(IndexTest, EmptyIndexMisses) {
  RowInfo r = make_row(ns, {1, 2, 3});
  EXPECT_FALSE(index.contains(r.key));
  EXPECT_FALSE(index.get(r.key).has_value());
  auto lease = index.checkout(r.key);
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), Code::kNotFound);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.total_leases(), 0u);
}

TEST_F(IndexTest, CheckoutLeavesHitsAndRecencyAndTouchBumpsThem) {
  RowInfo r = make_row(ns, {1, 2, 3});
  EXPECT_EQ(index.register_copy(r, 0, 3, false), RegisterOutcome::kInserted);
  const std::int64_t registered_at = clock.now();
  EXPECT_EQ(index.get(r.key)->last_used_ns, registered_at);
  clock.advance(5s);
  {
    auto lease = index.checkout(r.key);
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ(lease->row().key, r.key);
    EXPECT_EQ(lease->row().tokens, r.tokens);
    EXPECT_EQ(lease->tiers(), tier_bit(0));
    auto snap = index.get(r.key);
    EXPECT_EQ(snap->hits, 3u) << "a checkout is not a hit: the row may not be served";
    EXPECT_EQ(snap->last_used_ns, registered_at);
    EXPECT_EQ(snap->leases, 1u);
    EXPECT_EQ(index.total_leases(), 1u);

    EXPECT_EQ(index.touch(*lease), 4u);
    snap = index.get(r.key);
    EXPECT_EQ(snap->hits, 4u);
    EXPECT_EQ(snap->last_used_ns, clock.now());
  }
  EXPECT_EQ(index.get(r.key)->leases, 0u);
  EXPECT_EQ(index.total_leases(), 0u);
  EXPECT_EQ(index.touch(Lease()), 0u) << "an empty lease touches nothing";
}

TEST_F(IndexTest, TouchNeverMovesRecencyBack) {
  RowInfo r = make_row(ns, {1, 2, 3});
  (void)index.register_copy(r, 0, 5, /*from_scan=*/true);  // recency now + 5 s
  const std::int64_t biased = index.get(r.key)->last_used_ns;
  ASSERT_EQ(biased, clock.now() + 5 * kSecond);
  clock.advance(1s);
  Lease lease = std::move(index.checkout(r.key)).value();
  EXPECT_EQ(index.touch(lease), 6u);
  EXPECT_EQ(index.get(r.key)->last_used_ns, biased);
  clock.advance(10s);
  (void)index.touch(lease);
  EXPECT_EQ(index.get(r.key)->last_used_ns, clock.now());
}

TEST_F(IndexTest, LeaseReleasesExactlyOnce) {
  RowInfo r = make_row(ns, {7});
  (void)index.register_copy(r, 0, 0, false);
  Lease a = std::move(index.checkout(r.key)).value();
  Lease b = std::move(index.checkout(r.key)).value();
  EXPECT_EQ(index.get(r.key)->leases, 2u);
  Lease c = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_TRUE(c);
  EXPECT_EQ(a.tiers(), 0u);
  c.release();
  c.release();
  a.release();
  EXPECT_EQ(index.get(r.key)->leases, 1u);
  b = Lease();  // move-assign releases the old one
  EXPECT_EQ(index.get(r.key)->leases, 0u);
  EXPECT_EQ(index.total_leases(), 0u);
}

TEST_F(IndexTest, RemoveWorksWhileLeasedAndReleaseIsSafe) {
  RowInfo r = make_row(ns, {1, 2});
  (void)index.register_copy(r, 0, 0, false);
  Lease lease = std::move(index.checkout(r.key)).value();
  auto busy = index.remove(r.key, /*only_if_unleased=*/true);
  EXPECT_EQ(busy.status().code(), Code::kBusy);
  EXPECT_NE(busy.status().message().find(r.key.hex()), std::string::npos) << busy.status().message();
  EXPECT_TRUE(index.contains(r.key)) << "a refused remove changes nothing";

  auto removed = index.remove(r.key, false);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->info.key, r.key);
  EXPECT_EQ(removed->to_delete, tier_bit(0));
  EXPECT_TRUE(removed->erased);
  EXPECT_FALSE(index.contains(r.key));
  EXPECT_EQ(lease.row().key, r.key);  // the lease still reads its row
  EXPECT_EQ(index.remove(r.key, false).status().code(), Code::kNotFound) << "already being deleted";
  index.finish_delete(r.key, 0);
  EXPECT_FALSE(index.get(r.key).has_value());
  EXPECT_EQ(lease.row().key, r.key);
  EXPECT_EQ(lease.tiers(), 0u) << "the removed row has no copy left";
  EXPECT_EQ(index.remove(r.key, false).status().code(), Code::kNotFound);

  // A new row under the same key is independent of the old lease; total_leases
  // counts the leases of rows still in the index.
  (void)index.register_copy(r, 0, 0, false);
  Lease fresh = std::move(index.checkout(r.key)).value();
  EXPECT_EQ(index.get(r.key)->leases, 1u);
  EXPECT_EQ(index.total_leases(), 1u);
  lease.release();
  EXPECT_EQ(index.get(r.key)->leases, 1u);
  fresh.release();
  EXPECT_EQ(index.get(r.key)->leases, 0u);
  EXPECT_EQ(index.total_leases(), 0u);
}

TEST_F(IndexTest, RegisterNeverOverwritesWritingRow) {
  RowInfo r = make_row(ns, {1, 2, 3});
  auto res = index.reserve(r.key);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(index.register_copy(r, 0, 9, true), RegisterOutcome::kKeptExisting);
  EXPECT_EQ(index.register_copy(r, 1, 9, true), RegisterOutcome::kKeptExisting);
  EXPECT_EQ(index.get(r.key)->status, RowStatus::kWriting);
  EXPECT_EQ(index.get(r.key)->tiers, 0u);
  EXPECT_FALSE(index.contains(r.key));
  EXPECT_TRUE(index.check(*res));
  EXPECT_EQ(index.copies(0), 0u);
}

// A copy found for a known row adds to it; the row's facts, hits, pin and leases
// are never replaced (the bytes of one key are the same file in every tier).
TEST_F(IndexTest, RegisterNeverReplacesAKnownRowButAddsACopy) {
  RowInfo r = make_row(ns, {1, 2, 3}, 100);
  (void)index.register_copy(r, 0, 1, false);
  RowInfo bigger = r;
  bigger.size = 200;
  {
    auto lease = index.checkout(r.key);
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ(index.register_copy(bigger, 0, 7, false), RegisterOutcome::kKeptExisting) << "same tier: no change";
    EXPECT_EQ(index.register_copy(bigger, 2, 7, true), RegisterOutcome::kAddedCopy);
    EXPECT_EQ(lease->tiers(), tier_bit(0) | tier_bit(2)) << "a leased row may gain a copy";
    EXPECT_EQ(index.get(r.key)->info.size, 100u);
  }
  ASSERT_TRUE(index.pin(r.key).ok());
  EXPECT_EQ(index.register_copy(bigger, 1, 2, false), RegisterOutcome::kAddedCopy);
  auto snap = index.get(r.key);
  EXPECT_EQ(snap->info.size, 100u);
  EXPECT_EQ(snap->hits, 1u);
  EXPECT_TRUE(snap->pinned);
  EXPECT_EQ(snap->tiers, tier_bit(0) | tier_bit(1) | tier_bit(2));
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.copies(0) + index.copies(1) + index.copies(2), 3u);
}

TEST_F(IndexTest, ScanRegistrationBiasesRecencyByHits) {
  RowInfo hot = make_row(ns, {1});
  RowInfo cold = make_row(ns, {2});
  RowInfo ram = make_row(ns, {3});
  (void)index.register_copy(hot, 1, 5, true);
  (void)index.register_copy(cold, 1, 0, true);
  (void)index.register_copy(ram, 0, 5, false);
  EXPECT_EQ(index.get(hot.key)->last_used_ns, clock.now() + 5 * kSecond);
  EXPECT_EQ(index.get(cold.key)->last_used_ns, clock.now());
  EXPECT_EQ(index.get(ram.key)->last_used_ns, clock.now());
  EXPECT_EQ(index.get(hot.key)->hits, 5u);
}

// Saturating: an absurd hit count from a damaged header must not wrap the recency.
TEST_F(IndexTest, ScanRecencyOfAbsurdHitCountsDoesNotWrap) {
  RowInfo r = make_row(ns, {1});
  (void)index.register_copy(r, 0, UINT32_MAX, true);
  EXPECT_GT(index.get(r.key)->last_used_ns, clock.now());
  Lease lease = std::move(index.checkout(r.key)).value();
  EXPECT_EQ(index.touch(lease), UINT32_MAX) << "hits saturate too";
}

TEST_F(IndexTest, EvictionOnlyTakesAvailableUnleasedUnpinnedRows) {
  RowInfo r = make_row(ns, {1, 2});
  RowInfo w = make_row(ns, {3, 4});
  (void)index.register_copy(r, 0, 0, false);
  auto res = index.reserve(w.key);
  ASSERT_TRUE(res.ok());
  {
    auto lease = index.checkout(r.key);
    ASSERT_TRUE(lease.ok());
    EXPECT_FALSE(index.evict_next(0).has_value());  // leased (and the writing row has no copy)
  }
  ASSERT_TRUE(index.pin(r.key).ok());
  EXPECT_FALSE(index.evict_next(0).has_value());  // pinned
  ASSERT_TRUE(index.unpin(r.key).ok());
  EXPECT_FALSE(index.evict_next(1).has_value()) << "no copy in tier 1";
  auto evicted = index.evict_next(0);
  ASSERT_TRUE(evicted.has_value());
  EXPECT_EQ(evicted->info.key, r.key);
  EXPECT_EQ(evicted->remaining, 0u);
  EXPECT_EQ(evicted->pending, 0u);
  EXPECT_FALSE(evicted->demoted_to.has_value());
  EXPECT_FALSE(index.contains(r.key));
  EXPECT_EQ(index.get(r.key)->status, RowStatus::kDeleting) << "until its data is deleted";
  EXPECT_EQ(index.copies(0), 0u);
  index.finish_evict(r.key, 0);
  EXPECT_FALSE(index.get(r.key).has_value());
  EXPECT_EQ(index.get(w.key)->status, RowStatus::kWriting);
  EXPECT_FALSE(index.evict_next(0).has_value());
}

TEST_F(IndexTest, PinsNeedAvailableRowsAndOnlyExplicitRemoveDropsThem) {
  RowInfo r = make_row(ns, {1, 2});
  EXPECT_EQ(index.pin(r.key).code(), Code::kNotFound);
  EXPECT_EQ(index.unpin(r.key).code(), Code::kNotFound);
  auto res = index.reserve(r.key);
  EXPECT_EQ(index.pin(r.key).code(), Code::kNotFound);  // writing
  ASSERT_TRUE(index.publish(*res, r, 0).ok());
  ASSERT_TRUE(index.pin(r.key).ok());
  ASSERT_TRUE(index.pin(r.key).ok()) << "idempotent";
  EXPECT_TRUE(index.get(r.key)->pinned);
  EXPECT_TRUE(index.eviction_candidates(std::nullopt).empty());
  EXPECT_FALSE(index.evict_next(0).has_value());
  auto removed = index.remove(r.key, true);
  ASSERT_TRUE(removed.ok()) << "a pinned row is removed on request";
  EXPECT_FALSE(index.contains(r.key));
  EXPECT_EQ(index.pin(r.key).code(), Code::kNotFound) << "a deleting row cannot be pinned";
  index.finish_delete(r.key, 0);
  EXPECT_FALSE(index.get(r.key).has_value());
}

TEST_F(IndexTest, EvictionCandidatesLeastValuableFirst) {
  // value = last_used + hits × 1 s
  RowInfo a = make_row(ns, {1});  // t0, 0 hits        → t0
  RowInfo b = make_row(ns, {2});  // t0+10 s, 0 hits   → t0+10
  RowInfo c = make_row(ns, {3});  // t0, 20 hits (ram) → t0+20
  RowInfo d = make_row(ns, {4});  // t0+5 s, 1 hit     → t0+6
  RowInfo e = make_row(ns, {5});  // other tier
  RowInfo f = make_row(ns, {6});  // leased: excluded
  RowInfo g = make_row(ns, {7});  // pinned: excluded
  (void)index.register_copy(a, 0, 0, false);
  (void)index.register_copy(c, 0, 20, false);
  (void)index.register_copy(e, 1, 0, false);
  (void)index.register_copy(f, 0, 0, false);
  (void)index.register_copy(g, 0, 0, false);
  clock.advance(5s);
  (void)index.register_copy(d, 0, 1, false);
  clock.advance(5s);
  (void)index.register_copy(b, 0, 0, false);
  auto lease = index.checkout(f.key);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(index.pin(g.key).ok());
  auto res = index.reserve(make_row(ns, {8}).key);  // writing: excluded

  auto cands = index.eviction_candidates(TierId{0});
  ASSERT_EQ(cands.size(), 4u);
  EXPECT_EQ(cands[0].info.key, a.key);
  EXPECT_EQ(cands[1].info.key, d.key);
  EXPECT_EQ(cands[2].info.key, b.key);
  EXPECT_EQ(cands[3].info.key, c.key);
  EXPECT_EQ(index.eviction_candidates(TierId{1}).size(), 1u);
  EXPECT_EQ(index.eviction_candidates(std::nullopt).size(), 5u);
}

TEST_F(IndexTest, RowsSizeAndCopiesByTier) {
  RowInfo both = make_row(ns, {1});
  (void)index.register_copy(both, 0, 0, false);
  (void)index.register_copy(both, 1, 0, false);
  (void)index.register_copy(make_row(ns, {2}), 1, 0, false);
  auto res = index.reserve(make_row(ns, {3}).key);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.rows().size(), 3u);
  EXPECT_EQ(index.rows(TierId{0}).size(), 1u);
  EXPECT_EQ(index.rows(TierId{1}).size(), 2u);
  EXPECT_TRUE(index.rows(TierId{2}).empty());
  EXPECT_EQ(index.copies(0), 1u);
  EXPECT_EQ(index.copies(1), 2u);
  EXPECT_EQ(index.copies(2), 0u);
  EXPECT_EQ(index.copies(kMaxTiers), 0u);
  int writing = 0;
  for (const auto& r : index.rows()) writing += r.status == RowStatus::kWriting ? 1 : 0;
  EXPECT_EQ(writing, 1);
}

TEST(IndexOptionsTest, ShardCountsThatAreNotPowersOfTwoWork) {
  for (std::size_t shards : {0u, 1u, 3u, 5u, 100u}) {
    FakeClock clock;
    Index index(options(clock, shards));
    const KeyNamespace ns = make_ns(1);
    std::vector<RowInfo> rows;
    for (std::uint32_t i = 0; i < 200; ++i) {
      rows.push_back(make_row(ns, {i, i + 1}));
      ASSERT_EQ(index.register_copy(rows.back(), 0, 0, false), RegisterOutcome::kInserted) << shards;
    }
    EXPECT_EQ(index.size(), rows.size()) << shards;
    for (const auto& r : rows) EXPECT_TRUE(index.checkout(r.key).ok()) << shards;
    EXPECT_EQ(index.total_leases(), 0u);
  }
}

TEST(IndexOptionsTest, DefaultClockIsMonotonic) {
  Index index;  // steady_clock
  const KeyNamespace ns = make_ns(1);
  RowInfo a = make_row(ns, {1});
  RowInfo b = make_row(ns, {2});
  (void)index.register_copy(a, 0, 0, false);
  (void)index.register_copy(b, 0, 0, false);
  EXPECT_LE(index.get(a.key)->last_used_ns, index.get(b.key)->last_used_ns);
  EXPECT_TRUE(index.reserve(make_row(ns, {3}).key).ok());
}

TEST_F(IndexTest, CheckoutOfWritingKeyIsBusy) {
  RowInfo r = make_row(ns, {1, 2});
  auto res = index.reserve(r.key);
  ASSERT_TRUE(res.ok());
  auto lease = index.checkout(r.key);
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.status().code(), Code::kBusy);
}

// ---- waiters ----

TEST_F(IndexTest, CheckoutOrWaitReturnsAtOnceWhenNotWriting) {
  RowInfo r = make_row(ns, {1, 2});
  auto miss = index.checkout_or_wait(r.key, generous_deadline());
  EXPECT_EQ(miss.status().code(), Code::kNotFound);
  (void)index.register_copy(r, 0, 0, false);
  auto hit = index.checkout_or_wait(r.key, generous_deadline());
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(index.get(r.key)->hits, 0u) << "a checkout is not a hit";
}

TEST_F(IndexTest, CheckoutOrWaitTimesOutWhileStillWriting) {
  RowInfo r = make_row(ns, {1, 2});
  auto res = index.reserve(r.key);
  auto past = index.checkout_or_wait(r.key, std::chrono::steady_clock::now() - 1s);
  EXPECT_EQ(past.status().code(), Code::kTimeout);
  auto soon = index.checkout_or_wait(r.key, std::chrono::steady_clock::now() + 20ms);
  EXPECT_EQ(soon.status().code(), Code::kTimeout);
  EXPECT_EQ(index.get(r.key)->status, RowStatus::kWriting);
}

// Runs checkout_or_wait on another thread, then `end_save` on this one.
template <class EndSave>
Result<Lease> wait_across(Index& index, const Key& key, EndSave end_save) {
  std::optional<Result<Lease>> got;
  std::thread waiter([&] { got.emplace(index.checkout_or_wait(key, generous_deadline())); });
  std::this_thread::sleep_for(20ms);  // usually lets the waiter block first; correct either way
  end_save();
  waiter.join();
  return std::move(*got);
}

TEST_F(IndexTest, PublishWakesWaitersWithALease) {
  RowInfo r = make_row(ns, {1, 2, 3});
  Reservation res = std::move(index.reserve(r.key)).value();
  auto got = wait_across(index, r.key, [&] { ASSERT_TRUE(index.publish(res, r, 0).ok()); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->row().key, r.key);
}

TEST_F(IndexTest, CancelWakesWaitersWithAMiss) {
  RowInfo r = make_row(ns, {1, 2, 3});
  Reservation res = std::move(index.reserve(r.key)).value();
  auto got = wait_across(index, r.key, [&] { index.cancel(res); });
  EXPECT_EQ(got.status().code(), Code::kNotFound);
  EXPECT_FALSE(index.get(r.key).has_value());
}

TEST_F(IndexTest, WriterGoneWakesWaitersWithAMiss) {
  RowInfo r = make_row(ns, {1, 2, 3});
  std::optional<Reservation> res(std::move(index.reserve(r.key)).value());
  auto got = wait_across(index, r.key, [&] { res.reset(); });
  EXPECT_EQ(got.status().code(), Code::kNotFound);
}

TEST(IndexWaitTest, SweepOfExpiredReservationWakesWaiters) {
  FakeClock clock;
  Index index(options(clock, 4, 100ms));
  RowInfo r = make_row(make_ns(1), {1, 2, 3});
  Reservation res = std::move(index.reserve(r.key)).value();
  auto got = wait_across(index, r.key, [&] {
    clock.advance(200ms);
    EXPECT_TRUE(index.sweep().empty());
  });
  EXPECT_EQ(got.status().code(), Code::kNotFound);
  EXPECT_FALSE(index.check(res));
}

TEST(IndexWaitTest, AdoptAfterLinkedExpiryWakesWaitersWithALease) {
  FakeClock clock;
  Index index(options(clock, 4, 100ms));
  RowInfo r = make_row(make_ns(1), {1, 2, 3});
  Reservation res = std::move(index.reserve(r.key)).value();
  ASSERT_TRUE(index.mark_linked(res, 2));
  auto got = wait_across(index, r.key, [&] {
    clock.advance(200ms);
    auto expired = index.sweep();
    ASSERT_EQ(expired.size(), 1u);
    EXPECT_EQ(expired[0].tier, 2);
    index.adopt(expired[0], r);
  });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->row().key, r.key);
  EXPECT_EQ(got->tiers(), tier_bit(2)) << "adopted with its copy in the tier it was linked in";
}

TEST(IndexWaitTest, DiscardAfterLinkedExpiryWakesWaitersWithAMiss) {
  FakeClock clock;
  Index index(options(clock, 4, 100ms));
  RowInfo r = make_row(make_ns(1), {1, 2, 3});
  Reservation res = std::move(index.reserve(r.key)).value();
  ASSERT_TRUE(index.mark_linked(res, 0));
  auto got = wait_across(index, r.key, [&] {
    clock.advance(200ms);
    auto expired = index.sweep();
    ASSERT_EQ(expired.size(), 1u);
    index.discard(expired[0]);
  });
  EXPECT_EQ(got.status().code(), Code::kNotFound);
}

TEST(IndexWaitTest, ManyWaitersAllAnswered) {
  FakeClock clock;
  Index index(options(clock, 1));
  RowInfo r = make_row(make_ns(1), {4, 5});
  Reservation res = std::move(index.reserve(r.key)).value();
  std::vector<std::thread> threads;
  std::atomic<int> leases{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto got = index.checkout_or_wait(r.key, generous_deadline());
      if (got.ok()) {
        leases.fetch_add(1);
        (void)index.touch(*got);
      }
    });
  }
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(index.publish(res, r, 0).ok());
  for (auto& t : threads) t.join();
  EXPECT_EQ(leases.load(), 6);
  EXPECT_EQ(index.total_leases(), 0u);
  EXPECT_EQ(index.get(r.key)->hits, 6u);
}

}  // namespace
}  // namespace kvc::index
