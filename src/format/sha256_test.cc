#include "format/sha256.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string_view>

namespace kvc::format {
namespace {

std::span<const std::byte> as_bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// FIPS 180-2 vectors.
TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(to_hex(sha256({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256(as_bytes("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, DigestDoesNotDisturbTheStream) {
  Sha256 h;
  h.update(as_bytes("a"));
  const Digest after_a = h.digest();
  Sha256 fork = h;
  h.update(as_bytes("bc"));
  EXPECT_EQ(after_a, sha256(as_bytes("a")));
  EXPECT_EQ(h.digest(), sha256(as_bytes("abc")));
  EXPECT_EQ(fork.digest(), after_a);
}

RC_GTEST_PROP(Sha256Prop, IncrementalEqualsOneShot, (const std::string& s, std::size_t split_seed)) {
  const std::size_t split = s.empty() ? 0 : split_seed % (s.size() + 1);
  Sha256 h;
  h.update(as_bytes(std::string_view(s).substr(0, split)));
  h.update(as_bytes(std::string_view(s).substr(split)));
  RC_ASSERT(h.digest() == sha256(as_bytes(s)));
}

}  // namespace
}  // namespace kvc::format
