// Little-endian integer encoding for the KVC codec (format.md: all integers are LE).
#pragma once

#include <bit>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <vector>

namespace kvc::format::le {

inline void put_u8(std::vector<std::byte>& out, std::uint8_t v) { out.push_back(std::byte{v}); }

inline void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(std::byte(static_cast<std::uint8_t>(v >> (8 * i))));
}

inline void put_u64(std::vector<std::byte>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(std::byte(static_cast<std::uint8_t>(v >> (8 * i))));
}

inline void store_u32(std::byte* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(static_cast<std::uint8_t>(v >> (8 * i)));
}

inline std::uint8_t get_u8(const std::byte* p) { return std::to_integer<std::uint8_t>(*p); }

inline std::uint32_t get_u32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{std::to_integer<std::uint8_t>(p[i])} << (8 * i);
  return v;
}

// Decodes n u32 LE values: one memcpy on little-endian hosts.
inline void get_u32_array(const std::byte* p, std::uint32_t* out, std::size_t n) {
  if constexpr (std::endian::native == std::endian::little) {
    if (n != 0) std::memcpy(out, p, 4 * n);
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = get_u32(p + 4 * i);
  }
}

inline std::uint64_t get_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{std::to_integer<std::uint8_t>(p[i])} << (8 * i);
  return v;
}

}  // namespace kvc::format::le
