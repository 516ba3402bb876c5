// The in-memory index: key → row, leases, reservations, waiters, pins, recency,
// the copies of each row in the tiers, per-tier eviction order, and the two
// prefix lookups (stride walk, any-token prefix trie).
//
// Concurrency: rows live in shards, each with its own mutex; no operation takes a
// lock over the whole index, and no lookup waits for I/O (the index does none).
// A checkout is one shard lock and one atomic increment; a release is one atomic
// decrement, with no lock. Terminal transitions of a reservation (publish,
// cancel, expiry) wake waiters.
//
// Copies: a row is available while it has a copy in some tier (or a copy being
// written). The index records which tiers hold one (`tiers`) and which are being
// written (`pending`); the cache moves the bytes and tells the index.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "index/row.h"
#include "kvc/lease.h"
#include "kvc/status.h"

namespace kvc::index {

class Index;
struct Entry;  // private to the index

// A checkout of an available row (public: kvc/lease.h; implemented in lease.cc).
using kvc::Lease;

// The right to publish one key. Destroying a reservation that was neither
// published nor cancelled means "writer gone": before mark_linked the placeholder
// is dropped (waiters see a miss); after it the reservation expires at once, so the
// next sweep() hands it to the cache to validate and adopt or discard. Must not
// outlive its Index.
class Reservation {
 public:
  Reservation() = default;
  Reservation(Reservation&&) noexcept;
  Reservation& operator=(Reservation&&) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation();

  explicit operator bool() const { return index_ != nullptr; }
  const Key& key() const { return key_; }
  std::uint64_t token() const { return token_; }

 private:
  friend class Index;
  Index* index_ = nullptr;
  Key key_;
  std::uint64_t token_ = 0;
};

// A reservation the sweep found expired after its data was published in `tier`:
// the cache must validate that copy and then call Index::adopt or Index::discard.
struct ExpiredLinked {
  Key key;
  TierId tier = 0;
  std::uint64_t token = 0;
};

// Result of the stride walk.
struct StrideMatch {
  Lease lease;               // empty when nothing matched
  std::size_t length = 0;    // tokens covered by the row
  std::size_t probes = 0;    // index probes made
  bool busy_seen = false;    // some probed key was being written
};

// Result of the any-token prefix lookup.
struct AnyPrefixMatch {
  std::optional<Key> key;          // a row sharing the longest common prefix
  std::size_t common_prefix = 0;   // tokens shared with the prompt
  std::size_t row_length = 0;      // tokens in that row (≥ common_prefix)
  // The longest row whose whole token list is a prefix of the prompt (usable
  // without truncation, for models whose memory cannot drop a suffix).
  std::optional<Key> boundary_key;
  std::size_t boundary_length = 0;
};

// register_copy: a new row, a copy added to a known row, or nothing changed (the
// row is writing, deleting, or already has that copy).
enum class RegisterOutcome { kInserted, kAddedCopy, kKeptExisting };

// end_copy: the row is still there (kAdded: with the copy, when the write
// succeeded); or it was removed or is being deleted meanwhile, or a failed move
// down left it with no copy at all, and the caller must delete whatever it wrote
// (kRowGone).
enum class CopyOutcome { kAdded, kRowGone };

// A copy chosen for eviction: its tier bit is already cleared (lookups no longer
// use it). The caller deletes the data, then calls finish_evict.
struct Victim {
  RowInfo info;
  TierMask remaining = 0;  // other tiers still holding a copy
  TierMask pending = 0;    // tiers a copy is being written to (demoted_to included)
  std::optional<TierId> demoted_to;  // a copy claimed (begin_copy) for the move down
};

// Eviction's choice of where an evicted copy moves (nullopt: nowhere), given the
// row and its other copies; called under the row's shard lock: quick, no calls
// into the index.
using DemoteFn = std::function<std::optional<TierId>(const RowInfo& row, TierMask remaining, TierMask pending)>;

// What a drop_copy or remove left: the row's info and the copies the caller must
// delete. `erased` when the row left the index.
struct Dropped {
  RowInfo info;
  TierMask to_delete = 0;
  bool erased = false;
};

class Index {
 public:
  struct Options {
    std::size_t shards = 64;  // rounded up to a power of two
    std::chrono::milliseconds reservation_ttl{60'000};
    // Eviction value of a hit, added to a row's last-used time (LRU weighted by hits).
    std::chrono::milliseconds hit_weight{1'000};
    // Monotonic clock in nanoseconds (reservation deadlines, recency). Tests
    // substitute their own; the default is steady_clock, so a wall-clock step
    // never expires a save in flight.
    std::function<std::int64_t()> now_ns;
  };

  Index();
  explicit Index(Options options);
  ~Index();  // every Lease must have been released
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // ---- lookups (never block on I/O) ----
  bool contains(const Key& key) const;               // available?
  std::optional<RowSnapshot> get(const Key& key) const;  // any status
  // Lease on an available row. kNotFound when absent or being deleted, kBusy when
  // the key is being written. Neither hits nor recency change: call touch() when
  // the row is actually served.
  Result<Lease> checkout(const Key& key);
  // As checkout; if the key is being written, waits until that save ends either way
  // or the deadline passes (kTimeout). A save that ends as a miss yields kNotFound
  // even if another writer has reserved the key since. A reservation that expired
  // before link counts as ended (checkout drops it too).
  Result<Lease> checkout_or_wait(const Key& key, std::chrono::steady_clock::time_point deadline);
  // Stride walk (cache.md §1): probes lengths ⌊L/S⌋·S, …, max(min_length, S) from
  // longest; keys from one incremental pass; the first available row is checked out.
  // The floor is the smallest multiple of S ≥ max(min_length, S); S = 0 probes nothing.
  StrideMatch longest_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens,
                             std::size_t stride, std::size_t min_length);
  // Any-token prefix over the available rows of namespace ns; linear in the prompt.
  // `key` is the shortest row sharing the longest common prefix (unset when no row
  // shares a token); `boundary_key` may be an empty-token row (length 0).
  AnyPrefixMatch any_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens) const;
  // The leased row was served: +1 hit, recency = now (never moved back: a row
  // installed by a scan keeps its hit bias until the clock passes it). Returns the
  // new hit count.
  std::uint32_t touch(const Lease& lease);

