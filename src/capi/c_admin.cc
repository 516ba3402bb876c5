// kvc.h: remove, gc and statistics.
#include <string>

#include "cache/counters.h"
#include "capi/c_boundary.h"

using namespace kvc::capi;

extern "C" {

kvc_status kvc_cache_remove(kvc_cache* cache, const kvc_key* key) {
  constexpr const char* fn = "kvc_cache_remove";
  if (!key) return null_argument(fn, "key");
  return with_open_cache(cache, fn, [&](kvc::Cache& c) -> kvc_status {
    const kvc::Status s = c.remove(to_key(*key));
    return s.ok() ? succeed() : fail(s);
  });
}

kvc_status kvc_cache_gc(kvc_cache* cache, uint64_t* out_freed_bytes) {
  return with_open_cache(cache, "kvc_cache_gc", [&](kvc::Cache& c) -> kvc_status {
    const std::uint64_t freed = c.gc();
    if (out_freed_bytes) *out_freed_bytes = freed;
    return succeed();
  });
}

kvc_status kvc_cache_stats(kvc_cache* cache, kvc_stats* out_stats) {
  constexpr const char* fn = "kvc_cache_stats";
  if (!out_stats) return null_argument(fn, "out_stats");
  return with_open_cache(cache, fn, [&](kvc::Cache& c) -> kvc_status {
    const kvc::CounterSnapshot s = c.counters();
    kvc_stats o{};
#define KVC_COPY(name, help) o.name = s.name;
    KVC_COUNTER_LIST(KVC_COPY)  // a counter missing from kvc_stats fails to compile here
#undef KVC_COPY
    o.n_tiers = c.options().tiers.size();
    *out_stats = o;
    return succeed();
  });
}

kvc_status kvc_cache_tier_stats(kvc_cache* cache, size_t tier, kvc_tier_stats* out_stats) {
  constexpr const char* fn = "kvc_cache_tier_stats";
  if (!out_stats) return null_argument(fn, "out_stats");
  return with_open_cache(cache, fn, [&](kvc::Cache& c) -> kvc_status {
    const auto all = c.tier_stats();
    if (tier >= all.size())
      return fail(KVC_ERR_INVALID_ARGUMENT, std::string(fn) + ": tier = " + std::to_string(tier) + "; the cache has " +
                                                std::to_string(all.size()) + " tier(s), numbered from 0");
    const kvc::TierStats& t = all[tier];
    kvc_tier_stats o{};
    o.kind = to_c_tier(c.options().tiers[tier].kind);
    o.used_bytes = t.used_bytes;
    o.quota_bytes = t.quota_bytes;
    o.rows = t.rows;
    o.hits = t.counters.hits;
    o.misses = t.counters.misses;
    o.promotions = t.counters.promotions;
    o.demotions = t.counters.demotions;
    o.evictions = t.counters.evictions;
    o.bytes_in = t.counters.bytes_in;
    o.bytes_out = t.counters.bytes_out;
    o.errors = t.counters.errors;
    *out_stats = o;
    return succeed();
  });
}

}  // extern "C"
