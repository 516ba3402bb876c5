// Names of the KVC codec's enums, exactly as format.md spells them.
#include <array>
#include <optional>
#include <string_view>

#include "format/kvc_file.h"

namespace kvc {
namespace {

constexpr std::array<std::string_view, 6> kSaveReasonNames = {"unknown", "cold", "continued",
                                                               "evict",   "shutdown", "finish"};

}  // namespace

std::string_view save_reason_name(SaveReason r) {
  const auto i = static_cast<std::size_t>(r);
  return i < kSaveReasonNames.size() ? kSaveReasonNames[i] : "invalid";
}

std::optional<SaveReason> save_reason_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kSaveReasonNames.size(); ++i) {
    if (kSaveReasonNames[i] == name) return static_cast<SaveReason>(i);
  }
  return std::nullopt;
}

std::string_view fingerprint_mode_name(FingerprintMode m) {
  switch (m) {
    case FingerprintMode::kSafe: return "safe";
    case FingerprintMode::kGgufChunked: return "gguf_chunked";
    case FingerprintMode::kFastUnsafe: return "fast_unsafe";
  }
  return "invalid";
}

namespace format {

std::string_view error_name(KvcError e) {
  switch (e) {
    case KvcError::kBadHeader: return "bad_header";
    case KvcError::kUnsupportedVersion: return "unsupported_version";
    case KvcError::kUnknownSaveReason: return "unknown_save_reason";
    case KvcError::kBadTrailer: return "bad_trailer";
    case KvcError::kBadSection: return "bad_section";
    case KvcError::kBadTlv: return "bad_tlv";
    case KvcError::kUnknownFingerprintMode: return "unknown_fingerprint_mode";
    case KvcError::kUnknownQuant: return "unknown_quant";
    case KvcError::kBadLayout: return "bad_layout";
    case KvcError::kPayloadLengthMismatch: return "payload_length_mismatch";
    case KvcError::kTruncated: return "truncated";
    case KvcError::kTrailingBytes: return "trailing_bytes";
    case KvcError::kMissingTlv: return "missing_tlv";
    case KvcError::kTokenCountMismatch: return "token_count_mismatch";
    case KvcError::kCrcMismatch: return "crc_mismatch";
    case KvcError::kKeyMismatch: return "key_mismatch";
  }
  return "invalid";
}

}  // namespace format
}  // namespace kvc
