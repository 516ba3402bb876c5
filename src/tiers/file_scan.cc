// FileTier directory walks: the startup scan and the sibling rescan (cache.md §3).
// Both read only file prefixes, never payloads.
#include <algorithm>
#include <atomic>
#include <thread>
#include <unordered_set>

#include "tiers/file_tier.h"
#include "tiers/temp_file.h"

namespace kvc::tiers {
namespace {

constexpr std::string_view kSuffix = ".kvc";

bool has_kvc_suffix(std::string_view name) {
  return name.size() > kSuffix.size() && name.substr(name.size() - kSuffix.size()) == kSuffix;
}

Status read_fully(io::ReadableFile& f, std::uint64_t offset, std::span<std::byte> out, std::size_t* got) {
  *got = 0;
  while (*got < out.size()) {
    auto n = f.read_at(offset + *got, out.subspan(*got));
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    *got += *n;
  }
  return Status::Ok();
}

// Runs fn(i) for i in [0, n) on up to kMaxThreads threads (the calling one included).
// Prefix reads and key replays are independent per file; on a cold disk, several
// reads in flight also shorten the wait.
template <class Fn>
void parallel_for(std::size_t n, Fn&& fn) {
  constexpr std::size_t kMaxThreads = 4;
  constexpr std::size_t kPerThread = 256;  // below this a thread costs more than it saves
  const std::size_t hw = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t threads = std::min({kMaxThreads, hw, (n + kPerThread - 1) / kPerThread});
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

}  // namespace

std::optional<Key> FileTier::key_from_file_name(std::string_view name) {
  if (name.size() != 64 + kSuffix.size() || !has_kvc_suffix(name)) return std::nullopt;
  const std::string_view stem = name.substr(0, 64);
  for (char c : stem)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  auto key = Key::from_hex(stem);
  if (!key.ok()) return std::nullopt;
  return *key;
}

Result<format::KvcMeta> FileTier::read_meta(const std::string& path, std::uint64_t* file_size) {
  auto f = env_->open_readable(path);
  if (!f.ok()) return f.status();
  const std::uint64_t size = (*f)->size();
  *file_size = size;
  // Only what the parse looks at is read: not the payload, the prompt text or the
  // logits floats (up to ~0.6 MiB in a row of a 32 000-token vocabulary). A per-thread
  // buffer that only grows: no zeroing per file.
  thread_local std::vector<std::byte> buf;
  Status io_error;
  auto read_at = [&](std::uint64_t offset, std::span<std::byte> out) -> std::size_t {
    std::size_t got = 0;
    if (Status s = read_fully(**f, offset, out, &got); !s.ok()) {
      if (io_error.ok()) io_error = std::move(s);  // the first error is the one reported
      return 0;                 // a short read: the walk stops there
    }
    return got;
  };
  auto meta = format::read_meta_without_bulk(read_at, size, buf);
  if (!io_error.ok()) return io_error;
  if (!meta.ok())
    return Status(Code::kCorrupt, "scan " + path + ": " + std::string(format::error_name(meta.error)));
  return std::move(*meta.value);
}

Result<ScanReport> FileTier::scan(const FoundFn& on_row) {
  auto listing = env_->list_dir(dir_);
  if (!listing.ok()) return Status(listing.status().code(), "scan of tier " + describe() + ": " +
                                                                listing.status().message());
  ScanReport report;

  // Stale temp files first: they are never valid rows.
  for (const auto& e : *listing) {
    if (!e.is_regular || !is_temp_name(e.name)) continue;
    const std::string path = dir_ + "/" + e.name;
    if (!temp_is_stale(path, e.name)) continue;
    if (env_->remove(path).ok()) ++report.temp_removed;
  }

  // Read every prefix and replay every key (in parallel), then decide in order.
  // Only what a row needs is kept per file (not prompts or logits).
  struct Probe {
    std::string path;
    Status status;  // of reading the prefix
    format::RowInfo row;
    std::uint32_t hits = 0;
  };
  std::vector<Probe> probes;
  for (const auto& e : *listing)
    if (e.is_regular && has_kvc_suffix(e.name)) probes.push_back(Probe{dir_ + "/" + e.name});
  parallel_for(probes.size(), [&](std::size_t i) {
    Probe& p = probes[i];
    std::uint64_t size = 0;
    auto meta = read_meta(p.path, &size);
    if (!meta.ok()) {
      p.status = meta.status();
      return;
    }
    p.hits = meta->header.hit_count;
    p.row = format::row_info_from(std::move(*meta), size);
  });

  std::unordered_set<Key> registered;
  std::unordered_set<std::string> renamed_into;  // their probes predate the rename
  for (auto& p : probes) {
    const std::string& path = p.path;
    if (renamed_into.count(path) != 0) continue;  // registered under this name already
    if (!p.status.ok()) {
      if (p.status.code() == Code::kCorrupt && env_->remove(path).ok()) ++report.corrupt_removed;
      continue;  // vanished or unreadable: not ours to judge now
    }
    const Key key = p.row.key;
    const std::string right_path = path_for(key);
    const bool well_named = path == right_path;
    if (!well_named) {
      const auto slash = path.find_last_of('/');
      if (key_from_file_name(std::string_view(path).substr(slash == std::string::npos ? 0 : slash + 1))) {
        // Named by a key, but its content hashes to another: a changed fingerprint,
        // quant, ctx hash or token id (bit rot, a bad copy). Renaming would serve that
        // state to the prompt its damaged tokens describe, so it is deleted as corrupt.
        if (env_->remove(path).ok()) ++report.corrupt_removed;
        continue;
      }
    }
    if (registered.count(key) != 0) {
      // Already registered from its right name: this is a misnamed copy.
      if (!well_named && env_->remove(path).ok()) ++report.duplicates_removed;
      continue;
    }
    if (!well_named) {
      std::uint64_t right_size = 0;
      auto right = read_meta(right_path, &right_size);
      if (right.ok() && right->key() == key) {
        // The right name holds a valid file; it is registered on its own turn.
        if (env_->remove(path).ok()) ++report.duplicates_removed;
        continue;
      }
      // Missing or invalid under the right name: move this one there (atomically replacing).
      if (!env_->rename(path, right_path).ok()) continue;  // never indexed at a wrong path
      ++report.renamed;
      renamed_into.insert(right_path);
    }
    registered.insert(key);
    ++report.rows;
    report.bytes += p.row.size;
    if (on_row) on_row(std::move(p.row), p.hits);
  }
  return report;
}

ScanReport FileTier::rescan(const FoundFn& on_row, const KnownFn& known) {
  ScanReport report;
  auto listing = env_->list_dir(dir_);
  if (!listing.ok()) return report;
  for (const auto& e : *listing) {
    if (!e.is_regular) continue;
    auto key = key_from_file_name(e.name);
    if (!key || (known && known(*key))) continue;
    const std::string path = dir_ + "/" + e.name;
    std::uint64_t size = 0;
    auto meta = read_meta(path, &size);
    if (!meta.ok() || meta->key() != *key) continue;  // vanished, invalid or misnamed: skipped
    const std::uint32_t hits = meta->header.hit_count;
    ++report.rows;
    report.bytes += size;
    if (on_row) on_row(format::row_info_from(std::move(*meta), size), hits);
  }
  return report;
}

}  // namespace kvc::tiers
