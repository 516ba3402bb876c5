// Cache key derivation (format.md §1) and the one-pass PrefixHasher.
#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <new>
#include <string>
#include <type_traits>

#include "format/le.h"
#include "format/sha256.h"
#include "kvc/key.h"

namespace kvc {
namespace {

using format::Sha256;

// FP[32] ‖ QB[1] ‖ CTX[32]: the 65 fixed bytes in front of the tokens.
void feed_namespace(Sha256& h, const KeyNamespace& ns) {
  std::array<std::uint8_t, 65> buf;
  std::copy(ns.fingerprint.begin(), ns.fingerprint.end(), buf.begin());
  buf[32] = ns.quant;
  std::copy(ns.ctx_hash.begin(), ns.ctx_hash.end(), buf.begin() + 33);
  h.update(buf.data(), buf.size());
}

// Tokens as u32 LE, fed in batches rather than one update per token.
void feed_tokens(Sha256& h, std::span<const std::uint32_t> tokens) {
  if constexpr (std::endian::native == std::endian::little) {
    h.update(tokens.data(), tokens.size_bytes());  // the in-memory layout already is u32 LE
  } else {
    constexpr std::size_t kBatch = 1024;
    std::array<std::byte, 4 * kBatch> buf;
    while (!tokens.empty()) {
      const std::size_t n = std::min(kBatch, tokens.size());
      for (std::size_t i = 0; i < n; ++i) format::le::store_u32(buf.data() + 4 * i, tokens[i]);
      h.update(buf.data(), 4 * n);
      tokens = tokens.subspan(n);
    }
  }
}

}  // namespace

Key derive_key(const KeyNamespace& ns, std::span<const std::uint32_t> tokens) {
  Sha256 h;
  feed_namespace(h, ns);
  feed_tokens(h, tokens);
  return Key{h.digest()};
}

// The hasher's Sha256 lives in PrefixHasher::state_ (the public header keeps
// OpenSSL out); copying the hasher copies the stream with a plain struct copy.
struct PrefixHasher::State {
  static_assert(sizeof(Sha256) <= sizeof(PrefixHasher::state_), "PrefixHasher::state_ too small");
  static_assert(alignof(PrefixHasher) % alignof(Sha256) == 0, "PrefixHasher under-aligned");
  static_assert(offsetof(PrefixHasher, state_) % alignof(Sha256) == 0, "PrefixHasher::state_ misaligned");
  static_assert(std::is_trivially_copyable_v<Sha256> && std::is_trivially_destructible_v<Sha256>);

  static Sha256& of(PrefixHasher& p) { return *std::launder(reinterpret_cast<Sha256*>(p.state_.data())); }
  static const Sha256& of(const PrefixHasher& p) {
    return *std::launder(reinterpret_cast<const Sha256*>(p.state_.data()));
  }
};

PrefixHasher::PrefixHasher(const KeyNamespace& ns) {
  auto* h = new (state_.data()) Sha256();
  feed_namespace(*h, ns);
}

PrefixHasher::~PrefixHasher() = default;
PrefixHasher::PrefixHasher(const PrefixHasher&) = default;
PrefixHasher& PrefixHasher::operator=(const PrefixHasher&) = default;

void PrefixHasher::update(std::span<const std::uint32_t> tokens) {
  feed_tokens(State::of(*this), tokens);
  length_ += tokens.size();
}

Key PrefixHasher::key() const { return Key{State::of(*this).digest()}; }

std::vector<Key> PrefixHasher::keys_at(const KeyNamespace& ns, std::span<const std::uint32_t> tokens,
                                       std::span<const std::size_t> lengths) {
  std::vector<Key> keys;
  keys.reserve(lengths.size());
  PrefixHasher h(ns);
  for (std::size_t len : lengths) {
    assert(len <= tokens.size() && "PrefixHasher::keys_at: length beyond the tokens");
    len = std::min(len, tokens.size());
    if (len < h.length()) {
      // Not ascending (outside the contract): still the right key, at the price of a second pass.
      keys.push_back(derive_key(ns, tokens.first(len)));
      continue;
    }
    h.update(tokens.subspan(h.length(), len - h.length()));
    keys.push_back(h.key());
  }
  return keys;
}

Result<std::vector<std::uint32_t>> tokens_from_i64(std::span<const std::int64_t> ids) {
  std::vector<std::uint32_t> out;
  out.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t id = ids[i];
    if (id < 0 || id > std::int64_t{UINT32_MAX}) {
      return Status(Code::kInvalidArgument, "token id " + std::to_string(id) + " at position " + std::to_string(i) +
                                                " is out of range for uint32 (0.." + std::to_string(UINT32_MAX) + ")");
    }
    out.push_back(static_cast<std::uint32_t>(id));
  }
  return out;
}

}  // namespace kvc