  // ---- publication (cache.md §2) ----
  // kAlreadyPresent if available; kConflict if a live reservation exists or the
  // row is being deleted (a stale reservation — expired — is cleaned up by stage
  // first; a post-link stale one yields kConflict until adopt/discard).
  Result<Reservation> reserve(const Key& key);
  // Still ours? Refreshes the TTL. False when cancelled or expired (an expired
  // reservation is never revived; check, mark_linked and publish all refuse it).
  bool check(const Reservation& r);
  // Records that the data is published in `tier` (post-link stage); refreshes TTL.
  bool mark_linked(const Reservation& r, TierId tier);
  // writing → available with `info` and a copy in `tier` (key must match); wakes
  // waiters. kCancelled if the reservation is no longer live.
  Status publish(Reservation& r, RowInfo info, TierId tier);
  // writing → absent (before or after link: the writer removes its own data);
  // wakes waiters with a miss.
  void cancel(Reservation& r);
  // Expired reservations: pre-link ones are dropped here (waiters woken); post-link
  // ones are returned for the cache to validate, then adopt() or discard(). A
  // post-link one is returned by every sweep until resolved; adopt and discard act
  // only while the token still holds the key, so resolving one twice is harmless.
  std::vector<ExpiredLinked> sweep();
  void adopt(const ExpiredLinked& e, RowInfo info);
  void discard(const ExpiredLinked& e);

  // ---- copies in tiers ----
  // A copy found in `tier` (scan, directory watch, remote discovery). Never
  // touches a row that is writing, deleting, or leased-and-different; adds the
  // copy to an available row. `from_scan` sets a new row's recency to
  // now + hits × hit_weight, so rows popular before a restart are evicted last.
  RegisterOutcome register_copy(RowInfo info, TierId tier, std::uint32_t hits, bool from_scan);
  // Claims the right to write a copy of available row `key` into `tier`: false when
  // the row is not available or already has (or is writing, or deleting) a copy
  // there. Every true must be followed by end_copy.
  bool begin_copy(const Key& key, TierId tier);
  // Ends a begin_copy: `ok` adds the copy. kRowGone when the row was removed or is
  // being deleted meanwhile: the caller deletes what it wrote (and, when `ok`, the
  // index no longer counts it).
  CopyOutcome end_copy(const Key& key, TierId tier, bool ok);
  // A copy that is gone or unusable (vanished file, corrupt value, unreadable):
  // removed at once, regardless of leases and pins. When it was the row's last
  // copy (none pending) the row leaves the index (erased). nullopt when that
  // copy was not recorded.
  std::optional<Dropped> drop_copy(const Key& key, TierId tier);
  // Explicit delete (even pinned) or quarantine: the row stops being visible at
  // once and every copy is handed to the caller to delete (then finish_delete per
  // tier). kBusy if `only_if_unleased` and the row is leased; kNotFound when absent.
  Result<Dropped> remove(const Key& key, bool only_if_unleased);
  void finish_delete(const Key& key, TierId tier);

  // Eviction from `tier`: the least valuable (last_used + hits × hit_weight)
  // unleased, unpinned available row with a copy there. Amortized O(log n) (a lazy
  // heap per tier: a row used since it was queued is re-queued at its new value).
  // The copy leaves the row at once. When `demote_to` names a tier, a copy there is
  // claimed in the same step (the row stays available while it moves; end it with
  // end_copy); otherwise, if it was the last copy (none pending), the row becomes
  // kDeleting. Follow with finish_evict after deleting the data.
  std::optional<Victim> evict_next(TierId tier, const DemoteFn& demote_to = {});
  void finish_evict(const Key& key, TierId tier) { finish_delete(key, tier); }
  // Candidates for eviction in `tier` (or any), least valuable first: a sorted
  // snapshot for tools and tests (O(n log n)).
  std::vector<RowSnapshot> eviction_candidates(std::optional<TierId> tier) const;

  Status pin(const Key& key);    // kNotFound if not available
  Status unpin(const Key& key);

  // All rows (any status), optionally only those with a copy in one tier.
  std::vector<RowSnapshot> rows(std::optional<TierId> tier = std::nullopt) const;
  std::size_t size() const;                       // available rows
  std::size_t copies(TierId tier) const;          // copies recorded in a tier
  std::uint64_t total_leases() const;             // O(rows): for metrics
  // Items in a tier's eviction heap, live and stale (for metrics and tests: stale
  // items are dropped lazily, and the heap is compacted when they pile up).
  std::size_t eviction_queue_size(TierId tier) const;

 private:
  friend class Reservation;
  enum class Miss { kAbsent, kExpired, kBusy };
  // checkout without building a Status: an empty Lease and the reason on a miss.
  Lease try_checkout(const Key& key, Miss* miss);
  void drop_reservation(const Key& key, std::uint64_t token);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvc::index
