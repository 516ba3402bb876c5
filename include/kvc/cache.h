// kvc::Cache — the facade over index, tiers, writer pool, policy, counters and
// the memory-pressure scheduler. Payloads are opaque bytes: the cache knows
// nothing of llama.cpp.
//
// The tiers form one hierarchy, fastest first (cache.md §3): a save lands in the
// fastest tier that takes it and is written through, on the writer pool, to the
// tiers below whose policy is write-through; a tier that evicts a row moves it
// down when no slower tier has a copy; a row served from a slower tier is
// promoted into RAM with the buffer that was read.
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

#include "kvc/buffer.h"
#include "kvc/key.h"
#include "kvc/lease.h"
#include "kvc/options.h"
#include "kvc/row.h"
#include "kvc/stats.h"
#include "kvc/status.h"

namespace kvc {

// One save. The key is derived from ns + tokens, so it always matches the content.
struct SaveRequest {
  KeyNamespace ns;
  FingerprintMode fingerprint_mode = FingerprintMode::kSafe;
  std::vector<std::uint32_t> tokens;
  SaveReason reason = SaveReason::kUnknown;
  ByteBuffer payload;                     // moved in, never copied (BufferPool::shared())
  std::vector<float> next_token_logits;   // optional TLV 0x0A
  std::vector<PositionLogits> position_logits;  // optional TLV 0x0B records, positions increasing
  std::string prompt_text;                // optional, for humans
  std::string reason_detail;              // optional TLV 0x07
  std::uint8_t quant_bits = 0;
  std::uint32_t context_size = 0;
};

// A reserved save (cache.md §2 step 1). From reserve_save on, the key is
// "writing": lookups see it as busy, a parent_key resume waits for it, and a
// second save of the key is a counted duplicate — so a caller can reserve before
// it takes an expensive snapshot, and skip the snapshot for a duplicate.
// Move-only. Destroying an unused ticket cancels the reservation (waiters are
// answered with a miss). Must not outlive its Cache.
class SaveTicket {
 public:
  SaveTicket();
  ~SaveTicket();
  SaveTicket(SaveTicket&&) noexcept;
  SaveTicket& operator=(SaveTicket&&) noexcept;
  // False for an empty ticket (default-constructed, moved from, or used).
  explicit operator bool() const;
  // The reserved key; the ticket must not be empty.
  const Key& key() const;

 private:
  friend class Cache;
  struct State;  // the index reservation; one allocation per reserve_save
  std::unique_ptr<State> state_;
};

struct PrefixHit {
  Lease lease;                 // empty on a miss
  std::size_t length = 0;      // tokens of the row that match the prompt
  std::size_t row_length = 0;  // tokens in the row (> length: needs truncation)
  bool busy_seen = false;      // a candidate was being written
};

// A row read for a restore (Cache::load): the verified bytes of its file and the
// tier they came from. Copies share the bytes (no copy of the payload is made);
// meta() and payload() stay valid while any copy of this LoadedRow lives, even
// after the row was evicted or removed.
class LoadedRow {
 public:
  // Built by Cache::load: `bytes` owns the memory `payload` points into.
  LoadedRow(std::shared_ptr<const RowMeta> meta, std::shared_ptr<const void> bytes,
            std::span<const std::byte> payload, TierKind tier, bool promoted)
      : meta_(std::move(meta)), bytes_(std::move(bytes)), payload_(payload), tier_(tier), promoted_(promoted) {}

  // What the file says about itself: tokens, logits, header, prompt text, …
  const RowMeta& meta() const { return *meta_; }
  // The payload (the engine's KV state), CRC-verified.
  std::span<const std::byte> payload() const { return payload_; }
  TierKind tier() const { return tier_; }
  std::string_view tier_name() const { return tier_kind_name(tier_); }  // "ram", "ram_file", "disk", "remote"
  // The bytes were also kept in RAM (a slower tier served them).
  bool promoted() const { return promoted_; }

