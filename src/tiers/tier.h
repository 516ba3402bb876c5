// A storage tier: where the bytes of KVC files live. ram keeps them in process
// memory; FileTier keeps them as `<hex>.kvc` files in a directory (ram_file when the
// directory is on tmpfs, disk otherwise — one class, cache.md §3).
//
// Tiers do the data half of a save (cache.md §2 steps 2–5); the Cache reserves
// (step 1), announces (step 6) and enforces quotas with the byte accounting here.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "format/kvc_file.h"
#include "index/index.h"
#include "kvc/options.h"
#include "kvc/status.h"

namespace kvc::tiers {

using kvc::TierKind;
std::string_view tier_kind_name(TierKind k);  // "ram", "ram_file", "disk"

using Bytes = std::shared_ptr<const std::vector<std::byte>>;

// A verified file: CRC and key checked. `payload` points into memory kept alive by `owner`.
struct LoadedFile {
  std::shared_ptr<const void> owner;
  format::KvcMeta meta;
  std::span<const std::byte> payload;
};

// Counts a scan reports (cache.md §3).
struct ScanReport {
  std::size_t rows = 0;           // registered
  std::uint64_t bytes = 0;        // their total size
  std::size_t temp_removed = 0;   // *.tmp swept
  std::size_t corrupt_removed = 0;
  std::size_t renamed = 0;        // misnamed files moved to their content's key
  std::size_t duplicates_removed = 0;  // misnamed copies of a key already present
};

class Tier {
 public:
  Tier(TierKind kind, index::TierId id, std::uint64_t quota_bytes) : kind_(kind), id_(id), quota_(quota_bytes) {}
  virtual ~Tier() = default;

  TierKind kind() const { return kind_; }
  std::string_view name() const { return tier_kind_name(kind_); }
  index::TierId id() const { return id_; }
  virtual std::string describe() const = 0;  // e.g. "disk /var/cache/kvc"

  // ---- byte quota (usage never exceeds quota) ----
  std::uint64_t quota() const { return quota_; }
  std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  // Charges `bytes` if they fit under the quota; false (nothing charged) otherwise.
  bool try_charge(std::uint64_t bytes);
  void credit(std::uint64_t bytes);
  // Charges unconditionally (rows found by a scan or published by a sibling process).
  void force_charge(std::uint64_t bytes);

  // ---- data ----
  // Steps 2–5 of cache.md §2 under reservation r: write, sync, check(r), publish
  // the data, mark_linked. Returns the row's location. On any failure nothing of
  // this save remains on the tier and the error names the step and path.
  virtual Result<std::string> write(index::Index& idx, index::Reservation& r, const Bytes& prefix,
                                    const Bytes& payload) = 0;
  // Reads and fully verifies a row (format.md §2.4 parse). kCorrupt (message names
  // the format error) or kNotFound when the data is gone.
  virtual Result<LoadedFile> load(const index::RowInfo& row) = 0;
  // Deletes a row's data; ok when already gone.
  virtual Status remove(const index::RowInfo& row) = 0;
  // Best-effort persistence of a hit count (header offset 12); never creates data.
  virtual Status write_hit_count(const index::RowInfo& row, std::uint32_t hits) = 0;

 private:
  TierKind kind_;
  index::TierId id_;
  std::uint64_t quota_;
  std::atomic<std::uint64_t> used_{0};
};

}  // namespace kvc::tiers
