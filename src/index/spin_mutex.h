// SpinMutex: the lock of an index shard. Its critical sections are a few dozen
// instructions (a table probe and a counter), so a test-and-test-and-set lock
// with one atomic exchange to take and one release store to give back is much
// cheaper than a futex mutex; a waiter spins briefly, then yields its core (the
// holder may have been preempted), so it never burns a core for long.
//
// Meets the Lockable requirements (std::lock_guard, std::unique_lock and
// std::condition_variable_any work with it).
#pragma once

#include <atomic>
#include <thread>

namespace kvc::index {

class SpinMutex {
 public:
  void lock() noexcept {
    for (;;) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      for (int spins = 0; locked_.load(std::memory_order_relaxed);) {
        if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace kvc::index
