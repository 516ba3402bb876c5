#include "format/kvc_verify.h"

#include "format/crc32c.h"

namespace kvc::format {

std::optional<KvcError> check_payload(const KvcMeta& meta, std::uint32_t payload_crc, const Key& expected_key) {
  if (payload_crc != meta.payload_crc32c) return KvcError::kCrcMismatch;
  if (meta.key() != expected_key) return KvcError::kKeyMismatch;
  return std::nullopt;
}

Parsed<KvcMeta> parse_split(std::span<const std::byte> prefix, std::span<const std::byte> payload,
                            const Key& expected_key, std::optional<std::uint32_t> payload_crc) {
  Parsed<KvcMeta> r = parse_meta(prefix, prefix.size() + payload.size());
  if (!r.ok()) return r;
  auto fail = [&r](KvcError e) {
    r.value.reset();
    r.error = e;
    return r;
  };
  if (r.value->payload_offset != prefix.size()) return fail(KvcError::kBadLayout);
  if (auto e = check_payload(*r.value, payload_crc ? *payload_crc : crc32c(payload), expected_key)) return fail(*e);
  return r;
}

}  // namespace kvc::format
