// KVC v1 writer (format.md §2): everything before the payload.
#include <bit>
#include <cassert>
#include <cstdint>
#include <limits>

#include "format/crc32c.h"
#include "format/kvc_file.h"
#include "format/le.h"

namespace kvc::format {
namespace {

constexpr std::size_t kTlvHeader = 5;  // tag u8 ‖ len u32
constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();

void put_bytes(std::vector<std::byte>& out, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::byte*>(data);
  out.insert(out.end(), p, p + n);
}

void put_tlv(std::vector<std::byte>& out, Tag tag, const void* value, std::size_t n) {
  assert(n <= kU32Max && "KVC TLV value longer than 4 GiB");
  le::put_u8(out, tag);
  le::put_u32(out, static_cast<std::uint32_t>(n));
  put_bytes(out, value, n);
}

// Optional records with empty values are left out (format.md §2.3).
std::size_t optional_size(std::size_t n) { return n == 0 ? 0 : kTlvHeader + n; }

void put_u32_array(std::vector<std::byte>& out, std::span<const std::uint32_t> values) {
  const std::size_t at = out.size();
  out.resize(at + 4 * values.size());
  for (std::size_t i = 0; i < values.size(); ++i) le::store_u32(out.data() + at + 4 * i, values[i]);
}

void put_optional(std::vector<std::byte>& out, Tag tag, std::string_view v) {
  if (!v.empty()) put_tlv(out, tag, v.data(), v.size());
}

}  // namespace

std::vector<std::byte> build_prefix(const KvcBuildInput& in, std::span<const std::byte> payload) {
  return build_prefix(in, payload.size(), crc32c(payload));
}

std::vector<std::byte> build_prefix(const KvcBuildInput& in, std::uint64_t payload_length,
                                    std::uint32_t payload_crc32c) {
  const std::size_t n_tokens = in.tokens.size();
  assert(n_tokens <= kU32Max / 4 && "too many tokens for one KVC file");
  assert(in.prompt_text.size() <= kU32Max && "prompt text longer than 4 GiB");

  const std::size_t tlv_size = (kTlvHeader + 32) + (kTlvHeader + 1) + (kTlvHeader + 1) + (kTlvHeader + 32) +
                               (kTlvHeader + 4) + (kTlvHeader + 4 * n_tokens) + optional_size(in.hostname.size()) +
                               optional_size(in.producer_version.size()) +
                               optional_size(in.save_reason_detail.size()) +
                               optional_size(in.next_token_logits.size_bytes());
  assert(tlv_size <= kU32Max && "TLV section longer than 4 GiB");
  const std::uint64_t payload_offset = kFixedSize + 4 + in.prompt_text.size() + 4 + tlv_size;

  std::vector<std::byte> out;
  out.reserve(static_cast<std::size_t>(payload_offset));

  // Header, offsets 0–47.
  put_bytes(out, "KVC", 3);
  le::put_u8(out, kVersion);
  le::put_u8(out, in.quant_bits);
  le::put_u8(out, static_cast<std::uint8_t>(in.save_reason));
  le::put_u8(out, 0);  // reserved
  le::put_u8(out, 0);
  le::put_u32(out, static_cast<std::uint32_t>(n_tokens));  // cached_token_count
  le::put_u32(out, in.hit_count);
  le::put_u32(out, in.context_size);
  le::put_u32(out, 0);  // reserved
  le::put_u64(out, in.creation_time);
  le::put_u64(out, in.last_used_time);
  le::put_u64(out, payload_length);  // payload_byte_count

  // Trailer, offsets 48–71.
  le::put_u64(out, payload_offset);
  le::put_u64(out, payload_length);
  le::put_u32(out, payload_crc32c);
  le::put_u32(out, 0);  // reserved

  // Prompt section.
  le::put_u32(out, static_cast<std::uint32_t>(in.prompt_text.size()));
  put_bytes(out, in.prompt_text.data(), in.prompt_text.size());

  // TLV section: required records in the order of format.md §2.3, then the optional ones.
  le::put_u32(out, static_cast<std::uint32_t>(tlv_size));
  put_tlv(out, kTagFingerprint, in.ns.fingerprint.data(), in.ns.fingerprint.size());
  const auto mode = static_cast<std::uint8_t>(in.fingerprint_mode);
  put_tlv(out, kTagFingerprintMode, &mode, 1);
  put_tlv(out, kTagQuantType, &in.ns.quant, 1);
  put_tlv(out, kTagCtxParamsHash, in.ns.ctx_hash.data(), in.ns.ctx_hash.size());
  std::byte count[4];
  le::store_u32(count, static_cast<std::uint32_t>(n_tokens));
  put_tlv(out, kTagTokenIdCount, count, sizeof(count));

  le::put_u8(out, kTagTokenIds);
  le::put_u32(out, static_cast<std::uint32_t>(4 * n_tokens));
  put_u32_array(out, in.tokens);

  put_optional(out, kTagHostname, in.hostname);
  put_optional(out, kTagProducerVersion, in.producer_version);
  put_optional(out, kTagSaveReasonDetail, in.save_reason_detail);
  if (!in.next_token_logits.empty()) {
    le::put_u8(out, kTagNextTokenLogits);
    le::put_u32(out, static_cast<std::uint32_t>(in.next_token_logits.size_bytes()));
    const std::size_t at = out.size();
    out.resize(at + in.next_token_logits.size_bytes());
    for (std::size_t i = 0; i < in.next_token_logits.size(); ++i) {
      le::store_u32(out.data() + at + 4 * i, std::bit_cast<std::uint32_t>(in.next_token_logits[i]));
    }
  }

  assert(out.size() == payload_offset);
  return out;
}

}  // namespace kvc::format
