// KVC v1 writer (format.md §2): everything before the payload.
#include <bit>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <limits>

#include "format/crc32c.h"
#include "format/kvc_file.h"
#include "format/le.h"

namespace kvc::format {
namespace {

constexpr std::size_t kTlvHeader = 5;  // tag u8 ‖ len u32
[[maybe_unused]] constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();

// Writes little-endian fields into a buffer sized in advance.
class Cursor {
 public:
  explicit Cursor(std::byte* p) : p_(p) {}
  std::byte* pos() const { return p_; }

  void u8(std::uint8_t v) { *p_++ = std::byte{v}; }
  void u32(std::uint32_t v) {
    le::store_u32(p_, v);
    p_ += 4;
  }
  void u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v));
    u32(static_cast<std::uint32_t>(v >> 32));
  }
  void bytes(const void* data, std::size_t n) {
    if (n != 0) std::memcpy(p_, data, n);
    p_ += n;
  }
  void tlv_header(Tag tag, std::size_t value_size) {
    assert(value_size <= kU32Max && "KVC TLV value longer than 4 GiB");
    u8(tag);
    u32(static_cast<std::uint32_t>(value_size));
  }
  void tlv(Tag tag, const void* value, std::size_t n) {
    tlv_header(tag, n);
    bytes(value, n);
  }
  // Optional records with empty values are left out (format.md §2.3).
  void optional_tlv(Tag tag, std::string_view v) {
    if (!v.empty()) tlv(tag, v.data(), v.size());
  }

 private:
  std::byte* p_;
};

std::size_t optional_size(std::size_t n) { return n == 0 ? 0 : kTlvHeader + n; }

// The 0x0B records build writes: positions strictly increasing, logits present.
std::vector<const PositionLogits*> writable_position_logits(std::span<const PositionLogits> records) {
  std::vector<const PositionLogits*> out;
  for (const PositionLogits& r : records) {
    if (r.logits.empty()) continue;
    if (!out.empty() && r.position <= out.back()->position) continue;
    out.push_back(&r);
  }
  return out;
}

std::size_t position_logits_size(const PositionLogits& r) { return 4 + 4 * r.logits.size(); }

}  // namespace

std::vector<std::byte> build_prefix(const KvcBuildInput& in, std::span<const std::byte> payload) {
  return build_prefix(in, payload.size(), crc32c(payload));
}

std::vector<std::byte> build_prefix(const KvcBuildInput& in, std::uint64_t payload_length,
                                    std::uint32_t payload_crc32c) {
  const std::size_t n_tokens = in.tokens.size();
  const std::vector<const PositionLogits*> records = writable_position_logits(in.position_logits);
  std::size_t records_size = 0;
  for (const PositionLogits* r : records) records_size += kTlvHeader + position_logits_size(*r);
  assert(n_tokens <= kU32Max / 4 && "too many tokens for one KVC file");
  assert(in.prompt_text.size() <= kU32Max && "prompt text longer than 4 GiB");

  const std::size_t tlv_size = (kTlvHeader + 32) + (kTlvHeader + 1) + (kTlvHeader + 1) + (kTlvHeader + 32) +
                               (kTlvHeader + 4) + (kTlvHeader + 4 * n_tokens) + optional_size(in.hostname.size()) +
                               optional_size(in.producer_version.size()) +
                               optional_size(in.save_reason_detail.size()) +
                               optional_size(in.next_token_logits.size_bytes()) + records_size;
  assert(tlv_size <= kU32Max && "TLV section longer than 4 GiB");
  const std::size_t payload_offset = kFixedSize + 4 + in.prompt_text.size() + 4 + tlv_size;

  std::vector<std::byte> out(payload_offset);
  Cursor w(out.data());

  // Header, offsets 0–47.
  w.bytes("KVC", 3);
  w.u8(kVersion);
  w.u8(in.quant_bits);
  w.u8(static_cast<std::uint8_t>(in.save_reason));
  w.u8(0);  // reserved
  w.u8(0);
  w.u32(static_cast<std::uint32_t>(n_tokens));  // cached_token_count
  w.u32(in.hit_count);
  w.u32(in.context_size);
  w.u32(0);  // reserved
  w.u64(in.creation_time);
  w.u64(in.last_used_time);
  w.u64(payload_length);  // payload_byte_count

  // Trailer, offsets 48–71.
  w.u64(payload_offset);
  w.u64(payload_length);
  w.u32(payload_crc32c);
  w.u32(0);  // reserved

  // Prompt section.
  w.u32(static_cast<std::uint32_t>(in.prompt_text.size()));
  w.bytes(in.prompt_text.data(), in.prompt_text.size());

  // TLV section: required records in the order of format.md §2.3, then the optional ones.
  w.u32(static_cast<std::uint32_t>(tlv_size));
  w.tlv(kTagFingerprint, in.ns.fingerprint.data(), in.ns.fingerprint.size());
  const auto mode = static_cast<std::uint8_t>(in.fingerprint_mode);
  w.tlv(kTagFingerprintMode, &mode, 1);
  w.tlv(kTagQuantType, &in.ns.quant, 1);
  w.tlv(kTagCtxParamsHash, in.ns.ctx_hash.data(), in.ns.ctx_hash.size());
  w.tlv_header(kTagTokenIdCount, 4);
  w.u32(static_cast<std::uint32_t>(n_tokens));
  w.tlv_header(kTagTokenIds, 4 * n_tokens);
  for (std::uint32_t t : in.tokens) w.u32(t);

  w.optional_tlv(kTagHostname, in.hostname);
  w.optional_tlv(kTagProducerVersion, in.producer_version);
  w.optional_tlv(kTagSaveReasonDetail, in.save_reason_detail);
  if (!in.next_token_logits.empty()) {
    w.tlv_header(kTagNextTokenLogits, in.next_token_logits.size_bytes());
    for (float f : in.next_token_logits) w.u32(std::bit_cast<std::uint32_t>(f));  // f32 LE, bit-exact
  }
  for (const PositionLogits* r : records) {
    w.tlv_header(kTagPositionLogits, position_logits_size(*r));
    w.u32(r->position);
    for (float f : r->logits) w.u32(std::bit_cast<std::uint32_t>(f));
  }

  assert(w.pos() == out.data() + out.size());
  return out;
}

}  // namespace kvc::format
