// Reservations: the status transitions of cache.md §1 and the stages of §2.
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

class ReservationTest : public ::testing::Test {
 protected:
  FakeClock clock;
  Index index{options(clock, 4, 60'000ms)};
  KeyNamespace ns = make_ns(2);
  RowInfo row = make_row(ns, {10, 20, 30});

  Reservation reserve() {
    auto r = index.reserve(row.key);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return std::move(r).value();
  }
};

// absent --reserve--> writing (placeholder, not visible to lookups)
TEST_F(ReservationTest, ReserveCreatesAnInvisiblePlaceholder) {
  Reservation r = reserve();
  EXPECT_TRUE(r);
  EXPECT_EQ(r.key(), row.key);
  EXPECT_NE(r.token(), 0u);
  EXPECT_FALSE(index.contains(row.key));
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kWriting);
  EXPECT_EQ(index.checkout(row.key).status().code(), Code::kBusy);
  EXPECT_FALSE(index.any_prefix(ns, *row.tokens).key.has_value());
  EXPECT_TRUE(index.check(r));
}

TEST_F(ReservationTest, SecondWriterConflictsAndDuplicateIsAlreadyPresent) {
  Reservation r = reserve();
  auto second = index.reserve(row.key);
  EXPECT_EQ(second.status().code(), Code::kConflict);
  ASSERT_TRUE(index.publish(r, row, 0).ok());
  auto third = index.reserve(row.key);
  EXPECT_EQ(third.status().code(), Code::kAlreadyPresent);
}

// writing --publish with the live token--> available
TEST_F(ReservationTest, PublishMakesTheRowAvailable) {
  Reservation r = reserve();
  ASSERT_TRUE(index.mark_linked(r, 1));
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kWriting) << "linked, not yet published";
  EXPECT_EQ(index.get(row.key)->tiers, 0u);
  ASSERT_TRUE(index.publish(r, row, 1).ok());
  EXPECT_FALSE(r);  // consumed
  EXPECT_TRUE(index.contains(row.key));
  auto snap = index.get(row.key);
  EXPECT_EQ(snap->status, RowStatus::kAvailable);
  EXPECT_EQ(snap->info.size, row.size);
  EXPECT_EQ(snap->hits, 0u);
  EXPECT_EQ(snap->tiers, tier_bit(1));
  EXPECT_EQ(snap->pending, 0u);
  EXPECT_EQ(snap->last_used_ns, clock.now());
  EXPECT_EQ(index.copies(1), 1u);
  EXPECT_EQ(index.any_prefix(ns, *row.tokens).boundary_key, row.key);
  EXPECT_FALSE(index.check(r));
}

TEST_F(ReservationTest, PublishRejectsAMismatchedRowAndKeepsTheReservation) {
  Reservation r = reserve();
  RowInfo other = make_row(ns, {1});
  EXPECT_EQ(index.publish(r, other, 0).code(), Code::kInvalidArgument);
  RowInfo no_tokens = row;
  no_tokens.tokens.reset();
  EXPECT_EQ(index.publish(r, no_tokens, 0).code(), Code::kInvalidArgument);
  EXPECT_TRUE(index.check(r));
  EXPECT_EQ(index.publish(r, row, kMaxTiers).code(), Code::kInvalidArgument);
  EXPECT_TRUE(index.check(r));
  ASSERT_TRUE(index.publish(r, row, 0).ok());
}

// writing --cancel--> absent
TEST_F(ReservationTest, CancelReturnsToAbsent) {
  Reservation r = reserve();
  index.cancel(r);
  EXPECT_FALSE(r);
  EXPECT_FALSE(index.get(row.key).has_value());
  Reservation again = reserve();
  EXPECT_NE(again.token(), 0u);
}

TEST_F(ReservationTest, CancelAfterLinkAlsoReturnsToAbsent) {
  Reservation r = reserve();
  ASSERT_TRUE(index.mark_linked(r, 1));
  index.cancel(r);
  EXPECT_FALSE(index.get(row.key).has_value());
}

// writing --writer gone before link--> absent
TEST_F(ReservationTest, DestroyingAnUnpublishedReservationCancelsIt) {
  { Reservation r = reserve(); }
  EXPECT_FALSE(index.get(row.key).has_value());
}

