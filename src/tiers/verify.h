// Full verification (format.md §2.4 parse) of a KVC file held as two buffers:
// the prefix (everything before the payload) and the payload. The ram tier keeps
// files this way so the payload is never copied next to its prefix.
#pragma once

#include <span>

#include "format/kvc_file.h"

namespace kvc::tiers {

// parse_meta(prefix, prefix + payload size), then: the prefix must end exactly at
// payload_offset (bad_layout), CRC32C of the payload (crc_mismatch), key replay
// against expected_key (key_mismatch).
format::Parsed<format::KvcMeta> parse_split(std::span<const std::byte> prefix, std::span<const std::byte> payload,
                                            const Key& expected_key);

}  // namespace kvc::tiers