 private:
  std::shared_ptr<const RowMeta> meta_;
  std::shared_ptr<const void> bytes_;
  std::span<const std::byte> payload_;
  TierKind tier_ = TierKind::kRam;
  bool promoted_ = false;
};

class Cache {
 public:
  // Validates options, creates directories, scans file tiers (reading prefixes
  // only), connects the remote tier and learns its rows, starts the writer pool,
  // sweeper, watchers and pressure scheduler.
  static Result<std::unique_ptr<Cache>> open(CacheOptions options);
  // Drains queued saves (within writers.drain_deadline; the rest are dropped and
  // counted), stops background threads.
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  const CacheOptions& options() const;
  const SavePolicy& policy() const;
  // The shortest row any tier takes (the smallest min_tokens): a caller need not
  // snapshot a shorter state.
  std::size_t min_save_tokens() const;

  // ---- lookups ----
  // Lookups count their hits (hits_exact, hits_resume, …); a row's own hit count
  // and recency change when it is loaded. A caller that tries several paths calls
  // note_miss() once when all of them missed.
  Result<Lease> checkout(const Key& key);
  // Waits up to `wait` for an in-flight save of `key` (parent_key resume).
  Result<Lease> checkout_or_wait(const Key& key, std::chrono::milliseconds wait);
  // Stride walk with stride = boundary_align_tokens and floor = max(min_length, stride).
  PrefixHit longest_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens,
                           std::size_t min_length);
  // Any-token prefix; prefers a row usable without truncation when
  // `allow_truncation` is false. Candidates sharing fewer than `min_length`
  // tokens are not taken (and not counted).
  PrefixHit any_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens, bool allow_truncation,
                       std::size_t min_length);
  void note_miss();
  // Reads the leased row from the fastest tier holding it (CRC and key verified,
  // except in RAM, whose bytes were verified on the way in), then promotes it into
  // RAM when it came from a slower tier and RAM takes it. A copy that is gone,
  // corrupt or unreadable is dropped (counted) and the next tier is tried; when
  // no copy is left the row leaves the index. kNotFound / kCorrupt then; kBusy
  // while the row's only copy is in transit to a slower tier; other codes are
  // transient I/O trouble (the row stays).
  Result<LoadedRow> load(const Lease& lease);
  // Removes a row whose payload the engine could not restore (restore_failures).
  void quarantine(const Key& key, std::string_view why);

  // ---- saves ----
  // Reserves the key of ns + tokens: kAlreadyPresent (a duplicate, counted) when
  // the row exists, kConflict (counted as a duplicate) while another writer holds
  // it, kDropped (counted) when saves are disabled or no tier takes rows this short.
  Result<SaveTicket> reserve_save(const KeyNamespace& ns, std::span<const std::uint32_t> tokens);
  // Synchronous save (evict/shutdown): the row is published in the fastest tier
  // that takes it before this returns (kQuotaExceeded when none can fit it,
  // kTimeout past the deadline); write-through to slower tiers is queued.
  Result<Key> save(SaveTicket ticket, SaveRequest request, std::chrono::milliseconds deadline);
  // Background save: returns the key at once; kDropped when the writer queue is
  // full (jobs or bytes; counted in saves_dropped).
  Result<Key> save_async(SaveTicket ticket, SaveRequest request);
  // reserve_save + save / save_async.
  Result<Key> save(SaveRequest request, std::chrono::milliseconds deadline);
  Result<Key> save_async(SaveRequest request);
  // Waits until every queued job (saves, write-throughs, demotions) has finished,
  // or `deadline` passes: then the jobs still queued are dropped (counted in
  // saves_dropped) and their count returned.
  std::size_t flush(std::chrono::milliseconds deadline = std::chrono::milliseconds::max());

  // ---- administration ----
  Status pin(const Key& key);
  Status unpin(const Key& key);
  Status remove(const Key& key);  // explicit delete of every copy: even pinned; kBusy if leased
  // Evicts least valuable unleased, unpinned copies from the given tiers (all when
  // empty) until `bytes` are freed or nothing is left; evicted copies move down
  // the hierarchy as usual. Returns bytes freed.
  std::uint64_t evict_bytes(std::uint64_t bytes, std::span<const TierKind> tiers = {});
  std::uint64_t gc();  // evicts every unleased, unpinned copy from every tier (nothing moves down)
  // Re-reads file-tier directories for rows published by sibling processes.
  void rescan();

  // Rows with a copy in `tier` (index into options().tiers), or all.
  std::vector<RowSnapshot> rows(std::optional<std::size_t> tier = std::nullopt) const;
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
