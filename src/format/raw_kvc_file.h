// Test-only: an independent, deliberately naive KVC v1 writer whose every field can
// be set wrong, for crafting files that fail exactly one check of format.md §2.4.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "format/crc32c.h"
#include "format/kvc_file.h"

namespace kvc::format::testing {

inline std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return {p, p + s.size()};
}

inline std::vector<std::byte> u32_bytes(std::uint32_t v) {
  std::vector<std::byte> b;
  for (int i = 0; i < 4; ++i) b.push_back(std::byte(static_cast<std::uint8_t>(v >> (8 * i))));
  return b;
}

struct RawTlv {
  std::uint8_t tag;
  std::vector<std::byte> value;
};

struct RawKvcFile {
  std::string magic = "KVC";
  std::uint8_t version = 1;
  std::uint8_t quant_bits = 4;
  std::uint8_t save_reason = 1;
  std::uint32_t cached_token_count = 0;
  std::uint32_t hit_count = 0;
  std::uint32_t context_size = 0;
  std::uint64_t creation_time = 0;
  std::uint64_t last_used_time = 0;
  // Unset: the consistent value.
  std::optional<std::uint64_t> payload_byte_count, payload_offset, payload_length;
  std::optional<std::uint32_t> payload_crc32c, tlv_length;
  std::string prompt;
  std::vector<RawTlv> tlvs;
  std::vector<std::byte> payload;

  // A valid file of `ns` and `tokens` with the six records kvc always writes.
  static RawKvcFile valid(const KeyNamespace& ns, const std::vector<std::uint32_t>& tokens,
                          std::vector<std::byte> payload) {
    RawKvcFile f;
    f.cached_token_count = static_cast<std::uint32_t>(tokens.size());
    f.tlvs.push_back({kTagFingerprint, {reinterpret_cast<const std::byte*>(ns.fingerprint.data()),
                                        reinterpret_cast<const std::byte*>(ns.fingerprint.data()) + 32}});
    f.tlvs.push_back({kTagFingerprintMode, {std::byte{0}}});
    f.tlvs.push_back({kTagQuantType, {std::byte{ns.quant}}});
    f.tlvs.push_back({kTagCtxParamsHash, {reinterpret_cast<const std::byte*>(ns.ctx_hash.data()),
                                          reinterpret_cast<const std::byte*>(ns.ctx_hash.data()) + 32}});
    f.tlvs.push_back({kTagTokenIdCount, u32_bytes(static_cast<std::uint32_t>(tokens.size()))});
    RawTlv ids{kTagTokenIds, {}};
    for (std::uint32_t t : tokens) {
      const auto b = u32_bytes(t);
      ids.value.insert(ids.value.end(), b.begin(), b.end());
    }
    f.tlvs.push_back(std::move(ids));
    f.payload = std::move(payload);
    return f;
  }

  RawTlv* find(std::uint8_t tag) {
    for (auto& t : tlvs) {
      if (t.tag == tag) return &t;
    }
    return nullptr;
  }
  void erase(std::uint8_t tag) { std::erase_if(tlvs, [tag](const RawTlv& t) { return t.tag == tag; }); }

  std::vector<std::byte> bytes() const {
    std::vector<std::byte> body;
    for (const auto& t : tlvs) {
      body.push_back(std::byte{t.tag});
      const auto len = u32_bytes(static_cast<std::uint32_t>(t.value.size()));
      body.insert(body.end(), len.begin(), len.end());
      body.insert(body.end(), t.value.begin(), t.value.end());
    }
    const std::uint64_t offset = 72 + 4 + prompt.size() + 4 + body.size();
    std::vector<std::byte> out;
    auto put = [&out](std::uint64_t v, int n) {
      for (int i = 0; i < n; ++i) out.push_back(std::byte(static_cast<std::uint8_t>(v >> (8 * i))));
    };
    const auto m = bytes_of(magic);
    out.insert(out.end(), m.begin(), m.end());
    put(version, 1);
    put(quant_bits, 1);
    put(save_reason, 1);
    put(0, 2);
    put(cached_token_count, 4);
    put(hit_count, 4);
    put(context_size, 4);
    put(0, 4);
    put(creation_time, 8);
    put(last_used_time, 8);
    put(payload_byte_count.value_or(payload.size()), 8);
    put(payload_offset.value_or(offset), 8);
    put(payload_length.value_or(payload.size()), 8);
    put(payload_crc32c.value_or(crc32c(payload)), 4);
    put(0, 4);
    put(prompt.size(), 4);
    const auto pb = bytes_of(prompt);
    out.insert(out.end(), pb.begin(), pb.end());
    put(tlv_length.value_or(body.size()), 4);
    out.insert(out.end(), body.begin(), body.end());
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  }
};

// The tags of a file's TLV section in order (the file must be structurally valid).
inline std::vector<std::uint8_t> tlv_tags(std::span<const std::byte> file) {
  auto u32 = [&file](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{std::to_integer<std::uint8_t>(file[at + i])} << (8 * i);
    return v;
  };
  std::size_t off = 72;
  off += 4 + u32(off);
  const std::size_t end = off + 4 + u32(off);
  off += 4;
  std::vector<std::uint8_t> tags;
  while (off < end) {
    tags.push_back(std::to_integer<std::uint8_t>(file[off]));
    off += 5 + u32(off + 1);
  }
  return tags;
}

}  // namespace kvc::format::testing
