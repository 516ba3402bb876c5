// Index::evict_next: per-tier order (LRU weighted by hits, from a lazy heap),
// leases and pins, demotion, and the queue's bound under churn.
#include <gtest/gtest.h>

#include "index/index.h"
#include "index/index_test_util.h"

namespace kvc::index {
namespace {

using namespace std::chrono_literals;
using testing::evict_now;
using testing::FakeClock;
using testing::make_ns;
using testing::make_row;
using testing::options;

class EvictionTest : public ::testing::Test {
 protected:
  FakeClock clock;
  Index index{options(clock)};
  KeyNamespace ns = make_ns(7);

  RowInfo add(std::uint32_t id, TierId tier = 0, std::uint32_t hits = 0) {
    RowInfo r = make_row(ns, {id, id + 1});
    EXPECT_NE(index.register_copy(r, tier, hits, false), RegisterOutcome::kKeptExisting);
    return r;
  }
  // Keys evicted from `tier` until nothing is left, each copy deleted at once.
  std::vector<Key> drain(TierId tier) {
    std::vector<Key> out;
    while (auto v = evict_now(index, tier)) out.push_back(v->info.key);
    return out;
  }
  void serve(const Key& key) {
    Lease lease = std::move(index.checkout(key)).value();
    (void)index.touch(lease);
  }
};

TEST_F(EvictionTest, LeastRecentlyUsedWeightedByHits) {
  // value = last_used + hits × 1 s
  RowInfo a = add(1);            // t0            → t0
  RowInfo c = add(3, 0, 20);     // t0, 20 hits   → t0+20
  clock.advance(5s);
  RowInfo d = add(4, 0, 1);      // t0+5, 1 hit   → t0+6
  clock.advance(5s);
  RowInfo b = add(2);            // t0+10         → t0+10
  std::vector<Key> expected = {a.key, d.key, b.key, c.key};
  std::vector<Key> listed;
  for (const auto& s : index.eviction_candidates(TierId{0})) listed.push_back(s.info.key);
  EXPECT_EQ(listed, expected) << "the snapshot and the heap agree";
  EXPECT_EQ(drain(0), expected);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(index.rows().empty());
}

TEST_F(EvictionTest, TiesGoByKey) {
  std::vector<Key> keys;
  for (std::uint32_t i = 0; i < 5; ++i) keys.push_back(add(10 * i).key);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(drain(0), keys);
}

TEST_F(EvictionTest, AServedRowIsRequeuedAndEvictedLater) {
  RowInfo a = add(1);
  clock.advance(1s);
  RowInfo b = add(2);
  clock.advance(1s);
  RowInfo c = add(3);
  clock.advance(1s);
  serve(a.key);  // a: t0+3 + 1 hit → after c
  EXPECT_EQ(index.get(a.key)->hits, 1u);
  EXPECT_EQ(drain(0), (std::vector<Key>{b.key, c.key, a.key}));
}

TEST_F(EvictionTest, ACheckoutWithoutTouchDoesNotProtectARow) {
  RowInfo a = add(1);
  clock.advance(1s);
  RowInfo b = add(2);
  clock.advance(1s);
  { auto lease = index.checkout(a.key); }  // looked at, not served
  EXPECT_EQ(drain(0), (std::vector<Key>{a.key, b.key}));
}

TEST_F(EvictionTest, LeasedRowsAreSkippedAndEvictableAfterRelease) {
  RowInfo a = add(1);
  clock.advance(1s);
  RowInfo b = add(2);
  Lease lease = std::move(index.checkout(a.key)).value();
  auto first = evict_now(index, 0);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->info.key, b.key);
  EXPECT_FALSE(index.evict_next(0).has_value()) << "only a leased row left";
  EXPECT_FALSE(index.evict_next(0).has_value()) << "and it stays queued";
  EXPECT_TRUE(index.contains(a.key));
  lease.release();
  auto second = evict_now(index, 0);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->info.key, a.key);
}

TEST_F(EvictionTest, PinnedRowsAreNeverEvictedUntilUnpinned) {
  RowInfo a = add(1);
  clock.advance(1s);
  RowInfo b = add(2);
  clock.advance(1s);
  RowInfo c = add(3);
  ASSERT_TRUE(index.pin(a.key).ok());
  EXPECT_EQ(drain(0), (std::vector<Key>{b.key, c.key}));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(index.evict_next(0).has_value());
  EXPECT_TRUE(index.contains(a.key));
  ASSERT_TRUE(index.unpin(a.key).ok());
  ASSERT_TRUE(index.unpin(a.key).ok()) << "idempotent";
  EXPECT_EQ(drain(0), (std::vector<Key>{a.key}));
}