TEST_F(ReservationTest, MoveAssignmentCancelsTheOverwrittenReservation) {
  Reservation a = reserve();
  RowInfo other = make_row(ns, {99});
  Reservation b = std::move(index.reserve(other.key)).value();
  b = std::move(a);
  EXPECT_FALSE(index.get(other.key).has_value());
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kWriting);
  EXPECT_TRUE(index.check(b));
  EXPECT_FALSE(index.check(a));
}

// writing --reservation expired before link--> absent
TEST_F(ReservationTest, ExpiryBeforeLinkLosesTheReservation) {
  Reservation r = reserve();
  clock.advance(61s);
  EXPECT_FALSE(index.check(r));
  EXPECT_FALSE(index.get(row.key).has_value());  // cleaned on the way
  EXPECT_FALSE(index.mark_linked(r, 1));
  EXPECT_EQ(index.publish(r, row, 0).code(), Code::kCancelled);
  EXPECT_FALSE(index.contains(row.key));
}

TEST_F(ReservationTest, StaleReservationIsCleanedBeforeReserving) {
  Reservation old = reserve();
  clock.advance(61s);
  auto fresh = index.reserve(row.key);
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->token(), old.token());
  EXPECT_FALSE(index.check(old));
  EXPECT_EQ(index.publish(old, row, 0).code(), Code::kCancelled);
  // The old writer's destructor must not touch the new reservation.
  { Reservation gone = std::move(old); }
  EXPECT_TRUE(index.check(*fresh));
  ASSERT_TRUE(index.publish(*fresh, row, 0).ok());
}

TEST_F(ReservationTest, ExpiredReservationMakesCheckoutAMiss) {
  Reservation r = reserve();
  clock.advance(61s);
  EXPECT_EQ(index.checkout(row.key).status().code(), Code::kNotFound);
  EXPECT_EQ(index.checkout_or_wait(row.key, std::chrono::steady_clock::now() + 30s).status().code(),
            Code::kNotFound);
}

TEST_F(ReservationTest, CheckAndMarkLinkedRefreshTheTtl) {
  Reservation r = reserve();
  clock.advance(40s);
  EXPECT_TRUE(index.check(r));
  clock.advance(40s);  // 80 s after reserve, 40 s after check
  EXPECT_TRUE(index.mark_linked(r, 1));
  clock.advance(40s);
  EXPECT_TRUE(index.sweep().empty());
  EXPECT_TRUE(index.check(r));
  ASSERT_TRUE(index.publish(r, row, 0).ok());
}

TEST_F(ReservationTest, SweepDropsExpiredPreLinkReservationsOnly) {
  Reservation expired = reserve();
  clock.advance(30s);
  RowInfo live_row = make_row(ns, {5, 6});
  Reservation live = std::move(index.reserve(live_row.key)).value();
  clock.advance(31s);
  EXPECT_TRUE(index.sweep().empty());
  EXPECT_FALSE(index.get(row.key).has_value());
  EXPECT_EQ(index.get(live_row.key)->status, RowStatus::kWriting);
  EXPECT_TRUE(index.check(live));
}

// writing --expired after link, file validates--> available (adopted)
TEST_F(ReservationTest, ExpiryAfterLinkIsAdoptedByTheCache) {
  Reservation r = reserve();
  ASSERT_TRUE(index.mark_linked(r, 1));
  clock.advance(61s);
  EXPECT_FALSE(index.check(r));
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kWriting);  // kept for validation
  EXPECT_EQ(index.reserve(row.key).status().code(), Code::kConflict);
  EXPECT_EQ(index.checkout(row.key).status().code(), Code::kBusy);
  auto expired = index.sweep();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].key, row.key);
  EXPECT_EQ(expired[0].token, r.token());
  EXPECT_EQ(expired[0].tier, 1) << "the tier the data was linked in";
  EXPECT_EQ(index.sweep().size(), 1u);  // reported until resolved
  index.adopt(expired[0], row);
  EXPECT_TRUE(index.contains(row.key));
  EXPECT_EQ(index.get(row.key)->tiers, tier_bit(1));
  EXPECT_EQ(index.copies(1), 1u);
  EXPECT_EQ(index.any_prefix(ns, *row.tokens).boundary_key, row.key);
  EXPECT_TRUE(index.sweep().empty());
  EXPECT_EQ(index.publish(r, row, 0).code(), Code::kCancelled);
  index.discard(expired[0]);  // stale token: no effect on the adopted row
  EXPECT_TRUE(index.contains(row.key));
}

