#include "index/eviction_queue.h"

#include <algorithm>

namespace kvc::index {

bool EvictionQueue::after(const Item& a, const Item& b) {
  return a.value != b.value ? a.value > b.value : b.key < a.key;
}

void EvictionQueue::push(const Item& item) {
  std::lock_guard lock(mu_);
  heap_.push_back(item);
  std::push_heap(heap_.begin(), heap_.end(), after);
}

void EvictionQueue::push_all(const std::vector<Item>& items) {
  if (items.empty()) return;
  std::lock_guard lock(mu_);
  for (const Item& i : items) {
    heap_.push_back(i);
    std::push_heap(heap_.begin(), heap_.end(), after);
  }
}

std::optional<EvictionQueue::Item> EvictionQueue::pop() {
  std::lock_guard lock(mu_);
  if (heap_.empty()) return std::nullopt;
  std::pop_heap(heap_.begin(), heap_.end(), after);
  Item top = heap_.back();
  heap_.pop_back();
  return top;
}

void EvictionQueue::remake_heap() { std::make_heap(heap_.begin(), heap_.end(), after); }

std::size_t EvictionQueue::size() const {
  std::lock_guard lock(mu_);
  return heap_.size();
}

}  // namespace kvc::index
