// WriterPool: background threads running jobs (saves, write-throughs, demotions)
// from a queue bounded both in jobs and in bytes (the bytes a job holds: a
// multi-GB state counts as what it is). submit() never blocks: a full queue
// refuses the job (the caller counts it as dropped). One job larger than the
// byte bound is taken when the queue is empty. drain() waits for the queue with
// a deadline and drops what is left: a dropped job's `drop` runs instead of its
// `run`, so it can release what it holds (a reservation, a pending copy).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kvc {

class WriterPool {
 public:
  struct Job {
    std::function<void()> run;
    std::function<void()> drop;  // may be empty
    std::uint64_t bytes = 0;
  };

  WriterPool(int threads, std::size_t max_jobs, std::uint64_t max_bytes);
  // Drains with no deadline (callers that need one call drain first), then joins.
  ~WriterPool();
  WriterPool(const WriterPool&) = delete;
  WriterPool& operator=(const WriterPool&) = delete;

  // Queues the job; false (job not taken, nothing run) when full or stopping.
  bool submit(Job job);
  // Waits until the queue is empty and no job is running, or until `deadline`:
  // then the jobs still queued are dropped (their `drop` runs on this thread)
  // and their count is returned. Running jobs are always waited for.
  std::size_t drain(std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
  std::size_t queued() const;
  std::uint64_t queued_bytes() const;

 private:
  void run();

  const std::size_t max_jobs_;
  const std::uint64_t max_bytes_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::deque<Job> queue_;
  std::uint64_t bytes_ = 0;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace kvc
