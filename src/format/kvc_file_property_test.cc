// Properties of the KVC codec: round trip, single-byte mutations, truncations.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <bit>
#include <set>
#include <string>
#include <vector>

#include "format/kvc_file.h"
#include "format/le.h"

namespace kvc::format {
namespace {

// A random valid file and everything that went into it.
struct Sample {
  std::string prompt, hostname, producer, detail;
  std::vector<std::uint32_t> tokens;
  std::vector<float> logits;
  std::vector<PositionLogits> position_logits;
  std::vector<std::byte> payload;
  KvcBuildInput in;
  std::vector<std::byte> file;
  Key key;
};

std::string gen_text(std::size_t max_len) {
  return *rc::gen::resize(static_cast<int>(max_len), rc::gen::string<std::string>());
}

Sample gen_sample() {
  Sample s;
  s.prompt = gen_text(12);
  s.hostname = gen_text(6);
  s.producer = gen_text(6);
  s.detail = gen_text(6);
  s.tokens = *rc::gen::resize(12, rc::gen::arbitrary<std::vector<std::uint32_t>>());
  // Logits as arbitrary bit patterns (NaNs, infinities, denormals): must survive bit-exact.
  const auto bits = *rc::gen::resize(4, rc::gen::arbitrary<std::vector<std::uint32_t>>());
  for (std::uint32_t b : bits) s.logits.push_back(std::bit_cast<float>(b));
  // 0–3 TLV 0x0B records at strictly increasing positions (any u32: the parser
  // does not check them against the token count), 1–3 arbitrary floats each.
  std::uint32_t next = *rc::gen::inRange<std::uint32_t>(0, 8);
  for (int i = 0, n = *rc::gen::inRange(0, 4); i < n; ++i) {
    PositionLogits r;
    r.position = next;
    for (int k = 0, m = *rc::gen::inRange(1, 4); k < m; ++k)
      r.logits.push_back(std::bit_cast<float>(*rc::gen::arbitrary<std::uint32_t>()));
    s.position_logits.push_back(std::move(r));
    next += *rc::gen::inRange<std::uint32_t>(1, 1000);
  }
  const auto payload = *rc::gen::resize(24, rc::gen::arbitrary<std::vector<std::uint8_t>>());
  for (std::uint8_t b : payload) s.payload.push_back(std::byte{b});

  KvcBuildInput& in = s.in;
  in.quant_bits = *rc::gen::arbitrary<std::uint8_t>();
  in.save_reason = static_cast<SaveReason>(*rc::gen::inRange(0, 6));
  in.hit_count = *rc::gen::arbitrary<std::uint32_t>();
  in.context_size = *rc::gen::arbitrary<std::uint32_t>();
  in.creation_time = *rc::gen::arbitrary<std::uint64_t>();
  in.last_used_time = *rc::gen::arbitrary<std::uint64_t>();
  in.prompt_text = s.prompt;
  in.ns.fingerprint = *rc::gen::arbitrary<std::array<std::uint8_t, 32>>();
  in.ns.quant = *rc::gen::oneOf(rc::gen::inRange<std::uint8_t>(0, 30), rc::gen::just(kQuantOther));
  in.ns.ctx_hash = *rc::gen::arbitrary<std::array<std::uint8_t, 32>>();
  in.fingerprint_mode = static_cast<FingerprintMode>(*rc::gen::inRange(0, 3));
  in.tokens = s.tokens;
  in.hostname = s.hostname;
  in.producer_version = s.producer;
  in.save_reason_detail = s.detail;
  in.next_token_logits = s.logits;
  in.position_logits = s.position_logits;

  s.file = build_prefix(in, s.payload);
  s.file.insert(s.file.end(), s.payload.begin(), s.payload.end());
  s.key = derive_key(in.ns, s.tokens);
  return s;
}

std::vector<std::uint32_t> float_bits(const std::vector<float>& v) {
  std::vector<std::uint32_t> out;
  for (float f : v) out.push_back(std::bit_cast<std::uint32_t>(f));
  return out;
}

RC_GTEST_PROP(KvcFileProp, RoundTrip, ()) {
  const Sample s = gen_sample();
  const auto r = parse(s.file, s.key);
  RC_ASSERT(r.ok());
  const KvcMeta& m = *r.value;
  const KvcBuildInput& in = s.in;
  RC_ASSERT(m.header.version == kVersion);
  RC_ASSERT(m.header.quant_bits == in.quant_bits);
  RC_ASSERT(m.header.save_reason == in.save_reason);
  RC_ASSERT(m.header.cached_token_count == s.tokens.size());
  RC_ASSERT(m.header.hit_count == in.hit_count);
  RC_ASSERT(m.header.context_size == in.context_size);
  RC_ASSERT(m.header.creation_time == in.creation_time);
  RC_ASSERT(m.header.last_used_time == in.last_used_time);
  RC_ASSERT(m.header.payload_byte_count == s.payload.size());
  RC_ASSERT(m.payload_length == s.payload.size());
  RC_ASSERT(m.payload_offset + m.payload_length == s.file.size());
  RC_ASSERT(m.prompt_text == s.prompt);
  RC_ASSERT(m.key_namespace() == in.ns);
  RC_ASSERT(m.fingerprint_mode == in.fingerprint_mode);
  RC_ASSERT(m.tokens == s.tokens);
  RC_ASSERT(m.hostname == s.hostname);
  RC_ASSERT(m.producer_version == s.producer);
  RC_ASSERT(m.save_reason_detail == s.detail);
  RC_ASSERT(float_bits(m.next_token_logits) == float_bits(s.logits));
  RC_ASSERT(m.position_logits.size() == s.position_logits.size());
  for (std::size_t i = 0; i < m.position_logits.size(); ++i) {
    RC_ASSERT(m.position_logits[i].position == s.position_logits[i].position);
    RC_ASSERT(float_bits(m.position_logits[i].logits) == float_bits(s.position_logits[i].logits));
  }
  RC_ASSERT(m.unknown_tlvs.empty());
  RC_ASSERT(m.key() == s.key);
  const std::vector<std::byte> payload(s.file.begin() + static_cast<std::ptrdiff_t>(m.payload_offset), s.file.end());
  RC_ASSERT(payload == s.payload);

  // parse_meta needs only prefix_length() bytes and the file size.
  const auto plen = prefix_length(std::span(s.file).first(kFixedSize), s.file.size());
  RC_ASSERT(plen.has_value());
  RC_ASSERT(*plen == m.payload_offset);
  const auto meta = parse_meta(std::span(s.file).first(*plen), s.file.size());
  RC_ASSERT(meta.ok());
  RC_ASSERT(meta.value->tokens == s.tokens);
}

// Byte positions of `file` whose change may leave the file valid: the advisory
// header and trailer fields, the prompt text, the fingerprint_mode value (not part
// of the key: the key covers the fingerprint itself), the records other than the
// key-bearing ones (hostname, producer_version, detail, logits, position logits,
// unknown), and the
// tag byte of token_id_count (which is not required: renaming it leaves an
// unknown record).
std::vector<bool> mutable_positions(std::span<const std::byte> file) {
  std::vector<bool> ok(file.size(), false);
  for (std::size_t off : {4, 5, 6, 7}) ok[off] = true;          // quant_bits, save_reason, reserved
  for (std::size_t off = 12; off < 40; ++off) ok[off] = true;   // hit_count, context_size, reserved, times
  for (std::size_t off = 68; off < 72; ++off) ok[off] = true;   // trailer reserved
  std::size_t off = kFixedSize;
  const std::uint32_t prompt_len = le::get_u32(file.data() + off);
  off += 4;
  for (std::size_t i = 0; i < prompt_len; ++i) ok[off + i] = true;
  off += prompt_len;
  const std::size_t end = off + 4 + le::get_u32(file.data() + off);
  off += 4;
  while (off < end) {
    const std::uint8_t tag = le::get_u8(file.data() + off);
    const std::size_t rec_end = off + 5 + le::get_u32(file.data() + off + 1);
    switch (tag) {
      case kTagFingerprint:
      case kTagQuantType:
      case kTagCtxParamsHash:
      case kTagTokenIds: break;
      case kTagFingerprintMode: ok[off + 5] = true; break;
      case kTagTokenIdCount: ok[off] = true; break;
      default:
        for (std::size_t i = off; i < rec_end; ++i) ok[i] = true;
    }
    off = rec_end;
  }
  return ok;
}

// A parsed mutant agrees with the original on everything the key, the CRC and the
// layout protect.
void assert_protected_fields_equal(const KvcMeta& m, const Sample& s, std::span<const std::byte> mutant) {
  RC_ASSERT(m.key() == s.key);
  RC_ASSERT(m.tokens == s.tokens);
  RC_ASSERT(m.key_namespace() == s.in.ns);
  RC_ASSERT(m.header.version == kVersion);
  RC_ASSERT(m.header.cached_token_count == s.tokens.size());
  RC_ASSERT(m.header.payload_byte_count == s.payload.size());
  RC_ASSERT(m.payload_length == s.payload.size());
  RC_ASSERT(m.payload_offset == s.file.size() - s.payload.size());
  const std::vector<std::byte> payload(mutant.begin() + static_cast<std::ptrdiff_t>(m.payload_offset), mutant.end());
  RC_ASSERT(payload == s.payload);
}

RC_GTEST_PROP(KvcFileProp, AnySingleByteChangeIsRejectedOrAdvisory, ()) {
  const Sample s = gen_sample();
  const auto allowed = mutable_positions(s.file);
  std::vector<std::byte> mutant = s.file;
  // Every position, with a random non-zero change each.
  for (std::size_t pos = 0; pos < mutant.size(); ++pos) {
    const auto delta = *rc::gen::inRange<int>(1, 256);
    mutant[pos] ^= std::byte(static_cast<std::uint8_t>(delta));
    const auto r = parse(mutant, s.key);
    if (r.ok()) {
      RC_ASSERT(allowed[pos]);
      assert_protected_fields_equal(*r.value, s, mutant);
    }
    mutant[pos] = s.file[pos];
  }
}

RC_GTEST_PROP(KvcFileProp, EveryTruncationIsRejected, ()) {
  const Sample s = gen_sample();
  for (std::size_t n = 0; n < s.file.size(); ++n) {
    const auto cut = std::span(s.file).first(n);
    RC_ASSERT(!parse(cut, s.key).ok());
    RC_ASSERT(!parse_meta(cut, n).ok());
  }
}

// Exhaustive over one fixed file: every position, every one of the 255 changes.
TEST(KvcFileMutation, ExhaustiveSingleByteChanges) {
  const std::vector<std::uint32_t> tokens = {1, 2, 70000};
  const std::vector<float> logits = {0.5f, -1.0f};
  const std::vector<std::byte> payload = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  Sample s;
  s.tokens = tokens;
  s.payload = payload;
  s.in.ns.fingerprint.fill(0x11);
  s.in.ns.quant = 7;
  s.in.ns.ctx_hash.fill(0x22);
  s.in.tokens = tokens;
  s.in.prompt_text = "prompt";
  s.in.hostname = "host";
  s.in.producer_version = "kvc 0.1.0";
  s.in.save_reason_detail = "detail";
  s.in.next_token_logits = logits;
  const std::vector<PositionLogits> records = {{1, {0.25f, 4.0f}}, {2, {-8.0f, 1.5f}}};
  s.in.position_logits = records;
  s.file = build_prefix(s.in, payload);
  s.file.insert(s.file.end(), payload.begin(), payload.end());
  s.key = derive_key(s.in.ns, tokens);
  const auto allowed = mutable_positions(s.file);

  std::set<std::string> errors_seen;
  std::size_t accepted = 0;
  std::vector<std::byte> mutant = s.file;
  for (std::size_t pos = 0; pos < mutant.size(); ++pos) {
    for (int delta = 1; delta < 256; ++delta) {
      mutant[pos] = s.file[pos] ^ std::byte(static_cast<std::uint8_t>(delta));
      const auto r = parse(mutant, s.key);
      if (!r.ok()) {
        errors_seen.insert(std::string(error_name(r.error)));
        continue;
      }
      ++accepted;
      ASSERT_TRUE(allowed[pos]) << "accepted a change at " << pos << " by " << delta;
      const KvcMeta& m = *r.value;
      ASSERT_EQ(m.key(), s.key) << pos;
      ASSERT_EQ(m.tokens, tokens) << pos;
      ASSERT_EQ(m.key_namespace(), s.in.ns) << pos;
      ASSERT_EQ(m.payload_offset, s.file.size() - payload.size()) << pos;
      ASSERT_TRUE(std::equal(payload.begin(), payload.end(), mutant.end() - 4)) << pos;
    }
    mutant[pos] = s.file[pos];
  }
  EXPECT_GT(accepted, 0u);
  // The mutations reach every check a single byte can fail ("truncated" needs both
  // payload length fields changed; bad_header/bad_trailer-by-length need a shorter file).
  for (const char* e : {"bad_header", "unsupported_version", "unknown_save_reason", "bad_section", "bad_tlv",
                        "unknown_fingerprint_mode", "unknown_quant", "bad_layout", "payload_length_mismatch",
                        "missing_tlv", "token_count_mismatch", "crc_mismatch", "key_mismatch"}) {
    EXPECT_TRUE(errors_seen.count(e)) << e;
  }
}

}  // namespace
}  // namespace kvc::format
