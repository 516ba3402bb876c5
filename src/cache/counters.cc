#include "cache/counters.h"

namespace kvc {

std::vector<std::pair<std::string, std::uint64_t>> CounterSnapshot::items() const {
  return {
#define KVC_X(name, help) {#name, name},
      KVC_COUNTER_LIST(KVC_X)
#undef KVC_X
  };
}

CounterSnapshot Counters::snapshot() const {
  CounterSnapshot s;
#define KVC_X(name, help) s.name = name.load();
  KVC_COUNTER_LIST(KVC_X)
#undef KVC_X
  return s;
}

std::string_view counter_help(std::string_view name) {
#define KVC_X(n, help) \
  if (name == #n) return help;
  KVC_COUNTER_LIST(KVC_X)
#undef KVC_X
  return {};
}

std::vector<std::pair<std::string, std::uint64_t>> TierCounterSnapshot::items() const {
  return {
#define KVC_X(name, help) {#name, name},
      KVC_TIER_COUNTER_LIST(KVC_X)
#undef KVC_X
  };
}

TierCounterSnapshot TierCounters::snapshot() const {
  TierCounterSnapshot s;
#define KVC_X(name, help) s.name = name.load(std::memory_order_relaxed);
  KVC_TIER_COUNTER_LIST(KVC_X)
#undef KVC_X
  return s;
}

std::string_view tier_counter_help(std::string_view name) {
#define KVC_X(n, help) \
  if (name == #n) return help;
  KVC_TIER_COUNTER_LIST(KVC_X)
#undef KVC_X
  return {};
}

}  // namespace kvc