TEST_F(EvictionTest, PinnedInEveryTier) {
  RowInfo a = add(1, 0);
  ASSERT_EQ(index.register_copy(a, 1, 0, false), RegisterOutcome::kAddedCopy);
  ASSERT_TRUE(index.pin(a.key).ok());
  EXPECT_FALSE(index.evict_next(0).has_value());
  EXPECT_FALSE(index.evict_next(1).has_value());
  ASSERT_TRUE(index.unpin(a.key).ok());
  EXPECT_TRUE(index.evict_next(1).has_value());
  EXPECT_TRUE(index.evict_next(0).has_value());
}

TEST_F(EvictionTest, EvictionIsPerTier) {
  RowInfo a = add(1, 0);
  ASSERT_EQ(index.register_copy(a, 1, 0, false), RegisterOutcome::kAddedCopy);
  auto v = index.evict_next(0);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->info.key, a.key);
  EXPECT_EQ(v->remaining, tier_bit(1));
  EXPECT_FALSE(v->demoted_to.has_value());
  EXPECT_TRUE(index.contains(a.key)) << "still served from tier 1";
  EXPECT_EQ(index.get(a.key)->tiers, tier_bit(1));
  EXPECT_EQ(index.copies(0), 0u);
  // While tier 0's copy is being deleted, no new copy may be claimed there.
  EXPECT_EQ(index.register_copy(a, 0, 0, false), RegisterOutcome::kKeptExisting);
  EXPECT_FALSE(index.begin_copy(a.key, 0));
  EXPECT_FALSE(index.evict_next(0).has_value());
  index.finish_evict(a.key, 0);
  EXPECT_TRUE(index.contains(a.key));
  EXPECT_TRUE(index.begin_copy(a.key, 0)) << "free again once deleted";
  EXPECT_NE(index.end_copy(a.key, 0, false), CopyOutcome::kRowGone) << "a failed copy of a row that has another";

  auto last = index.evict_next(1);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->remaining, 0u);
  EXPECT_EQ(index.get(a.key)->status, RowStatus::kDeleting);
  EXPECT_EQ(index.reserve(a.key).status().code(), Code::kConflict);
  index.finish_evict(a.key, 1);
  EXPECT_FALSE(index.get(a.key).has_value());
  EXPECT_TRUE(index.reserve(a.key).ok());
}

// Demotion: the copy leaves tier 0 and a copy in tier 1 is claimed in the same
// step, so the row never looks absent while it moves.
TEST_F(EvictionTest, DemotionClaimsTheCopyBelowAndKeepsTheRowAvailable) {
  RowInfo a = add(1, 0);
  int calls = 0;
  auto v = index.evict_next(0, [&](const RowInfo& row, TierMask remaining, TierMask pending) {
    ++calls;
    EXPECT_EQ(row.key, a.key);
    EXPECT_EQ(remaining, 0u);
    EXPECT_EQ(pending, 0u);
    return std::optional<TierId>(1);
  });
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(v->demoted_to, std::optional<TierId>(1));
  EXPECT_EQ(v->remaining, 0u);
  EXPECT_EQ(v->pending, tier_bit(1));
  auto snap = index.get(a.key);
  EXPECT_EQ(snap->status, RowStatus::kAvailable);
  EXPECT_EQ(snap->tiers, 0u);
  EXPECT_EQ(snap->pending, tier_bit(1));
  EXPECT_TRUE(index.contains(a.key));
  EXPECT_EQ(index.reserve(a.key).status().code(), Code::kAlreadyPresent);
  EXPECT_FALSE(index.begin_copy(a.key, 1)) << "claimed already";
  EXPECT_FALSE(index.evict_next(0).has_value());
  index.finish_evict(a.key, 0);
  EXPECT_TRUE(index.contains(a.key));
  EXPECT_EQ(index.end_copy(a.key, 1, true), CopyOutcome::kAdded);
  EXPECT_EQ(index.get(a.key)->tiers, tier_bit(1));
  EXPECT_EQ(index.copies(1), 1u);
  auto down = index.evict_next(1);
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->info.key, a.key);
  index.finish_evict(a.key, 1);
}

