#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <vector>

#include "kvc/key.h"

namespace kvc {
namespace {

Digest iota_digest(std::uint8_t first) {
  Digest d;
  for (int i = 0; i < 32; ++i) d[i] = static_cast<std::uint8_t>(first + i);
  return d;
}

// FP = 00 01 … 1f, quant 7 (q4_k_m), CTX = 20 21 … 3f.
KeyNamespace fixed_ns() { return {iota_digest(0), 7, iota_digest(32)}; }

// Expected keys computed independently with python3:
//   fp = bytes(range(32)); ctx = bytes(range(32, 64))
//   hashlib.sha256(fp + bytes([q]) + ctx + b''.join(struct.pack('<I', t) for t in toks)).hexdigest()
TEST(DeriveKey, KnownAnswerEmptyTokens) {
  EXPECT_EQ(derive_key(fixed_ns(), {}).hex(), "8cda291817488581cd67cee598d95f0fec1da1f27370c854617e1fc80a3f2caa");
}

TEST(DeriveKey, KnownAnswerTokens) {
  const std::vector<std::uint32_t> toks = {1, 2, 0xFFFFFFFFu, 128000};
  EXPECT_EQ(derive_key(fixed_ns(), toks).hex(), "661c3779cea8a05426de33eb8df632858b8d199ba06315488df48be576cc9ba4");
}

TEST(DeriveKey, KnownAnswerQuantOther) {
  KeyNamespace ns = fixed_ns();
  ns.quant = kQuantOther;
  const std::vector<std::uint32_t> toks = {42};
  EXPECT_EQ(derive_key(ns, toks).hex(), "63f8d1e4f51b25cc5604928288029ad67f04b3ab11476c27602508d9bc43df02");
}

TEST(DeriveKey, EveryNamespaceFieldMatters) {
  const std::vector<std::uint32_t> toks = {5, 6};
  const Key base = derive_key(fixed_ns(), toks);
  KeyNamespace ns = fixed_ns();
  ns.fingerprint[31] ^= 1;
  EXPECT_NE(derive_key(ns, toks), base);
  ns = fixed_ns();
  ns.quant = 8;
  EXPECT_NE(derive_key(ns, toks), base);
  ns = fixed_ns();
  ns.ctx_hash[0] ^= 1;
  EXPECT_NE(derive_key(ns, toks), base);
}

TEST(PrefixHasher, IncrementalMatchesDeriveKey) {
  const std::vector<std::uint32_t> toks = {1, 2, 0xFFFFFFFFu, 128000};
  PrefixHasher h(fixed_ns());
  EXPECT_EQ(h.length(), 0u);
  EXPECT_EQ(h.key(), derive_key(fixed_ns(), {}));
  h.update(std::span(toks).first(1));
  PrefixHasher fork = h;
  h.update(std::span(toks).subspan(1));
  EXPECT_EQ(h.length(), 4u);
  EXPECT_EQ(h.key(), derive_key(fixed_ns(), toks));
  EXPECT_EQ(h.key(), h.key()) << "key() must not disturb the stream";
  EXPECT_EQ(fork.length(), 1u);
  EXPECT_EQ(fork.key(), derive_key(fixed_ns(), std::span(toks).first(1)));
  fork = h;
  EXPECT_EQ(fork.key(), h.key());
}

TEST(PrefixHasher, KeysAtIncludingZeroAndRepeats) {
  const std::vector<std::uint32_t> toks = {1, 2, 0xFFFFFFFFu, 128000};
  const std::vector<std::size_t> lengths = {0, 0, 2, 4, 4};
  const auto keys = PrefixHasher::keys_at(fixed_ns(), toks, lengths);
  ASSERT_EQ(keys.size(), lengths.size());
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    EXPECT_EQ(keys[i], derive_key(fixed_ns(), std::span(toks).first(lengths[i]))) << i;
  }
  EXPECT_EQ(keys[3].hex(), "661c3779cea8a05426de33eb8df632858b8d199ba06315488df48be576cc9ba4");
  EXPECT_TRUE(PrefixHasher::keys_at(fixed_ns(), toks, {}).empty());
}

TEST(PrefixHasher, KeysAtOutOfOrderStillCorrect) {
  const std::vector<std::uint32_t> toks = {9, 8, 7};
  const std::vector<std::size_t> lengths = {3, 1};
  const auto keys = PrefixHasher::keys_at(fixed_ns(), toks, lengths);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], derive_key(fixed_ns(), toks));
  EXPECT_EQ(keys[1], derive_key(fixed_ns(), std::span(toks).first(1)));
}

rc::Gen<KeyNamespace> gen_namespace() {
  return rc::gen::apply(
      [](const std::array<std::uint8_t, 32>& fp, std::uint8_t q, const std::array<std::uint8_t, 32>& ctx) {
        return KeyNamespace{fp, q, ctx};
      },
      rc::gen::arbitrary<std::array<std::uint8_t, 32>>(), rc::gen::arbitrary<std::uint8_t>(),
      rc::gen::arbitrary<std::array<std::uint8_t, 32>>());
}

RC_GTEST_PROP(PrefixHasherProp, KeysAtEqualsDeriveKeyOfPrefix, ()) {
  const auto ns = *gen_namespace();
  const auto toks = *rc::gen::container<std::vector<std::uint32_t>>(rc::gen::arbitrary<std::uint32_t>());
  auto lengths = *rc::gen::container<std::vector<std::size_t>>(rc::gen::inRange<std::size_t>(0, toks.size() + 1));
  std::sort(lengths.begin(), lengths.end());
  const auto keys = PrefixHasher::keys_at(ns, toks, lengths);
  RC_ASSERT(keys.size() == lengths.size());
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    RC_ASSERT(keys[i] == derive_key(ns, std::span(toks).first(lengths[i])));
  }
}

RC_GTEST_PROP(PrefixHasherProp, ChunkedUpdatesEqualDeriveKey, ()) {
  const auto ns = *gen_namespace();
  const auto toks = *rc::gen::container<std::vector<std::uint32_t>>(rc::gen::arbitrary<std::uint32_t>());
  PrefixHasher h(ns);
  std::size_t pos = 0;
  while (pos < toks.size()) {
    const std::size_t n = *rc::gen::inRange<std::size_t>(1, toks.size() - pos + 1);
    h.update(std::span(toks).subspan(pos, n));
    pos += n;
    RC_ASSERT(h.length() == pos);
    RC_ASSERT(h.key() == derive_key(ns, std::span(toks).first(pos)));
  }
  RC_ASSERT(h.key() == derive_key(ns, toks));
}

TEST(TokensFromI64, AcceptsTheUint32Range) {
  const std::vector<std::int64_t> ids = {0, 1, 4294967295};
  auto r = tokens_from_i64(ids);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::uint32_t>{0, 1, 4294967295u}));
  auto empty = tokens_from_i64({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(TokensFromI64, RejectsOutOfRangeNamingThePosition) {
  const std::vector<std::int64_t> negative = {5, 6, -1};
  auto r = tokens_from_i64(negative);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("position 2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("-1"), std::string::npos) << r.status().message();

  const std::vector<std::int64_t> big = {4294967296};
  auto r2 = tokens_from_i64(big);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("position 0"), std::string::npos) << r2.status().message();
  EXPECT_NE(r2.status().message().find("4294967296"), std::string::npos) << r2.status().message();
}

}  // namespace
}  // namespace kvc
