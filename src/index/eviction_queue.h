// The eviction order of one tier: a lazy min-heap of (value, key, sequence).
//
// The index pushes an item when a row gains a copy in the tier. Lookups never
// touch the heap: a row's value (last used + hits × weight) only grows, so when
// an item is popped the index compares it with the row's current value and, if
// the row was used since, pushes it again at its new value. An item whose
// sequence no longer matches the row's is stale (the copy left, or a newer item
// exists) and is skipped. Each pop and push is O(log n).
//
// Thread-safe (one mutex). Never called with a shard mutex held.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "kvc/key.h"

namespace kvc::index {

class EvictionQueue {
 public:
  struct Item {
    std::int64_t value = 0;
    Key key;
    std::uint32_t seq = 0;
  };

  void push(const Item& item);
  void push_all(const std::vector<Item>& items);
  // The least valuable item (ties by key), or nullopt when empty.
  std::optional<Item> pop();
  // Drops the items `keep` rejects (stale ones), under the queue's mutex: `keep`
  // may take a shard mutex (the lock order is queue → shard; nothing pushes while
  // holding a shard mutex).
  template <class Keep>
  void compact(Keep&& keep) {
    std::lock_guard lock(mu_);
    std::erase_if(heap_, [&](const Item& i) { return !keep(i); });
    remake_heap();
  }
  std::size_t size() const;

 private:
  static bool after(const Item& a, const Item& b);  // a is more valuable than b
  void remake_heap();  // caller holds mu_
  mutable std::mutex mu_;
  std::vector<Item> heap_;
};

}  // namespace kvc::index
