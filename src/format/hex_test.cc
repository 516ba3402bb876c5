#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "kvc/key.h"

namespace kvc {
namespace {

TEST(Hex, LowercaseRoundTrip) {
  Digest d;
  for (int i = 0; i < 32; ++i) d[i] = static_cast<std::uint8_t>(i * 8 + 7);
  const std::string hex = to_hex(d);
  EXPECT_EQ(hex, "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
  auto back = digest_from_hex(hex);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, d);
}

TEST(Hex, AcceptsUppercase) {
  auto d = digest_from_hex("070F171F272F373F474F575F676F777F878F979FA7AFB7BFC7CFD7DFE7EFF7FF");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(to_hex(*d), "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
}

TEST(Hex, RejectsWrongLengthAndNonHex) {
  const std::string good(64, 'a');
  EXPECT_EQ(digest_from_hex("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(digest_from_hex(good.substr(1)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(digest_from_hex(good + "a").status().code(), Code::kInvalidArgument);
  std::string bad = good;
  bad[17] = 'g';
  auto r = digest_from_hex(bad);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("position 17"), std::string::npos) << r.status().message();
  bad[17] = ' ';
  EXPECT_FALSE(digest_from_hex(bad).ok());
}

TEST(Key, FromHex) {
  const std::string hex = "8cda291817488581cd67cee598d95f0fec1da1f27370c854617e1fc80a3f2caa";
  auto k = Key::from_hex(hex);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->hex(), hex);
  EXPECT_EQ(Key::from_hex("xyz").status().code(), Code::kInvalidArgument);
}

RC_GTEST_PROP(HexProp, RoundTrip, (const std::array<std::uint8_t, 32>& bytes)) {
  const Digest d = bytes;
  const std::string hex = to_hex(d);
  RC_ASSERT(hex.size() == 64u);
  RC_ASSERT(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
  RC_ASSERT(*digest_from_hex(hex) == d);
}

}  // namespace
}  // namespace kvc
