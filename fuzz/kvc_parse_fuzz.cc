// libFuzzer target: the KVC v1 parser (format.md §2.4). Any input must either
// parse or fail with an error; a successful parse must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

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
  // The scan's reader (read_meta_without_bulk): it must decide what parse_meta decides
  // over the prefix a scan used to read whole, whatever the bytes it skips hold.
  {
    auto read_at = [&](std::uint64_t off, std::span<std::byte> out) -> std::size_t {
      if (off >= size) return 0;
      const std::size_t n = out.size() < size - off ? out.size() : static_cast<std::size_t>(size - off);
      std::memcpy(out.data(), data + off, n);
      return n;
    };
    static std::vector<std::byte> scratch;
    std::fill(scratch.begin(), scratch.end(), std::byte{0xEE});
    const auto lean = kvc::format::read_meta_without_bulk(read_at, size, scratch);
    const auto head = bytes.first(size < 4096 ? size : 4096);
    const auto need = kvc::format::prefix_length(head, size);
    const auto ref = kvc::format::parse_meta(need ? bytes.first(static_cast<std::size_t>(*need)) : head, size,
                                             kvc::format::MetaParts::kWithoutBulk);
    if (lean.ok() != ref.ok()) std::abort();
    if (!lean.ok() && lean.error != ref.error) std::abort();
    if (lean.ok() && (lean.value->key() != ref.value->key() || lean.value->tokens != ref.value->tokens)) std::abort();
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