// writing --expired after link, file invalid--> absent
TEST_F(ReservationTest, ExpiryAfterLinkWithInvalidFileIsDiscarded) {
  Reservation r = reserve();
  ASSERT_TRUE(index.mark_linked(r, 1));
  clock.advance(61s);
  auto expired = index.sweep();
  ASSERT_EQ(expired.size(), 1u);
  index.discard(expired[0]);
  EXPECT_FALSE(index.get(row.key).has_value());
  index.adopt(expired[0], row);  // resolved already: no effect
  EXPECT_FALSE(index.contains(row.key));
  ASSERT_TRUE(index.reserve(row.key).ok());
}

// writing --writer gone after link--> handed to the next sweep at once
TEST_F(ReservationTest, WriterGoneAfterLinkIsSweptWithoutWaitingForTheTtl) {
  {
    Reservation r = reserve();
    ASSERT_TRUE(index.mark_linked(r, 1));
  }
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kWriting);
  auto expired = index.sweep();
  ASSERT_EQ(expired.size(), 1u);
  index.adopt(expired[0], row);
  EXPECT_TRUE(index.contains(row.key));
}

TEST_F(ReservationTest, AdoptIgnoresARowForAnotherKey) {
  Reservation r = reserve();
  ASSERT_TRUE(index.mark_linked(r, 1));
  clock.advance(61s);
  auto expired = index.sweep();
  ASSERT_EQ(expired.size(), 1u);
  index.adopt(expired[0], make_row(ns, {1}));
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kWriting);
}

// available --remove (load found it corrupt)--> deleting --finish_delete--> absent
TEST_F(ReservationTest, RemoveOfAPublishedRow) {
  Reservation r = reserve();
  ASSERT_TRUE(index.publish(r, row, 0).ok());
  auto removed = index.remove(row.key, false);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->to_delete, tier_bit(0));
  EXPECT_EQ(index.get(row.key)->status, RowStatus::kDeleting);
  EXPECT_FALSE(index.any_prefix(ns, *row.tokens).key.has_value());
  index.finish_delete(row.key, 0);
  EXPECT_FALSE(index.get(row.key).has_value());
}

// issue 9: a re-save must never adopt a file that is about to be unlinked.
TEST_F(ReservationTest, ReserveOfADeletingRowConflictsUntilTheDeletionEnds) {
  Reservation r = reserve();
  ASSERT_TRUE(index.publish(r, row, 0).ok());
  ASSERT_TRUE(index.remove(row.key, false).ok());
  auto during = index.reserve(row.key);
  EXPECT_EQ(during.status().code(), Code::kConflict);
  EXPECT_NE(during.status().message().find(row.key.hex()), std::string::npos) << during.status().message();
  index.finish_delete(row.key, 0);
  Reservation again = reserve();
  EXPECT_TRUE(index.check(again));
}

TEST_F(ReservationTest, RemoveLeavesWritingRowsAlone) {
  Reservation r = reserve();
  EXPECT_EQ(index.remove(row.key, false).status().code(), Code::kNotFound);
  EXPECT_TRUE(index.check(r));
}

TEST_F(ReservationTest, ReservationsFromAnotherIndexAreNotOurs) {
  FakeClock other_clock;
  Index other(options(other_clock));
  Reservation theirs = std::move(other.reserve(row.key)).value();
  EXPECT_FALSE(index.check(theirs));
  EXPECT_FALSE(index.mark_linked(theirs, 0));
  EXPECT_EQ(index.publish(theirs, row, 0).code(), Code::kCancelled);
  EXPECT_TRUE(other.check(theirs));
}

}  // namespace
}  // namespace kvc::index
