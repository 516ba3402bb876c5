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

namespace {

// A 32×32 GF(2) matrix, one column per word: mat · vec.
std::uint32_t gf2_times(const std::uint32_t* mat, std::uint32_t vec) {
  std::uint32_t sum = 0;
  for (; vec != 0; vec >>= 1, ++mat)
    if (vec & 1) sum ^= *mat;
  return sum;
}

void gf2_square(std::uint32_t* square, const std::uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = gf2_times(mat, mat[n]);
}

}  // namespace

std::uint32_t crc32c_combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint64_t len_b) {
  if (len_b == 0) return crc_a;
  std::uint32_t even[32];
  std::uint32_t odd[32];
  odd[0] = 0x82F63B78u;  // the reflected Castagnoli polynomial: one zero bit
  for (int n = 1; n < 32; ++n) odd[n] = 1u << (n - 1);
  gf2_square(even, odd);  // two zero bits
  gf2_square(odd, even);  // four zero bits
  // Apply len_b zero bytes to crc_a: the operator for one byte is odd squared once more.
  do {
    gf2_square(even, odd);
    if (len_b & 1) crc_a = gf2_times(even, crc_a);
    len_b >>= 1;
    if (len_b == 0) break;
    gf2_square(odd, even);
    if (len_b & 1) crc_a = gf2_times(odd, crc_a);
    len_b >>= 1;
  } while (len_b != 0);
  return crc_a ^ crc_b;
}

}  // namespace kvc::format
