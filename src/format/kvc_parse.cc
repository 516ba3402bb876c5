// KVC v1 reader: the validation of format.md §2.4, first failure wins.
#include <limits>
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "format/crc32c.h"
#include "format/kvc_file.h"
#include "format/le.h"

namespace kvc::format {
namespace {

constexpr std::uint64_t kTlvHeader = 5;  // tag u8 ‖ len u32

Parsed<KvcMeta> fail(KvcError e) { return {std::nullopt, e}; }

// The value size a known tag must have; 0 for "any", kMultipleOf4 for "a multiple of 4".
constexpr std::uint32_t kAnySize = 0;
constexpr std::uint32_t kMultipleOf4 = UINT32_MAX;
constexpr std::uint32_t required_size(std::uint8_t tag) {
  switch (tag) {
    case kTagFingerprint: return 32;
    case kTagFingerprintMode: return 1;
    case kTagQuantType: return 1;
    case kTagCtxParamsHash: return 32;
    case kTagTokenIdCount: return 4;
    case kTagTokenIds: return kMultipleOf4;
    // f32 × n_vocab. Stricter than format.md (which gives no size rule for this kvc
    // extension); erllama never writes 0x0A, so no erllama file is rejected by it.
    case kTagNextTokenLogits: return kMultipleOf4;
    default: return kAnySize;
  }
}

// Tags that may appear once (0x0B may repeat and is checked on its own).
constexpr bool is_known(std::uint8_t tag) { return tag >= kTagFingerprint && tag <= kTagNextTokenLogits; }

// TLV 0x0B: u32 position ‖ at least one f32 (format.md §2.3).
constexpr bool position_logits_size_ok(std::uint32_t len) { return len >= 8 && (len - 4) % 4 == 0; }

void decode_floats(std::span<const std::byte> v, std::vector<float>& out) {
  static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559);
  out.resize(v.size() / 4);
  le::get_u32_array(v.data(), reinterpret_cast<std::uint32_t*>(out.data()), out.size());
}

std::string as_string(std::span<const std::byte> v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size()); }

Digest as_digest(std::span<const std::byte> v) {
  Digest d;
  std::memcpy(d.data(), v.data(), d.size());
  return d;
}

}  // namespace

std::optional<std::uint64_t> prefix_length(std::span<const std::byte> first_bytes, std::uint64_t file_size) {
  if (first_bytes.size() < kFixedSize) return std::nullopt;
  const std::uint64_t payload_offset = le::get_u64(first_bytes.data() + kHeaderSize);
  if (payload_offset > file_size) return std::nullopt;
  // parse_meta always needs the fixed 72 bytes, even when the trailer claims less.
  return std::max<std::uint64_t>(payload_offset, kFixedSize);
}

