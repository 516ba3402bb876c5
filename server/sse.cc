#include "server/sse.h"

namespace kvc::server {

std::string sse_event(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 8);
  out += "data: ";
  out += payload;
  out += "\n\n";
  return out;
}

bool PieceChannel::push(std::string_view piece) {
  std::lock_guard lock(mu_);
  if (cancelled_) return false;
  pending_ += piece;
  cv_.notify_all();
  return true;
}

void PieceChannel::finish() {
  std::lock_guard lock(mu_);
  finished_ = true;
  cv_.notify_all();
}

PieceChannel::Batch PieceChannel::pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !pending_.empty() || finished_; });
  Batch b;
  b.text.swap(pending_);
  b.finished = finished_;
  return b;
}

void PieceChannel::cancel() {
  std::lock_guard lock(mu_);
  cancelled_ = true;
  cv_.notify_all();
}

bool PieceChannel::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

}  // namespace kvc::server
