// kvc::Cache — the facade over index, tiers, writer pool, policy, counters and
// the memory-pressure scheduler. Payloads are opaque bytes: the cache knows
// nothing of llama.cpp.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/counters.h"
#include "format/kvc_file.h"
#include "index/index.h"
#include "kvc/key.h"
#include "kvc/options.h"
#include "kvc/status.h"
#include "tiers/tier.h"

namespace kvc {

using index::Lease;
using format::SaveReason;
using tiers::LoadedFile;

// One save. The key is derived from ns + tokens, so it always matches the content.
struct SaveRequest {
  KeyNamespace ns;
  format::FingerprintMode fingerprint_mode = format::FingerprintMode::kSafe;
  std::vector<std::uint32_t> tokens;
  SaveReason reason = SaveReason::kUnknown;
  std::vector<std::byte> payload;         // moved in, never copied
  std::vector<float> next_token_logits;   // optional TLV 0x0A
  std::vector<format::PositionLogits> position_logits;  // optional TLV 0x0B records, positions increasing
  std::string prompt_text;                // optional, for humans
  std::string reason_detail;              // optional TLV 0x07
  std::uint8_t quant_bits = 0;
  std::uint32_t context_size = 0;
  std::optional<std::size_t> tier;        // default: CacheOptions::save_tier
};

struct PrefixHit {
  Lease lease;                 // empty on a miss
  std::size_t length = 0;      // tokens of the row that match the prompt
  std::size_t row_length = 0;  // tokens in the row (> length: needs truncation)
  bool busy_seen = false;      // a candidate was being written
};

struct TierStats {
  std::string name;        // "ram", "ram_file", "disk"
  std::string location;    // directory, or "" for ram
  std::uint64_t used_bytes = 0;
  std::uint64_t quota_bytes = 0;
  std::size_t rows = 0;
};

struct PressureStatus {
  bool enabled = false;
  bool source_available = false;
  std::string source;                 // "meminfo", "nvidia", "callback"
  double last_ratio = 0;              // used/total at the last sample
  std::int64_t last_sample_unix_ms = 0;
  std::uint64_t last_evicted_bytes = 0;
  std::int64_t last_eviction_unix_ms = 0;
};

class Cache {
 public:
  // Validates options, creates directories, scans file tiers (reading prefixes
  // only), starts the writer pool, sweeper, watchers and pressure scheduler.
  static Result<std::unique_ptr<Cache>> open(CacheOptions options);
  ~Cache();  // drains queued saves, stops background threads
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  const CacheOptions& options() const;
  const SavePolicy& policy() const;

  // ---- lookups ----
  // Lookups count their hits (hits_exact, hits_resume, …). A caller that tries
  // several paths calls note_miss() once when all of them missed.
  Result<Lease> checkout(const Key& key);
  // Waits up to `wait` for an in-flight save of `key` (parent_key resume).
  Result<Lease> checkout_or_wait(const Key& key, std::chrono::milliseconds wait);
  // Stride walk with stride = boundary_align_tokens and floor = min_tokens.
  PrefixHit longest_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens);
  // Any-token prefix; prefers a row usable without truncation when
  // `allow_truncation` is false.
  PrefixHit any_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens, bool allow_truncation);
  void note_miss();
  // Reads and verifies the leased row. Corrupt or missing data removes the row,
  // deletes the file and is counted (corrupt_files); the error says which.
  Result<LoadedFile> load(const Lease& lease);
  // Removes a row whose payload the engine could not restore (restore_failures).
  void quarantine(const Key& key, std::string_view why);

  // ---- saves ----
  // Synchronous save (evict/shutdown): kAlreadyPresent for a duplicate (counted),
  // kQuotaExceeded when it cannot fit, kTimeout past the deadline.
  Result<Key> save(SaveRequest request, std::chrono::milliseconds deadline);
  // Background save: returns the key at once; kDropped when the queue is full or
  // saves are disabled (counted in saves_dropped).
  Result<Key> save_async(SaveRequest request);
  // Blocks until every queued save has finished.
  void flush();

  // ---- administration ----
  Status pin(const Key& key);
  Status unpin(const Key& key);
  Status remove(const Key& key);  // explicit delete: even pinned; kBusy if leased
  // Evicts least valuable unleased, unpinned rows from the given tiers (all when
  // empty) until `bytes` are freed or nothing is left. Returns bytes freed.
  std::uint64_t evict_bytes(std::uint64_t bytes, std::span<const TierKind> tiers = {});
  std::uint64_t gc();  // evicts every unleased, unpinned row
  // Re-reads file-tier directories for rows published by sibling processes.
  void rescan();

  std::vector<index::RowSnapshot> rows(std::optional<std::size_t> tier = std::nullopt) const;
  std::vector<TierStats> tier_stats() const;
  CounterSnapshot counters() const;
  PressureStatus pressure_status() const;
  // Prometheus text exposition of counters and tier gauges (prefix "kvc_").
  std::string prometheus_text() const;

  struct Impl;

 private:
  explicit Cache(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvc
