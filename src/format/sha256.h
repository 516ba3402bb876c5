// SHA-256 of bytes (OpenSSL), one-shot and incremental.
#pragma once

#include <array>
#include <cstddef>
#include <span>

#include "kvc/key.h"

namespace kvc::format {

// Incremental SHA-256. Trivially copyable: a copy forks the stream, so digests of
// several prefixes of one stream cost one pass (see PrefixHasher).
class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::byte> data) { update(data.data(), data.size()); }
  void update(const void* data, std::size_t size);
  // The digest of the bytes fed so far. The stream is not disturbed: more bytes may follow.
  Digest digest() const;

 private:
  alignas(8) std::array<unsigned char, 112> ctx_;  // an OpenSSL SHA256_CTX
};

// SHA-256 of `data`.
Digest sha256(std::span<const std::byte> data);

}  // namespace kvc::format
