// Counters of cache.md §6: monotonic since start, cheap to update from any
// thread, cheap to read.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kvc/stats.h"

namespace kvc {

// A counter updated from many threads without sharing a cache line between
// them: each thread adds to its own stripe (padded to a cache line), a read sums
// the stripes. Lookups count every hit, so one shared atomic would make two
// threads slower than one.
class StripedCounter {
 public:
  void add(std::uint64_t n = 1) { stripes_[stripe()].v.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t load() const {
    std::uint64_t sum = 0;
    for (const auto& s : stripes_) sum += s.v.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  static constexpr std::size_t kStripes = 8;
  struct alignas(64) Stripe {
    std::atomic<std::uint64_t> v{0};
  };
  static std::size_t stripe() {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
    return mine;
  }
  std::array<Stripe, kStripes> stripes_{};
};

#define KVC_COUNTER_LIST(X)                                                       \
  X(hits_exact, "Exact-key lookups that found a row")                             \
  X(hits_resume, "parent_key lookups that found a row")                           \
  X(hits_longest_prefix, "Stride-walk lookups that found a row")                  \
  X(hits_any_prefix, "Any-token prefix lookups that found a row")                 \
  X(misses, "Lookups that found no usable row")                                   \
  X(saves_cold, "Rows saved after a cold prefill")                                \
  X(saves_continued, "Rows saved during generation")                              \
  X(saves_finish, "Rows saved at the end of a request")                           \
  X(saves_evict, "Rows saved when a sequence was given away")                     \
  X(saves_shutdown, "Rows saved at shutdown")                                     \
  X(saves_dropped, "Saves dropped (queue full, disabled, or no room)")            \
  X(duplicate_dropped, "Saves skipped because the key was already present")       \
  X(evictions, "Copies evicted from a tier (quota, byte target, gc, pressure)")    \
  X(corrupt_files, "Copies removed because their data failed verification")      \
  X(vanished_copies, "Copies found gone (deleted by a sibling, expired remotely)") \
  X(unreadable_copies, "Copies dropped because they could not be read (e.g. EACCES)") \
  X(restore_failures, "Rows quarantined because the engine could not restore them") \
  X(pack_total_ns, "Time spent building and writing saves")                       \
  X(load_total_ns, "Time spent reading and verifying loads")                      \
  X(longest_prefix_probes, "Index probes made by stride walks")                   \
  X(longest_prefix_ns, "Time spent in stride walks")

// CounterSnapshot is public (kvc/stats.h): one field per entry of the list, in order.
#define KVC_X(name, help) +1
static_assert(sizeof(CounterSnapshot) - sizeof(std::uint64_t) * (0 KVC_COUNTER_LIST(KVC_X)) == 0);
#undef KVC_X

struct Counters {
#define KVC_X(name, help) StripedCounter name;
  KVC_COUNTER_LIST(KVC_X)
#undef KVC_X
  CounterSnapshot snapshot() const;
  void add(StripedCounter& c, std::uint64_t n = 1) { c.add(n); }
};

// Help text of a counter by name ("" if unknown).
std::string_view counter_help(std::string_view name);

// Per-tier counters (cache.md §6), exported labelled by tier.
#define KVC_TIER_COUNTER_LIST(X)                                                        \
  X(hits, "Loads served from the tier")                                                 \
  X(misses, "Loads that found the tier's copy gone, corrupt or unreadable")             \
  X(promotions, "Copies made in the tier because a slower tier served the row")         \
  X(demotions, "Copies made in the tier because a faster tier evicted the row")         \
  X(evictions, "Copies evicted from the tier")                                          \
  X(write_through_bytes, "Bytes written to the tier by write-through")                  \
  X(write_through_drops, "Copies for the tier dropped (queue full, no room, failed)")   \
  X(bytes_in, "Bytes read from the tier by loads")                                      \
  X(bytes_out, "Bytes written to the tier")                                             \
  X(errors, "Operations on the tier that failed (I/O, refused, unreachable)")           \
  X(timeouts, "Operations on the tier that timed out")

// TierCounterSnapshot is public (kvc/stats.h): one field per entry of the list.
#define KVC_X(name, help) +1
static_assert(sizeof(TierCounterSnapshot) - sizeof(std::uint64_t) * (0 KVC_TIER_COUNTER_LIST(KVC_X)) == 0);
#undef KVC_X

struct TierCounters {
#define KVC_X(name, help) std::atomic<std::uint64_t> name{0};
  KVC_TIER_COUNTER_LIST(KVC_X)
#undef KVC_X
  TierCounterSnapshot snapshot() const;
  void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
};

std::string_view tier_counter_help(std::string_view name);

}  // namespace kvc
