// Lease: the RAII checkout of an available row.
#include <cassert>
#include <mutex>

#include "index/index.h"
#include "index/index_impl.h"

namespace kvc::index {

Lease::Lease(Lease&& other) noexcept : index_(other.index_), entry_(std::move(other.entry_)) {
  other.index_ = nullptr;
}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    index_ = other.index_;
    entry_ = std::move(other.entry_);
    other.index_ = nullptr;
  }
  return *this;
}

Lease::~Lease() { release(); }

const RowInfo& Lease::row() const {
  assert(entry_ != nullptr && "Lease::row() on an empty lease");
  return entry_->info;  // immutable while leased
}

void Lease::release() {
  if (entry_ == nullptr) return;
  index_->release(*entry_);
  entry_.reset();
  index_ = nullptr;
}

// Safe for entries already removed from the index: the lease keeps the entry
// alive and its shard mutex still guards it.
void Index::release(Entry& e) {
  Shard& s = *impl_->shards[e.shard];
  std::lock_guard lock(s.mu);
  if (e.leases == 0) return;  // never negative
  --e.leases;
  impl_->leases.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace kvc::index
