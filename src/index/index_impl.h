// Private to the index layer: the row entry, the shards, and Index::Impl.
//
// Locking: each shard has one mutex guarding its map and every non-atomic field of
// the entries in it (including entries already removed from the map but still
// referenced by a Lease). Lock orders: shard mutex → prefix-trie namespace lock;
// eviction-queue mutex → shard mutex (nothing pushes to a queue while holding a
// shard mutex). No code path takes two shard mutexes at once.
//
// Lifetime: an Entry is reference counted by `refs` = 1 while it is in its shard's
// map + 1 per Lease. Checkouts increment under the shard mutex; releases decrement
// with no lock; whoever brings refs to 0 deletes the entry (only possible once the
// entry has left the map, which happens under the mutex).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "index/eviction_queue.h"
#include "index/index.h"
#include "index/key_table.h"
#include "index/spin_mutex.h"
#include "index/prefix_trie.h"

namespace kvc::index {

// a + b and a × b, saturating (scan recency of absurd hit counts must not wrap).
inline std::int64_t add_sat(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}
inline std::int64_t mul_sat(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return INT64_MAX;
  return r;
}

struct Entry {
  RowInfo info;  // for a writing entry: the key only
  RowStatus status = RowStatus::kWriting;
  bool pinned = false;
  bool in_map = true;
  std::uint32_t shard = 0;  // index of the shard whose mutex guards this entry
  std::uint32_t hits = 0;
  std::int64_t last_used_ns = 0;
  // Copies (guarded by the shard mutex; `present` is also read without it).
  std::atomic<TierMask> present{0};
  TierMask pending = 0;   // copies being written
  TierMask deleting = 0;  // copies being deleted (evicted or removed)
  std::array<std::uint32_t, kMaxTiers> queue_seq{};  // sequence of the live eviction item per tier
  // Reservation state, meaningful while status == kWriting.
  std::uint64_t token = 0;
  std::int64_t deadline_ns = 0;  // TTL end (Options::now_ns clock)
  bool linked = false;           // post-link: the data is published in linked_tier
  TierId linked_tier = 0;

  alignas(64) std::atomic<std::uint32_t> refs{1};

  std::uint32_t leases() const {  // caller holds the shard mutex
    return refs.load(std::memory_order_acquire) - (in_map ? 1u : 0u);
  }
  RowSnapshot snapshot() const {
    return RowSnapshot{info, status, hits, last_used_ns, leases(), pinned,
                       present.load(std::memory_order_relaxed), pending};
  }
};

struct alignas(64) Shard {
  SpinMutex mu;
  std::condition_variable_any cv;  // waiters on writing keys of this shard
  KeyTable rows;
};

struct Index::Impl {
  explicit Impl(Options o);
  ~Impl();

  Options opt;
  std::vector<std::unique_ptr<Shard>> shards;
  std::size_t shard_mask = 0;
  std::atomic<std::uint64_t> next_token{1};
  std::atomic<std::uint32_t> next_seq{1};
  PrefixTrie trie;
  std::array<EvictionQueue, kMaxTiers> queues;
  std::array<std::atomic<std::size_t>, kMaxTiers> copies{};

  std::int64_t now() const { return opt.now_ns(); }
  std::int64_t ttl_ns() const;
  std::int64_t hit_weight_ns() const;
  std::size_t shard_of(const Key& key) const;
  Shard& shard(const Key& key) { return *shards[shard_of(key)]; }
  // The eviction value of an entry (caller holds its shard mutex).
  std::int64_t value_of(const Entry& e) const;

  // ---- helpers; the caller holds the mutex of the entry's shard ----
  bool expired(const Entry& e, std::int64_t now) const { return e.deadline_ns <= now; }
  static bool holds(const Entry& e, std::uint64_t token) {
    return e.status == RowStatus::kWriting && e.token == token;
  }
  Entry* find_locked(Shard& s, const Key& key) const {
    return s.rows.find(key);
  }
  // Erases the entry from its shard's map (and, if available, from the trie);
  // wakes the shard's waiters if it was writing; drops the map's reference.
  void erase_locked(Shard& s, Entry* e);
  // writing → available with `info` and a copy in `tier`: clears the reservation,
  // indexes the tokens, wakes waiters. Returns the eviction item to push (after
  // the caller unlocks).
  EvictionQueue::Item make_available_locked(Shard& s, Entry& e, RowInfo info, TierId tier);
  // Adds a copy in `tier` to an entry; returns the eviction item to push.
  EvictionQueue::Item add_copy_locked(Entry& e, TierId tier);
  // Clears a copy's bit (it was present).
  void clear_copy_locked(Entry& e, TierId tier);
  // Available → kDeleting (leaves the trie; invisible to lookups).
  void begin_deleting_locked(Entry& e);
  // Erases a kDeleting entry once nothing is pending or being deleted.
  void erase_if_done_locked(Shard& s, Entry* e);
  // If `e` is a writing entry whose reservation expired before link, drops it
  // (waking waiters) and returns true.
  bool drop_if_stale_locked(Shard& s, Entry* e, std::int64_t now);
  // The entry of a live reservation (token matches, still writing, TTL not
  // passed), or null. An expired pre-link reservation is dropped on the way; a
  // post-link one is left for sweep().
  Entry* live_locked(Shard& s, const Key& key, std::uint64_t token, std::int64_t now);
  // Takes a lease on an available entry.
  static Entry* lease_locked(Entry* e) {
    e->refs.fetch_add(1, std::memory_order_relaxed);
    return e;
  }
  // Drops stale items when a tier's queue holds far more items than copies.
  void maybe_compact(TierId tier);
};

}  // namespace kvc::index
