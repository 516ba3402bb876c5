// Index: the copies of a row in tiers — register_copy, begin/end_copy (write-through,
// demotion, promotion), drop_copy, and remove → kDeleting → finish_delete.
#include <gtest/gtest.h>

#include "index/index.h"
#include "index/index_test_util.h"

namespace kvc::index {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::make_ns;
using testing::make_row;
using testing::options;

class CopiesTest : public ::testing::Test {
 protected:
  FakeClock clock;
  Index index{options(clock)};
  KeyNamespace ns = make_ns(4);
  RowInfo row = make_row(ns, {4, 5, 6});

  TierMask tiers() { return index.get(row.key)->tiers; }
  TierMask pending() { return index.get(row.key)->pending; }
};

TEST_F(CopiesTest, RegisterCopyAddsCopiesToAnAvailableRow) {
  EXPECT_EQ(index.register_copy(row, 1, 2, false), RegisterOutcome::kInserted);
  EXPECT_EQ(tiers(), tier_bit(1));
  EXPECT_EQ(index.register_copy(row, 0, 9, false), RegisterOutcome::kAddedCopy);
  EXPECT_EQ(tiers(), tier_bit(0) | tier_bit(1));
  EXPECT_EQ(index.register_copy(row, 0, 9, false), RegisterOutcome::kKeptExisting);
  EXPECT_EQ(index.register_copy(row, 1, 9, true), RegisterOutcome::kKeptExisting);
  EXPECT_EQ(index.get(row.key)->hits, 2u) << "a copy found later does not change the row";
  EXPECT_EQ(index.copies(0), 1u);
  EXPECT_EQ(index.copies(1), 1u);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.rows(TierId{0}).size(), 1u);
  EXPECT_EQ(index.rows(TierId{1}).size(), 1u);
  EXPECT_EQ(index.any_prefix(ns, *row.tokens).boundary_key, row.key) << "indexed once";
}

TEST_F(CopiesTest, RegisterCopyRefusesBadTiersAndRowsWithoutTokens) {
  EXPECT_EQ(index.register_copy(row, kMaxTiers, 0, false), RegisterOutcome::kKeptExisting);
  RowInfo no_tokens = row;
  no_tokens.tokens.reset();
  EXPECT_EQ(index.register_copy(no_tokens, 0, 0, false), RegisterOutcome::kKeptExisting);
  EXPECT_FALSE(index.get(row.key).has_value());
}

TEST_F(CopiesTest, BeginAndEndCopy) {
  EXPECT_FALSE(index.begin_copy(row.key, 1)) << "absent";
  {
    auto r = index.reserve(row.key);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(index.begin_copy(row.key, 1)) << "writing";
    ASSERT_TRUE(index.publish(*r, row, 0).ok());
  }
  EXPECT_FALSE(index.begin_copy(row.key, 0)) << "already has that copy";
  EXPECT_FALSE(index.begin_copy(row.key, kMaxTiers));
  ASSERT_TRUE(index.begin_copy(row.key, 1));
  EXPECT_FALSE(index.begin_copy(row.key, 1)) << "one writer per copy";
  EXPECT_EQ(tiers(), tier_bit(0));
  EXPECT_EQ(pending(), tier_bit(1));
  EXPECT_EQ(index.copies(1), 0u) << "a pending copy is not counted";
  EXPECT_EQ(index.register_copy(row, 1, 0, false), RegisterOutcome::kKeptExisting)
      << "a copy being written is not registered from a scan or watch";
  {
    Lease lease = std::move(index.checkout(row.key)).value();
    EXPECT_EQ(lease.tiers(), tier_bit(0)) << "lookups only use complete copies";
    EXPECT_EQ(index.end_copy(row.key, 1, true), CopyOutcome::kAdded);
    EXPECT_EQ(lease.tiers(), tier_bit(0) | tier_bit(1)) << "a leased row gains the copy";
  }
  EXPECT_EQ(tiers(), tier_bit(0) | tier_bit(1));
  EXPECT_EQ(pending(), 0u);
  EXPECT_EQ(index.copies(1), 1u);
  EXPECT_EQ(index.end_copy(row.key, 1, true), CopyOutcome::kRowGone) << "no claim to end";
  EXPECT_EQ(index.copies(1), 1u);

  // A failed copy leaves the row as it was.
  ASSERT_TRUE(index.begin_copy(row.key, 2));
  EXPECT_NE(index.end_copy(row.key, 2, false), CopyOutcome::kRowGone);
  EXPECT_EQ(tiers(), tier_bit(0) | tier_bit(1));
  EXPECT_EQ(pending(), 0u);
  EXPECT_EQ(index.copies(2), 0u);
  EXPECT_TRUE(index.contains(row.key));
}

