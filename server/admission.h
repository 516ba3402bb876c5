// Admission of generation requests onto the engine's N sequences: at most
// `slots` run at once, at most `queue_size` more wait (FIFO); beyond that a
// request is refused at once (the caller answers 503). close() refuses everyone,
// waiters included (shutdown). A waiter whose cancel flag is set leaves the queue
// (kCancelled) as soon as wake() is called.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace kvc::server {

class AdmissionQueue {
 public:
  AdmissionQueue(int slots, int queue_size);

  // Holds one running slot; releases it when destroyed.
  class Ticket {
   public:
    Ticket() = default;
    explicit Ticket(AdmissionQueue* q) : q_(q) {}
    Ticket(Ticket&& o) noexcept : q_(o.q_) { o.q_ = nullptr; }
    Ticket& operator=(Ticket&& o) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { release(); }
    void release();
    explicit operator bool() const { return q_ != nullptr; }

   private:
    AdmissionQueue* q_ = nullptr;
  };

  enum class Refusal { kQueueFull, kClosed, kCancelled };
  struct Entry {
    Ticket ticket;              // empty when refused
    Refusal refusal = Refusal::kQueueFull;
  };
  // Blocks while queued. Returns an empty ticket when the queue is full or closed,
  // or when *cancel (if given) is set while waiting (checked on wake()).
  Entry enter(const std::atomic<bool>* cancel = nullptr);
  void close();
  // Waiters re-check their cancel flags (call after setting one).
  void wake();

  int running() const;
  int waiting() const;
  int slots() const { return slots_; }
  int queue_size() const { return queue_size_; }

 private:
  void leave();

  const int slots_;
  const int queue_size_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  std::uint64_t next_ticket_ = 0;      // FIFO: numbers handed to waiters
  std::deque<std::uint64_t> waiters_;  // waiting numbers, oldest first
  bool closed_ = false;
};

}  // namespace kvc::server
