// Cache keys (format.md §1): key = SHA-256(FP[32] ‖ QB[1] ‖ CTX[32] ‖ u32le tokens…).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/status.h"

namespace kvc {

using Digest = std::array<std::uint8_t, 32>;

// 64 lowercase hex characters.
std::string to_hex(const Digest& d);
// Parses exactly 64 hex characters (either case); anything else is kInvalidArgument.
Result<Digest> digest_from_hex(std::string_view hex);

// A cache key. Value type, ordered and hashable.
struct Key {
  Digest bytes{};
  std::string hex() const { return to_hex(bytes); }
  static Result<Key> from_hex(std::string_view hex);
  friend bool operator==(const Key&, const Key&) = default;
  friend auto operator<=>(const Key&, const Key&) = default;
};

// Quant byte table of format.md §1.1. Unknown names encode as kQuantOther (255).
inline constexpr std::uint8_t kQuantOther = 255;
std::uint8_t quant_byte(std::string_view name);
// The table name of a byte, "other" for 255, "" for bytes with no name (30–254).
std::string_view quant_name(std::uint8_t byte);
// 0–29 and 255 are valid quant bytes; 30–254 are not (format.md §2.4 unknown_quant).
bool quant_byte_valid(std::uint8_t byte);

// The key namespace: everything but the tokens. Two rows can share KV state only
// when their namespaces are equal.
struct KeyNamespace {
  Digest fingerprint{};  // effective fingerprint (after LoRA mixing)
  std::uint8_t quant = 0;
  Digest ctx_hash{};
  friend bool operator==(const KeyNamespace&, const KeyNamespace&) = default;
};

Key derive_key(const KeyNamespace& ns, std::span<const std::uint32_t> tokens);

// Incremental prefix hasher: feeds the 65 namespace bytes once, then tokens, and
// yields the key of the prefix consumed so far without disturbing the stream.
// Hashing a prompt of length L and taking keys at k lengths costs O(L + k).
class PrefixHasher {
 public:
  explicit PrefixHasher(const KeyNamespace& ns);
  ~PrefixHasher();
  PrefixHasher(const PrefixHasher&);
  PrefixHasher& operator=(const PrefixHasher&);

  void update(std::span<const std::uint32_t> tokens);
  std::size_t length() const { return length_; }
  // The key of the tokens fed so far.
  Key key() const;
  // Keys of the given prefix lengths of `tokens` (which must be fed from a fresh
  // hasher's point of view: lengths are counted from the start of `tokens`).
  // `lengths` must be ascending and ≤ tokens.size(). One pass over the tokens.
  static std::vector<Key> keys_at(const KeyNamespace& ns, std::span<const std::uint32_t> tokens,
                                  std::span<const std::size_t> lengths);

 private:
  struct State;
  std::array<std::byte, 128> state_{};  // OpenSSL SHA256_CTX lives here (112 bytes)
  std::size_t length_ = 0;
};

// LoRA effective fingerprint (format.md §1.3).
struct LoraAdapter {
  Digest sha256{};  // SHA-256 of the adapter file
  double scale = 1.0;
};
// Base unchanged with no adapters; otherwise SHA-256(FP ‖ sorted(sha ‖ i64le(round(scale·2^32))…)).
// kInvalidArgument when a scale is not finite or out of range of i64 after scaling.
Result<Digest> lora_effective_fingerprint(const Digest& base, std::span<const LoraAdapter> adapters);

// Token-id conversion: ids must fit uint32; negative or larger values are an error
// naming the offending position, never silently truncated.
Result<std::vector<std::uint32_t>> tokens_from_i64(std::span<const std::int64_t> ids);

}  // namespace kvc

template <>
struct std::hash<kvc::Key> {
  std::size_t operator()(const kvc::Key& k) const noexcept {
    std::size_t h;
    static_assert(sizeof(h) <= sizeof(k.bytes));
    __builtin_memcpy(&h, k.bytes.data(), sizeof(h));
    return h;
  }
};