Parsed<KvcMeta> parse_meta(std::span<const std::byte> prefix, std::uint64_t file_size, MetaParts parts) {
  const std::uint64_t avail = std::min<std::uint64_t>(prefix.size(), file_size);
  const std::byte* const p = prefix.data();

  // 1–3: header.
  if (avail < kHeaderSize || std::memcmp(p, "KVC", 3) != 0) return fail(KvcError::kBadHeader);
  if (le::get_u8(p + 3) != kVersion) return fail(KvcError::kUnsupportedVersion);
  if (le::get_u8(p + 5) > static_cast<std::uint8_t>(SaveReason::kFinish)) return fail(KvcError::kUnknownSaveReason);
  // 4: trailer.
  if (avail < kFixedSize) return fail(KvcError::kBadTrailer);

  KvcMeta m;
  KvcHeader& h = m.header;
  h.version = le::get_u8(p + 3);
  h.quant_bits = le::get_u8(p + 4);
  h.save_reason = static_cast<SaveReason>(le::get_u8(p + 5));
  h.cached_token_count = le::get_u32(p + 8);
  h.hit_count = le::get_u32(p + 12);
  h.context_size = le::get_u32(p + 16);
  h.creation_time = le::get_u64(p + 24);
  h.last_used_time = le::get_u64(p + 32);
  h.payload_byte_count = le::get_u64(p + 40);
  m.payload_offset = le::get_u64(p + 48);
  m.payload_length = le::get_u64(p + 56);
  m.payload_crc32c = le::get_u32(p + 64);

  // 5: prompt section.
  std::uint64_t off = kFixedSize;
  if (avail - off < 4) return fail(KvcError::kBadSection);
  const std::uint32_t prompt_len = le::get_u32(p + off);
  off += 4;
  if (avail - off < prompt_len) return fail(KvcError::kBadSection);
  const std::span<const std::byte> prompt(p + off, prompt_len);
  off += prompt_len;

  // 6: TLV section.
  if (avail - off < 4) return fail(KvcError::kBadSection);
  const std::uint32_t tlv_len = le::get_u32(p + off);
  off += 4;
  if (avail - off < tlv_len) return fail(KvcError::kBadSection);
  const std::span<const std::byte> body(p + off, tlv_len);
  const std::uint64_t tlv_end = off + tlv_len;

  // 7a: every record complete and of the right size. A known tag may appear once
  // (stricter than format.md; a correct writer never repeats one). 0x0B may
  // repeat, with strictly increasing positions (the order is stricter than
  // format.md's size rule; format.md requires it of writers).
  std::array<std::optional<std::span<const std::byte>>, kTagNextTokenLogits + 1> known{};
  std::vector<std::span<const std::byte>> position_records;
  for (std::uint64_t pos = 0; pos < body.size();) {
    if (body.size() - pos < kTlvHeader) return fail(KvcError::kBadTlv);
    const std::uint8_t tag = le::get_u8(body.data() + pos);
    const std::uint32_t len = le::get_u32(body.data() + pos + 1);
    pos += kTlvHeader;
    if (body.size() - pos < len) return fail(KvcError::kBadTlv);
    const auto value = body.subspan(pos, len);
    pos += len;
    if (tag == kTagPositionLogits) {
      if (!position_logits_size_ok(len)) return fail(KvcError::kBadTlv);
      if (!position_records.empty() &&
          le::get_u32(value.data()) <= le::get_u32(position_records.back().data())) {
        return fail(KvcError::kBadTlv);
      }
      position_records.push_back(value);
      continue;
    }
    if (!is_known(tag)) {
      m.unknown_tlvs.push_back({tag, std::vector<std::byte>(value.begin(), value.end())});
      continue;
    }
    const std::uint32_t want = required_size(tag);
    if (want == kMultipleOf4 ? len % 4 != 0 : (want != kAnySize && len != want)) return fail(KvcError::kBadTlv);
    if (known[tag]) return fail(KvcError::kBadTlv);
    known[tag] = value;
  }
  // 7b: values.
  if (known[kTagFingerprintMode] &&
      le::get_u8(known[kTagFingerprintMode]->data()) > static_cast<std::uint8_t>(FingerprintMode::kFastUnsafe)) {
    return fail(KvcError::kUnknownFingerprintMode);
  }
  if (known[kTagQuantType] && !quant_byte_valid(le::get_u8(known[kTagQuantType]->data()))) {
    return fail(KvcError::kUnknownQuant);
  }

  // 8–11: layout against the file size.
  if (m.payload_offset != tlv_end) return fail(KvcError::kBadLayout);
  if (m.payload_length != h.payload_byte_count) return fail(KvcError::kPayloadLengthMismatch);
  if (file_size < m.payload_offset || file_size - m.payload_offset < m.payload_length) {
    return fail(KvcError::kTruncated);
  }
  if (file_size - m.payload_offset != m.payload_length) return fail(KvcError::kTrailingBytes);

  // 12: required records.
  for (std::uint8_t tag : {kTagFingerprint, kTagFingerprintMode, kTagQuantType, kTagCtxParamsHash, kTagTokenIds}) {
    if (!known[tag]) return fail(KvcError::kMissingTlv);
  }

  // 13: token counts. TLV 0x08 is always written but not required (format.md §2.4 12).
  const std::uint64_t n_tokens = known[kTagTokenIds]->size() / 4;
  if (h.cached_token_count != n_tokens) return fail(KvcError::kTokenCountMismatch);
  if (known[kTagTokenIdCount] && le::get_u32(known[kTagTokenIdCount]->data()) != n_tokens) {
    return fail(KvcError::kTokenCountMismatch);
  }

  // Valid: decode the fields.
  const bool bulk = parts == MetaParts::kAll;
  if (bulk) m.prompt_text = as_string(prompt);
  m.fingerprint = as_digest(*known[kTagFingerprint]);
  m.fingerprint_mode = static_cast<FingerprintMode>(le::get_u8(known[kTagFingerprintMode]->data()));
  m.quant_type = le::get_u8(known[kTagQuantType]->data());
  m.ctx_params_hash = as_digest(*known[kTagCtxParamsHash]);
  const auto ids = *known[kTagTokenIds];
  m.tokens.resize(n_tokens);
  le::get_u32_array(ids.data(), m.tokens.data(), m.tokens.size());
  if (known[kTagHostname]) m.hostname = as_string(*known[kTagHostname]);
  if (known[kTagProducerVersion]) m.producer_version = as_string(*known[kTagProducerVersion]);
  if (known[kTagSaveReasonDetail]) m.save_reason_detail = as_string(*known[kTagSaveReasonDetail]);
  if (!bulk) return {std::move(m), {}};
  if (known[kTagNextTokenLogits]) decode_floats(*known[kTagNextTokenLogits], m.next_token_logits);
  m.position_logits.resize(position_records.size());
  for (std::size_t i = 0; i < position_records.size(); ++i) {
    m.position_logits[i].position = le::get_u32(position_records[i].data());
    decode_floats(position_records[i].subspan(4), m.position_logits[i].logits);
  }
  return {std::move(m), {}};
}

