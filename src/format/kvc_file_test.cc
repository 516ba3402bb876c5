#include "format/kvc_file.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "format/crc32c.h"
#include "format/raw_kvc_file.h"  // bytes_of, tlv_tags

namespace kvc::format {
namespace {

using testing::bytes_of;

Digest iota_digest(std::uint8_t first) {
  Digest d;
  for (int i = 0; i < 32; ++i) d[i] = static_cast<std::uint8_t>(first + i);
  return d;
}

KeyNamespace fixed_ns() { return {iota_digest(0), 7, iota_digest(32)}; }

std::vector<std::byte> from_hex(std::string_view hex) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(std::byte(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16))));
  }
  return out;
}

// A whole file computed independently with python3 (struct.pack, a bitwise CRC32C):
// quant_bits 4, cold, hit_count 2, context_size 4096, times 1700000000/1700000100,
// prompt "hi", FP 00..1f, mode safe, quant 7, CTX 20..3f, tokens {1,2,3},
// hostname "h", producer "kvc 0.1.0", no detail, logits {1.0, -2.5}, payload "abc".
constexpr std::string_view kGoldenHex =
    "4b564301040100000300000002000000001000000000000000f153650000000064f15365000000000300000000000000"
    "e3000000000000000300000000000000b73f4b3600000000020000006869910000000120000000000102030405060708"
    "090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f02010000000003010000000704200000002021222324252627"
    "28292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f080400000003000000090c00000001000000020000000300"
    "000005010000006806090000006b766320302e312e300a080000000000803f000020c0616263";

TEST(KvcFile, BuildMatchesGoldenFile) {
  const std::vector<std::uint32_t> tokens = {1, 2, 3};
  const std::vector<float> logits = {1.0f, -2.5f};
  KvcBuildInput in;
  in.quant_bits = 4;
  in.save_reason = SaveReason::kCold;
  in.hit_count = 2;
  in.context_size = 4096;
  in.creation_time = 1700000000;
  in.last_used_time = 1700000100;
  in.prompt_text = "hi";
  in.ns = fixed_ns();
  in.tokens = tokens;
  in.hostname = "h";
  in.producer_version = "kvc 0.1.0";
  in.next_token_logits = logits;
  const auto payload = bytes_of("abc");
  auto file = build_prefix(in, payload);
  file.insert(file.end(), payload.begin(), payload.end());
  EXPECT_EQ(file, from_hex(kGoldenHex));
  // The overload with a precomputed CRC writes the same bytes.
  auto again = build_prefix(in, payload.size(), crc32c(payload));
  EXPECT_EQ(again, std::vector<std::byte>(file.begin(), file.end() - 3));
}

TEST(KvcFile, ParsesGoldenFile) {
  const auto file = from_hex(kGoldenHex);
  const std::vector<std::uint32_t> tokens = {1, 2, 3};
  auto r = parse(file, derive_key(fixed_ns(), tokens));
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  const KvcMeta& m = *r.value;
  EXPECT_EQ(m.header.version, 1);
  EXPECT_EQ(m.header.quant_bits, 4);
  EXPECT_EQ(m.header.save_reason, SaveReason::kCold);
  EXPECT_EQ(m.header.cached_token_count, 3u);
  EXPECT_EQ(m.header.hit_count, 2u);
  EXPECT_EQ(m.header.context_size, 4096u);
  EXPECT_EQ(m.header.creation_time, 1700000000u);
  EXPECT_EQ(m.header.last_used_time, 1700000100u);
  EXPECT_EQ(m.header.payload_byte_count, 3u);
  EXPECT_EQ(m.payload_offset, file.size() - 3);
  EXPECT_EQ(m.payload_length, 3u);
  EXPECT_EQ(m.payload_crc32c, 0x364b3fb7u);
  EXPECT_EQ(m.prompt_text, "hi");
  EXPECT_EQ(m.key_namespace(), fixed_ns());
  EXPECT_EQ(m.fingerprint_mode, FingerprintMode::kSafe);
  EXPECT_EQ(m.tokens, tokens);
  EXPECT_EQ(m.hostname, "h");
  EXPECT_EQ(m.producer_version, "kvc 0.1.0");
  EXPECT_EQ(m.save_reason_detail, "");
  EXPECT_EQ(m.next_token_logits, (std::vector<float>{1.0f, -2.5f}));
  EXPECT_TRUE(m.unknown_tlvs.empty());
}

