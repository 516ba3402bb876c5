// Index: lookups, leases, registration, removal, eviction, pins, waiters.
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

TEST_F(IndexTest, CheckoutBumpsHitsAndRecency) {
  RowInfo r = make_row(ns, {1, 2, 3});
  EXPECT_EQ(index.register_row(r, 3, false), RegisterOutcome::kInserted);
  EXPECT_EQ(index.get(r.key)->last_used_ns, clock.now());
  clock.advance(5s);
  {
    auto lease = index.checkout(r.key);
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ(lease->row().key, r.key);
    EXPECT_EQ(lease->row().tokens, r.tokens);
    auto snap = index.get(r.key);
    EXPECT_EQ(snap->hits, 4u);
    EXPECT_EQ(snap->last_used_ns, clock.now());
    EXPECT_EQ(snap->leases, 1u);
    EXPECT_EQ(index.total_leases(), 1u);
  }
  EXPECT_EQ(index.get(r.key)->leases, 0u);
  EXPECT_EQ(index.total_leases(), 0u);
}

TEST_F(IndexTest, LeaseReleasesExactlyOnce) {
  RowInfo r = make_row(ns, {7});
  (void)index.register_row(r, 0, false);
  Lease a = std::move(index.checkout(r.key)).value();
  Lease b = std::move(index.checkout(r.key)).value();
  EXPECT_EQ(index.get(r.key)->leases, 2u);
  Lease c = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_TRUE(c);
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
  (void)index.register_row(r, 0, false);
  Lease lease = std::move(index.checkout(r.key)).value();
  auto removed = index.remove(r.key);
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->key, r.key);
  EXPECT_FALSE(index.contains(r.key));
  EXPECT_EQ(lease.row().key, r.key);  // the lease still reads its row
  EXPECT_FALSE(index.remove(r.key).has_value());

  // A new row under the same key is independent of the old lease.
  (void)index.register_row(r, 0, false);
  Lease fresh = std::move(index.checkout(r.key)).value();
  EXPECT_EQ(index.total_leases(), 2u);
  lease.release();
  EXPECT_EQ(index.get(r.key)->leases, 1u);
  fresh.release();
  EXPECT_EQ(index.get(r.key)->leases, 0u);
  EXPECT_EQ(index.total_leases(), 0u);
}

TEST_F(IndexTest, RegisterNeverOverwritesWritingRow) {
  RowInfo r = make_row(ns, {1, 2, 3});
  auto res = index.reserve(r.key, 0);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(index.register_row(r, 9, true), RegisterOutcome::kKeptExisting);
  EXPECT_EQ(index.get(r.key)->status, RowStatus::kWriting);
  EXPECT_FALSE(index.contains(r.key));
  EXPECT_TRUE(index.check(*res));
}

TEST_F(IndexTest, RegisterNeverOverwritesLeasedRowButReplacesIdleOne) {
  RowInfo r = make_row(ns, {1, 2, 3}, 0, 100);
  (void)index.register_row(r, 0, false);
  RowInfo bigger = r;
  bigger.size = 200;
  {
    auto lease = index.checkout(r.key);
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ(index.register_row(bigger, 0, false), RegisterOutcome::kKeptExisting);
    EXPECT_EQ(index.get(r.key)->info.size, 100u);
  }
  ASSERT_TRUE(index.pin(r.key).ok());
  EXPECT_EQ(index.register_row(bigger, 2, false), RegisterOutcome::kReplaced);
  auto snap = index.get(r.key);
  EXPECT_EQ(snap->info.size, 200u);
  EXPECT_EQ(snap->hits, 2u);
  EXPECT_TRUE(snap->pinned);
  EXPECT_EQ(index.size(), 1u);
}

TEST_F(IndexTest, ScanRegistrationBiasesRecencyByHits) {
  RowInfo hot = make_row(ns, {1});
  RowInfo cold = make_row(ns, {2});
  RowInfo ram = make_row(ns, {3});
  (void)index.register_row(hot, 5, true);
  (void)index.register_row(cold, 0, true);
  (void)index.register_row(ram, 5, false);
  EXPECT_EQ(index.get(hot.key)->last_used_ns, clock.now() + 5 * kSecond);
  EXPECT_EQ(index.get(cold.key)->last_used_ns, clock.now());
  EXPECT_EQ(index.get(ram.key)->last_used_ns, clock.now());
  EXPECT_EQ(index.get(hot.key)->hits, 5u);
}

