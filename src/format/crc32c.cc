// CRC32C via ISA-L.
#include "format/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <climits>

namespace kvc::format {

// ISA-L's crc32_iscsi neither pre- nor post-inverts: it maps a raw register to a
// raw register. The standard CRC32C (check value 0xE3069283) starts from ~0 and
// inverts the result, so continuing from a finished CRC c means starting from ~c.
std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t crc) {
  std::uint32_t reg = ~crc;
  constexpr std::size_t kMaxChunk = std::size_t{1} << 30;  // crc32_iscsi takes an int length
  while (!data.empty()) {
    const std::size_t n = std::min(data.size(), kMaxChunk);
    // ISA-L takes a non-const pointer but does not write through it.
    auto* p = const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(data.data()));
    reg = crc32_iscsi(p, static_cast<int>(n), reg);
    data = data.subspan(n);
  }
  return ~reg;
}

}  // namespace kvc::format
