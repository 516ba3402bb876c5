// kvc::Lease — a checkout of an available row (Cache::checkout and the prefix
// lookups hand them out; Cache::load reads the leased row).
#pragma once

#include "kvc/row.h"

namespace kvc {
namespace index {
class Index;
struct Entry;  // the index's row: opaque here
}  // namespace index

// While any Lease of a row lives, no copy of the row is evicted. Move-only;
// releases on destruction (every exit path). The row may still be removed
// (Cache::remove, a failed load): the lease keeps reading its RowInfo, and
// releasing it afterwards is safe. A Lease must be released (or destroyed) before
// its Cache is destroyed. Not thread-safe itself: one thread at a time per Lease.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& o) noexcept : entry_(o.entry_) { o.entry_ = nullptr; }
  Lease& operator=(Lease&& o) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { release(); }

  // False for an empty lease (a miss, a moved-from or released lease).
  explicit operator bool() const { return entry_ != nullptr; }
  // The leased row; the lease must not be empty. Immutable while leased.
  const RowInfo& row() const;
  // Tiers holding a copy right now (bit t: CacheOptions::tiers[t]). May grow while
  // leased (a write-through adds a copy); a failed load removes one. 0 when empty.
  TierMask tiers() const;
  // Gives the row back: one atomic decrement, no lock. Idempotent.
  void release();

 private:
  friend class index::Index;
  explicit Lease(index::Entry* e) : entry_(e) {}
  index::Entry* entry_ = nullptr;
};

}  // namespace kvc
