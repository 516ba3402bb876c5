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

bool PieceBuffer::push(std::string_view piece) {
  std::lock_guard lock(mu_);
  pending_ += piece;
  if (scheduled_) return false;
  scheduled_ = true;
  return true;
}

std::string PieceBuffer::take() {
  std::lock_guard lock(mu_);
  scheduled_ = false;
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace kvc::server