TEST_F(IndexTest, EvictIfIdleOnlyForAvailableUnleasedUnpinned) {
  RowInfo r = make_row(ns, {1, 2});
  RowInfo w = make_row(ns, {3, 4});
  (void)index.register_row(r, 0, false);
  auto res = index.reserve(w.key, 0);
  ASSERT_TRUE(res.ok());
  EXPECT_FALSE(index.evict_if_idle(w.key).has_value());  // writing
  EXPECT_FALSE(index.evict_if_idle(make_row(ns, {9}).key).has_value());  // absent
  {
    auto lease = index.checkout(r.key);
    ASSERT_TRUE(lease.ok());
    EXPECT_FALSE(index.evict_if_idle(r.key).has_value());  // leased
  }
  ASSERT_TRUE(index.pin(r.key).ok());
  EXPECT_FALSE(index.evict_if_idle(r.key).has_value());  // pinned
  ASSERT_TRUE(index.unpin(r.key).ok());
  auto evicted = index.evict_if_idle(r.key);
  ASSERT_TRUE(evicted.has_value());
  EXPECT_EQ(evicted->key, r.key);
  EXPECT_EQ(evicted->location, r.location);
  EXPECT_FALSE(index.contains(r.key));
  EXPECT_EQ(index.get(w.key)->status, RowStatus::kWriting);
}

TEST_F(IndexTest, PinsNeedAvailableRowsAndOnlyExplicitRemoveDropsThem) {
  RowInfo r = make_row(ns, {1, 2});
  EXPECT_EQ(index.pin(r.key).code(), Code::kNotFound);
  EXPECT_EQ(index.unpin(r.key).code(), Code::kNotFound);
  auto res = index.reserve(r.key, 0);
  EXPECT_EQ(index.pin(r.key).code(), Code::kNotFound);  // writing
  ASSERT_TRUE(index.publish(*res, r).ok());
  ASSERT_TRUE(index.pin(r.key).ok());
  EXPECT_TRUE(index.get(r.key)->pinned);
  EXPECT_TRUE(index.eviction_candidates(std::nullopt).empty());
  EXPECT_FALSE(index.evict_if_idle(r.key).has_value());
  EXPECT_TRUE(index.remove(r.key).has_value());
  EXPECT_FALSE(index.contains(r.key));
}

TEST_F(IndexTest, EvictionCandidatesLeastValuableFirst) {
  // value = last_used + hits × 1 s
  RowInfo a = make_row(ns, {1}, 0);  // t0, 0 hits        → t0
  RowInfo b = make_row(ns, {2}, 0);  // t0+10 s, 0 hits   → t0+10
  RowInfo c = make_row(ns, {3}, 0);  // t0, 20 hits (ram) → t0+20
  RowInfo d = make_row(ns, {4}, 0);  // t0+5 s, 1 hit     → t0+6
  RowInfo e = make_row(ns, {5}, 1);  // other tier
  RowInfo f = make_row(ns, {6}, 0);  // leased: excluded
  RowInfo g = make_row(ns, {7}, 0);  // pinned: excluded
  (void)index.register_row(a, 0, false);
  (void)index.register_row(c, 20, false);
  (void)index.register_row(e, 0, false);
  (void)index.register_row(f, 0, false);
  (void)index.register_row(g, 0, false);
  clock.advance(5s);
  (void)index.register_row(d, 1, false);
  clock.advance(5s);
  (void)index.register_row(b, 0, false);
  auto lease = index.checkout(f.key);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(index.pin(g.key).ok());
  auto res = index.reserve(make_row(ns, {8}).key, 0);  // writing: excluded

  auto cands = index.eviction_candidates(TierId{0});
  ASSERT_EQ(cands.size(), 4u);
  EXPECT_EQ(cands[0].info.key, a.key);
  EXPECT_EQ(cands[1].info.key, d.key);
  EXPECT_EQ(cands[2].info.key, b.key);
  EXPECT_EQ(cands[3].info.key, c.key);
  EXPECT_EQ(index.eviction_candidates(TierId{1}).size(), 1u);
  EXPECT_EQ(index.eviction_candidates(std::nullopt).size(), 5u);
}

