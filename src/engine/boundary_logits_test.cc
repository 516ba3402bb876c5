// BoundaryLogits: which turn-boundary logits a sequence keeps, carries and saves.
#include "engine/boundary_logits.h"

#include <gtest/gtest.h>

#include <vector>

namespace kvc::engine {
namespace {

std::vector<float> logits_of(float v, std::size_t n = 3) { return std::vector<float>(n, v); }

std::vector<std::uint32_t> positions(const std::vector<format::PositionLogits>& r) {
  std::vector<std::uint32_t> out;
  for (const auto& x : r) out.push_back(x.position);
  return out;
}

TEST(BoundaryLogits, RecordsAreKeptSortedAndCapped) {
  BoundaryLogits b(3);
  const auto l5 = logits_of(5), l2 = logits_of(2), l9 = logits_of(9);
  b.record(5, l5.data());
  b.record(2, l2.data());
  b.record(9, l9.data());
  EXPECT_EQ(positions(b.for_save(100)), (std::vector<std::uint32_t>{2, 5, 9}));
  ASSERT_NE(b.at(5), nullptr);
  EXPECT_EQ(b.at(5)[0], 5.0f);
  EXPECT_EQ(b.at(3), nullptr);
  // Replacing a position keeps one record.
  const auto l5b = logits_of(50);
  b.record(5, l5b.data());
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.at(5)[2], 50.0f);
  // Recording from the record itself changes nothing.
  b.record(5, b.at(5));
  EXPECT_EQ(b.at(5)[1], 50.0f);
  // Beyond the cap the lowest position goes; a position below all kept ones is not taken.
  for (std::size_t p : {20, 30, 40}) {
    const auto l = logits_of(static_cast<float>(p));
    b.record(p, l.data());
  }
  EXPECT_EQ(b.size(), BoundaryLogits::kMaxRecords);
  EXPECT_EQ(positions(b.for_save(100)), (std::vector<std::uint32_t>{9, 20, 30, 40}));
  const auto l1 = logits_of(1);
  b.record(1, l1.data());
  EXPECT_EQ(b.at(1), nullptr);
  const auto l25 = logits_of(25);
  b.record(25, l25.data());
  EXPECT_EQ(positions(b.for_save(100)), (std::vector<std::uint32_t>{20, 25, 30, 40}));
  EXPECT_EQ(b.at(25)[0], 25.0f);
  EXPECT_EQ(b.at(20)[0], 20.0f);
  // Position 0 (no tokens) and null logits are not recorded.
  b.clear();
  b.record(0, l1.data());
  b.record(4, nullptr);
  EXPECT_EQ(b.size(), 0u);
}

TEST(BoundaryLogits, ForSaveWritesOnlyPositionsInsideTheRow) {
  BoundaryLogits b(3);
  for (std::size_t p : {4, 8, 12}) {
    const auto l = logits_of(static_cast<float>(p));
    b.record(p, l.data());
  }
  // The logits at the row's end belong in TLV 0x0A, not 0x0B.
  EXPECT_EQ(positions(b.for_save(12)), (std::vector<std::uint32_t>{4, 8}));
  EXPECT_EQ(positions(b.for_save(13)), (std::vector<std::uint32_t>{4, 8, 12}));
  EXPECT_EQ(positions(b.for_save(4)), (std::vector<std::uint32_t>{}));
  b.truncate(8);
  EXPECT_EQ(positions(b.for_save(100)), (std::vector<std::uint32_t>{4, 8}));
  b.truncate(7);
  EXPECT_EQ(positions(b.for_save(100)), (std::vector<std::uint32_t>{4}));
}

format::KvcMeta row_with(std::size_t n_tokens, std::vector<format::PositionLogits> records, std::vector<float> end) {
  format::KvcMeta m;
  m.tokens.assign(n_tokens, 7);
  m.position_logits = std::move(records);
  m.next_token_logits = std::move(end);
  return m;
}

TEST(BoundaryLogits, TakesTheRowsValidRecordsUpToTheUsablePrefix) {
  BoundaryLogits b(3);
  // Records at 0 (no tokens), 2, 4 (wrong size), 6, 8 (= the row length: invalid
  // in 0x0B) and the row's 0x0A at 8.
  auto row = [] {
    return row_with(8, {{0, logits_of(0)}, {2, logits_of(2)}, {4, logits_of(4, 2)}, {6, logits_of(6)}, {8, logits_of(-8)}},
                    logits_of(8));
  };
  auto m = row();
  b.take_from_row(m, 8);
  EXPECT_EQ(positions(b.for_save(100)), (std::vector<std::uint32_t>{2, 6, 8}));
  EXPECT_EQ(b.at(8)[0], 8.0f);  // from 0x0A, not the invalid 0x0B record at 8
  m = row();
  b.take_from_row(m, 6);  // truncated to 6: the end logits do not apply
  EXPECT_EQ(positions(b.for_save(100)), (std::vector<std::uint32_t>{2, 6}));
  m = row();
  b.take_from_row(m, 5);
  EXPECT_EQ(positions(b.for_save(100)), (std::vector<std::uint32_t>{2}));
  // An end record of the wrong size is skipped too.
  auto bad_end = row_with(8, {}, logits_of(8, 5));
  b.take_from_row(bad_end, 8);
  EXPECT_EQ(b.size(), 0u);
}

TEST(BoundaryLogits, TakesAtMostTheCapFromARow) {
  BoundaryLogits b(1);
  std::vector<format::PositionLogits> recs;
  for (std::uint32_t p = 1; p <= 7; ++p) recs.push_back({p, logits_of(static_cast<float>(p), 1)});
  auto m = row_with(8, std::move(recs), logits_of(8, 1));
  b.take_from_row(m, 8);
  EXPECT_EQ(positions(b.for_save(100)), (std::vector<std::uint32_t>{5, 6, 7, 8}));
}

}  // namespace
}  // namespace kvc::engine
