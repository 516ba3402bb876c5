// FileTier: KVC files `<hex>.kvc` in one directory (ram_file on tmpfs, disk
// otherwise; cache.md §3). Publication is link(2) of a fully written, synced temp
// file, so readers — in this process or a sibling sharing the directory — only
// ever see complete files. Loads read the whole file into memory (never mmap).
// All methods are thread-safe; operations on different keys run concurrently.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "io/env.h"
#include "format/row_info.h"
#include "tiers/tier.h"

namespace kvc::tiers {

class DirWatcher;

// Counts a scan reports (cache.md §3).
struct ScanReport {
  std::size_t rows = 0;           // registered
  std::uint64_t bytes = 0;        // their total size
  std::size_t temp_removed = 0;   // *.tmp swept
  std::size_t corrupt_removed = 0;
  std::size_t renamed = 0;        // misnamed files moved to their content's key
  std::size_t duplicates_removed = 0;  // misnamed copies of a key already present
};

class FileTier final : public Tier {
 public:
  // A valid row found on disk (scan, rescan, watch), with the hit count from its header.
  using FoundFn = std::function<void(format::RowInfo row, std::uint32_t hits)>;
  // A `<hex>.kvc` file disappeared (watch) and was still absent when the event
  // was handled (a file deleted and published again is not reported).
  using RemovedFn = std::function<void(const Key& key)>;
  // Whether the index already has this tier's copy of the key (rescan skips those).
  using KnownFn = std::function<bool(const Key& key)>;

  // `kind` is kRamFile or kDisk. The directory must exist (Cache::open creates it).
  FileTier(TierKind kind, std::uint64_t quota_bytes, std::string dir, io::Env* env, unsigned file_mode = 0600);
  ~FileTier() override;  // stops the watcher

  std::string describe() const override;
  const std::string& dir() const { return dir_; }
  // `<dir>/<hex>.kvc`.
  std::string path_for(const Key& key) const;

  // cache.md §2 steps 2–5: temp `<hex>.kvc.<pid>-<n>-<random>.tmp` (O_EXCL, file_mode),
  // one gathered append of prefix + payload, fdatasync, close; guard->still_ours()
  // (else the temp is deleted and kCancelled returned); link to `<hex>.kvc` — on
  // kExists a valid file for the key is adopted, an invalid one replaced, an empty
  // directory in the way removed (a non-empty one is an error, reported once and
  // then refused at once until it goes away); unlink the temp; fsync the
  // directory; guard->published(). Every failure removes the temp file and any
  // file this call linked, and returns an error naming the step and path (code
  // preserved: kNoSpace stays kNoSpace).
  Status put(const Key& key, const LoadedFile& file, PublishGuard* guard) override;
  // Reads the file into a pooled buffer (kvc::BufferPool::shared(), reused and
  // pre-faulted) in 1 MiB chunks, computing the payload CRC chunk by chunk while
  // the bytes are hot in cache, then verifies it. kNotFound if missing; kCorrupt
  // naming the format error; kPermissionDenied / kIoError as the OS says.
  Result<LoadedFile> load(const Key& key) override;
  Status remove(const Key& key) override;  // ok when already gone
  // 4 bytes LE at offset 12, in place; kNotFound (nothing created) if the file is gone.
  Status write_hit_count(const Key& key, std::uint32_t hits) override;
  // Whether `<hex>.kvc` exists as a regular file right now.
  bool exists(const Key& key);
  // The row of `<hex>.kvc` when it is there and valid (prefix only), with its hits.
  struct Found {
    format::RowInfo row;
    std::uint32_t hits = 0;
  };
  std::optional<Found> probe(const Key& key);

  // Startup scan (cache.md §3): deletes stale `*.tmp` (those of live writers — this
  // process's in-flight saves, or a live sibling pid's — are kept), reads only the
  // prefix of each `*.kvc`, deletes invalid files, deletes a file named by a key
  // its content does not hash to (the key-bearing fields were damaged: renaming it
  // could serve a wrong state), renames a `*.kvc` not named by any key to its
  // content's key (or deletes it when a valid file of that key exists), and calls
  // on_row for each valid row. The tier charges nothing here:
  // the callback's owner charges the rows it actually installs (force_charge).
  Result<ScanReport> scan(const FoundFn& on_row);
  // Cheap pick-up of files published by siblings: lists the directory and reports
  // each valid, correctly named `*.kvc` whose key is not `known`. Deletes nothing
  // (siblings may be mid-save); files vanishing during the walk are skipped.
  ScanReport rescan(const FoundFn& on_row, const KnownFn& known = {});

  // Watches the directory (inotify) on a background thread: a `*.kvc` created or
  // moved in is parsed (prefix only) and reported to on_added when valid; one
  // deleted or moved out is reported to on_removed. On event-queue overflow a
  // rescan(on_added, known) runs. Files this tier itself publishes are not
  // reported. False when watching is unavailable (rescan still works). Idempotent.
  bool start_watch(FoundFn on_added, RemovedFn on_removed, KnownFn known = {});
  void stop_watch();  // joins the thread; callbacks are not running after it returns
  bool watching() const;

 // `<64 lowercase hex>.kvc` → its key; nullopt for any other name.
  static std::optional<Key> key_from_file_name(std::string_view name);

 private:
  // Reads and validates a file's prefix (never the payload): kCorrupt naming the
  // format error, or the I/O error (kNotFound when the file vanished).
  Result<format::KvcMeta> read_meta(const std::string& path, std::uint64_t* file_size);
  // load(): the whole file at `path` into a pooled buffer, verified against `key`.
  Result<LoadedFile> read_verified(const std::string& path, const Key& key);
  void on_watch_event(int event, const std::string& name, const FoundFn& on_added, const RemovedFn& on_removed,
                      const KnownFn& known);
  bool take_own_link(const std::string& path);
  // A directory sitting at `path` (a row's name): removed when empty, else an
  // error — reported in full the first time, briefly after (blocked_).
  Status clear_directory_in_the_way(const std::string& path);

  std::string dir_;
  io::Env* env_;
  unsigned file_mode_;

  mutable std::mutex watch_mu_;  // guards watcher_
  std::unique_ptr<DirWatcher> watcher_;
  std::mutex own_mu_;            // guards the two fields below
  bool watcher_active_ = false;
  std::deque<std::string> own_links_;  // paths this tier linked while watching, event not yet seen
  std::mutex blocked_mu_;
  std::unordered_set<std::string> blocked_;  // row paths a non-empty directory occupies
};

}  // namespace kvc::tiers
