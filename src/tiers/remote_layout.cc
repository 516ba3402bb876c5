#include "tiers/remote_layout.h"

#include <charconv>
#include <cstring>

#include "format/le.h"

namespace kvc::tiers {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_hex(std::string& out, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHexDigits[p[i] >> 4]);
    out.push_back(kHexDigits[p[i] & 0x0f]);
  }
}

bool read_hex(std::string_view hex, std::uint8_t* out, std::size_t n) {
  if (hex.size() != 2 * n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

}  // namespace

std::string RemoteKeys::row(const Key& k) const { return prefix_ + "{" + k.hex() + "}:row"; }

std::string RemoteKeys::chunk(const Key& k, std::uint32_t n) const {
  return prefix_ + "{" + k.hex() + "}:c:" + std::to_string(n);
}

std::string RemoteKeys::row_pattern() const {
  std::string p;
  for (char c : prefix_) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') p.push_back('\\');
    p.push_back(c);
  }
  return p + "{*}:row";
}

std::optional<Key> RemoteKeys::key_of_row(std::string_view name) const {
  constexpr std::size_t kHex = 64;
  if (name.size() != prefix_.size() + 1 + kHex + 1 + 4) return std::nullopt;
  if (name.substr(0, prefix_.size()) != prefix_) return std::nullopt;
  name.remove_prefix(prefix_.size());
  if (name.front() != '{' || name.substr(1 + kHex) != "}:row") return std::nullopt;
  auto k = Key::from_hex(name.substr(1, kHex));
  if (!k.ok()) return std::nullopt;
  return *k;
}

RowValueKind classify_row_value(std::span<const std::byte> first) {
  auto at = [&](std::size_t i) { return static_cast<char>(std::to_integer<std::uint8_t>(first[i])); };
  if (first.size() >= 4 && at(0) == 'K' && at(1) == 'V' && at(2) == 'C' && at(3) == 'M') return RowValueKind::kManifest;
  if (first.size() >= 3 && at(0) == 'K' && at(1) == 'V' && at(2) == 'C') return RowValueKind::kFile;
  return RowValueKind::kForeign;
}

std::uint32_t chunk_count_for(std::uint64_t file_size, std::uint32_t chunk_size) {
  return static_cast<std::uint32_t>((file_size + chunk_size - 1) / chunk_size);
}

std::vector<std::byte> encode_manifest(std::uint64_t file_size, std::uint32_t chunk_size, std::uint32_t file_crc32c,
                                       std::span<const std::byte> prefix) {
  std::vector<std::byte> out;
  out.reserve(kManifestHeaderSize + prefix.size());
  for (char c : {'K', 'V', 'C', 'M'}) out.push_back(static_cast<std::byte>(c));
  format::le::put_u32(out, kManifestVersion);
  format::le::put_u64(out, file_size);
  format::le::put_u32(out, chunk_size);
  format::le::put_u32(out, chunk_count_for(file_size, chunk_size));
  format::le::put_u32(out, file_crc32c);
  out.insert(out.end(), prefix.begin(), prefix.end());
  return out;
}

Result<Manifest> parse_manifest(std::span<const std::byte> v) {
  auto bad = [](const std::string& why) { return Status(Code::kCorrupt, "manifest: " + why); };
  if (v.size() < kManifestHeaderSize) return bad("shorter than its 28-byte header");
  if (classify_row_value(v) != RowValueKind::kManifest) return bad("no KVCM magic");
  if (const auto version = format::le::get_u32(v.data() + 4); version != kManifestVersion)
    return bad("version " + std::to_string(version) + " (this reader knows version 1)");
  Manifest m;
  m.file_size = format::le::get_u64(v.data() + 8);
  m.chunk_size = format::le::get_u32(v.data() + 16);
  m.chunk_count = format::le::get_u32(v.data() + 20);
  m.file_crc32c = format::le::get_u32(v.data() + 24);
  m.prefix = v.subspan(kManifestHeaderSize);
  if (m.chunk_size == 0) return bad("chunk_size is 0");
  if (m.file_size == 0) return bad("file_size is 0");
  if ((m.file_size - 1) / m.chunk_size >= kMaxChunks)
    return bad("file_size " + std::to_string(m.file_size) + " needs more than " + std::to_string(kMaxChunks) +
               " chunks of " + std::to_string(m.chunk_size) + " bytes");
  if (m.chunk_count != chunk_count_for(m.file_size, m.chunk_size))
    return bad("chunk_count " + std::to_string(m.chunk_count) + " does not match file_size " +
               std::to_string(m.file_size) + " / chunk_size " + std::to_string(m.chunk_size));
  if (m.prefix.empty() || m.prefix.size() >= m.file_size)
    return bad("the file prefix it carries (" + std::to_string(m.prefix.size()) + " bytes) does not fit file_size " +
               std::to_string(m.file_size));
  return m;
}

