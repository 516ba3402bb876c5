// Lease: the RAII checkout of an available row. A release is one atomic
// decrement of the entry's reference count, with no lock.
#include <cassert>

#include "index/index.h"
#include "index/index_impl.h"

namespace kvc {

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    entry_ = other.entry_;
    other.entry_ = nullptr;
  }
  return *this;
}

const RowInfo& Lease::row() const {
  assert(entry_ != nullptr && "Lease::row() on an empty lease");
  return entry_->info;  // immutable while leased
}

TierMask Lease::tiers() const {
  return entry_ == nullptr ? 0 : entry_->present.load(std::memory_order_acquire);
}

// Safe for entries already removed from the index: the lease's reference keeps
// the entry alive, and the last reference deletes it.
void Lease::release() {
  if (entry_ == nullptr) return;
  if (entry_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete entry_;
  entry_ = nullptr;
}

}  // namespace kvc