Parsed<KvcMeta> read_meta_without_bulk(const ReadAt& read_at, std::uint64_t file_size,
                                       std::vector<std::byte>& scratch) {
  constexpr std::uint64_t kReadAhead = 4096;
  // The walk mirrors parse_meta's framing and visits, in order, every byte it reads
  // with kWithoutBulk. [0, hi) has been laid out in `scratch`: read, or skipped (the
  // prompt text, the logits floats), which the walk and the parse never look at.
  std::uint64_t limit = std::min(file_size, kReadAhead);  // until the prefix length is known
  std::uint64_t hi = 0;
  bool short_read = false;
  // Makes [off, off + len) readable, reading from max(off, hi) up to kReadAhead bytes
  // ahead, never past `limit`. False when those bytes are not there: past the prefix
  // (the parse then names the framing error) or past the end of the file.
  auto ensure = [&](std::uint64_t off, std::uint64_t len) {
    if (off > limit || len > limit - off) return false;
    if (off + len <= hi) return true;
    const std::uint64_t from = std::max(off, hi);
    const std::uint64_t to = std::min(limit, std::max(off + len, from + kReadAhead));
    if (scratch.size() < to) scratch.resize(static_cast<std::size_t>(to));
    const std::size_t want = static_cast<std::size_t>(to - from);
    const std::size_t got = read_at(from, std::span<std::byte>(scratch.data() + from, want));
    hi = from + std::min(got, want);
    if (got < want) short_read = true;
    return off + len <= hi;
  };
  // What the walk found goes to parse_meta: up to the prefix's end when every byte it
  // needs was read, else only up to the short read, so it fails as a truncated file.
  auto parse = [&] {
    const std::uint64_t n = short_read ? hi : limit;
    if (scratch.size() < n) scratch.resize(static_cast<std::size_t>(n));
    return parse_meta(std::span<const std::byte>(scratch.data(), static_cast<std::size_t>(n)), file_size,
                      MetaParts::kWithoutBulk);
  };

  if (!ensure(0, limit) && short_read) return parse();
  const auto need = prefix_length(std::span<const std::byte>(scratch.data(), static_cast<std::size_t>(hi)), file_size);
  if (!need) return parse();  // no trailer, or an offset past the file: parse names it
  limit = *need;
  hi = std::min(hi, limit);  // the first read may have gone into the payload

  std::uint64_t off = kFixedSize;
  if (!ensure(off, 4)) return parse();
  off += 4 + std::uint64_t{le::get_u32(scratch.data() + off)};  // the prompt text is skipped
  if (!ensure(off, 4)) return parse();
  const std::uint64_t end = off + 4 + le::get_u32(scratch.data() + off);
  off += 4;
  while (off < end) {
    if (!ensure(off, kTlvHeader)) return parse();
    const std::uint8_t tag = le::get_u8(scratch.data() + off);
    const std::uint32_t len = le::get_u32(scratch.data() + off + 1);
    off += kTlvHeader;
    // 0x0A: size only. 0x0B: size and position. Any other tag: its whole value.
    const std::uint64_t read = tag == kTagNextTokenLogits ? 0 : tag == kTagPositionLogits ? std::min<std::uint32_t>(len, 4) : len;
    if (!ensure(off, read)) return parse();
    off += len;
  }
  return parse();
}

std::span<const float> logits_at(const KvcMeta& m, std::size_t position, std::size_t n_vocab) {
  const std::size_t n = m.tokens.size();
  if (position == n) {
    return m.next_token_logits.size() == n_vocab ? std::span<const float>(m.next_token_logits) : std::span<const float>();
  }
  if (position == 0 || position > n) return {};
  const auto it = std::lower_bound(m.position_logits.begin(), m.position_logits.end(), position,
                                   [](const PositionLogits& r, std::size_t p) { return r.position < p; });
  if (it == m.position_logits.end() || it->position != position || it->logits.size() != n_vocab) return {};
  return it->logits;
}

Parsed<KvcMeta> parse(std::span<const std::byte> file, const Key& expected_key) {
  Parsed<KvcMeta> r = parse_meta(file, file.size());
  if (!r.ok()) return r;
  const KvcMeta& m = *r.value;
  const auto payload = file.subspan(static_cast<std::size_t>(m.payload_offset), static_cast<std::size_t>(m.payload_length));
  if (crc32c(payload) != m.payload_crc32c) return fail(KvcError::kCrcMismatch);
  if (m.key() != expected_key) return fail(KvcError::kKeyMismatch);
  return r;
}

}  // namespace kvc::format