TEST(KvcFile, TlvOrderAndEmptyOptionalsLeftOut) {
  const std::vector<std::uint32_t> tokens = {7};
  const std::vector<float> logits = {0.25f};
  KvcBuildInput in;
  in.ns = fixed_ns();
  in.tokens = tokens;
  EXPECT_EQ(testing::tlv_tags(build_prefix(in, {})), (std::vector<std::uint8_t>{1, 2, 3, 4, 8, 9}));
  in.hostname = "host";
  in.producer_version = "kvc 1";
  in.save_reason_detail = "why";
  in.next_token_logits = logits;
  EXPECT_EQ(testing::tlv_tags(build_prefix(in, {})), (std::vector<std::uint8_t>{1, 2, 3, 4, 8, 9, 5, 6, 7, 10}));
  in.hostname = "";
  in.save_reason_detail = "";
  EXPECT_EQ(testing::tlv_tags(build_prefix(in, {})), (std::vector<std::uint8_t>{1, 2, 3, 4, 8, 9, 6, 10}));
}

TEST(KvcFile, ReservedBytesWrittenZero) {
  const std::vector<std::uint32_t> tokens = {7};
  KvcBuildInput in;
  in.ns = fixed_ns();
  in.tokens = tokens;
  in.hit_count = 0xffffffff;
  in.context_size = 0xffffffff;
  const auto prefix = build_prefix(in, {});
  for (std::size_t off : {6, 7, 20, 21, 22, 23, 68, 69, 70, 71}) EXPECT_EQ(prefix[off], std::byte{0}) << off;
}

TEST(KvcFile, NamesAreTheFormatNames) {
  EXPECT_EQ(save_reason_name(SaveReason::kUnknown), "unknown");
  EXPECT_EQ(save_reason_name(SaveReason::kCold), "cold");
  EXPECT_EQ(save_reason_name(SaveReason::kContinued), "continued");
  EXPECT_EQ(save_reason_name(SaveReason::kEvict), "evict");
  EXPECT_EQ(save_reason_name(SaveReason::kShutdown), "shutdown");
  EXPECT_EQ(save_reason_name(SaveReason::kFinish), "finish");
  for (int i = 0; i <= 5; ++i) {
    EXPECT_EQ(save_reason_from_name(save_reason_name(static_cast<SaveReason>(i))), static_cast<SaveReason>(i));
  }
  EXPECT_EQ(save_reason_from_name("bogus"), std::nullopt);
  EXPECT_EQ(fingerprint_mode_name(FingerprintMode::kSafe), "safe");
  EXPECT_EQ(fingerprint_mode_name(FingerprintMode::kGgufChunked), "gguf_chunked");
  EXPECT_EQ(fingerprint_mode_name(FingerprintMode::kFastUnsafe), "fast_unsafe");
  const std::pair<KvcError, const char*> errors[] = {
      {KvcError::kBadHeader, "bad_header"},
      {KvcError::kUnsupportedVersion, "unsupported_version"},
      {KvcError::kUnknownSaveReason, "unknown_save_reason"},
      {KvcError::kBadTrailer, "bad_trailer"},
      {KvcError::kBadSection, "bad_section"},
      {KvcError::kBadTlv, "bad_tlv"},
      {KvcError::kUnknownFingerprintMode, "unknown_fingerprint_mode"},
      {KvcError::kUnknownQuant, "unknown_quant"},
      {KvcError::kBadLayout, "bad_layout"},
      {KvcError::kPayloadLengthMismatch, "payload_length_mismatch"},
      {KvcError::kTruncated, "truncated"},
      {KvcError::kTrailingBytes, "trailing_bytes"},
      {KvcError::kMissingTlv, "missing_tlv"},
      {KvcError::kTokenCountMismatch, "token_count_mismatch"},
      {KvcError::kCrcMismatch, "crc_mismatch"},
      {KvcError::kKeyMismatch, "key_mismatch"},
  };
  for (const auto& [e, name] : errors) EXPECT_EQ(error_name(e), name);
}

}  // namespace
}  // namespace kvc::format