TEST_F(CopiesTest, EndCopyAfterRemoveReturnsRowGone) {
  (void)index.register_copy(row, 0, 0, false);
  ASSERT_TRUE(index.begin_copy(row.key, 1));
  auto removed = index.remove(row.key, false);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->to_delete, tier_bit(0)) << "the pending copy is its writer's to delete";
  index.finish_delete(row.key, 0);
  ASSERT_TRUE(index.get(row.key).has_value()) << "kept while a copy is being written";
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kDeleting);
  EXPECT_EQ(index.reserve(row.key).status().code(), Code::kConflict);
  EXPECT_EQ(index.end_copy(row.key, 1, true), CopyOutcome::kRowGone);
  EXPECT_FALSE(index.get(row.key).has_value());
  EXPECT_EQ(index.copies(0) + index.copies(1), 0u);
  EXPECT_TRUE(index.reserve(row.key).ok());
}

TEST_F(CopiesTest, EndCopyBeforeFinishDeleteAlsoReturnsRowGone) {
  (void)index.register_copy(row, 0, 0, false);
  ASSERT_TRUE(index.begin_copy(row.key, 1));
  ASSERT_TRUE(index.remove(row.key, false).ok());
  EXPECT_EQ(index.end_copy(row.key, 1, false), CopyOutcome::kRowGone);
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kDeleting) << "tier 0's copy is still being deleted";
  index.finish_delete(row.key, 0);
  EXPECT_FALSE(index.get(row.key).has_value());
}

TEST_F(CopiesTest, DropCopyOfTheLastCopyErases) {
  (void)index.register_copy(row, 0, 0, false);
  (void)index.register_copy(row, 1, 0, false);
  ASSERT_TRUE(index.pin(row.key).ok());
  Lease lease = std::move(index.checkout(row.key)).value();

  auto first = index.drop_copy(row.key, 0);  // regardless of pins and leases
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->info.key, row.key);
  EXPECT_EQ(first->to_delete, tier_bit(0));
  EXPECT_FALSE(first->erased);
  EXPECT_TRUE(index.contains(row.key));
  EXPECT_EQ(lease.tiers(), tier_bit(1));
  EXPECT_FALSE(index.drop_copy(row.key, 0).has_value()) << "not recorded any more";
  EXPECT_FALSE(index.drop_copy(row.key, kMaxTiers).has_value());

  auto last = index.drop_copy(row.key, 1);
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(last->erased);
  EXPECT_FALSE(index.get(row.key).has_value());
  EXPECT_FALSE(index.any_prefix(ns, *row.tokens).boundary_key.has_value());
  EXPECT_EQ(index.copies(0) + index.copies(1), 0u);
  EXPECT_EQ(lease.row().key, row.key) << "the lease outlives the row";
  EXPECT_EQ(index.total_leases(), 0u);
  lease.release();
  EXPECT_FALSE(index.drop_copy(make_row(ns, {9}).key, 0).has_value()) << "absent";
}

TEST_F(CopiesTest, DropOfTheLastCompleteCopyKeepsARowWithAPendingCopy) {
  (void)index.register_copy(row, 0, 0, false);
  ASSERT_TRUE(index.begin_copy(row.key, 1));
  auto dropped = index.drop_copy(row.key, 0);
  ASSERT_TRUE(dropped.has_value());
  EXPECT_FALSE(dropped->erased);
  EXPECT_TRUE(index.contains(row.key));
  EXPECT_EQ(index.end_copy(row.key, 1, true), CopyOutcome::kAdded);
  EXPECT_EQ(tiers(), tier_bit(1));

  // Same, but the copy fails: the row has nothing left and goes.
  ASSERT_TRUE(index.begin_copy(row.key, 2));
  ASSERT_TRUE(index.drop_copy(row.key, 1).has_value());
  EXPECT_EQ(index.end_copy(row.key, 2, false), CopyOutcome::kRowGone);
  EXPECT_FALSE(index.get(row.key).has_value());
  EXPECT_TRUE(index.reserve(row.key).ok());
}

