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

#include "io/env.h"
#include "tiers/tier.h"

namespace kvc::tiers {

class DirWatcher;

class FileTier final : public Tier {
 public:
  // A valid row found on disk (scan, rescan, watch), with the hit count from its header.
  using FoundFn = std::function<void(index::RowInfo row, std::uint32_t hits)>;
  // A `<hex>.kvc` file disappeared (watch): the key and the path that is gone.
  using RemovedFn = std::function<void(const Key& key, const std::string& location)>;
  // Whether the index already has an available row for the key (rescan skips those).
  using KnownFn = std::function<bool(const Key& key)>;

  // `kind` is kRamFile or kDisk. The directory must exist (Cache::open creates it).
  FileTier(TierKind kind, index::TierId id, std::uint64_t quota_bytes, std::string dir, io::Env* env,
           unsigned file_mode = 0600);
  ~FileTier() override;  // stops the watcher

  std::string describe() const override;
  const std::string& dir() const { return dir_; }
  // `<dir>/<hex>.kvc`.
  std::string path_for(const Key& key) const;

  // cache.md §2 steps 2–5: temp `<hex>.kvc.<pid>-<n>-<random>.tmp` (O_EXCL, file_mode),
  // one gathered append of prefix + payload, fdatasync, close; check(r) (else the
  // temp is deleted and kCancelled returned); link to `<hex>.kvc` — on kExists a
  // valid file for the key is adopted, an invalid one replaced; unlink the temp;
  // fsync the directory; mark_linked(r, path). Every failure removes the temp file
  // and any file this call linked, and returns an error naming the step and path
  // (code preserved: kNoSpace stays kNoSpace).
  Result<std::string> write(index::Index& idx, index::Reservation& r, const Bytes& prefix,
                            const Bytes& payload) override;
  // Reads the whole file into a buffer owned by the LoadedFile and parses it with
  // row.key. kNotFound if missing; kCorrupt naming the format error otherwise.
  // row.location may be empty (then path_for(row.key)).
  Result<LoadedFile> load(const index::RowInfo& row) override;
  Status remove(const index::RowInfo& row) override;  // ok when already gone
  // 4 bytes LE at offset 12, in place; kNotFound (nothing created) if the file is gone.
  Status write_hit_count(const index::RowInfo& row, std::uint32_t hits) override;

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
  index::RowInfo row_from(const Key& key, format::KvcMeta&& meta, const std::string& path,
                          std::uint64_t size) const;
  void on_watch_event(int event, const std::string& name, const FoundFn& on_added, const RemovedFn& on_removed,
                      const KnownFn& known);
  bool take_own_link(const std::string& path);

  std::string dir_;
  io::Env* env_;
  unsigned file_mode_;

  mutable std::mutex watch_mu_;  // guards watcher_
  std::unique_ptr<DirWatcher> watcher_;
  std::mutex own_mu_;            // guards the two fields below
  bool watcher_active_ = false;
  std::deque<std::string> own_links_;  // paths this tier linked while watching, event not yet seen
};

}  // namespace kvc::tiers
