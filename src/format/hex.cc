// Hex encoding of digests and keys (format.md §1: 64 lowercase hex characters).
#include <string>
#include <string_view>

#include "kvc/key.h"

namespace kvc {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string to_hex(const Digest& d) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * d.size(), '\0');
  for (std::size_t i = 0; i < d.size(); ++i) {
    s[2 * i] = kDigits[d[i] >> 4];
    s[2 * i + 1] = kDigits[d[i] & 0x0f];
  }
  return s;
}

Result<Digest> digest_from_hex(std::string_view hex) {
  Digest d;
  if (hex.size() != 2 * d.size()) {
    return Status(Code::kInvalidArgument, "expected 64 hex characters, got " + std::to_string(hex.size()) +
                                              " in \"" + std::string(hex.substr(0, 80)) + "\"");
  }
  for (std::size_t i = 0; i < d.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      const std::size_t bad = hi < 0 ? 2 * i : 2 * i + 1;
      return Status(Code::kInvalidArgument, "not a hex character at position " + std::to_string(bad) + " of \"" +
                                                std::string(hex) + "\"");
    }
    d[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return d;
}

Result<Key> Key::from_hex(std::string_view hex) {
  auto d = digest_from_hex(hex);
  if (!d.ok()) return Status(Code::kInvalidArgument, "bad cache key: " + d.status().message());
  return Key{*d};
}

}  // namespace kvc
