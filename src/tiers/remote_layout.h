// The remote tier's layout in Redis (remote.md): key names, the manifest of a
// chunked row, and the publication record of the stream. Pure, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/key.h"
#include "kvc/status.h"
#include "tiers/redis_command.h"
#include "tiers/redis_reply.h"

namespace kvc::tiers {

// Key names under a prefix P (validated by RemoteOptions).
class RemoteKeys {
 public:
  explicit RemoteKeys(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string row(const Key& k) const;                    // P{K}:row
  std::string chunk(const Key& k, std::uint32_t n) const;  // P{K}:c:N
  std::string stream() const { return prefix_ + ":pub"; }  // P:pub
  // SCAN MATCH pattern of every row key: the prefix glob-escaped, then `{*}:row`.
  std::string row_pattern() const;
  // The key of a row key name (`P{<64 hex>}:row`); nullopt for any other name.
  std::optional<Key> key_of_row(std::string_view name) const;

 private:
  std::string prefix_;
};

// What a value stored at P{K}:row is, from its first 4 bytes.
enum class RowValueKind { kFile, kManifest, kForeign };
RowValueKind classify_row_value(std::span<const std::byte> first_bytes);

// Manifest: "KVCM" ‖ u32 version = 1 ‖ u64 file_size ‖ u32 chunk_size ‖
// u32 chunk_count ‖ u32 crc32c of the whole file ‖ the file's bytes before the payload.
inline constexpr std::size_t kManifestHeaderSize = 28;
inline constexpr std::uint32_t kManifestVersion = 1;
// A reader's limit (4 TiB in 64 MiB chunks): a manifest beyond it is corrupt.
inline constexpr std::uint32_t kMaxChunks = 65536;

struct Manifest {
  std::uint64_t file_size = 0;
  std::uint32_t chunk_size = 0;
  std::uint32_t chunk_count = 0;
  std::uint32_t file_crc32c = 0;
  std::span<const std::byte> prefix;  // view into the parsed value
};

// Number of chunks of a file: ⌈file_size / chunk_size⌉.
std::uint32_t chunk_count_for(std::uint64_t file_size, std::uint32_t chunk_size);
std::vector<std::byte> encode_manifest(std::uint64_t file_size, std::uint32_t chunk_size, std::uint32_t file_crc32c,
                                       std::span<const std::byte> prefix);
// Structure only: magic, version, chunk_size > 0, chunk_count = ⌈file_size /
// chunk_size⌉ ≤ kMaxChunks, a non-empty prefix shorter than the file. The prefix is checked by
// the reader with format::parse_meta. Error text says which field is wrong.
Result<Manifest> parse_manifest(std::span<const std::byte> value);

// A row known to exist remotely: from a publication or a scan.
struct RemoteRow {
  Key key;
  KeyNamespace ns;
  std::vector<std::uint32_t> tokens;
  std::uint64_t bytes = 0;  // the KVC file's size
  std::string host;         // who published it (scan: the file's hostname TLV)
  std::string stream_id;    // the stream entry id; empty for scanned rows
};

// fingerprint ‖ quant ‖ ctx hash as 130 lowercase hex characters.
std::string namespace_hex(const KeyNamespace& ns);
Result<KeyNamespace> namespace_from_hex(std::string_view hex);

// XADD P:pub MAXLEN ~ M * key K ns NS tokens T bytes B host H.
RedisCommand publication_command(const std::string& stream_key, std::uint64_t maxlen, const RemoteRow& row);
// One stream entry's field array ([f1, v1, f2, v2, ...]). The key must equal the
// key derived from ns and tokens. kCorrupt naming the problem otherwise.
Result<RemoteRow> parse_publication(const redisReply* fields);

}  // namespace kvc::tiers
