// WriterPool: background threads running save jobs from a bounded queue.
// submit() never blocks: a full queue refuses the job (the caller counts it as
// dropped). Jobs run in submission order per thread; destruction finishes the
// queued jobs, then joins.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kvc {

class WriterPool {
 public:
  WriterPool(int threads, std::size_t queue_capacity);
  ~WriterPool();
  WriterPool(const WriterPool&) = delete;
  WriterPool& operator=(const WriterPool&) = delete;

  // Queues the job; false (job not taken) when the queue is full or stopping.
  bool submit(std::function<void()> job);
  // Blocks until the queue is empty and no job is running.
  void drain();
  std::size_t queued() const;

 private:
  void run();

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::deque<std::function<void()>> queue_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace kvc
