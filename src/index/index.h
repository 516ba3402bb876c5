// The in-memory index: key → row, leases, reservations, waiters, pins, recency,
// and the two prefix lookups (stride walk, any-token prefix trie).
//
// Concurrency: rows live in shards, each with its own mutex; no operation takes a
// lock over the whole index, and no lookup waits for I/O (the index does none).
// Terminal transitions of a reservation (publish, cancel, expiry) wake waiters.
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
#include "kvc/status.h"

namespace kvc::index {

class Index;
struct Entry;  // private to index.cc

// A checkout of an available row. While any Lease of a row lives, the row cannot
// be evicted. Movable; releases on destruction (every exit path). A lease must not
// outlive its Index. The row may still be removed (remove()): the lease keeps
// reading its RowInfo, and releasing it afterwards is safe.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&&) noexcept;
  Lease& operator=(Lease&&) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  explicit operator bool() const { return entry_ != nullptr; }
  const RowInfo& row() const;
  void release();

 private:
  friend class Index;
  Lease(Index* index, std::shared_ptr<Entry> entry) : index_(index), entry_(std::move(entry)) {}
  Index* index_ = nullptr;
  std::shared_ptr<Entry> entry_;
};

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
  TierId tier() const { return tier_; }
  std::uint64_t token() const { return token_; }

 private:
  friend class Index;
  Index* index_ = nullptr;
  Key key_;
  TierId tier_ = 0;
  std::uint64_t token_ = 0;
};

// A reservation the sweep found expired after its file was linked: the cache must
// validate the file at `location` and then call Index::adopt or Index::discard.
struct ExpiredLinked {
  Key key;
  TierId tier = 0;
  std::uint64_t token = 0;
  std::string location;
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

enum class RegisterOutcome { kInserted, kReplaced, kKeptExisting };

class Index {
 public:
  struct Options {
    std::size_t shards = 64;
    std::chrono::milliseconds reservation_ttl{60'000};
    // Eviction value of a hit, added to a row's last-used time (LRU weighted by hits).
    std::chrono::milliseconds hit_weight{1'000};
    // Clock, unix nanoseconds. Tests substitute their own.
    std::function<std::int64_t()> now_ns;
  };

  Index();
  explicit Index(Options options);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // ---- lookups (never block on I/O) ----
  bool contains(const Key& key) const;               // available?
  std::optional<RowSnapshot> get(const Key& key) const;  // any status
  // Lease on an available row: bumps hits and recency. kNotFound when absent,
  // kBusy when the key is being written.
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

  // ---- publication ----
  // kAlreadyPresent if available; kConflict if a live reservation exists (a stale
  // one — expired — is cleaned up by stage first; a post-link stale one yields
  // kConflict until the cache resolves it via adopt/discard).
  Result<Reservation> reserve(const Key& key, TierId tier);
  // Still ours? Refreshes the TTL. False when cancelled or expired (an expired
  // reservation is never revived; check, mark_linked and publish all refuse it).
  bool check(const Reservation& r);
  // Records that the file is linked at `location` (post-link stage); refreshes TTL.
  bool mark_linked(const Reservation& r, const std::string& location);
  // writing → available with `info` (key must match); wakes waiters. kCancelled if
  // the reservation is no longer live.
  Status publish(Reservation& r, RowInfo info);
  // writing → absent (before or after link: the writer removes its own file);
  // wakes waiters with a miss.
  void cancel(Reservation& r);
  // Expired reservations: pre-link ones are dropped here (waiters woken); post-link
  // ones are returned for the cache to validate, then adopt() or discard(). A
  // post-link one is returned by every sweep until resolved; adopt and discard act
  // only while the token still holds the key, so resolving one twice is harmless.
  std::vector<ExpiredLinked> sweep();
  void adopt(const ExpiredLinked& e, RowInfo info);
  void discard(const ExpiredLinked& e);

  // ---- registration and removal ----
  // Installs an available row (scan, ram put, remote discovery). Never overwrites
  // a row that is writing or leased (kKeptExisting); an idle row is replaced
  // (its pin is kept). `from_scan` sets recency to
  // now + hits × hit_weight so rows popular before a restart are evicted last.
  RegisterOutcome register_row(RowInfo info, std::uint32_t hits, bool from_scan);
  // Removes an available row regardless of leases and pins (corrupt/missing data,
  // explicit delete). Returns its info if it was present; writing rows are left
  // alone (nullopt).
  std::optional<RowInfo> remove(const Key& key);
  // Removes the row only if available, unleased and unpinned (eviction).
  std::optional<RowInfo> evict_if_idle(const Key& key);
  // Candidates for eviction on a tier, least valuable first (unleased, unpinned),
  // value = last_used_ns + hits × hit_weight; ties by key.
  std::vector<RowSnapshot> eviction_candidates(std::optional<TierId> tier) const;

  Status pin(const Key& key);    // kNotFound if not available
  Status unpin(const Key& key);

  // All rows (any status), optionally only one tier.
  std::vector<RowSnapshot> rows(std::optional<TierId> tier = std::nullopt) const;
  std::size_t size() const;  // available rows
  std::uint64_t total_leases() const;

 private:
  friend class Lease;
  friend class Reservation;
  enum class Miss { kAbsent, kExpired, kBusy };
  // checkout without building a Status: an empty Lease and the reason on a miss.
  Lease try_checkout(const Key& key, Miss* miss);
  void release(Entry& e);
  void drop_reservation(const Key& key, std::uint64_t token);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvc::index
