#include "cache/writer_pool.h"

namespace kvc {

WriterPool::WriterPool(int threads, std::size_t max_jobs, std::uint64_t max_bytes)
    : max_jobs_(max_jobs), max_bytes_(max_bytes) {
  if (threads < 1) threads = 1;
  threads_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WriterPool::~WriterPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool WriterPool::submit(Job job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_jobs_) return false;
    if (!queue_.empty() && bytes_ + job.bytes > max_bytes_) return false;
    bytes_ += job.bytes;
    queue_.push_back(std::move(job));
  }
  work_cv_.notify_one();
  idle_cv_.notify_all();  // a deadline drain drops jobs queued while it waits
  return true;
}

std::size_t WriterPool::drain(std::chrono::steady_clock::time_point deadline) {
  std::deque<Job> dropped;
  {
    std::unique_lock lock(mu_);
    const auto idle = [&] { return queue_.empty() && running_ == 0; };
    if (deadline == std::chrono::steady_clock::time_point::max()) {
      idle_cv_.wait(lock, idle);
    } else if (!idle_cv_.wait_until(lock, deadline, idle)) {
      // Past the deadline: drop what is queued (also what running jobs queue
      // meanwhile), and wait for the running jobs.
      for (;;) {
        for (Job& j : queue_) dropped.push_back(std::move(j));
        queue_.clear();
        bytes_ = 0;
        if (running_ == 0) break;
        idle_cv_.wait(lock, [&] { return running_ == 0 || !queue_.empty(); });
      }
    }
  }
  for (Job& j : dropped)
    if (j.drop) j.drop();
  return dropped.size();
}

std::size_t WriterPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::uint64_t WriterPool::queued_bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

void WriterPool::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and nothing left
    Job job = std::move(queue_.front());
    queue_.pop_front();
    bytes_ -= job.bytes;
    ++running_;
    lock.unlock();
    job.run();
    job = {};  // release what it holds before reporting idle
    lock.lock();
    --running_;
    if (running_ == 0) idle_cv_.notify_all();
  }
}

}  // namespace kvc
