// Full verification of a KVC file (format.md §2.4) when the file is not one
// contiguous buffer, or when its payload CRC was computed while it was read.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "format/kvc_file.h"

namespace kvc::format {

// Checks 14–15 of format.md §2.4 for a file whose prefix already parsed:
// `payload_crc` is CRC32C of the payload bytes (crc_mismatch), then the key replay
// against expected_key (key_mismatch). kvc never reads a payload twice: callers
// compute the CRC chunk by chunk as the bytes arrive.
std::optional<KvcError> check_payload(const KvcMeta& meta, std::uint32_t payload_crc, const Key& expected_key);

// parse_meta(prefix, prefix + payload size), then: the prefix must end exactly at
// payload_offset (bad_layout), CRC32C of the payload (crc_mismatch; computed here
// unless `payload_crc` is given), key replay against expected_key (key_mismatch).
// The ram tier and the remote store keep files as two buffers (prefix, payload)
// so the payload is never copied next to its prefix.
Parsed<KvcMeta> parse_split(std::span<const std::byte> prefix, std::span<const std::byte> payload,
                            const Key& expected_key, std::optional<std::uint32_t> payload_crc = std::nullopt);

}  // namespace kvc::format
