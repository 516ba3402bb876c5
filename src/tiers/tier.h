// A storage tier: where the bytes of KVC files live. RamTier keeps them in process
// memory; FileTier keeps them as `<hex>.kvc` files in a directory (ram_file when
// the directory is on tmpfs, disk otherwise — one class); RemoteTier keeps them in
// Redis (cache.md §3).
//
// Tiers move bytes and account for them; they know nothing of the index. The
// cache reserves a key (cache.md §2 step 1), hands the tier a PublishGuard for
// the steps where the reservation matters, and announces the row (step 6).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "format/kvc_file.h"
#include "kvc/options.h"
#include "kvc/status.h"

namespace kvc::tiers {

using kvc::TierKind;
using kvc::tier_kind_name;  // "ram", "ram_file", "disk", "remote"

// One KVC file in memory: the prefix (everything before the payload) and the
// payload, adjacent or not. `owner` keeps both spans alive; the bytes are never
// modified once a FileBytes exists, so copies of it share them freely.
struct FileBytes {
  std::shared_ptr<const void> owner;
  std::span<const std::byte> prefix;
  std::span<const std::byte> payload;
  std::uint64_t size() const { return prefix.size() + payload.size(); }
};

// A verified file (structure, CRC and key checked when it was read or built).
struct LoadedFile {
  std::shared_ptr<const format::KvcMeta> meta;
  FileBytes bytes;
  std::span<const std::byte> payload() const { return bytes.payload; }
};

// The writer's hold on its reservation during a publication (cache.md §2).
class PublishGuard {
 public:
  virtual ~PublishGuard() = default;
  // Step 3: is the reservation still ours? Refreshes it. False: stop and clean up.
  virtual bool still_ours() = 0;
  // Step 5: the data is published and durable. False: the reservation was lost
  // after the data became visible (the publisher removes it again).
  virtual bool published() = 0;
};

class Tier {
 public:
  Tier(TierKind kind, std::uint64_t quota_bytes) : kind_(kind), quota_(quota_bytes) {}
  virtual ~Tier() = default;

  TierKind kind() const { return kind_; }
  std::string_view name() const { return tier_kind_name(kind_); }
  virtual std::string describe() const = 0;  // e.g. "disk /var/cache/kvc"

  // ---- byte quota (usage never exceeds quota) ----
  std::uint64_t quota() const { return quota_; }
  std::uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  // Charges `bytes` if they fit under the quota; false (nothing charged) otherwise.
  bool try_charge(std::uint64_t bytes);
  void credit(std::uint64_t bytes);
  // Charges unconditionally (copies found by a scan or published by a sibling).
  void force_charge(std::uint64_t bytes);

  // ---- data ----
  // Publishes `file` under `key`. With a guard (a new row), the tier calls
  // still_ours() before the data becomes visible and published() after; without
  // one (a copy of a row that is already available: write-through, demotion,
  // promotion) it just stores. A valid copy of the key that is already there is
  // kept (the bytes of one key are interchangeable). On any failure nothing of
  // this call remains visible and the error names the step and location.
  virtual Status put(const Key& key, const LoadedFile& file, PublishGuard* guard) = 0;
  // Reads and fully verifies a copy (format.md §2.4). kNotFound when it is gone,
  // kCorrupt naming the format error; other codes are I/O trouble.
  virtual Result<LoadedFile> load(const Key& key) = 0;
  // Deletes a copy; ok when already gone.
  virtual Status remove(const Key& key) = 0;
  // Best-effort persistence of a hit count (header offset 12); never creates data.
  virtual Status write_hit_count(const Key& key, std::uint32_t hits) = 0;

 private:
  TierKind kind_;
  std::uint64_t quota_;
  std::atomic<std::uint64_t> used_{0};
};

}  // namespace kvc::tiers
