// TLV 0x0B, position-tagged next-token logits (docs/format.md "TLV 0x0B"): the
// byte layout, the round trip, what build leaves out, what parse rejects, and the
// rules logits_at() applies.
#include <gtest/gtest.h>

#include <bit>
#include <limits>
#include <string>
#include <vector>

#include "format/kvc_file.h"
#include "format/raw_kvc_file.h"

namespace kvc::format {
namespace {

using testing::bytes_of;
using testing::RawKvcFile;
using testing::u32_bytes;

KeyNamespace fixed_ns() {
  KeyNamespace ns;
  ns.fingerprint.fill(0x11);
  ns.quant = 1;
  ns.ctx_hash.fill(0x22);
  return ns;
}

std::vector<std::byte> f32_bytes(std::initializer_list<float> v) {
  std::vector<std::byte> out;
  for (float f : v) {
    const auto b = u32_bytes(std::bit_cast<std::uint32_t>(f));
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

// A 0x0B value: u32 LE position ‖ f32 LE logits.
std::vector<std::byte> record(std::uint32_t position, std::initializer_list<float> logits) {
  auto v = u32_bytes(position);
  const auto f = f32_bytes(logits);
  v.insert(v.end(), f.begin(), f.end());
  return v;
}

std::vector<std::byte> build_file(const KvcBuildInput& in, const std::vector<std::byte>& payload) {
  auto file = build_prefix(in, payload);
  file.insert(file.end(), payload.begin(), payload.end());
  return file;
}

class PositionLogitsTest : public ::testing::Test {
 protected:
  const std::vector<std::uint32_t> tokens_ = {1, 2, 3, 4};
  const Key key_ = derive_key(fixed_ns(), tokens_);
  RawKvcFile raw_ = RawKvcFile::valid(fixed_ns(), tokens_, bytes_of("payload"));

  std::string error() const {
    auto r = parse(raw_.bytes(), key_);
    return r.ok() ? "ok" : std::string(error_name(r.error));
  }
};

TEST_F(PositionLogitsTest, BytesAreTheDocumentedLayout) {
  const std::vector<PositionLogits> records = {{2, {1.0f, -2.5f}}, {3, {0.5f, 2.0f}}};
  const std::vector<float> last = {4.0f, 8.0f};
  KvcBuildInput in;
  in.ns = fixed_ns();
  in.tokens = tokens_;
  in.next_token_logits = last;
  in.position_logits = records;
  const auto file = build_file(in, bytes_of("xy"));
  // The TLV section ends with 0x0A then one 0x0B per record, then the payload:
  //   0a 08000000 00008040 00000041
  //   0b 0c000000 02000000 0000803f 000020c0
  //   0b 0c000000 03000000 0000003f 00000040
  const std::vector<std::byte> tail = {
      std::byte{0x0a}, std::byte{0x08}, std::byte{0}, std::byte{0}, std::byte{0},
      std::byte{0}, std::byte{0}, std::byte{0x80}, std::byte{0x40}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0x41},
      std::byte{0x0b}, std::byte{0x0c}, std::byte{0}, std::byte{0}, std::byte{0},
      std::byte{0x02}, std::byte{0}, std::byte{0}, std::byte{0},
      std::byte{0}, std::byte{0}, std::byte{0x80}, std::byte{0x3f}, std::byte{0}, std::byte{0}, std::byte{0x20}, std::byte{0xc0},
      std::byte{0x0b}, std::byte{0x0c}, std::byte{0}, std::byte{0}, std::byte{0},
      std::byte{0x03}, std::byte{0}, std::byte{0}, std::byte{0},
      std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0x3f}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0x40},
      std::byte{'x'}, std::byte{'y'}};
  ASSERT_GE(file.size(), tail.size());
  EXPECT_EQ(std::vector<std::byte>(file.end() - static_cast<std::ptrdiff_t>(tail.size()), file.end()), tail);
  EXPECT_EQ(testing::tlv_tags(file), (std::vector<std::uint8_t>{1, 2, 3, 4, 8, 9, 10, 11, 11}));
  // The raw writer (an independent encoder) produces the same file.
  RawKvcFile raw = RawKvcFile::valid(fixed_ns(), tokens_, bytes_of("xy"));
  raw.quant_bits = 0;
  raw.save_reason = 0;
  raw.tlvs.push_back({kTagNextTokenLogits, f32_bytes({4.0f, 8.0f})});
  raw.tlvs.push_back({kTagPositionLogits, record(2, {1.0f, -2.5f})});
  raw.tlvs.push_back({kTagPositionLogits, record(3, {0.5f, 2.0f})});
  EXPECT_EQ(raw.bytes(), file);
}

TEST_F(PositionLogitsTest, RoundTripIsBitExact) {
  const std::vector<PositionLogits> records = {
      {1, {std::bit_cast<float>(0x7fc00001u), -0.0f, std::bit_cast<float>(0x00000001u)}},  // NaN payload, -0, denormal
      {3, {std::numeric_limits<float>::infinity(), 1e30f, -1e-30f}}};
  KvcBuildInput in;
  in.ns = fixed_ns();
  in.tokens = tokens_;
  in.position_logits = records;
  const auto file = build_file(in, bytes_of("payload"));
  auto r = parse(file, key_);
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  const KvcMeta& m = *r.value;
  ASSERT_EQ(m.position_logits.size(), 2u);
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(m.position_logits[i].position, records[i].position);
    ASSERT_EQ(m.position_logits[i].logits.size(), records[i].logits.size());
    for (std::size_t k = 0; k < records[i].logits.size(); ++k)
      EXPECT_EQ(std::bit_cast<std::uint32_t>(m.position_logits[i].logits[k]),
                std::bit_cast<std::uint32_t>(records[i].logits[k]));
  }
  EXPECT_TRUE(m.next_token_logits.empty());
  EXPECT_TRUE(m.unknown_tlvs.empty());
  // parse_meta (the scan's path) sees them too.
  auto meta = parse_meta(file, file.size());
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta.value->position_logits.size(), 2u);
}

