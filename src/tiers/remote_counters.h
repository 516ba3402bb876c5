// Counters of the remote tier: monotonic since start, updated with relaxed atomics
// on the paths their names describe, cheap to read from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "kvc/stats.h"

namespace kvc::tiers {

// The values, as the cache reports them (public: kvc/stats.h).
using RemoteCounterValues = kvc::RemoteCounterSnapshot;

struct RemoteCounters {
  std::atomic<std::uint64_t> hits{0}, misses{0}, bytes_in{0}, bytes_out{0}, puts{0}, put_duplicates{0}, removes{0},
      errors{0}, timeouts{0}, fast_failures{0}, corrupt_rejected{0}, moved{0}, ask{0}, slot_map_refreshes{0},
      reconnects{0}, publications_seen{0}, scanned_rows{0};

  static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

  RemoteCounterValues read() const {
    auto r = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    return {r(hits),       r(misses),        r(bytes_in),         r(bytes_out), r(puts),
            r(put_duplicates), r(removes),   r(errors),           r(timeouts),  r(fast_failures),
            r(corrupt_rejected), r(moved),   r(ask),              r(slot_map_refreshes),
            r(reconnects), r(publications_seen), r(scanned_rows)};
  }
};

}  // namespace kvc::tiers
