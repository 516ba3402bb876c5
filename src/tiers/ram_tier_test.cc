#include "tiers/ram_tier.h"

#include <gtest/gtest.h>

#include "tiers/tier_test_util.h"
#include "tiers/verify.h"

namespace kvc::tiers {
namespace {

using testutil::make_file;

index::RowInfo row_of(const testutil::TestFile& f, index::TierId tier = 0) {
  index::RowInfo row;
  row.key = f.key;
  row.ns = f.ns;
  row.tier = tier;
  row.size = f.size();
  row.tokens = std::make_shared<const std::vector<std::uint32_t>>(f.tokens);
  return row;
}

TEST(RamTier, SaveLoadRoundTripSharesBuffers) {
  index::Index idx;
  RamTier tier(0, 1 << 20);
  auto f = make_file(1, 5000);
  auto r = idx.reserve(f.key, 0);
  ASSERT_TRUE(r.ok());
  auto loc = tier.write(idx, *r, f.prefix_bytes(), f.payload_bytes());
  ASSERT_TRUE(loc.ok()) << loc.status().to_string();
  EXPECT_EQ(*loc, "");
  ASSERT_TRUE(idx.publish(*r, row_of(f)).ok());

  auto loaded = tier.load(row_of(f));
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->payload.data(), f.payload->data()) << "the payload is shared, not copied";
  EXPECT_EQ(loaded->payload.size(), f.payload->size());
  EXPECT_EQ(loaded->meta.tokens, f.tokens);
  EXPECT_EQ(loaded->meta.key(), f.key);

  // The LoadedFile keeps the bytes alive after the tier lets go of them.
  const std::vector<std::byte> copy(*f.payload);
  ASSERT_TRUE(tier.remove(row_of(f)).ok());
  ASSERT_TRUE(tier.remove(row_of(f)).ok());  // ok when already gone
  f.payload.reset();
  f.prefix.reset();
  EXPECT_TRUE(std::equal(loaded->payload.begin(), loaded->payload.end(), copy.begin(), copy.end()));
  EXPECT_EQ(tier.entries(), 0u);
  EXPECT_EQ(tier.load(row_of(make_file(1))).status().code(), Code::kNotFound);
  EXPECT_TRUE(tier.write_hit_count(row_of(make_file(1)), 3).ok());
}

TEST(RamTier, LostReservationStoresNothing) {
  index::Index idx;
  RamTier tier(0, 1 << 20);
  auto f = make_file(2);
  auto r = idx.reserve(f.key, 0);
  ASSERT_TRUE(r.ok());
  idx.cancel(*r);
  auto loc = tier.write(idx, *r, f.prefix_bytes(), f.payload_bytes());
  EXPECT_EQ(loc.status().code(), Code::kCancelled);
  EXPECT_EQ(tier.entries(), 0u);
}

TEST(RamTier, CorruptionIsDetected) {
  index::Index idx;
  RamTier tier(0, 1 << 20);
  auto f = make_file(3);
  auto r = idx.reserve(f.key, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(tier.write(idx, *r, f.prefix_bytes(), f.payload_bytes()).ok());
  (*f.payload)[10] ^= std::byte{1};
  auto bad = tier.load(row_of(f));
  ASSERT_EQ(bad.status().code(), Code::kCorrupt);
  EXPECT_NE(bad.status().message().find("crc_mismatch"), std::string::npos) << bad.status().message();
  (*f.payload)[10] ^= std::byte{1};
  EXPECT_TRUE(tier.load(row_of(f)).ok());
}

TEST(RamTier, ParseSplitChecks) {
  auto f = make_file(4, 64);
  EXPECT_TRUE(parse_split(*f.prefix, *f.payload, f.key).ok());
  auto other = make_file(5, 64);
  auto wrong_key = parse_split(*f.prefix, *f.payload, other.key);
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_EQ(wrong_key.error, format::KvcError::kKeyMismatch);
  std::vector<std::byte> shorter(f.payload->begin(), f.payload->end() - 1);
  auto truncated = parse_split(*f.prefix, shorter, f.key);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error, format::KvcError::kTruncated);
  // A prefix that runs into the payload does not end at payload_offset.
  std::vector<std::byte> longer(*f.prefix);
  longer.push_back(f.payload->front());
  std::span<const std::byte> rest(f.payload->data() + 1, f.payload->size() - 1);
  auto layout = parse_split(longer, rest, f.key);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.error, format::KvcError::kBadLayout);
}

}  // namespace
}  // namespace kvc::tiers