TEST_F(PositionLogitsTest, BuildLeavesOutEmptyAndOutOfOrderRecords) {
  const std::vector<PositionLogits> records = {
      {1, {}}, {2, {1.0f}}, {2, {2.0f}}, {1, {3.0f}}, {3, {4.0f}}};
  KvcBuildInput in;
  in.ns = fixed_ns();
  in.tokens = tokens_;
  in.position_logits = records;
  const auto file = build_file(in, {});
  EXPECT_EQ(testing::tlv_tags(file), (std::vector<std::uint8_t>{1, 2, 3, 4, 8, 9, 11, 11}));
  auto r = parse(file, key_);
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  ASSERT_EQ(r.value->position_logits.size(), 2u);
  EXPECT_EQ(r.value->position_logits[0].position, 2u);
  EXPECT_EQ(r.value->position_logits[0].logits, std::vector<float>{1.0f});
  EXPECT_EQ(r.value->position_logits[1].position, 3u);
  EXPECT_EQ(r.value->position_logits[1].logits, std::vector<float>{4.0f});
}

TEST_F(PositionLogitsTest, MalformedRecordsAreBadTlv) {
  // Shorter than 8 bytes (a position and at least one float): format.md.
  for (std::size_t len : {0, 1, 4, 7}) {
    raw_.tlvs.resize(6);
    raw_.tlvs.push_back({kTagPositionLogits, std::vector<std::byte>(len)});
    EXPECT_EQ(error(), "bad_tlv") << len;
  }
  // Length minus 4 not a multiple of 4: format.md.
  for (std::size_t len : {9, 10, 11, 13}) {
    raw_.tlvs.resize(6);
    raw_.tlvs.push_back({kTagPositionLogits, std::vector<std::byte>(len)});
    EXPECT_EQ(error(), "bad_tlv") << len;
  }
  // Positions not strictly increasing (stricter than format.md's size rule; a
  // correct writer never produces it).
  raw_.tlvs.resize(6);
  raw_.tlvs.push_back({kTagPositionLogits, record(2, {1.0f})});
  raw_.tlvs.push_back({kTagPositionLogits, record(2, {1.0f})});
  EXPECT_EQ(error(), "bad_tlv");
  raw_.tlvs.back() = {kTagPositionLogits, record(1, {1.0f})};
  EXPECT_EQ(error(), "bad_tlv");
  raw_.tlvs.back() = {kTagPositionLogits, record(3, {1.0f})};
  EXPECT_EQ(error(), "ok");
  // Unknown records in between do not break the order rule.
  raw_.tlvs.insert(raw_.tlvs.end() - 1, {0x7f, bytes_of("future")});
  EXPECT_EQ(error(), "ok");
}

TEST_F(PositionLogitsTest, OutOfRangeRecordsParseButAreIgnored) {
  // P = 0, P = N and P > N are accepted by the parser (the row stays valid) and
  // ignored by logits_at (format.md: "ignored by the engine").
  raw_.tlvs.push_back({kTagPositionLogits, record(0, {1.0f, 2.0f})});
  raw_.tlvs.push_back({kTagPositionLogits, record(2, {3.0f, 4.0f})});
  raw_.tlvs.push_back({kTagPositionLogits, record(3, {5.0f})});  // wrong float count
  raw_.tlvs.push_back({kTagPositionLogits, record(4, {6.0f, 7.0f})});
  raw_.tlvs.push_back({kTagPositionLogits, record(9, {8.0f, 9.0f})});
  auto r = parse(raw_.bytes(), key_);
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  const KvcMeta& m = *r.value;
  EXPECT_EQ(m.position_logits.size(), 5u);
  EXPECT_TRUE(logits_at(m, 0, 2).empty());
  EXPECT_TRUE(logits_at(m, 1, 2).empty());  // no record there
  ASSERT_EQ(logits_at(m, 2, 2).size(), 2u);
  EXPECT_EQ(logits_at(m, 2, 2)[1], 4.0f);
  EXPECT_TRUE(logits_at(m, 2, 3).empty());  // n_vocab mismatch
  EXPECT_TRUE(logits_at(m, 3, 2).empty());  // n_vocab mismatch
  EXPECT_TRUE(logits_at(m, 4, 2).empty());  // P = N: only 0x0A counts there, and there is none
  EXPECT_TRUE(logits_at(m, 9, 2).empty());  // beyond the row
}

TEST_F(PositionLogitsTest, LogitsAtTheRowEndAreTlv0x0A) {
  raw_.tlvs.push_back({kTagNextTokenLogits, f32_bytes({1.5f, 2.5f})});
  raw_.tlvs.push_back({kTagPositionLogits, record(2, {3.0f, 4.0f})});
  auto r = parse(raw_.bytes(), key_);
  ASSERT_TRUE(r.ok()) << error_name(r.error);
  ASSERT_EQ(logits_at(*r.value, 4, 2).size(), 2u);
  EXPECT_EQ(logits_at(*r.value, 4, 2)[0], 1.5f);
  EXPECT_TRUE(logits_at(*r.value, 4, 3).empty());
  EXPECT_EQ(logits_at(*r.value, 2, 2)[0], 3.0f);
}

}  // namespace
}  // namespace kvc::format
