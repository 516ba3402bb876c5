// Private state of kvc::Cache, shared by cache.cc (open, lookups, admin),
// cache_save.cc (the save path) and hierarchy.cc (copies moving between tiers).
//
// Byte accounting rule: a tier is charged when a copy is registered or a write
// reserves room (make_room), and credited exactly once when that copy leaves the
// tier (evicted, dropped, removed) or the write fails.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/counters.h"
#include "cache/dirty_keys.h"
#include "cache/pressure.h"
#include "cache/writer_pool.h"
#include "index/index.h"
#include "io/env.h"
#include "kvc/cache.h"
#include "tiers/file_tier.h"
#include "tiers/remote_tier.h"
#include "tiers/tier.h"

namespace kvc {

using tiers::LoadedFile;

// A reserved save: the index's reservation and the token count it was made for.
struct SaveTicket::State {
  State(index::Reservation r, std::size_t n) : reservation(std::move(r)), tokens(n) {}
  index::Reservation reservation;
  std::size_t tokens = 0;
};

using index::TierId;

std::int64_t unix_now_ns();

// One tier of the hierarchy with its policy and counters.
struct TierSlot {
  std::unique_ptr<tiers::Tier> tier;
  TierPolicy policy = TierPolicy::kWriteThrough;
  std::size_t min_tokens = 1;
  tiers::FileTier* file = nullptr;      // when it is a file tier
  tiers::RemoteTier* remote = nullptr;  // when it is the remote tier
  TierCounters counters;
};

struct Cache::Impl {
  CacheOptions options;
  io::Env* env = nullptr;
  std::string hostname;
  index::Index index;
  std::vector<std::unique_ptr<TierSlot>> tiers;  // fastest first
  std::optional<TierId> ram;                     // the RAM tier (always tier 0 when present)
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

  // Rows in transit: their last copy was evicted while a copy below was still
  // being written. Loads are served from these bytes (the same buffers the copy
  // job holds: nothing extra is kept) until the copy lands or fails.
  struct InTransit {
    LoadedFile file;
    TierKind from = TierKind::kRam;
  };
  // transit_cv wakes loads waiting for a row in motion (no copy at rest, a copy
  // pending): notified, under transit_mu, whenever a transit entry is added or a
  // pending copy settles (end_transit).
  std::mutex transit_mu;
  std::condition_variable transit_cv;
  std::unordered_map<Key, InTransit> transit;
  void end_transit(const Key& key);

  explicit Impl(CacheOptions o);

  TierSlot& slot(TierId id) { return *tiers[id]; }
  tiers::Tier& tier(TierId id) { return *tiers[id]->tier; }
  bool takes(TierId id, std::size_t tokens) const { return tokens >= tiers[id]->min_tokens; }

  // ---- hierarchy.cc: copies moving between tiers ----
  // Evicts copies from `t` (least valuable first) until `bytes` can be charged.
  // Evicted copies move down when no slower tier has one. True when charged.
  bool make_room(TierId t, std::uint64_t bytes);
  // Deletes an evicted copy's data, credits its tier, queues its demotion.
  void finish_victim(TierId t, index::Victim& v, bool demote);
  // Evicts copies from tiers passing `accept` until `bytes` are freed; `demote`:
  // evicted copies move down as on a quota eviction (gc does not).
  std::uint64_t evict_where(std::uint64_t bytes, const std::function<bool(TierId)>& accept, bool demote);
  // Queues a copy of `file` into tier `t` (write-through / demotion): the copy is
  // claimed in the index now (begin_copy); false when it is not needed or cannot be
  // queued (counted).
  bool queue_copy(const Key& key, TierId t, const LoadedFile& file, bool demotion);
  // The same for a copy already claimed; on failure the claim is ended.
  bool queue_copy_claimed(const Key& key, TierId t, const LoadedFile& file, bool demotion);
  // Writes a claimed copy (on a writer thread, or inline): room, put, end_copy.
  void write_copy(const Key& key, TierId t, const LoadedFile& file, bool demotion);
  // Copies `file` into RAM after a slower tier served it (quota permitting).
  bool promote(const Key& key, const LoadedFile& file);
  // Deletes a copy's data and credits its tier (the index no longer has it).
  void delete_copy(const Key& key, TierId t, std::uint64_t size);
  // Deletes every copy a remove() handed over, finishing the deletion in the index.
  void delete_row(const index::Dropped& d);
  // A copy found in tier t (scan, watch, remote discovery); charges if recorded.
  void register_found(format::RowInfo row, TierId t, std::uint32_t hits, bool from_scan);
  // A copy that vanished (watch, remote miss): drops it; re-registers the file if it
  // came back meanwhile.
  void on_vanished(const Key& key, TierId t);

  // ---- background ----
  void note_hit(const Key& key);
  void background_loop();
  void persist_hits();
  void resolve_expired();

  // ---- cache_save.cc ----
  // Validation, the saves_enabled switch, the shortest length any tier takes, then
  // the reservation (kAlreadyPresent / kConflict counted as duplicates).
  Result<SaveTicket> reserve(const KeyNamespace& ns, std::span<const std::uint32_t> tokens);
  // Builds the file (prefix with the payload CRC) and its metadata.
  LoadedFile build_file(SaveRequest& request);
  // Publishes `file` in the fastest tier that takes it, under the reservation.
  // Returns the tier it landed in.
  Result<TierId> land(index::Reservation& r, const LoadedFile& file, std::size_t tokens,
                      std::chrono::steady_clock::time_point deadline);
  // The write-through copies of a row that landed in `landed`.
  void write_through(const Key& key, TierId landed, const LoadedFile& file, bool inline_writes);
  // Passes a failed admitted save to options.on_save_error (if set).
  void report_save_error(const Key& key, const Status& error) const;
};

}  // namespace kvc
