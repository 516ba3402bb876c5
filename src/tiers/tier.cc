#include "tiers/tier.h"

namespace kvc::tiers {

bool Tier::try_charge(std::uint64_t bytes) {
  if (bytes > quota_) return false;
  std::uint64_t cur = used_.load(std::memory_order_relaxed);
  do {
    // cur may already exceed the quota after force_charge: then nothing fits.
    if (cur > quota_ - bytes) return false;
  } while (!used_.compare_exchange_weak(cur, cur + bytes, std::memory_order_relaxed));
  return true;
}

void Tier::credit(std::uint64_t bytes) {
  // Saturates at 0: a double credit is a caller bug, but must not wrap the counter.
  std::uint64_t cur = used_.load(std::memory_order_relaxed);
  while (!used_.compare_exchange_weak(cur, cur >= bytes ? cur - bytes : 0, std::memory_order_relaxed)) {
  }
}

void Tier::force_charge(std::uint64_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }

}  // namespace kvc::tiers
