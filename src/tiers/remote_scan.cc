#include "tiers/remote_scan.h"

#include "format/kvc_file.h"
#include "format/le.h"

namespace kvc::tiers {
namespace {

constexpr std::uint64_t kFirstRead = 16 * 1024;  // most prefixes fit: one round trip per SCAN page
constexpr std::uint64_t kMaxPrefix = 64u << 20;  // a prefix beyond this is not read (row skipped, not deleted)
constexpr int kScanCount = 256;

enum class Verdict { kRow, kCorrupt, kNeedMore, kSkip };
struct Judged {
  Verdict verdict = Verdict::kSkip;
  RemoteRow row;
  std::uint64_t need = 0;        // kNeedMore: read this many bytes
  std::uint32_t chunk_count = 0;  // kCorrupt of a manifest
  std::string why;
};

Judged corrupt(std::string why, std::uint32_t chunks = 0) { return {Verdict::kCorrupt, {}, 0, chunks, std::move(why)}; }

// Judges a row from one GETRANGE 0 requested-1 (atomic in Redis): `complete` when
// the value is shorter than what was asked for, i.e. these are all its bytes.
Judged judge(const Key& key, std::span<const std::byte> v, std::uint64_t requested) {
  const bool complete = v.size() < requested;
  if (v.empty()) return {Verdict::kSkip, {}, 0, 0, "gone"};  // deleted since the SCAN (or an empty value)
  const RowValueKind kind = classify_row_value(v.first(std::min<std::size_t>(v.size(), 4)));
  if (kind == RowValueKind::kForeign) return corrupt("foreign value (neither KVC nor KVCM magic)");
  // Where the KVC prefix starts in the value, and the file size it belongs to.
  const std::size_t base = kind == RowValueKind::kManifest ? kManifestHeaderSize : 0;
  std::uint32_t chunks = 0;
  std::uint64_t file_size = 0;
  if (v.size() < base + format::kFixedSize) {
    if (complete) return corrupt(kind == RowValueKind::kManifest ? "manifest too short" : "bad_header: too short");
    return {Verdict::kNeedMore, {}, base + format::kFixedSize, 0, {}};
  }
  const std::uint64_t payload_offset = format::le::get_u64(v.data() + base + format::kHeaderSize);
  const std::uint64_t payload_length = format::le::get_u64(v.data() + base + format::kHeaderSize + 8);
  if (payload_offset > kMaxPrefix) return {Verdict::kSkip, {}, 0, 0, "prefix larger than 64 MiB"};
  const std::uint64_t need = base + payload_offset;
  if (need > v.size()) {
    if (complete) return corrupt("truncated prefix: payload_offset " + std::to_string(payload_offset) +
                                 " lies beyond the value's " + std::to_string(v.size()) + " bytes");
    return {Verdict::kNeedMore, {}, need, 0, {}};
  }
  std::span<const std::byte> prefix = v.subspan(base, payload_offset);
  if (kind == RowValueKind::kManifest) {
    auto m = parse_manifest(v.first(need));
    if (!m.ok()) return corrupt(m.status().message());
    chunks = m->chunk_count;
    file_size = m->file_size;
  } else {
    file_size = payload_offset + payload_length;
    if (file_size < payload_offset) return corrupt("payload_length overflows");
  }
  auto meta = format::parse_meta(prefix, file_size);
  if (!meta.ok()) return corrupt(std::string(format::error_name(meta.error)), chunks);
  if (meta.value->payload_offset != payload_offset)
    return corrupt("bad_layout: the prefix does not end at payload_offset", chunks);
  if (meta.value->key() != key) return corrupt("key_mismatch: the file of another key", chunks);
  Judged j{Verdict::kRow, {}, 0, chunks, {}};
  j.row.key = key;
  j.row.ns = meta.value->key_namespace();
  j.row.tokens = std::move(meta.value->tokens);
  j.row.bytes = file_size;
  j.row.host = std::move(meta.value->hostname);
  return j;
}

RedisCommand getrange(const std::string& name, std::uint64_t n) {
  RedisCommand c({"GETRANGE", name, "0"});
  c.arg(n - 1);
  return c;
}

}  // namespace

Status scan_remote_rows(RedisClient& client, const RemoteKeys& keys, Deadline deadline,
                        const RemoteScanCallbacks& callbacks, RemoteScanReport* report) {
  Status first_error;
  const std::string pattern = keys.row_pattern();
  const auto masters = client.masters();
  if (masters.empty())
    return Status(Code::kUnavailable, client.describe() + ": no master known yet (the slot map is not loaded)");
  for (const auto& node : masters) {
    std::string cursor = "0";
    Status failed;
    do {
      RedisCommand scan({"SCAN", cursor, "MATCH", pattern, "COUNT"});
      scan.arg(static_cast<std::uint64_t>(kScanCount));
      auto page = node->exec(std::span<const RedisCommand>(&scan, 1), deadline);
      if (!page.ok()) {
        failed = page.status();
        break;
      }
      const redisReply* r = page->front().get();
      const auto parts = reply_elements(r);
      if (parts.size() != 2 || !reply_is_string(parts[0]) || !reply_is_array(parts[1])) {
        failed = Status(Code::kIoError, "redis " + node->endpoint().to_string() + ": SCAN answered " +
                                            (reply_is_error(r) ? std::string(reply_str(r)) : "an unexpected reply"));
        break;
      }
      cursor = std::string(reply_str(parts[0]));
      std::vector<std::pair<Key, std::string>> rows;
      for (const redisReply* name : reply_elements(parts[1]))
        if (auto k = keys.key_of_row(reply_str(name))) rows.emplace_back(*k, std::string(reply_str(name)));
      if (rows.empty()) continue;
      // First read of every row of the page, in one pipeline to this node.
      std::vector<RedisCommand> reads;
      for (const auto& [k, name] : rows) reads.push_back(getrange(name, kFirstRead));
      auto first = node->exec(reads, deadline);
      if (!first.ok()) {
        failed = first.status();
        break;
      }
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& [key, name] = rows[i];
        RedisReply value = std::move((*first)[i]);
        std::uint64_t requested = kFirstRead;
        Judged j;
        for (int round = 0; round < 3; ++round) {
          if (!reply_is_string(value.get())) {
            // A redirect (the slot is moving) or an error: read through the router.
            auto again = client.exec(name, getrange(name, requested), deadline);
            if (!again.ok() || !reply_is_string(again->get())) {
              j = {Verdict::kSkip, {}, 0, 0, "unreadable"};
              break;
            }
            value = std::move(again).value();
          }
          j = judge(key, reply_bytes(value.get()), requested);
          if (j.verdict != Verdict::kNeedMore) break;
          requested = j.need;
          value = RedisReply();  // the next round reads `requested` bytes through the router
        }
        if (j.verdict == Verdict::kRow) {
          ++report->rows;
          report->bytes += j.row.bytes;
          if (callbacks.on_row) callbacks.on_row(j.row);
        } else if (j.verdict == Verdict::kCorrupt) {
          ++report->corrupt;
          if (callbacks.on_corrupt) callbacks.on_corrupt(key, j.chunk_count, j.why);
        }
      }
    } while (cursor != "0");
    if (failed.ok()) {
      ++report->masters;
    } else {
      ++report->masters_failed;
      if (first_error.ok()) first_error = failed;
    }
  }
  return first_error;
}

}  // namespace kvc::tiers
