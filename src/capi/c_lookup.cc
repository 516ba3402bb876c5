// kvc.h: lookups, leases and loaded payloads.
#include <string>

#include "capi/c_boundary.h"

namespace kvc::capi {
namespace {

// Wraps a held lease in a handle registered with the cache (so close can release
// it). Runs under the cache's shared lock.
kvc_lease* adopt(const std::shared_ptr<CacheState>& state, Lease lease) {
  auto handle = std::make_unique<kvc_lease>();
  handle->state = state;
  handle->lease = std::move(lease);
  std::lock_guard lock(state->leases_mu);
  state->leases.insert(handle.get());
  return handle.release();
}

kvc_status check_prompt(const char* fn, const kvc_namespace* ns, const uint32_t* tokens, size_t n_tokens,
                        kvc_lease** out_lease) {
  if (!out_lease) return null_argument(fn, "out_lease");
  *out_lease = nullptr;
  if (!ns) return null_argument(fn, "ns");
  if (n_tokens == 0) return fail(KVC_ERR_INVALID_ARGUMENT, std::string(fn) + ": n_tokens is 0; give the prompt's tokens");
  if (!tokens)
    return fail(KVC_ERR_INVALID_ARGUMENT, std::string(fn) + ": tokens is NULL but n_tokens = " + std::to_string(n_tokens));
  return KVC_OK;
}

kvc_status finish_prefix(kvc_cache* cache, const char* fn, PrefixHit hit, kvc_lease** out_lease,
                         kvc_prefix_match* out_match) {
  if (out_match) *out_match = {hit.length, hit.row_length, hit.busy_seen};
  if (!hit.lease) return fail(KVC_ERR_NOT_FOUND, std::string(fn) + ": no saved prefix of the prompt" +
                                                     (hit.busy_seen ? " (a candidate is being written)" : ""));
  *out_lease = adopt(cache->state, std::move(hit.lease));
  return succeed();
}

// Runs `body(Cache&)` for a held lease: KVC_ERR_CLOSED after the cache was closed,
// KVC_ERR_RELEASED after kvc_lease_release.
template <class F>
kvc_status with_held_lease(kvc_lease* lease, const char* fn, F&& body) {
  if (!lease) return null_argument(fn, "lease");
  return guarded(fn, [&]() -> kvc_status {
    if (lease->state->closing.load(std::memory_order_acquire))
      return fail(KVC_ERR_CLOSED, std::string(fn) + ": the lease's cache was closed; its row was released");
    std::shared_lock lock(lease->state->mu);
    if (!lease->state->cache)
      return fail(KVC_ERR_CLOSED, std::string(fn) + ": the lease's cache was closed; its row was released");
    if (lease->released)
      return fail(KVC_ERR_RELEASED, std::string(fn) + ": the lease was released (kvc_lease_release); check out again");
    return body(*lease->state->cache);
  });
}

}  // namespace
}  // namespace kvc::capi

using namespace kvc::capi;

