// The validation of format.md §2.4: each check triggered by a crafted file.
#include "format/kvc_file.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "format/crc32c.h"
#include "format/raw_kvc_file.h"

namespace kvc::format {
namespace {

using testing::bytes_of;
using testing::RawKvcFile;
using testing::RawTlv;
using testing::u32_bytes;

Digest iota_digest(std::uint8_t first) {
  Digest d;
  for (int i = 0; i < 32; ++i) d[i] = static_cast<std::uint8_t>(first + i);
  return d;
}

KeyNamespace fixed_ns() { return {iota_digest(0), 7, iota_digest(32)}; }

std::string error_of(std::span<const std::byte> file, const Key& key) {
  auto r = parse(file, key);
  return r.ok() ? "ok" : std::string(error_name(r.error));
}

class KvcValidation : public ::testing::Test {
 protected:
  const std::vector<std::uint32_t> tokens_ = {10, 20, 30};
  const Key key_ = derive_key(fixed_ns(), tokens_);
  RawKvcFile f_ = RawKvcFile::valid(fixed_ns(), tokens_, bytes_of("payload bytes"));

  std::string error() const { return error_of(f_.bytes(), key_); }
};

TEST_F(KvcValidation, RawWriterAgreesWithBuildPrefix) {
  KvcBuildInput in;
  in.quant_bits = f_.quant_bits;
  in.save_reason = SaveReason::kCold;
  in.ns = fixed_ns();
  in.tokens = tokens_;
  auto file = build_prefix(in, f_.payload);
  file.insert(file.end(), f_.payload.begin(), f_.payload.end());
  EXPECT_EQ(file, f_.bytes());
  EXPECT_EQ(error(), "ok");
}

TEST_F(KvcValidation, BadHeader) {
  const auto file = f_.bytes();
  EXPECT_EQ(error_of(std::span(file).first(0), key_), "bad_header");
  EXPECT_EQ(error_of(std::span(file).first(47), key_), "bad_header");
  f_.magic = "KVD";
  EXPECT_EQ(error(), "bad_header");
  f_.magic = "kvc";
  EXPECT_EQ(error(), "bad_header");
}

TEST_F(KvcValidation, UnsupportedVersion) {
  f_.version = 2;
  EXPECT_EQ(error(), "unsupported_version");
  f_.version = 0;
  EXPECT_EQ(error(), "unsupported_version");
  f_.save_reason = 200;  // a later check also fails: the first failure wins
  EXPECT_EQ(error(), "unsupported_version");
}

TEST_F(KvcValidation, UnknownSaveReason) {
  f_.save_reason = 5;
  EXPECT_EQ(error(), "ok");
  f_.save_reason = 6;
  EXPECT_EQ(error(), "unknown_save_reason");
  f_.save_reason = 255;
  EXPECT_EQ(error(), "unknown_save_reason");
}

TEST_F(KvcValidation, BadTrailer) {
  const auto file = f_.bytes();
  EXPECT_EQ(error_of(std::span(file).first(48), key_), "bad_trailer");
  EXPECT_EQ(error_of(std::span(file).first(71), key_), "bad_trailer");
}

TEST_F(KvcValidation, BadSectionPrompt) {
  const auto file = f_.bytes();
  EXPECT_EQ(error_of(std::span(file).first(72), key_), "bad_section");
  EXPECT_EQ(error_of(std::span(file).first(75), key_), "bad_section");
  f_.prompt = "some prompt";
  const auto with_prompt = f_.bytes();
  EXPECT_EQ(error_of(std::span(with_prompt).first(80), key_), "bad_section");
  // A prompt length past the end of the file.
  auto bad = f_.bytes();
  bad[75] = std::byte{0x7f};
  EXPECT_EQ(error_of(bad, key_), "bad_section");
}

TEST_F(KvcValidation, BadSectionTlv) {
  f_.tlv_length = 1u << 20;
  EXPECT_EQ(error(), "bad_section");
  const auto file = RawKvcFile::valid(fixed_ns(), tokens_, {}).bytes();
  EXPECT_EQ(error_of(std::span(file).first(78), key_), "bad_section");  // TLV length incomplete
  EXPECT_EQ(error_of(std::span(file).first(79), key_), "bad_section");
}

TEST_F(KvcValidation, BadTlvIncompleteRecord) {
  RawKvcFile g = f_;
  g.tlvs.push_back({0x05, bytes_of("hostname")});
  const std::uint32_t full = static_cast<std::uint32_t>(g.bytes().size() - g.payload.size() - 80);
  g.tlv_length = full - 1;  // the last value ends one byte past the section
  EXPECT_EQ(error_of(g.bytes(), key_), "bad_tlv");
  g.tlv_length = full - 10;  // the last record's header is incomplete (3 of 5 bytes)
  EXPECT_EQ(error_of(g.bytes(), key_), "bad_tlv");
}

TEST_F(KvcValidation, BadTlvSizes) {
  struct Case {
    std::uint8_t tag;
    std::size_t size;
  };
  for (const Case c : {Case{kTagFingerprint, 31}, Case{kTagFingerprint, 33}, Case{kTagFingerprintMode, 0},
                       Case{kTagFingerprintMode, 2}, Case{kTagQuantType, 2}, Case{kTagCtxParamsHash, 0},
                       Case{kTagCtxParamsHash, 64}, Case{kTagTokenIdCount, 3}, Case{kTagTokenIdCount, 8},
                       Case{kTagTokenIds, 13}, Case{kTagTokenIds, 2}}) {
    RawKvcFile g = f_;
    g.find(c.tag)->value.resize(c.size, std::byte{0});
    EXPECT_EQ(error_of(g.bytes(), key_), "bad_tlv") << int{c.tag} << " size " << c.size;
  }
  RawKvcFile g = f_;
  g.tlvs.push_back({kTagNextTokenLogits, std::vector<std::byte>(6)});  // stricter than format.md: f32 × n
  EXPECT_EQ(error_of(g.bytes(), key_), "bad_tlv");
}

TEST_F(KvcValidation, BadTlvDuplicateKnownTag) {
  RawKvcFile g = f_;
  g.tlvs.push_back(*g.find(kTagQuantType));
  EXPECT_EQ(error_of(g.bytes(), key_), "bad_tlv");
  g = f_;
  g.tlvs.push_back({kTagHostname, bytes_of("a")});
  g.tlvs.push_back({kTagHostname, bytes_of("b")});
  EXPECT_EQ(error_of(g.bytes(), key_), "bad_tlv");
}

TEST_F(KvcValidation, UnknownFingerprintMode) {
  for (std::uint8_t m = 0; m <= 2; ++m) {
    f_.find(kTagFingerprintMode)->value = {std::byte{m}};
    EXPECT_EQ(error(), "ok") << int{m};
  }
  f_.find(kTagFingerprintMode)->value = {std::byte{3}};
  EXPECT_EQ(error(), "unknown_fingerprint_mode");
  f_.find(kTagQuantType)->value = {std::byte{30}};  // both fail: the mode is checked first
  EXPECT_EQ(error(), "unknown_fingerprint_mode");
  f_.find(kTagCtxParamsHash)->value.resize(31);  // a size error comes before both
  EXPECT_EQ(error(), "bad_tlv");
}

TEST_F(KvcValidation, UnknownQuant) {
  for (int q = 30; q <= 254; ++q) {
    f_.find(kTagQuantType)->value = {std::byte(static_cast<std::uint8_t>(q))};
    EXPECT_EQ(error(), "unknown_quant") << q;
  }
}

TEST_F(KvcValidation, QuantOtherAccepted) {
  KeyNamespace ns = fixed_ns();
  ns.quant = kQuantOther;
  const auto file = RawKvcFile::valid(ns, tokens_, bytes_of("p")).bytes();
  auto r = parse(file, derive_key(ns, tokens_));
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  EXPECT_EQ(r.value->quant_type, kQuantOther);
}

TEST_F(KvcValidation, BadLayout) {
  const auto good = f_.bytes();
  const std::uint64_t offset = good.size() - f_.payload.size();
  f_.payload_offset = offset + 1;
  EXPECT_EQ(error(), "bad_layout");
  f_.payload_offset = offset - 1;
  EXPECT_EQ(error(), "bad_layout");
  f_.payload_offset = 0;
  EXPECT_EQ(error(), "bad_layout");
  f_.payload_length = 1;  // a later check also fails
  EXPECT_EQ(error(), "bad_layout");
}

TEST_F(KvcValidation, PayloadLengthMismatch) {
  f_.payload_byte_count = f_.payload.size() + 1;
  EXPECT_EQ(error(), "payload_length_mismatch");
  f_.payload_byte_count = std::nullopt;
  f_.payload_length = f_.payload.size() - 1;
  EXPECT_EQ(error(), "payload_length_mismatch");
}

TEST_F(KvcValidation, Truncated) {
  const auto file = f_.bytes();
  EXPECT_EQ(error_of(std::span(file).first(file.size() - 1), key_), "truncated");
  EXPECT_EQ(error_of(std::span(file).first(file.size() - f_.payload.size()), key_), "truncated");
  // Lengths near 2^64 must not wrap around.
  f_.payload_length = f_.payload_byte_count = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(error(), "truncated");
}

TEST_F(KvcValidation, TrailingBytes) {
  auto file = f_.bytes();
  file.push_back(std::byte{0});
  EXPECT_EQ(error_of(file, key_), "trailing_bytes");
}

TEST_F(KvcValidation, MissingTlv) {
  for (std::uint8_t tag : {kTagFingerprint, kTagFingerprintMode, kTagQuantType, kTagCtxParamsHash, kTagTokenIds}) {
    RawKvcFile g = f_;
    g.erase(tag);
    EXPECT_EQ(error_of(g.bytes(), key_), "missing_tlv") << int{tag};
  }
  // token_id_count is always written but not required.
  RawKvcFile g = f_;
  g.erase(kTagTokenIdCount);
  EXPECT_EQ(error_of(g.bytes(), key_), "ok");
}

TEST_F(KvcValidation, TokenCountMismatch) {
  f_.cached_token_count = 2;
  EXPECT_EQ(error(), "token_count_mismatch");
  f_.cached_token_count = 3;
  f_.find(kTagTokenIdCount)->value = u32_bytes(4);
  EXPECT_EQ(error(), "token_count_mismatch");
  f_.find(kTagTokenIdCount)->value = u32_bytes(3);
  f_.find(kTagTokenIds)->value.resize(8);
  EXPECT_EQ(error(), "token_count_mismatch");
}

TEST_F(KvcValidation, CrcMismatch) {
  f_.payload_crc32c = crc32c(f_.payload) ^ 1;
  EXPECT_EQ(error(), "crc_mismatch");
  auto r = parse_meta(f_.bytes(), f_.bytes().size());
  EXPECT_TRUE(r.ok()) << "parse_meta does not read the payload";
}

TEST_F(KvcValidation, KeyMismatch) {
  const auto file = f_.bytes();
  EXPECT_EQ(error_of(file, derive_key(fixed_ns(), std::span(tokens_).first(2))), "key_mismatch");
  KeyNamespace ns = fixed_ns();
  ns.quant = 8;
  EXPECT_EQ(error_of(file, derive_key(ns, tokens_)), "key_mismatch");
}

TEST_F(KvcValidation, UnknownTagsIgnoredAndKept) {
  f_.tlvs.insert(f_.tlvs.begin() + 2, RawTlv{0x42, bytes_of("future")});
  f_.tlvs.insert(f_.tlvs.begin(), RawTlv{0xff, {}});
  f_.tlvs.push_back({0x0c, bytes_of("x")});  // the first tag after kvc's 0x0A/0x0B
  auto r = parse(f_.bytes(), key_);
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  ASSERT_EQ(r.value->unknown_tlvs.size(), 3u);
  EXPECT_EQ(r.value->unknown_tlvs[0].tag, 0xff);
  EXPECT_TRUE(r.value->unknown_tlvs[0].value.empty());
  EXPECT_EQ(r.value->unknown_tlvs[1].tag, 0x42);
  EXPECT_EQ(r.value->unknown_tlvs[1].value, bytes_of("future"));
  EXPECT_EQ(r.value->unknown_tlvs[2].tag, 0x0c);
  EXPECT_EQ(r.value->tokens, tokens_);
}

TEST_F(KvcValidation, EmptyOptionalRecordsAccepted) {
  f_.tlvs.push_back({kTagHostname, {}});
  f_.tlvs.push_back({kTagNextTokenLogits, {}});
  auto r = parse(f_.bytes(), key_);
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  EXPECT_EQ(r.value->hostname, "");
  EXPECT_TRUE(r.value->next_token_logits.empty());
}

TEST_F(KvcValidation, ReservedBytesIgnored) {
  auto file = f_.bytes();
  for (std::size_t off : {6, 7, 20, 21, 22, 23, 68, 69, 70, 71}) file[off] = std::byte{0xa5};
  EXPECT_EQ(error_of(file, key_), "ok");
}

TEST_F(KvcValidation, EmptyTokensAndPayload) {
  const auto file = RawKvcFile::valid(fixed_ns(), {}, {}).bytes();
  auto r = parse(file, derive_key(fixed_ns(), {}));
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  EXPECT_TRUE(r.value->tokens.empty());
  EXPECT_EQ(r.value->payload_length, 0u);
  EXPECT_EQ(r.value->payload_offset, file.size());
}

TEST_F(KvcValidation, PrefixLength) {
  f_.prompt = "a prompt";
  const auto file = f_.bytes();
  const std::uint64_t offset = file.size() - f_.payload.size();
  EXPECT_EQ(prefix_length(std::span(file).first(72), file.size()), offset);
  EXPECT_EQ(prefix_length(file, file.size()), offset);
  EXPECT_EQ(prefix_length(std::span(file).first(71), file.size()), std::nullopt);
  EXPECT_EQ(prefix_length(std::span(file).first(72), offset - 1), std::nullopt);
  // parse_meta on just the prefix and the real file size.
  auto r = parse_meta(std::span(file).first(offset), file.size());
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  EXPECT_EQ(r.value->prompt_text, "a prompt");
  EXPECT_EQ(r.value->tokens, tokens_);
  EXPECT_EQ(r.value->key(), key_);
}

}  // namespace
}  // namespace kvc::format
