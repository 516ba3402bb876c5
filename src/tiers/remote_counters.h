// Counters of the remote tier: monotonic since start, updated with relaxed atomics
// on the paths their names describe, cheap to read from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace kvc::tiers {

struct RemoteCounterValues {
  std::uint64_t hits = 0;              // get() returned a verified file
  std::uint64_t misses = 0;            // get() found no row (vanished, never there)
  std::uint64_t bytes_in = 0;          // value bytes fetched (rows, manifests, chunks)
  std::uint64_t bytes_out = 0;         // value bytes written
  std::uint64_t puts = 0;              // rows published (manifest or whole file committed)
  std::uint64_t put_duplicates = 0;    // put() found the row already there and wrote nothing
  std::uint64_t removes = 0;           // rows deleted by remove()
  std::uint64_t errors = 0;            // failed operations other than timeouts (refused, reset, OOM, down …)
  std::uint64_t timeouts = 0;          // operations that ran out of time (stall or caller deadline)
  std::uint64_t fast_failures = 0;     // calls refused at once because their node was down (also in errors)
  std::uint64_t corrupt_rejected = 0;  // corrupt, truncated or foreign values deleted
  std::uint64_t moved = 0;             // MOVED redirects followed
  std::uint64_t ask = 0;               // ASK redirects followed
  std::uint64_t slot_map_refreshes = 0;  // CLUSTER SLOTS maps installed
  std::uint64_t reconnects = 0;        // a down node came back (background reconnect)
  std::uint64_t publications_seen = 0;  // stream entries read by the tail
  std::uint64_t scanned_rows = 0;      // rows reported by scan()
};

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
