#include "format/lora.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kvc/key.h"

namespace kvc {
namespace {

Digest filled(std::uint8_t b) {
  Digest d;
  d.fill(b);
  return d;
}

Digest iota_digest() {
  Digest d;
  for (int i = 0; i < 32; ++i) d[i] = static_cast<std::uint8_t>(i);
  return d;
}

TEST(LoraScale, HalfAwayFromZero) {
  using format::lora_scale_fixed;
  EXPECT_EQ(lora_scale_fixed(0.5), 2147483648);
  EXPECT_EQ(lora_scale_fixed(-0.5), -2147483648);
  EXPECT_EQ(lora_scale_fixed(1.0), 4294967296);
  EXPECT_EQ(lora_scale_fixed(0.0), 0);
  EXPECT_EQ(lora_scale_fixed(-0.0), 0);
  // scale × 2^32 = ±0.5, ±1.5, ±2.5: away from zero (not to even).
  EXPECT_EQ(lora_scale_fixed(std::ldexp(0.5, -32)), 1);
  EXPECT_EQ(lora_scale_fixed(std::ldexp(-0.5, -32)), -1);
  EXPECT_EQ(lora_scale_fixed(std::ldexp(1.5, -32)), 2);
  EXPECT_EQ(lora_scale_fixed(std::ldexp(2.5, -32)), 3);
  EXPECT_EQ(lora_scale_fixed(std::ldexp(-2.5, -32)), -3);
  EXPECT_EQ(lora_scale_fixed(std::ldexp(2.25, -32)), 2);
}

TEST(LoraScale, RejectsNonFiniteAndOutOfRange) {
  using format::lora_scale_fixed;
  EXPECT_FALSE(lora_scale_fixed(std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(lora_scale_fixed(-std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(lora_scale_fixed(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(lora_scale_fixed(2147483648.0));  // 2^31 · 2^32 = 2^63: one past i64 max
  EXPECT_EQ(lora_scale_fixed(-2147483648.0), std::numeric_limits<std::int64_t>::min());
  EXPECT_FALSE(lora_scale_fixed(1e300));
}

TEST(LoraFingerprint, NoAdaptersIsTheBase) {
  auto r = lora_effective_fingerprint(iota_digest(), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, iota_digest());
}

// Expected digests computed independently with python3:
//   def rnd(x): return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)
//   hashlib.sha256(base + b''.join(sha + struct.pack('<q', rnd(scale * 2**32))
//                                  for sha, scale in sorted(adapters))).hexdigest()
// with base = bytes(range(32)).
TEST(LoraFingerprint, KnownAnswerOneAdapter) {
  const std::vector<LoraAdapter> a = {{filled(0xaa), 0.5}};
  auto r = lora_effective_fingerprint(iota_digest(), a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(to_hex(*r), "87a7110209079c71fdef34a4a1c73d206429dd74e99b7eebb5c438f4e8474181");
}

TEST(LoraFingerprint, KnownAnswerNegativeScale) {
  const std::vector<LoraAdapter> a = {{filled(0x11), -0.5}};
  auto r = lora_effective_fingerprint(iota_digest(), a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(to_hex(*r), "64c3b3a59f4d32d807698a0e92faf95ab7b1d7cb28b6b86edecebcb54d84fd62");
}

TEST(LoraFingerprint, KnownAnswerSortedBySha256ThenScale) {
  std::vector<LoraAdapter> a = {{filled(0xaa), 0.5}, {filled(0x11), 1.25}, {filled(0x11), -0.5}};
  const char* expected = "42ee0ef5dac244e5eb5b5d4ffe5e87da276d2e32f0958bbcf94f959d8a8b92f3";
  std::sort(a.begin(), a.end(), [](const LoraAdapter& x, const LoraAdapter& y) { return x.scale < y.scale; });
  do {
    auto r = lora_effective_fingerprint(iota_digest(), a);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(to_hex(*r), expected);
  } while (std::next_permutation(a.begin(), a.end(), [](const LoraAdapter& x, const LoraAdapter& y) {
    return x.scale < y.scale;
  }));
}

TEST(LoraFingerprint, BadScaleNamesTheAdapter) {
  const std::vector<LoraAdapter> a = {{filled(0x11), 1.0}, {filled(0x22), std::nan("")}};
  auto r = lora_effective_fingerprint(iota_digest(), a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("adapter 1"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(to_hex(filled(0x22))), std::string::npos) << r.status().message();
}

RC_GTEST_PROP(LoraFingerprintProp, OrderIndependent, ()) {
  const auto shas = *rc::gen::container<std::vector<std::uint8_t>>(rc::gen::inRange<int>(0, 4));
  std::vector<LoraAdapter> a;
  for (std::uint8_t s : shas) {
    a.push_back({filled(s), static_cast<double>(*rc::gen::inRange<int>(-8, 9)) / 4.0});
  }
  const auto expected = lora_effective_fingerprint(iota_digest(), a);
  RC_ASSERT(expected.ok());
  const auto shuffled = *rc::gen::elementOf(std::vector<int>{0, 1, 2});
  if (shuffled == 0) std::reverse(a.begin(), a.end());
  if (shuffled == 1 && !a.empty()) std::rotate(a.begin(), a.begin() + 1, a.end());
  const auto again = lora_effective_fingerprint(iota_digest(), a);
  RC_ASSERT(again.ok());
  RC_ASSERT(*again == *expected);
  RC_ASSERT(a.empty() == (*expected == iota_digest()));
}

}  // namespace
}  // namespace kvc