std::string namespace_hex(const KeyNamespace& ns) {
  std::string out;
  out.reserve(130);
  append_hex(out, ns.fingerprint.data(), ns.fingerprint.size());
  append_hex(out, &ns.quant, 1);
  append_hex(out, ns.ctx_hash.data(), ns.ctx_hash.size());
  return out;
}

Result<KeyNamespace> namespace_from_hex(std::string_view hex) {
  KeyNamespace ns;
  if (hex.size() != 130 || !read_hex(hex.substr(0, 64), ns.fingerprint.data(), 32) ||
      !read_hex(hex.substr(64, 2), &ns.quant, 1) || !read_hex(hex.substr(66), ns.ctx_hash.data(), 32))
    return Status(Code::kCorrupt, "namespace: expected 130 hex characters (fingerprint, quant byte, ctx hash)");
  return ns;
}

RedisCommand publication_command(const std::string& stream_key, std::uint64_t maxlen, const RemoteRow& row) {
  std::string tokens(row.tokens.size() * 4, '\0');
  for (std::size_t i = 0; i < row.tokens.size(); ++i)
    format::le::store_u32(reinterpret_cast<std::byte*>(tokens.data() + 4 * i), row.tokens[i]);
  RedisCommand c({"XADD", stream_key, "MAXLEN", "~"});
  c.arg(maxlen).arg("*");
  c.arg("key").arg(row.key.hex()).arg("ns").arg(namespace_hex(row.ns));
  c.arg("tokens").arg(tokens).arg("bytes").arg(row.bytes).arg("host").arg(row.host);
  return c;
}

Result<RemoteRow> parse_publication(const redisReply* fields) {
  auto bad = [](const std::string& why) { return Status(Code::kCorrupt, "publication: " + why); };
  const auto f = reply_elements(fields);
  if (f.size() % 2 != 0) return bad("odd number of field/value elements");
  RemoteRow row;
  bool has_key = false, has_ns = false, has_tokens = false, has_bytes = false;
  for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
    const std::string_view name = reply_str(f[i]), value = reply_str(f[i + 1]);
    if (name == "key") {
      auto k = Key::from_hex(value);
      if (!k.ok()) return bad("key is not 64 hex characters");
      row.key = *k;
      has_key = true;
    } else if (name == "ns") {
      auto ns = namespace_from_hex(value);
      if (!ns.ok()) return ns.status();
      row.ns = *ns;
      has_ns = true;
    } else if (name == "tokens") {
      if (value.size() % 4 != 0) return bad("tokens is not a multiple of 4 bytes");
      row.tokens.resize(value.size() / 4);
      format::le::get_u32_array(reinterpret_cast<const std::byte*>(value.data()), row.tokens.data(),
                                row.tokens.size());
      has_tokens = true;
    } else if (name == "bytes") {
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), row.bytes);
      if (ec != std::errc() || p != value.data() + value.size() || value.empty())
        return bad("bytes is not a decimal number");
      has_bytes = true;
    } else if (name == "host") {
      row.host = std::string(value);
    }  // unknown fields: a later version may add some
  }
  if (!has_key || !has_ns || !has_tokens || !has_bytes) return bad("key, ns, tokens or bytes missing");
  if (derive_key(row.ns, row.tokens) != row.key) return bad("key does not match ns and tokens");
  return row;
}

}  // namespace kvc::tiers
