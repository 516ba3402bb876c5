// Private state of kvc::Cache, shared by cache.cc (open, lookups, admin) and
// cache_save.cc (the save path).
//
// Byte accounting rule: a tier is charged when a row is registered or a save
// reserves room, and credited exactly once when that row leaves the index
// (drop_row) or the save fails.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "cache/counters.h"
#include "cache/dirty_keys.h"
#include "cache/pressure.h"
#include "cache/writer_pool.h"
#include "index/index.h"
#include "io/env.h"
#include "kvc/cache.h"
#include "tiers/file_tier.h"
#include "tiers/tier.h"

namespace kvc {

std::int64_t unix_now_ns();

struct Cache::Impl {
  CacheOptions options;
  io::Env* env = nullptr;
  std::string hostname;
  index::Index index;
  std::vector<std::unique_ptr<tiers::Tier>> tiers;
  Counters counters;

  // Background machinery, created last and destroyed first.
  std::unique_ptr<WriterPool> writers;
  std::unique_ptr<PressureScheduler> pressure;

  // Sweeper + hit-count persister share one thread and wake-up.
  std::mutex bg_mu;
  std::condition_variable bg_cv;
  bool bg_stop = false;
  std::thread bg_thread;
  DirtyKeys dirty_hits;  // keys whose hit count should be persisted (sharded, no global lock)

  explicit Impl(CacheOptions o);

  tiers::Tier& tier(index::TierId id) { return *tiers[id]; }
  tiers::FileTier* file_tier(index::TierId id) { return dynamic_cast<tiers::FileTier*>(tiers[id].get()); }

  // Deletes the row's data and credits its tier. The row must already be out of the index.
  void drop_row(const index::RowInfo& row);
  // Evicts least valuable idle rows of `tier` until `bytes` can be charged. True when
  // charged; false (nothing charged) when even an empty tier could not hold them.
  bool make_room(tiers::Tier& tier, std::uint64_t bytes);
  // Evicts idle rows whose tier passes `accept` until `bytes` are freed.
  std::uint64_t evict_where(std::uint64_t bytes, const std::function<bool(index::TierId)>& accept);
  // Registers a row found on a file tier (scan, watch, rescan); charges the tier if inserted.
  void register_found(index::RowInfo row, std::uint32_t hits, bool from_scan);
  // Marks a leased row's hit count for persistence by the background thread.
  void note_hit(const Key& key);
  void background_loop();
  void persist_hits();
  void resolve_expired();

  // Reserves the request's key on its tier: kAlreadyPresent / kConflict are counted
  // as duplicates.
  Result<index::Reservation> reserve_for(const SaveRequest& request, const Key& key);
  // Validation, the saves_enabled switch (kDropped, counted), then reserve_for.
  Result<index::Reservation> admit_save(const SaveRequest& request, const Key& key);
  // Steps 2–6 of a save under `reservation` (quota, write, announce).
  Result<Key> save_reserved(SaveRequest& request, const Key& key, index::Reservation& reservation,
                            std::chrono::steady_clock::time_point deadline);
  // Passes a failed admitted save to options.on_save_error (if set).
  void report_save_error(const Key& key, const Status& error) const;
};

}  // namespace kvc
