// CRC32C (Castagnoli), via ISA-L. crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kvc::format {

// CRC of `data`, continuing from `crc` (the value returned for earlier bytes; 0 to start).
std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0);

// The CRC of A ‖ B from crc_a = crc32c(A), crc_b = crc32c(B) and len_b = |B|, in
// O(log len_b) without reading the bytes (GF(2) matrix powers, as zlib's
// crc32_combine). Lets a writer state the CRC of a whole file from the payload CRC
// it already has.
std::uint32_t crc32c_combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t len_b);

}  // namespace kvc::format