extern "C" {

kvc_status kvc_cache_checkout(kvc_cache* cache, const kvc_key* key, kvc_lease** out_lease) {
  constexpr const char* fn = "kvc_cache_checkout";
  if (!out_lease) return null_argument(fn, "out_lease");
  *out_lease = nullptr;
  if (!key) return null_argument(fn, "key");
  return with_open_cache(cache, fn, [&](kvc::Cache& c) -> kvc_status {
    auto lease = c.checkout(to_key(*key));
    if (!lease.ok()) return fail(lease.status());
    *out_lease = adopt(cache->state, std::move(*lease));
    return succeed();
  });
}

kvc_status kvc_cache_longest_prefix(kvc_cache* cache, const kvc_namespace* ns, const uint32_t* tokens,
                                    size_t n_tokens, size_t min_length, kvc_lease** out_lease,
                                    kvc_prefix_match* out_match) {
  constexpr const char* fn = "kvc_cache_longest_prefix";
  if (kvc_status s = check_prompt(fn, ns, tokens, n_tokens, out_lease); s != KVC_OK) return s;
  return with_open_cache(cache, fn, [&](kvc::Cache& c) -> kvc_status {
    return finish_prefix(cache, fn, c.longest_prefix(to_namespace(*ns), {tokens, n_tokens}, min_length), out_lease,
                         out_match);
  });
}

kvc_status kvc_cache_any_prefix(kvc_cache* cache, const kvc_namespace* ns, const uint32_t* tokens, size_t n_tokens,
                                bool allow_truncation, size_t min_length, kvc_lease** out_lease,
                                kvc_prefix_match* out_match) {
  constexpr const char* fn = "kvc_cache_any_prefix";
  if (kvc_status s = check_prompt(fn, ns, tokens, n_tokens, out_lease); s != KVC_OK) return s;
  return with_open_cache(cache, fn, [&](kvc::Cache& c) -> kvc_status {
    return finish_prefix(cache, fn, c.any_prefix(to_namespace(*ns), {tokens, n_tokens}, allow_truncation, min_length),
                         out_lease, out_match);
  });
}

kvc_status kvc_cache_note_miss(kvc_cache* cache) {
  return with_open_cache(cache, "kvc_cache_note_miss", [](kvc::Cache& c) -> kvc_status {
    c.note_miss();
    return succeed();
  });
}

kvc_status kvc_lease_key(const kvc_lease* lease, kvc_key* out_key, size_t* out_n_tokens) {
  constexpr const char* fn = "kvc_lease_key";
  if (!out_key) return null_argument(fn, "out_key");
  return with_held_lease(const_cast<kvc_lease*>(lease), fn, [&](kvc::Cache&) -> kvc_status {
    const auto& row = lease->lease.row();
    *out_key = from_key(row.key);
    if (out_n_tokens) *out_n_tokens = row.tokens->size();
    return succeed();
  });
}

kvc_status kvc_lease_load(kvc_lease* lease, kvc_payload** out_payload) {
  constexpr const char* fn = "kvc_lease_load";
  if (!out_payload) return null_argument(fn, "out_payload");
  *out_payload = nullptr;
  return with_held_lease(lease, fn, [&](kvc::Cache& c) -> kvc_status {
    auto row = c.load(lease->lease);
    if (!row.ok()) return fail(row.status());
    auto payload = std::make_unique<kvc_payload>(kvc_payload{std::move(*row)});
    *out_payload = payload.release();
    return succeed();
  });
}

kvc_status kvc_lease_release(kvc_lease* lease) {
  return with_held_lease(lease, "kvc_lease_release", [&](kvc::Cache&) -> kvc_status {
    {
      std::lock_guard lock(lease->state->leases_mu);
      lease->state->leases.erase(lease);
    }
    lease->lease.release();
    lease->released = true;
    return succeed();
  });
}

void kvc_lease_free(kvc_lease* lease) {
  if (!lease) return;
  {
    std::shared_lock lock(lease->state->mu);  // not while close releases leases
    std::lock_guard leases(lease->state->leases_mu);
    lease->state->leases.erase(lease);
    lease->lease.release();
  }
  delete lease;
}

const void* kvc_payload_data(const kvc_payload* payload) {
  return payload ? payload->row.payload().data() : nullptr;
}

size_t kvc_payload_size(const kvc_payload* payload) { return payload ? payload->row.payload().size() : 0; }

const float* kvc_payload_next_token_logits(const kvc_payload* payload, size_t* out_n) {
  const auto* meta = payload ? &payload->row.meta() : nullptr;
  if (!meta || meta->next_token_logits.empty()) {
    if (out_n) *out_n = 0;
    return nullptr;
  }
  if (out_n) *out_n = meta->next_token_logits.size();
  return meta->next_token_logits.data();
}

kvc_tier_kind kvc_payload_tier(const kvc_payload* payload) {
  return payload ? to_c_tier(payload->row.tier()) : KVC_TIER_RAM;
}

void kvc_payload_free(kvc_payload* payload) { delete payload; }

}  // extern "C"
