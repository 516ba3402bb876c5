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

AdmissionQueue::Entry AdmissionQueue::enter() {
  std::unique_lock lock(mu_);
  if (closed_) return {Ticket(), Refusal::kClosed};
  if (running_ < slots_ && waiting_ == 0) {
    ++running_;
    return {Ticket(this), Refusal::kQueueFull};
  }
  if (waiting_ >= queue_size_) return {Ticket(), Refusal::kQueueFull};
  const std::uint64_t mine = next_ticket_++;
  ++waiting_;
  cv_.wait(lock, [&] { return closed_ || (mine == serving_ && running_ < slots_); });
  --waiting_;
  if (closed_) {
    cv_.notify_all();
    return {Ticket(), Refusal::kClosed};
  }
  ++serving_;
  ++running_;
  cv_.notify_all();  // the next waiter may fit too
  return {Ticket(this), Refusal::kQueueFull};
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
  return waiting_;
}

}  // namespace kvc::server