TEST_F(IndexTest, RowsAndSizeByTier) {
  (void)index.register_row(make_row(ns, {1}, 0), 0, false);
  (void)index.register_row(make_row(ns, {2}, 1), 0, false);
  auto res = index.reserve(make_row(ns, {3}).key, 1);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.rows().size(), 3u);
  EXPECT_EQ(index.rows(TierId{0}).size(), 1u);
  auto t1 = index.rows(TierId{1});
  ASSERT_EQ(t1.size(), 2u);
  int writing = 0;
  for (const auto& r : t1) writing += r.status == RowStatus::kWriting ? 1 : 0;
  EXPECT_EQ(writing, 1);
}

TEST_F(IndexTest, CheckoutOfWritingKeyIsBusy) {
  RowInfo r = make_row(ns, {1, 2});
  auto res = index.reserve(r.key, 0);
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
  (void)index.register_row(r, 0, false);
  auto hit = index.checkout_or_wait(r.key, generous_deadline());
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(index.get(r.key)->hits, 1u);
}

TEST_F(IndexTest, CheckoutOrWaitTimesOutWhileStillWriting) {
  RowInfo r = make_row(ns, {1, 2});
  auto res = index.reserve(r.key, 0);
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
  Reservation res = std::move(index.reserve(r.key, 0)).value();
  auto got = wait_across(index, r.key, [&] { ASSERT_TRUE(index.publish(res, r).ok()); });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->row().key, r.key);
}

TEST_F(IndexTest, CancelWakesWaitersWithAMiss) {
  RowInfo r = make_row(ns, {1, 2, 3});
  Reservation res = std::move(index.reserve(r.key, 0)).value();
  auto got = wait_across(index, r.key, [&] { index.cancel(res); });
  EXPECT_EQ(got.status().code(), Code::kNotFound);
  EXPECT_FALSE(index.get(r.key).has_value());
}

TEST_F(IndexTest, WriterGoneWakesWaitersWithAMiss) {
  RowInfo r = make_row(ns, {1, 2, 3});
  std::optional<Reservation> res(std::move(index.reserve(r.key, 0)).value());
  auto got = wait_across(index, r.key, [&] { res.reset(); });
  EXPECT_EQ(got.status().code(), Code::kNotFound);
}

TEST(IndexWaitTest, SweepOfExpiredReservationWakesWaiters) {
  FakeClock clock;
  Index index(options(clock, 4, 100ms));
  RowInfo r = make_row(make_ns(1), {1, 2, 3});
  Reservation res = std::move(index.reserve(r.key, 0)).value();
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
  Reservation res = std::move(index.reserve(r.key, 0)).value();
  ASSERT_TRUE(index.mark_linked(res, r.location));
  auto got = wait_across(index, r.key, [&] {
    clock.advance(200ms);
    auto expired = index.sweep();
    ASSERT_EQ(expired.size(), 1u);
    index.adopt(expired[0], r);
  });
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->row().location, r.location);
}

TEST(IndexWaitTest, DiscardAfterLinkedExpiryWakesWaitersWithAMiss) {
  FakeClock clock;
  Index index(options(clock, 4, 100ms));
  RowInfo r = make_row(make_ns(1), {1, 2, 3});
  Reservation res = std::move(index.reserve(r.key, 0)).value();
  ASSERT_TRUE(index.mark_linked(res, r.location));
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
  Reservation res = std::move(index.reserve(r.key, 0)).value();
  std::vector<std::thread> threads;
  std::atomic<int> leases{0};
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto got = index.checkout_or_wait(r.key, generous_deadline());
      if (got.ok()) leases.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(index.publish(res, r).ok());
  for (auto& t : threads) t.join();
  EXPECT_EQ(leases.load(), 6);
  EXPECT_EQ(index.total_leases(), 0u);
  EXPECT_EQ(index.get(r.key)->hits, 6u);
}

}  // namespace
}  // namespace kvc::index
