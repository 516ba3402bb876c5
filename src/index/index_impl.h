// Private to the index layer: the row entry, the shards, and Index::Impl.
//
// Locking: each shard has one mutex guarding its map and every mutable field of
// the entries in it (including entries already removed from the map but still
// referenced by a Lease). Lock order: shard mutex → prefix-trie namespace lock.
// No code path takes two shard mutexes at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "index/index.h"
#include "index/prefix_trie.h"

namespace kvc::index {

struct Entry {
  RowInfo info;  // for a writing entry: key, tier and (post-link) location only
  RowStatus status = RowStatus::kWriting;
  std::uint32_t hits = 0;
  std::int64_t last_used_ns = 0;
  std::uint32_t leases = 0;
  bool pinned = false;
  bool removed = false;     // no longer in its shard's map (leases may still hold it)
  std::size_t shard = 0;    // index of the shard whose mutex guards this entry
  // Reservation state, meaningful while status == kWriting.
  std::uint64_t token = 0;
  std::int64_t deadline_ns = 0;  // TTL end (Options::now_ns clock)
  bool linked = false;           // post-link: info.location names the final file

  RowSnapshot snapshot() const {
    return RowSnapshot{info, status, hits, last_used_ns, leases, pinned};
  }
};

struct Shard {
  std::mutex mu;
  std::condition_variable cv;  // waiters on writing keys of this shard
  std::unordered_map<Key, std::shared_ptr<Entry>> rows;
};

struct Index::Impl {
  explicit Impl(Options o);

  Options opt;
  std::vector<std::unique_ptr<Shard>> shards;
  std::atomic<std::uint64_t> next_token{1};
  std::atomic<std::uint64_t> leases{0};
  PrefixTrie trie;

  std::int64_t now() const { return opt.now_ns(); }
  std::int64_t ttl_ns() const;
  std::int64_t hit_weight_ns() const;
  std::size_t shard_of(const Key& key) const;
  Shard& shard(const Key& key) { return *shards[shard_of(key)]; }

  // ---- helpers; the caller holds the mutex of the entry's shard ----
  // A writing entry whose TTL has passed.
  bool expired(const Entry& e, std::int64_t now) const { return e.deadline_ns <= now; }
  // The entry's reservation matches `token` and is still writing.
  static bool holds(const Entry& e, std::uint64_t token) {
    return e.status == RowStatus::kWriting && e.token == token;
  }
  // Erases the entry from its shard's map (and, if available, from the trie);
  // wakes the shard's waiters if it was writing.
  void erase_locked(Shard& s, std::shared_ptr<Entry> e);  // by value: may be the map's own copy
  // writing → available with `info`: clears the reservation, indexes the tokens,
  // wakes waiters.
  void make_available_locked(Shard& s, Entry& e, RowInfo info);
  // If `e` is a writing entry whose reservation expired before link, drops it
  // (waking waiters) and returns true.
  bool drop_if_stale_locked(Shard& s, const std::shared_ptr<Entry>& e, std::int64_t now);
  // The entry of a live reservation (token matches, still writing, TTL not
  // passed), or null. An expired pre-link reservation is dropped on the way; a
  // post-link one is left for sweep().
  std::shared_ptr<Entry> live_locked(Shard& s, const Key& key, std::uint64_t token, std::int64_t now);
  // Takes a lease on an available entry: bumps hits and recency.
  void lease_locked(Entry& e, std::int64_t now);
};

}  // namespace kvc::index
