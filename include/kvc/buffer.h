// Byte buffers for KV-state payloads: never zero-filled, recycled through a pool
// so that multi-MiB snapshots and loads do not pay page faults on every use.
//
// A fresh buffer's pages are touched once when it is allocated (pre-faulted);
// a buffer given back to its pool is kept (up to the pool's byte budget) and
// handed out again for a request of similar size. Contents are unspecified on
// acquire: the caller writes before it reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace kvc {

class BufferPool;

// A heap buffer of `size()` bytes (capacity may be larger). Move-only; gives
// its memory back to its pool on destruction.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(ByteBuffer&& o) noexcept;
  ByteBuffer& operator=(ByteBuffer&& o) noexcept;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ~ByteBuffer();

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::span<std::byte> span() { return {data_, size_}; }
  std::span<const std::byte> span() const { return {data_, size_}; }
  // Changes the size within the capacity (false, unchanged, beyond it).
  bool resize(std::size_t n);
  // A buffer from BufferPool::shared() holding a copy of `bytes`.
  static ByteBuffer copy_of(std::span<const std::byte> bytes);

 private:
  friend class BufferPool;
  ByteBuffer(BufferPool* pool, std::byte* data, std::size_t size, std::size_t capacity)
      : pool_(pool), data_(data), size_(size), capacity_(capacity) {}
  void reset();
  BufferPool* pool_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// Thread-safe. The process-wide pool (shared()) lives forever, so buffers may be
// kept anywhere; a pool of one's own must outlive its buffers.
class BufferPool {
 public:
  // `budget_bytes`: how many bytes of free buffers the pool keeps for reuse.
  explicit BufferPool(std::size_t budget_bytes);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  static BufferPool& shared();  // budget: 1 GiB

  // A buffer of exactly `size` bytes: a kept buffer whose capacity is within
  // [size, 2·size + 1 MiB], else a new pre-faulted one. std::bad_alloc as new.
  ByteBuffer acquire(std::size_t size);

  struct Stats {
    std::uint64_t reused = 0;     // acquires served by a kept buffer
    std::uint64_t allocated = 0;  // acquires that allocated
    std::size_t kept_bytes = 0;   // capacity of the free buffers held now
  };
  Stats stats() const;
  void trim();  // frees every kept buffer

 private:
  friend class ByteBuffer;
  void give_back(std::byte* data, std::size_t capacity);
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace kvc
