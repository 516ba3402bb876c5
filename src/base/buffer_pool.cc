#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

#include "kvc/buffer.h"

namespace kvc {

namespace {

constexpr std::size_t kSmall = 1 << 20;    // below this: plain allocations, not kept
constexpr std::size_t kAlign = 2 << 20;    // large buffers: 2 MiB aligned and rounded (huge pages)

std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

// Large buffers are anonymous mappings, 2 MiB aligned, advised for huge pages and
// populated in one call (MADV_POPULATE_WRITE): on a VM a page fault per 4 KiB page
// costs ~10 µs, so touching 88 MiB page by page took ~300 ms of CPU where one
// populate call takes ~5 ms. Kernels without it get the pages touched one by one.
std::byte* allocate(std::size_t capacity) {
  if (capacity < kSmall) {
    auto* p = static_cast<std::byte*>(std::malloc(std::max<std::size_t>(capacity, 1)));
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  const std::size_t span = capacity + kAlign;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  // Trim to a 2 MiB-aligned range of `capacity` bytes.
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (base + kAlign - 1) / kAlign * kAlign;
  if (aligned > base) ::munmap(raw, aligned - base);
  const std::uintptr_t end = aligned + capacity;
  if (base + span > end) ::munmap(reinterpret_cast<void*>(end), base + span - end);
  void* p = reinterpret_cast<void*>(aligned);
  (void)::madvise(p, capacity, MADV_HUGEPAGE);  // fewer faults and TLB misses; advisory
  if (::madvise(p, capacity, MADV_POPULATE_WRITE) != 0) {
    // Pre-fault: touch every page once now, so the first restore into it does not.
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    auto* b = static_cast<volatile std::byte*>(p);
    for (std::size_t i = 0; i < capacity; i += page) b[i] = std::byte{0};
  }
  return static_cast<std::byte*>(p);
}

void deallocate(std::byte* p, std::size_t capacity) {
  if (capacity < kSmall) {
    std::free(p);
  } else {
    ::munmap(p, capacity);
  }
}

}  // namespace

// ---- ByteBuffer ----

ByteBuffer::ByteBuffer(ByteBuffer&& o) noexcept
    : pool_(o.pool_), data_(o.data_), size_(o.size_), capacity_(o.capacity_) {
  o.pool_ = nullptr;
  o.data_ = nullptr;
  o.size_ = o.capacity_ = 0;
}

ByteBuffer& ByteBuffer::operator=(ByteBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    pool_ = o.pool_;
    data_ = o.data_;
    size_ = o.size_;
    capacity_ = o.capacity_;
    o.pool_ = nullptr;
    o.data_ = nullptr;
    o.size_ = o.capacity_ = 0;
  }
  return *this;
}

ByteBuffer::~ByteBuffer() { reset(); }

bool ByteBuffer::resize(std::size_t n) {
  if (n > capacity_) return false;
  size_ = n;
  return true;
}

ByteBuffer ByteBuffer::copy_of(std::span<const std::byte> bytes) {
  ByteBuffer b = BufferPool::shared().acquire(bytes.size());
  if (!bytes.empty()) std::memcpy(b.data(), bytes.data(), bytes.size());
  return b;
}

void ByteBuffer::reset() {
  if (data_ != nullptr) {
    if (pool_ != nullptr) {
      pool_->give_back(data_, capacity_);
    } else {
      deallocate(data_, capacity_);
    }
  }
  pool_ = nullptr;
  data_ = nullptr;
  size_ = capacity_ = 0;
}

// ---- BufferPool ----

struct BufferPool::State {
  std::size_t budget;
  mutable std::mutex mu;
  std::multimap<std::size_t, std::byte*> free;  // capacity → buffer
  std::size_t kept = 0;
  std::uint64_t reused = 0;
  std::uint64_t allocated = 0;
};

BufferPool::BufferPool(std::size_t budget_bytes) : state_(std::make_unique<State>()) {
  state_->budget = budget_bytes;
}

BufferPool::~BufferPool() { trim(); }

BufferPool& BufferPool::shared() {
  static auto* pool = new BufferPool(std::size_t{1} << 30);  // never destroyed
  return *pool;
}

ByteBuffer BufferPool::acquire(std::size_t size) {
  if (size >= kSmall) {
    std::lock_guard lock(state_->mu);
    auto it = state_->free.lower_bound(size);
    if (it != state_->free.end() && it->first <= 2 * size + kSmall) {
      const std::size_t cap = it->first;
      std::byte* p = it->second;
      state_->free.erase(it);
      state_->kept -= cap;
      ++state_->reused;
      return ByteBuffer(this, p, size, cap);
    }
  }
  const std::size_t cap = size < kSmall ? size : round_up(size, kAlign);
  std::byte* p = allocate(cap);
  {
    std::lock_guard lock(state_->mu);
    ++state_->allocated;
  }
  return ByteBuffer(this, p, size, cap);
}

void BufferPool::give_back(std::byte* data, std::size_t capacity) {
  if (capacity >= kSmall) {
    std::lock_guard lock(state_->mu);
    // Keep it if it fits the budget, evicting the smallest kept buffers first.
    while (state_->kept + capacity > state_->budget && !state_->free.empty() &&
           state_->free.begin()->first < capacity) {
      auto it = state_->free.begin();
      state_->kept -= it->first;
      deallocate(it->second, it->first);
      state_->free.erase(it);
    }
    if (state_->kept + capacity <= state_->budget) {
      state_->free.emplace(capacity, data);
      state_->kept += capacity;
      return;
    }
  }
  deallocate(data, capacity);
}

BufferPool::Stats BufferPool::stats() const {
  std::lock_guard lock(state_->mu);
  return Stats{state_->reused, state_->allocated, state_->kept};
}

void BufferPool::trim() {
  std::lock_guard lock(state_->mu);
  for (auto& [cap, p] : state_->free) deallocate(p, cap);
  state_->free.clear();
  state_->kept = 0;
}

}  // namespace kvc
