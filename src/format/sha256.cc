#include "format/sha256.h"

// The SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP, but EVP
// contexts are heap objects that cannot be forked with a struct copy, which
// PrefixHasher relies on for its one-pass prefix keys.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstring>
#include <new>
#include <type_traits>

namespace kvc::format {
namespace {

static_assert(sizeof(SHA256_CTX) <= 112, "Sha256::ctx_ too small for SHA256_CTX");
static_assert(alignof(SHA256_CTX) <= 8, "Sha256::ctx_ under-aligned for SHA256_CTX");
static_assert(std::is_trivially_copyable_v<SHA256_CTX>);

SHA256_CTX* ctx_of(unsigned char* storage) { return std::launder(reinterpret_cast<SHA256_CTX*>(storage)); }

}  // namespace

Sha256::Sha256() : ctx_{} {
  auto* c = new (ctx_.data()) SHA256_CTX;
  SHA256_Init(c);
}

void Sha256::update(const void* data, std::size_t size) {
  if (size == 0) return;
  SHA256_Update(ctx_of(ctx_.data()), data, size);
}

Digest Sha256::digest() const {
  SHA256_CTX copy;
  std::memcpy(&copy, ctx_.data(), sizeof(copy));
  Digest d;
  SHA256_Final(d.data(), &copy);
  return d;
}

Digest sha256(std::span<const std::byte> data) {
  Sha256 h;
  h.update(data);
  return h.digest();
}

}  // namespace kvc::format
