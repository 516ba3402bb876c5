// What a Cache reports about itself (Cache::counters, tier_stats,
// pressure_status): plain values, copied out at the moment of the call.
// Counters are monotonic since the Cache was opened (cache.md §6).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kvc/options.h"

namespace kvc {

// The cache-wide counters.
struct CounterSnapshot {
  std::uint64_t hits_exact = 0;           // exact-key lookups that found a row
  std::uint64_t hits_resume = 0;          // parent_key lookups that found a row
  std::uint64_t hits_longest_prefix = 0;  // stride-walk lookups that found a row
  std::uint64_t hits_any_prefix = 0;      // any-token prefix lookups that found a row
  std::uint64_t misses = 0;               // lookups that found no usable row
  std::uint64_t saves_cold = 0;           // rows saved after a cold prefill
  std::uint64_t saves_continued = 0;      // rows saved during generation
  std::uint64_t saves_finish = 0;         // rows saved at the end of a request
  std::uint64_t saves_evict = 0;          // rows saved when a sequence was given away
  std::uint64_t saves_shutdown = 0;       // rows saved at shutdown
  std::uint64_t saves_dropped = 0;        // saves dropped (queue full, disabled, or no room)
  std::uint64_t duplicate_dropped = 0;    // saves skipped because the key was already present
  std::uint64_t evictions = 0;            // copies evicted from a tier (quota, byte target, gc, pressure)
  std::uint64_t corrupt_files = 0;        // copies removed because their data failed verification
  std::uint64_t vanished_copies = 0;      // copies found gone (deleted by a sibling, expired remotely)
  std::uint64_t unreadable_copies = 0;    // copies dropped because they could not be read (e.g. EACCES)
  std::uint64_t restore_failures = 0;     // rows quarantined because the engine could not restore them
  std::uint64_t pack_total_ns = 0;        // time spent building and writing saves
  std::uint64_t load_total_ns = 0;        // time spent reading and verifying loads
  std::uint64_t longest_prefix_probes = 0;  // index probes made by stride walks
  std::uint64_t longest_prefix_ns = 0;      // time spent in stride walks
  // (name, value) pairs in declaration order.
  std::vector<std::pair<std::string, std::uint64_t>> items() const;
};

// The counters of one tier.
struct TierCounterSnapshot {
  std::uint64_t hits = 0;                 // loads served from the tier
  std::uint64_t misses = 0;               // loads that found the tier's copy gone, corrupt or unreadable
  std::uint64_t promotions = 0;           // copies made in the tier because a slower tier served the row
  std::uint64_t demotions = 0;            // copies made in the tier because a faster tier evicted the row
  std::uint64_t evictions = 0;            // copies evicted from the tier
  std::uint64_t write_through_bytes = 0;  // bytes written to the tier by write-through
  std::uint64_t write_through_drops = 0;  // copies for the tier dropped (queue full, no room, failed)
  std::uint64_t bytes_in = 0;             // bytes read from the tier by loads
  std::uint64_t bytes_out = 0;            // bytes written to the tier
  std::uint64_t errors = 0;               // operations on the tier that failed (I/O, refused, unreachable)
  std::uint64_t timeouts = 0;             // operations on the tier that timed out
  std::vector<std::pair<std::string, std::uint64_t>> items() const;
};

// The remote tier's own counters (remote.md).
struct RemoteCounterSnapshot {
  std::uint64_t hits = 0;               // a load returned a verified file
  std::uint64_t misses = 0;             // a load found no row (vanished, never there)
  std::uint64_t bytes_in = 0;           // value bytes fetched (rows, manifests, chunks)
  std::uint64_t bytes_out = 0;          // value bytes written
  std::uint64_t puts = 0;               // rows published (manifest or whole file committed)
  std::uint64_t put_duplicates = 0;     // a put found the row already there and wrote nothing
  std::uint64_t removes = 0;            // rows deleted
  std::uint64_t errors = 0;             // failed operations other than timeouts (refused, reset, OOM, down …)
  std::uint64_t timeouts = 0;           // operations that ran out of time (stall or caller deadline)
  std::uint64_t fast_failures = 0;      // calls refused at once because their node was down (also in errors)
  std::uint64_t corrupt_rejected = 0;   // corrupt, truncated or foreign values deleted
  std::uint64_t moved = 0;              // MOVED redirects followed
  std::uint64_t ask = 0;                // ASK redirects followed
  std::uint64_t slot_map_refreshes = 0; // CLUSTER SLOTS maps installed
  std::uint64_t reconnects = 0;         // a down node came back (background reconnect)
  std::uint64_t publications_seen = 0;  // stream entries read by the tail
  std::uint64_t scanned_rows = 0;       // rows reported by scans
};

// One tier of the hierarchy (Cache::tier_stats, in CacheOptions::tiers order).
struct TierStats {
  std::string name;        // "ram", "ram_file", "disk", "remote"
  std::string location;    // directory, the Redis address, or "" for ram
  TierPolicy policy = TierPolicy::kWriteThrough;
  std::int64_t min_tokens = 0;
  std::uint64_t used_bytes = 0;
  std::uint64_t quota_bytes = 0;
  std::size_t rows = 0;    // copies held
  TierCounterSnapshot counters;
  std::optional<RemoteCounterSnapshot> remote;  // set for the remote tier
};

// The memory-pressure scheduler (cache.md §7).
struct PressureStatus {
  bool enabled = false;
  bool source_available = false;
  std::string source;                 // "meminfo", "nvidia", "callback"
  double last_ratio = 0;              // used/total at the last sample
  std::int64_t last_sample_unix_ms = 0;
  std::uint64_t last_evicted_bytes = 0;
  std::int64_t last_eviction_unix_ms = 0;
};

}  // namespace kvc
