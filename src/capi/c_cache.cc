// kvc.h: options, opening, closing and freeing a cache.
#include <string>

#include "capi/c_boundary.h"

namespace kvc::capi {
namespace {

constexpr const char* kOpen = "kvc_cache_open";

// The C options as CacheOptions; the error names the setting at fault.
kvc_status convert(const kvc_cache_options& in, CacheOptions& out) {
  if (in.n_tiers == 0) return fail(KVC_ERR_INVALID_ARGUMENT, std::string(kOpen) + ": options.n_tiers is 0; configure at least one tier");
  if (!in.tiers) return null_argument(kOpen, "options.tiers");
  if (in.n_tiers > 3)
    return fail(KVC_ERR_INVALID_ARGUMENT, std::string(kOpen) + ": options.n_tiers = " + std::to_string(in.n_tiers) +
                                              "; at most one tier of each kind (ram, ram_file, disk)");
  for (std::size_t i = 0; i < in.n_tiers; ++i) {
    const kvc_tier_options& t = in.tiers[i];
    const std::string name = std::string(kOpen) + ": options.tiers[" + std::to_string(i) + "]";
    TierOptions o;
    switch (enum_value(t.kind)) {
      case KVC_TIER_RAM: o.kind = TierKind::kRam; break;
      case KVC_TIER_RAM_FILE: o.kind = TierKind::kRamFile; break;
      case KVC_TIER_DISK: o.kind = TierKind::kDisk; break;
      default:
        return fail(KVC_ERR_INVALID_ARGUMENT, name + ".kind = " + std::to_string(enum_value(t.kind)) +
                                                  " is not a kvc_tier_kind (KVC_TIER_RAM, _RAM_FILE or _DISK)");
    }
    switch (enum_value(t.policy)) {
      case KVC_POLICY_WRITE_THROUGH: o.policy = TierPolicy::kWriteThrough; break;
      case KVC_POLICY_ON_EVICT: o.policy = TierPolicy::kOnEvict; break;
      default:
        return fail(KVC_ERR_INVALID_ARGUMENT, name + ".policy = " + std::to_string(enum_value(t.policy)) +
                                                  " is not a kvc_tier_policy (KVC_POLICY_WRITE_THROUGH or _ON_EVICT)");
    }
    if (o.kind == TierKind::kRam) {
      if (t.dir && *t.dir) return fail(KVC_ERR_INVALID_ARGUMENT, name + ".dir is set for a RAM tier; leave it NULL");
    } else {
      if (!t.dir || !*t.dir)
        return fail(KVC_ERR_INVALID_ARGUMENT, name + ".dir is " + (t.dir ? "empty" : "NULL") +
                                                  "; a RAM_FILE or DISK tier needs a directory");
      o.dir = t.dir;
    }
    o.quota_bytes = t.quota_bytes;
    if (t.min_tokens >= 0) o.min_tokens = t.min_tokens;
    out.tiers.push_back(std::move(o));
  }
  if (in.writer_threads < 1)
    return fail(KVC_ERR_INVALID_ARGUMENT,
                std::string(kOpen) + ": options.writer_threads = " + std::to_string(in.writer_threads) + "; use 1 or more");
  SavePolicy& p = out.policy;
  p.saves_enabled = in.saves_enabled;
  p.min_tokens = in.min_tokens;
  p.cold_min_tokens = in.cold_min_tokens;
  p.cold_max_tokens = in.cold_max_tokens;
  p.continued_interval = in.continued_interval;
  p.boundary_trim_tokens = in.boundary_trim_tokens;
  p.boundary_align_tokens = in.boundary_align_tokens;
  out.writers.threads = in.writer_threads;
  out.file_mode = in.file_mode;
  out.watch_directories = in.watch_directories;
  return KVC_OK;
}

// Releases the leases still held and destroys the Cache (draining its queue and
// joining its threads) once the calls in progress have finished. `closing` is set.
void shut_down(CacheState& state) {
  std::unique_ptr<Cache> closing;
  {
    std::unique_lock lock(state.mu);  // waits for the calls in progress
    std::lock_guard leases(state.leases_mu);
    for (kvc_lease* l : state.leases) l->lease.release();  // before the index goes
    state.leases.clear();
    closing = std::move(state.cache);
  }
  closing.reset();  // outside the lock: later calls see KVC_ERR_CLOSED at once
}

}  // namespace
}  // namespace kvc::capi

using namespace kvc::capi;

extern "C" {

kvc_cache_options kvc_cache_default_options(void) {
  const kvc::CacheOptions d;
  kvc_cache_options o{};
  o.tiers = nullptr;
  o.n_tiers = 0;
  o.saves_enabled = d.policy.saves_enabled;
  o.min_tokens = d.policy.min_tokens;
  o.cold_min_tokens = d.policy.cold_min_tokens;
  o.cold_max_tokens = d.policy.cold_max_tokens;
  o.continued_interval = d.policy.continued_interval;
  o.boundary_trim_tokens = d.policy.boundary_trim_tokens;
  o.boundary_align_tokens = d.policy.boundary_align_tokens;
  o.writer_threads = d.writers.threads;
  o.file_mode = d.file_mode;
  o.watch_directories = d.watch_directories;
  return o;
}

kvc_status kvc_cache_open(const kvc_cache_options* options, kvc_cache** out_cache) {
  if (!out_cache) return null_argument(kOpen, "out_cache");
  *out_cache = nullptr;
  if (!options) return null_argument(kOpen, "options");
  return guarded(kOpen, [&]() -> kvc_status {
    kvc::CacheOptions o;
    if (kvc_status s = convert(*options, o); s != KVC_OK) return s;
    auto opened = kvc::Cache::open(std::move(o));
    if (!opened.ok()) return fail(opened.status());
    auto handle = std::make_unique<kvc_cache>();
    handle->state = std::make_shared<CacheState>();
    handle->state->cache = std::move(opened.value());
    *out_cache = handle.release();
    return succeed();
  });
}

kvc_status kvc_cache_close(kvc_cache* cache) {
  constexpr const char* fn = "kvc_cache_close";
  if (!cache) return null_argument(fn, "cache");
  return guarded(fn, [&]() -> kvc_status {
    if (cache->state->closing.exchange(true, std::memory_order_acq_rel))
      return fail(KVC_ERR_CLOSED, std::string(fn) + ": the cache was already closed");
    shut_down(*cache->state);
    return succeed();
  });
}

void kvc_cache_free(kvc_cache* cache) {
  if (!cache) return;
  cache->state->closing.store(true, std::memory_order_release);
  (void)guarded("kvc_cache_free", [&]() -> kvc_status {
    shut_down(*cache->state);  // nothing left to do when it was closed
    return KVC_OK;
  });
  delete cache;
}

}  // extern "C"
