// Index::longest_prefix: the stride walk of cache.md §1.
#include <gtest/gtest.h>

#include "index/index.h"
#include "index/index_test_util.h"

namespace kvc::index {
namespace {

using testing::FakeClock;
using testing::iota_tokens;
using testing::make_ns;
using testing::make_row;
using testing::options;

class StrideWalkTest : public ::testing::Test {
 protected:
  FakeClock clock;
  Index index{options(clock)};
  KeyNamespace ns = make_ns(3);
  std::vector<std::uint32_t> prompt = iota_tokens(10'050, 100);

  RowInfo prefix_row(std::size_t n) {
    return make_row(ns, std::vector<std::uint32_t>(prompt.begin(), prompt.begin() + n));
  }
  void add(std::size_t n) { ASSERT_EQ(index.register_copy(prefix_row(n), 0, 0, false), RegisterOutcome::kInserted); }
};

TEST_F(StrideWalkTest, PicksTheLongestAvailableAndCountsProbes) {
  add(3000);
  add(5000);
  StrideMatch m = index.longest_prefix(ns, prompt, 1000, 2000);
  ASSERT_TRUE(m.lease);
  EXPECT_EQ(m.length, 5000u);
  EXPECT_EQ(m.lease.row().key, prefix_row(5000).key);
  EXPECT_EQ(m.probes, 6u);  // 10000, 9000, 8000, 7000, 6000, 5000
  EXPECT_FALSE(m.busy_seen);
  EXPECT_EQ(index.get(prefix_row(5000).key)->hits, 0u) << "a probe is not a hit: the caller touches what it serves";
  EXPECT_EQ(index.get(prefix_row(5000).key)->leases, 1u);
  EXPECT_EQ(index.get(prefix_row(3000).key)->leases, 0u);
  EXPECT_EQ(index.total_leases(), 1u);
}

TEST_F(StrideWalkTest, MissProbesEveryLengthDownToTheFloor) {
  add(1000);  // below the floor
  StrideMatch m = index.longest_prefix(ns, prompt, 1000, 2000);
  EXPECT_FALSE(m.lease);
  EXPECT_EQ(m.length, 0u);
  EXPECT_EQ(m.probes, 9u);  // 10000 … 2000
}

TEST_F(StrideWalkTest, FloorIsTheSmallestStrideMultipleAtLeastMin) {
  add(2000);
  add(3000);
  StrideMatch m = index.longest_prefix(ns, std::span(prompt).first(3999), 1000, 2500);
  ASSERT_TRUE(m.lease);
  EXPECT_EQ(m.length, 3000u);
  EXPECT_EQ(m.probes, 1u);
  ASSERT_TRUE(testing::remove_now(index, prefix_row(3000).key).ok());
  StrideMatch none = index.longest_prefix(ns, std::span(prompt).first(3999), 1000, 2500);
  EXPECT_FALSE(none.lease);  // 2000 < floor 3000
  EXPECT_EQ(none.probes, 1u);
}

TEST_F(StrideWalkTest, MinBelowStrideFloorsAtTheStride) {
  add(1000);
  StrideMatch m = index.longest_prefix(ns, std::span(prompt).first(2500), 1000, 0);
  ASSERT_TRUE(m.lease);
  EXPECT_EQ(m.length, 1000u);
  EXPECT_EQ(m.probes, 2u);  // 2000, 1000
}

TEST_F(StrideWalkTest, ExactMultipleProbesTheWholePrompt) {
  add(4000);
  StrideMatch m = index.longest_prefix(ns, std::span(prompt).first(4000), 1000, 1000);
  ASSERT_TRUE(m.lease);
  EXPECT_EQ(m.length, 4000u);
  EXPECT_EQ(m.probes, 1u);
}

TEST_F(StrideWalkTest, PromptShorterThanTheFloorMakesNoProbes) {
  add(500);
  EXPECT_EQ(index.longest_prefix(ns, std::span(prompt).first(999), 1000, 0).probes, 0u);
  EXPECT_EQ(index.longest_prefix(ns, std::span(prompt).first(2999), 1000, 3000).probes, 0u);
  EXPECT_EQ(index.longest_prefix(ns, {}, 1000, 0).probes, 0u);
  EXPECT_EQ(index.longest_prefix(ns, prompt, 0, 0).probes, 0u);  // no stride: nothing to walk
}

TEST_F(StrideWalkTest, WritingRowsAreSkippedAndReported) {
  add(3000);
  auto res = index.reserve(prefix_row(7000).key);
  ASSERT_TRUE(res.ok());
  StrideMatch m = index.longest_prefix(ns, prompt, 1000, 1000);
  ASSERT_TRUE(m.lease);
  EXPECT_EQ(m.length, 3000u);
  EXPECT_TRUE(m.busy_seen);
  EXPECT_EQ(m.probes, 8u);
}

TEST_F(StrideWalkTest, OtherNamespacesDoNotMatch) {
  add(3000);
  StrideMatch m = index.longest_prefix(make_ns(4), prompt, 1000, 1000);
  EXPECT_FALSE(m.lease);
  EXPECT_EQ(m.probes, 10u);
}

TEST_F(StrideWalkTest, RemovedRowsAreNotReturned) {
  add(3000);
  add(6000);
  ASSERT_TRUE(index.remove(prefix_row(6000).key, false).ok());  // kDeleting: not returned either
  StrideMatch m = index.longest_prefix(ns, prompt, 1000, 1000);
  ASSERT_TRUE(m.lease);
  EXPECT_EQ(m.length, 3000u);
}

TEST_F(StrideWalkTest, PinnedAndLeasedRowsStillMatch) {
  add(3000);
  ASSERT_TRUE(index.pin(prefix_row(3000).key).ok());
  StrideMatch a = index.longest_prefix(ns, prompt, 1000, 1000);
  StrideMatch b = index.longest_prefix(ns, prompt, 1000, 1000);
  ASSERT_TRUE(a.lease);
  ASSERT_TRUE(b.lease);
  EXPECT_EQ(index.get(prefix_row(3000).key)->leases, 2u);
}

}  // namespace
}  // namespace kvc::index
