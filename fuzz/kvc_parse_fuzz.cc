// libFuzzer target: the KVC v1 parser (format.md §2.4). Any input must either
// parse or fail with an error; a successful parse must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "format/kvc_file.h"

namespace {

// The key of the seed corpus files (make_seed.cc): a parse with it reaches the
// CRC and the key replay; any other key reaches key_mismatch.
kvc::Key fixed_key() {
  kvc::KeyNamespace ns;
  ns.fingerprint.fill(1);
  ns.quant = 1;
  ns.ctx_hash.fill(0x42);
  std::uint32_t toks[16];
  for (std::uint32_t i = 0; i < 16; ++i) toks[i] = i + 1;
  return kvc::derive_key(ns, toks);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const kvc::Key key = fixed_key();
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  // The scan's path: prefix_length on the first bytes, then parse_meta on the prefix.
  const auto first = bytes.first(size < 72 ? size : 72);
  if (auto len = kvc::format::prefix_length(first, size)) {
    if (*len > size) std::abort();  // promised ≤ file size
    (void)kvc::format::parse_meta(bytes.first(static_cast<std::size_t>(*len)), size);
  }
  // A file size that disagrees with the bytes.
  (void)kvc::format::parse_meta(bytes, size + 1);
  const auto meta = kvc::format::parse_meta(bytes, size);
  const auto full = kvc::format::parse(bytes, key);
  if (full.ok()) {
    if (!meta.ok()) std::abort();  // parse = parse_meta + CRC + key
    if (full.value->key() != key) std::abort();
    if (full.value->payload_offset + full.value->payload_length != size) std::abort();
  }
  if (meta.ok()) {
    const auto& m = *meta.value;
    if (m.payload_offset + m.payload_length != size) std::abort();
    if (m.tokens.size() != m.header.cached_token_count) std::abort();
    // Round trip: what parses can be rebuilt and parses again to the same key.
    (void)kvc::format::parse(bytes, m.key());
  }
  return 0;
}
