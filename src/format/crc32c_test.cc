#include "format/crc32c.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string_view>
#include <vector>

namespace kvc::format {
namespace {

std::span<const std::byte> as_bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(Crc32c, CheckValue) { EXPECT_EQ(crc32c(as_bytes("123456789")), 0xE3069283u); }

TEST(Crc32c, EmptyIsZeroAndKeepsTheCrc) {
  EXPECT_EQ(crc32c({}), 0u);
  EXPECT_EQ(crc32c({}, 0xE3069283u), 0xE3069283u);
}

// RFC 3720 B.4 test vectors (iSCSI uses CRC32C).
TEST(Crc32c, Rfc3720Vectors) {
  std::vector<std::byte> zeros(32, std::byte{0});
  std::vector<std::byte> ones(32, std::byte{0xff});
  std::vector<std::byte> inc(32);
  for (int i = 0; i < 32; ++i) inc[i] = std::byte(static_cast<std::uint8_t>(i));
  EXPECT_EQ(crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc), 0x46DD794Eu);
}

TEST(Crc32c, ContinuesAcrossSplits) {
  const std::string_view s = "123456789";
  for (std::size_t i = 0; i <= s.size(); ++i) {
    EXPECT_EQ(crc32c(as_bytes(s.substr(i)), crc32c(as_bytes(s.substr(0, i)))), 0xE3069283u) << "split at " << i;
  }
}

RC_GTEST_PROP(Crc32cProp, ContinuationEqualsConcatenation,
              (const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b)) {
  const auto ab = std::as_bytes(std::span(a));
  const auto bb = std::as_bytes(std::span(b));
  std::vector<std::byte> both(ab.begin(), ab.end());
  both.insert(both.end(), bb.begin(), bb.end());
  RC_ASSERT(crc32c(bb, crc32c(ab)) == crc32c(both));
}

TEST(Crc32c, CombineMatchesTheCrcOfTheConcatenation) {
  const std::string_view s = "123456789";
  for (std::size_t i = 0; i <= s.size(); ++i) {
    const auto a = as_bytes(s.substr(0, i)), b = as_bytes(s.substr(i));
    EXPECT_EQ(crc32c_combine(crc32c(a), crc32c(b), b.size()), 0xE3069283u) << "split at " << i;
  }
  // A long B: 1 MiB + 3 of a pattern.
  std::vector<std::byte> big((1u << 20) + 3);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = std::byte(static_cast<std::uint8_t>(i * 7 + 1));
  const auto head = std::span<const std::byte>(big).first(100), tail = std::span<const std::byte>(big).subspan(100);
  EXPECT_EQ(crc32c_combine(crc32c(head), crc32c(tail), tail.size()), crc32c(big));
}

RC_GTEST_PROP(Crc32cProp, CombineEqualsConcatenation,
              (const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b)) {
  const auto ab = std::as_bytes(std::span(a));
  const auto bb = std::as_bytes(std::span(b));
  std::vector<std::byte> both(ab.begin(), ab.end());
  both.insert(both.end(), bb.begin(), bb.end());
  RC_ASSERT(crc32c_combine(crc32c(ab), crc32c(bb), bb.size()) == crc32c(both));
}

}  // namespace
}  // namespace kvc::format
