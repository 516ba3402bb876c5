#include "server/admission.h"

namespace kvc::server {

AdmissionQueue::AdmissionQueue(int slots, int queue_size) : slots_(slots), queue_size_(queue_size) {}

AdmissionQueue::Ticket& AdmissionQueue::Ticket::operator=(Ticket&& o) noexcept {
  if (this != &o) {
    release();
    q_ = o.q_;
    o.q_ = nullptr;
  }
  return *this;
}

void AdmissionQueue::Ticket::release() {
  if (q_ != nullptr) q_->leave();
  q_ = nullptr;
}

AdmissionQueue::Entry AdmissionQueue::enter(const std::atomic<bool>* cancel) {
  std::unique_lock lock(mu_);
  if (closed_) return {Ticket(), Refusal::kClosed};
  if (running_ < slots_ && waiters_.empty()) {
    ++running_;
    return {Ticket(this), Refusal::kQueueFull};
  }
  if (static_cast<int>(waiters_.size()) >= queue_size_) return {Ticket(), Refusal::kQueueFull};
  const std::uint64_t mine = next_ticket_++;
  waiters_.push_back(mine);
  const auto cancelled = [&] { return cancel != nullptr && cancel->load(); };
  cv_.wait(lock, [&] { return closed_ || cancelled() || (waiters_.front() == mine && running_ < slots_); });
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (*it == mine) {
      waiters_.erase(it);
      break;
    }
  }
  cv_.notify_all();  // the next waiter may be first now, or fit too
  if (closed_) return {Ticket(), Refusal::kClosed};
  if (cancelled()) return {Ticket(), Refusal::kCancelled};
  ++running_;
  return {Ticket(this), Refusal::kQueueFull};
}

void AdmissionQueue::wake() {
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

void AdmissionQueue::leave() {
  std::lock_guard lock(mu_);
  --running_;
  cv_.notify_all();
}

void AdmissionQueue::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

int AdmissionQueue::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

int AdmissionQueue::waiting() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(waiters_.size());
}

}  // namespace kvc::server
