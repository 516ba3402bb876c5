#include "engine/state_snapshot.h"

#include <algorithm>

namespace kvc::engine {
namespace {

// Over the model's prediction: a few pages, plus 1/256 of the size.
std::size_t slack(std::size_t size) { return 16384 + size / 256; }

}  // namespace

std::size_t StateSnapshotter::bound(std::size_t n_tokens) const {
  if (n0_ == 0 || n1_ == 0) return 0;
  // size = a + b·n through the two observations (b ≥ 0; a may be estimated low
  // when b rounds down: the slack covers it).
  const double b = (static_cast<double>(size1_) - static_cast<double>(size0_)) /
                   (static_cast<double>(n1_) - static_cast<double>(n0_));
  const double per_token = std::max(b, 0.0);
  const double a = static_cast<double>(size1_) - per_token * static_cast<double>(n1_);
  const double predicted = std::max(a, 0.0) + per_token * static_cast<double>(n_tokens);
  const auto size = static_cast<std::size_t>(predicted + 0.5);
  return size + slack(size);
}

void StateSnapshotter::observe(std::size_t n_tokens, std::size_t size) {
  if (n_tokens == 0 || size == 0) return;
  if (n_tokens == n1_) {
    size1_ = size;
  } else {
    n0_ = n1_;
    size0_ = size1_;
    n1_ = n_tokens;
    size1_ = size;
  }
}

StateSnapshotter::Snapshot StateSnapshotter::take(llama_context* ctx, llama_seq_id seq, std::size_t n_tokens) {
  Snapshot s;
  if (const std::size_t guess = bound(n_tokens); guess != 0) {
    s.bytes = BufferPool::shared().acquire(guess);
    const std::size_t wrote =
        llama_state_seq_get_data(ctx, reinterpret_cast<std::uint8_t*>(s.bytes.data()), s.bytes.size(), seq);
    if (wrote != 0 && s.bytes.resize(wrote)) {
      observe(n_tokens, wrote);
      return s;
    }
    // Too small after all (a layout the model did not predict): ask for the size.
  }
  s.dry_run = true;
  ++dry_runs_;
  s.bytes = ByteBuffer();
  const std::size_t size = llama_state_seq_get_size(ctx, seq);
  if (size == 0) return s;
  s.bytes = BufferPool::shared().acquire(size);
  if (llama_state_seq_get_data(ctx, reinterpret_cast<std::uint8_t*>(s.bytes.data()), size, seq) != size) {
    s.bytes = ByteBuffer();
    return s;
  }
  observe(n_tokens, size);
  return s;
}

}  // namespace kvc::engine
