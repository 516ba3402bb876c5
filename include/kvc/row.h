// What a saved row is: the facts a KVC file states about itself (format.md §2),
// the part of them the index keeps for lookups, and a point-in-time view of a
// row's state in the cache. Plain value types; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/key.h"

namespace kvc {

// Why a row was saved (header byte 10, format.md §2.1).
enum class SaveReason : std::uint8_t { kUnknown = 0, kCold = 1, kContinued = 2, kEvict = 3, kShutdown = 4, kFinish = 5 };
// "unknown", "cold", "continued", "evict", "shutdown", "finish"; "invalid" for other values.
std::string_view save_reason_name(SaveReason r);
std::optional<SaveReason> save_reason_from_name(std::string_view name);

// How the model fingerprint was computed (TLV 0x02, format.md §1.2).
enum class FingerprintMode : std::uint8_t { kSafe = 0, kGgufChunked = 1, kFastUnsafe = 2 };
// "safe", "gguf_chunked", "fast_unsafe"; "invalid" for other values.
std::string_view fingerprint_mode_name(FingerprintMode m);

// One TLV 0x0B record (a kvc extension, format.md §2.3): the next-token logits of
// the state after the row's first `position` tokens.
struct PositionLogits {
  std::uint32_t position = 0;
  std::vector<float> logits;
};

// The header fields of a KVC file (offsets 0–47, format.md §2.1).
struct RowHeader {
  std::uint8_t version = 1;
  std::uint8_t quant_bits = 0;
  SaveReason save_reason = SaveReason::kUnknown;
  std::uint32_t cached_token_count = 0;
  std::uint32_t hit_count = 0;       // as written at save or the last persisted hit
  std::uint32_t context_size = 0;
  std::uint64_t creation_time = 0;   // unix seconds
  std::uint64_t last_used_time = 0;  // unix seconds
  std::uint64_t payload_byte_count = 0;
};

// A TLV whose tag this version does not know: kept when a file is read.
struct UnknownTlv {
  std::uint8_t tag = 0;
  std::vector<std::byte> value;
};

// Everything a KVC file says about itself except the payload bytes.
struct RowMeta {
  RowHeader header;
  // trailer
  std::uint64_t payload_offset = 0;
  std::uint64_t payload_length = 0;
  std::uint32_t payload_crc32c = 0;
  // sections
  std::string prompt_text;  // untrusted, for humans
  Digest fingerprint{};
  FingerprintMode fingerprint_mode = FingerprintMode::kSafe;
  std::uint8_t quant_type = 0;
  Digest ctx_params_hash{};
  std::vector<std::uint32_t> tokens;
  std::string hostname;
  std::string producer_version;
  std::string save_reason_detail;
  std::vector<float> next_token_logits;  // TLV 0x0A; empty when absent
  // TLV 0x0B records in file order: positions strictly increasing, each with at
  // least one float. Not checked against the token count or a vocabulary.
  std::vector<PositionLogits> position_logits;
  std::vector<UnknownTlv> unknown_tlvs;

  KeyNamespace key_namespace() const { return {fingerprint, quant_type, ctx_params_hash}; }
  // The key recomputed from the TLV fields.
  Key key() const { return derive_key(key_namespace(), tokens); }
};

// The immutable facts of a saved row that lookups need (no payload, prompt text
// or logits). Every copy of a row holds the same bytes, so `size` is what each
// copy is charged.
struct RowInfo {
  Key key;
  KeyNamespace ns;
  std::uint64_t size = 0;  // bytes of the whole KVC file
  RowHeader header;        // as written (hit_count is the value at save or scan)
  std::shared_ptr<const std::vector<std::uint32_t>> tokens;  // never null for an available row
};

// A set of tiers: bit t stands for CacheOptions::tiers[t] (fastest first).
using TierMask = std::uint8_t;
inline constexpr TierMask tier_bit(std::size_t t) { return static_cast<TierMask>(1u << t); }
// The fastest tier of a set (the lowest index); nullopt for the empty set.
inline std::optional<std::size_t> fastest_tier(TierMask m) {
  if (m == 0) return std::nullopt;
  return static_cast<std::size_t>(__builtin_ctz(m));
}

// kWriting: reserved, not visible to lookups. kAvailable: visible. kDeleting: its
// last copies are being deleted (not visible; a new save of the key waits).
enum class RowStatus : std::uint8_t { kWriting, kAvailable, kDeleting };

// A point-in-time copy of a row's state, mutable fields included (Cache::rows).
struct RowSnapshot {
  RowInfo info;
  RowStatus status = RowStatus::kAvailable;
  std::uint32_t hits = 0;
  std::int64_t last_used_ns = 0;  // the cache's monotonic clock (hit-biased after scans)
  std::uint32_t leases = 0;
  bool pinned = false;
  TierMask tiers = 0;    // tiers holding a complete copy
  TierMask pending = 0;  // tiers a copy is being written to (write-through, demotion, promotion)
};

}  // namespace kvc
