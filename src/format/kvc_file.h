// KVC v1 file codec (format.md §2). Pure functions: no I/O.
//
// A file is  header(48) ‖ trailer(24) ‖ prompt section ‖ TLV section ‖ payload.
// build_prefix() produces everything before the payload, so a writer can hand the
// prefix and the (never copied) payload to one gathered write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/key.h"
#include "kvc/row.h"

namespace kvc::format {

inline constexpr std::size_t kHeaderSize = 48;
inline constexpr std::size_t kTrailerSize = 24;
inline constexpr std::size_t kFixedSize = kHeaderSize + kTrailerSize;  // 72
inline constexpr std::size_t kHitCountOffset = 12;
inline constexpr std::uint8_t kVersion = 1;

// The row value types are public (kvc/row.h); the codec uses them under these names.
using kvc::FingerprintMode;
using kvc::fingerprint_mode_name;
using kvc::PositionLogits;
using kvc::save_reason_from_name;
using kvc::save_reason_name;
using kvc::SaveReason;
using kvc::UnknownTlv;
using KvcHeader = kvc::RowHeader;  // offsets 0–47; reserved bytes are written 0 and ignored
using KvcMeta = kvc::RowMeta;      // everything a file says about itself except the payload
static_assert(KvcHeader{}.version == kVersion);

// Validation failures, first failure wins, in the order of format.md §2.4.
enum class KvcError {
  kBadHeader, kUnsupportedVersion, kUnknownSaveReason, kBadTrailer, kBadSection,
  kBadTlv, kUnknownFingerprintMode, kUnknownQuant, kBadLayout, kPayloadLengthMismatch,
  kTruncated, kTrailingBytes, kMissingTlv, kTokenCountMismatch, kCrcMismatch, kKeyMismatch,
};
// The format.md name: "bad_header", "crc_mismatch", …
std::string_view error_name(KvcError e);

enum Tag : std::uint8_t {
  kTagFingerprint = 0x01, kTagFingerprintMode = 0x02, kTagQuantType = 0x03, kTagCtxParamsHash = 0x04,
  kTagHostname = 0x05, kTagProducerVersion = 0x06, kTagSaveReasonDetail = 0x07,
  kTagTokenIdCount = 0x08, kTagTokenIds = 0x09, kTagNextTokenLogits = 0x0A, kTagPositionLogits = 0x0B,
};

// Inputs of a new file. Times, counts, offsets and the CRC are filled by build.
struct KvcBuildInput {
  std::uint8_t quant_bits = 0;
  SaveReason save_reason = SaveReason::kUnknown;
  std::uint32_t hit_count = 0;
  std::uint32_t context_size = 0;
  std::uint64_t creation_time = 0;
  std::uint64_t last_used_time = 0;
  std::string_view prompt_text;
  KeyNamespace ns;
  FingerprintMode fingerprint_mode = FingerprintMode::kSafe;
  std::span<const std::uint32_t> tokens;
  std::string_view hostname;
  std::string_view producer_version;
  std::string_view save_reason_detail;
  std::span<const float> next_token_logits;  // empty: TLV 0x0A left out
  // TLV 0x0B, one record each, written after 0x0A in this order. Positions must be
  // strictly increasing: a record whose position is not above the previous written
  // one, or that has no logits, is left out (a correct file is always written).
  std::span<const PositionLogits> position_logits;
};

// The bytes before the payload, with payload_crc32c = CRC32C(payload).
std::vector<std::byte> build_prefix(const KvcBuildInput& in, std::span<const std::byte> payload);
// Same, with a CRC the caller already computed (saves a pass over a large payload).
std::vector<std::byte> build_prefix(const KvcBuildInput& in, std::uint64_t payload_length,
                                    std::uint32_t payload_crc32c);

// The logits `m` carries for the state after its first `position` tokens: TLV
// 0x0A when position == the token count, else the 0x0B record at `position` when
// 0 < position < the token count. A record whose float count is not n_vocab, or
// whose position is out of that range, is ignored (format.md §2.3: the row stays
// valid, those logits are absent). Empty when there are none.
std::span<const float> logits_at(const KvcMeta& m, std::size_t position, std::size_t n_vocab);

template <class T>
struct Parsed {
  std::optional<T> value;
  KvcError error{};
  bool ok() const { return value.has_value(); }
};

// How many leading bytes parse_meta needs: payload_offset read from the trailer,
// when the first 72 bytes are present and it is ≤ file_size; else nullopt (the
// caller can then pass what it has and parse_meta reports the error).
std::optional<std::uint64_t> prefix_length(std::span<const std::byte> first_bytes, std::uint64_t file_size);

// What parse_meta decodes. kWithoutBulk runs the same checks as kAll but never
// looks at the prompt text or at the floats of the logits TLVs 0x0A and 0x0B (their
// sizes and the 0x0B positions are checked as always): prompt_text,
// next_token_logits and position_logits come back empty. For readers that keep only
// a row's identity and tokens (the start-up scan): a row's logits can be ~0.6 MiB.
enum class MetaParts { kAll, kWithoutBulk };

// Checks 1–13 of format.md §2.4 using only the bytes before the payload.
// `prefix` may be longer than the prefix (e.g. the whole file).
Parsed<KvcMeta> parse_meta(std::span<const std::byte> prefix, std::uint64_t file_size,
                           MetaParts parts = MetaParts::kAll);

// Reads a file's prefix through `read_at` and returns parse_meta(prefix, file_size,
// kWithoutBulk), reading only the bytes that parse looks at: the fixed part, the
// section lengths, every TLV header and value except the prompt text and the logits
// floats (0x0B's position is read). The bytes in between are read ahead in pieces
// of at most 4 KiB, so a file without logits costs one read, as before.
//   read_at(offset, out) fills `out` from the file at `offset` and returns how many
//   bytes it read: fewer only at the end of the file. On an I/O error it returns 0
//   and keeps the error for the caller, who checks it before the result (a short
//   read makes the parse fail as a truncated prefix would).
//   `scratch` holds the prefix's layout (payload_offset bytes; the skipped ones are
//   left as they were) and may be reused between calls.
// Stays I/O-free: the caller decides how bytes are read.
using ReadAt = std::function<std::size_t(std::uint64_t offset, std::span<std::byte> out)>;
Parsed<KvcMeta> read_meta_without_bulk(const ReadAt& read_at, std::uint64_t file_size,
                                       std::vector<std::byte>& scratch);

// parse_meta, then CRC32C of the payload, then the key replay against expected_key.
// `file` is the whole file. On success the payload is file[payload_offset, +payload_length).
Parsed<KvcMeta> parse(std::span<const std::byte> file, const Key& expected_key);

}  // namespace kvc::format
