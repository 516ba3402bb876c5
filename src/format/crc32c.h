// CRC32C (Castagnoli), via ISA-L. crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kvc::format {

// CRC of `data`, continuing from `crc` (the value returned for earlier bytes; 0 to start).
std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc = 0);

}  // namespace kvc::format
