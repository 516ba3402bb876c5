// parse_split and check_payload: verification of a file held as two buffers, or
// whose payload CRC was computed while it was read.
#include "format/kvc_verify.h"

#include <gtest/gtest.h>

#include <vector>

#include "format/crc32c.h"
#include "format/kvc_file.h"

namespace kvc::format {
namespace {

struct Split {
  Key key;
  std::vector<std::byte> prefix;
  std::vector<std::byte> payload;
};

Split make_split(std::uint32_t seed, std::size_t payload_size = 64) {
  Split s;
  KeyNamespace ns;
  ns.fingerprint.fill(0x11);
  ns.quant = 1;
  ns.ctx_hash.fill(0x22);
  std::vector<std::uint32_t> tokens = {seed, seed + 1, seed + 2};
  s.key = derive_key(ns, tokens);
  s.payload.resize(payload_size);
  for (std::size_t i = 0; i < payload_size; ++i) s.payload[i] = static_cast<std::byte>((i * 31 + seed) & 0xff);
  KvcBuildInput in;
  in.save_reason = SaveReason::kCold;
  in.context_size = 4096;
  in.prompt_text = "hi";
  in.ns = ns;
  in.tokens = tokens;
  in.producer_version = "kvc test";
  s.prefix = build_prefix(in, s.payload);
  return s;
}

TEST(KvcVerify, ParseSplitChecks) {
  const Split f = make_split(4);
  auto ok = parse_split(f.prefix, f.payload, f.key);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value->key(), f.key);
  EXPECT_EQ(ok.value->payload_offset, f.prefix.size());
  const Split other = make_split(5);
  auto wrong_key = parse_split(f.prefix, f.payload, other.key);
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_EQ(wrong_key.error, KvcError::kKeyMismatch);
  std::vector<std::byte> shorter(f.payload.begin(), f.payload.end() - 1);
  auto truncated = parse_split(f.prefix, shorter, f.key);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error, KvcError::kTruncated);
  // A prefix that runs into the payload does not end at payload_offset.
  std::vector<std::byte> longer(f.prefix);
  longer.push_back(f.payload.front());
  std::span<const std::byte> rest(f.payload.data() + 1, f.payload.size() - 1);
  auto layout = parse_split(longer, rest, f.key);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.error, KvcError::kBadLayout);
  // A flipped payload byte.
  std::vector<std::byte> flipped(f.payload);
  flipped[10] ^= std::byte{1};
  auto crc = parse_split(f.prefix, flipped, f.key);
  ASSERT_FALSE(crc.ok());
  EXPECT_EQ(crc.error, KvcError::kCrcMismatch);
}

// A CRC computed by the caller (chunk by chunk while reading) replaces the pass.
TEST(KvcVerify, ParseSplitWithAGivenCrc) {
  const Split f = make_split(6, 5000);
  std::uint32_t chunked = 0;
  for (std::size_t at = 0; at < f.payload.size(); at += 1000)
    chunked = crc32c(std::span<const std::byte>(f.payload).subspan(at, 1000), chunked);
  EXPECT_EQ(chunked, crc32c(f.payload)) << "CRC32C continues across chunks";
  EXPECT_TRUE(parse_split(f.prefix, f.payload, f.key, chunked).ok());
  auto wrong = parse_split(f.prefix, f.payload, f.key, chunked ^ 1u);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error, KvcError::kCrcMismatch) << "the given CRC is what is checked";
}

TEST(KvcVerify, CheckPayloadChecksCrcThenKey) {
  const Split f = make_split(7);
  auto meta = parse_meta(f.prefix, f.prefix.size() + f.payload.size());
  ASSERT_TRUE(meta.ok());
  const std::uint32_t crc = crc32c(f.payload);
  EXPECT_FALSE(check_payload(*meta.value, crc, f.key).has_value());
  EXPECT_EQ(check_payload(*meta.value, crc + 1, f.key), KvcError::kCrcMismatch);
  EXPECT_EQ(check_payload(*meta.value, crc, make_split(8).key), KvcError::kKeyMismatch);
  EXPECT_EQ(check_payload(*meta.value, crc + 1, make_split(8).key), KvcError::kCrcMismatch) << "CRC first";
}

}  // namespace
}  // namespace kvc::format
