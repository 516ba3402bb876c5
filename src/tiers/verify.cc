#include "tiers/verify.h"

#include "format/crc32c.h"

namespace kvc::tiers {

format::Parsed<format::KvcMeta> parse_split(std::span<const std::byte> prefix, std::span<const std::byte> payload,
                                            const Key& expected_key) {
  using format::KvcError;
  format::Parsed<format::KvcMeta> r = format::parse_meta(prefix, prefix.size() + payload.size());
  if (!r.ok()) return r;
  auto fail = [&r](KvcError e) {
    r.value.reset();
    r.error = e;
    return r;
  };
  if (r.value->payload_offset != prefix.size()) return fail(KvcError::kBadLayout);
  if (format::crc32c(payload) != r.value->payload_crc32c) return fail(KvcError::kCrcMismatch);
  if (r.value->key() != expected_key) return fail(KvcError::kKeyMismatch);
  return r;
}

}  // namespace kvc::tiers