TEST_F(EvictionTest, FailedDemotionOfTheLastCopyDropsTheRow) {
  RowInfo a = add(1, 0);
  auto v = index.evict_next(0, [](const RowInfo&, TierMask, TierMask) { return std::optional<TierId>(1); });
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(index.end_copy(a.key, 1, false), CopyOutcome::kRowGone);
  EXPECT_FALSE(index.contains(a.key));
  EXPECT_EQ(index.get(a.key)->status, RowStatus::kDeleting) << "tier 0's copy is not deleted yet";
  EXPECT_EQ(index.reserve(a.key).status().code(), Code::kConflict);
  index.finish_evict(a.key, 0);
  EXPECT_FALSE(index.get(a.key).has_value());
}

TEST_F(EvictionTest, DemotionToATierThatIsTakenOrInvalidIsRefused) {
  RowInfo a = add(1, 0);
  ASSERT_EQ(index.register_copy(a, 1, 0, false), RegisterOutcome::kAddedCopy);
  auto v = index.evict_next(0, [](const RowInfo&, TierMask remaining, TierMask) {
    EXPECT_EQ(remaining, tier_bit(1));
    return std::optional<TierId>(1);  // has a copy already
  });
  ASSERT_TRUE(v.has_value());
  EXPECT_FALSE(v->demoted_to.has_value());
  EXPECT_EQ(v->pending, 0u);
  index.finish_evict(a.key, 0);

  auto w = index.evict_next(1, [](const RowInfo&, TierMask, TierMask) { return std::optional<TierId>(kMaxTiers); });
  ASSERT_TRUE(w.has_value());
  EXPECT_FALSE(w->demoted_to.has_value());
  EXPECT_EQ(index.get(a.key)->status, RowStatus::kDeleting) << "its last copy, with nowhere to go";
  index.finish_evict(a.key, 1);
  EXPECT_FALSE(index.get(a.key).has_value());
  EXPECT_FALSE(index.evict_next(kMaxTiers).has_value());
}

TEST_F(EvictionTest, RemovedAndDroppedRowsAreNotEvicted) {
  RowInfo a = add(1);
  clock.advance(1s);
  RowInfo b = add(2);
  clock.advance(1s);
  RowInfo c = add(3);
  ASSERT_TRUE(testing::remove_now(index, a.key).ok());
  ASSERT_TRUE(index.drop_copy(b.key, 0).has_value());
  EXPECT_EQ(drain(0), (std::vector<Key>{c.key}));
}

TEST_F(EvictionTest, AReusedKeyIsOrderedByItsNewRow) {
  RowInfo a = add(1);
  clock.advance(1s);
  RowInfo b = add(2);
  clock.advance(1s);
  ASSERT_TRUE(testing::remove_now(index, a.key).ok());
  auto r = index.reserve(a.key);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(index.publish(*r, a, 0).ok());  // a again, newer than b
  EXPECT_EQ(drain(0), (std::vector<Key>{b.key, a.key}));
}

// Churn that leaves stale heap items behind (copies added and dropped, pins
// toggled, rows served) must not grow the queue without bound.
TEST_F(EvictionTest, QueueStaysBoundedUnderChurn) {
  RowInfo keep = add(1000);  // one long-lived row
  RowInfo a = make_row(ns, {1, 2});
  for (int i = 0; i < 20'000; ++i) {
    ASSERT_NE(index.register_copy(a, 0, 0, false), RegisterOutcome::kKeptExisting);
    ASSERT_TRUE(index.drop_copy(a.key, 0).has_value());
  }
  EXPECT_LE(index.eviction_queue_size(0), 2 * index.copies(0) + 1025);
  for (int i = 0; i < 20'000; ++i) {
    ASSERT_TRUE(index.pin(keep.key).ok());
    ASSERT_TRUE(index.unpin(keep.key).ok());
  }
  EXPECT_LE(index.eviction_queue_size(0), 2 * index.copies(0) + 1025);
  for (int i = 0; i < 20'000; ++i) {
    ASSERT_TRUE(index.pin(keep.key).ok());
    EXPECT_FALSE(index.evict_next(0).has_value());  // pops the pinned row's item
    ASSERT_TRUE(index.unpin(keep.key).ok());        // which queues it again
    clock.advance(1ms);
    serve(keep.key);
  }
  EXPECT_LE(index.eviction_queue_size(0), 2 * index.copies(0) + 1025);
  EXPECT_EQ(drain(0), (std::vector<Key>{keep.key})) << "compaction kept the live item";
  EXPECT_EQ(index.eviction_queue_size(0), 0u);
}

}  // namespace
}  // namespace kvc::index
