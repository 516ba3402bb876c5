// Prometheus text exposition (format 0.0.4) of the cache's counters and gauges.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cache/counters.h"
#include "kvc/cache.h"

namespace kvc {

// Counters become `kvc_<name>_total`; durations kept in ns (`pack_total_ns`,
// `longest_prefix_ns`, …) become `kvc_<x>_seconds_total` in seconds;
// tiers give `kvc_tier_used_bytes`, `kvc_tier_quota_bytes`, `kvc_tier_rows` gauges
// and `kvc_tier_<counter>_total` counters (hits, promotions, demotions, …), all
// labelled by tier, index and dir; plus `kvc_leases`, `kvc_writer_queue_depth`
// and `kvc_writer_queue_bytes` gauges.
std::string render_prometheus(const CounterSnapshot& counters, const std::vector<TierStats>& tiers,
                              std::uint64_t leases, std::size_t writer_queue, std::uint64_t writer_queue_bytes);

// Escapes a label value (backslash, double quote, newline).
std::string prometheus_label_escape(const std::string& v);

}  // namespace kvc