// remove → kDeleting (invisible; a re-save cannot adopt a file about to be
// unlinked: issue 9) → finish_delete of every copy → gone, and the key is free.
TEST_F(CopiesTest, RemoveDeletesEveryCopyBeforeTheKeyIsFree) {
  (void)index.register_copy(row, 0, 0, false);
  (void)index.register_copy(row, 2, 0, false);
  auto removed = index.remove(row.key, false);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->to_delete, tier_bit(0) | tier_bit(2));
  EXPECT_TRUE(removed->erased);

  auto snap = index.get(row.key);
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(snap->status, RowStatus::kDeleting);
  EXPECT_EQ(snap->tiers, 0u);
  EXPECT_FALSE(index.contains(row.key));
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.copies(0) + index.copies(2), 0u);
  EXPECT_EQ(index.checkout(row.key).status().code(), Code::kNotFound);
  EXPECT_EQ(index.checkout_or_wait(row.key, std::chrono::steady_clock::now() + 30s).status().code(),
            Code::kNotFound);
  EXPECT_FALSE(index.any_prefix(ns, *row.tokens).key.has_value());
  EXPECT_FALSE(index.longest_prefix(ns, *row.tokens, 3, 0).lease);
  auto again = index.reserve(row.key);
  EXPECT_EQ(again.status().code(), Code::kConflict);
  EXPECT_NE(again.status().message().find("being deleted"), std::string::npos) << again.status().message();
  EXPECT_EQ(index.register_copy(row, 1, 0, false), RegisterOutcome::kKeptExisting);
  EXPECT_FALSE(index.begin_copy(row.key, 1));
  EXPECT_EQ(index.pin(row.key).code(), Code::kNotFound);
  EXPECT_EQ(index.remove(row.key, false).status().code(), Code::kNotFound);
  EXPECT_FALSE(index.evict_next(0).has_value());
  EXPECT_TRUE(index.eviction_candidates(std::nullopt).empty());

  index.finish_delete(row.key, 0);
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kDeleting) << "tier 2's copy is still being deleted";
  EXPECT_EQ(index.reserve(row.key).status().code(), Code::kConflict);
  index.finish_delete(row.key, 2);
  EXPECT_FALSE(index.get(row.key).has_value());
  index.finish_delete(row.key, 2);  // absent: no effect

  auto fresh = index.reserve(row.key);
  ASSERT_TRUE(fresh.ok()) << fresh.status().to_string();
  ASSERT_TRUE(index.publish(*fresh, row, 1).ok());
  EXPECT_EQ(tiers(), tier_bit(1));
}

TEST_F(CopiesTest, RemoveOfAbsentOrWritingRowsIsNotFound) {
  EXPECT_EQ(index.remove(row.key, false).status().code(), Code::kNotFound);
  auto r = index.reserve(row.key);
  ASSERT_TRUE(r.ok());
  auto removed = index.remove(row.key, false);
  EXPECT_EQ(removed.status().code(), Code::kNotFound);
  EXPECT_TRUE(index.check(*r)) << "a writing row is left alone";
}

TEST_F(CopiesTest, RemoveOfARowWithNoCopiesLeftErasesAtOnce) {
  (void)index.register_copy(row, 0, 0, false);
  auto v = index.evict_next(0, [](const RowInfo&, TierMask, TierMask) { return std::optional<TierId>(1); });
  ASSERT_TRUE(v.has_value());
  ASSERT_EQ(v->demoted_to, std::optional<TierId>(1));
  index.finish_evict(row.key, 0);
  ASSERT_TRUE(index.contains(row.key)) << "available while its copy moves down";
  auto removed = index.remove(row.key, false);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->to_delete, 0u) << "nothing complete to delete; the mover deletes its copy";
  EXPECT_EQ(index.end_copy(row.key, 1, true), CopyOutcome::kRowGone);
  EXPECT_FALSE(index.get(row.key).has_value());
  EXPECT_EQ(index.copies(1), 0u);
}

}  // namespace
}  // namespace kvc::index
