// The boundary between the C API (include/kvc/kvc.h) and the C++ library: the
// handle types behind the opaque C pointers, the thread's last error, and
// `guarded`, which runs a call and turns every exception into a status.
#pragma once

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>

#include "kvc/cache.h"
#include "kvc/kvc.h"
#include "kvc/status.h"

namespace kvc::capi {

// State shared by a cache handle and every lease taken from it, so that a lease
// handle stays safe to use (KVC_ERR_CLOSED) and to free after the cache is gone.
// Calls on the cache hold `mu` shared; close holds it exclusively, so it waits
// for calls in progress and none starts while it runs.
struct CacheState {
  // Set first by close: calls that start afterwards answer KVC_ERR_CLOSED without
  // taking `mu`, so close is not starved by a stream of readers (glibc's rwlock
  // prefers readers).
  std::atomic<bool> closing{false};
  std::shared_mutex mu;
  std::unique_ptr<Cache> cache;  // null once closed
  std::mutex leases_mu;          // guards `leases` (taken inside `mu`, shared or not)
  std::unordered_set<kvc_lease*> leases;
};

}  // namespace kvc::capi

struct kvc_cache {
  std::shared_ptr<kvc::capi::CacheState> state;
};

// Used by one thread at a time (kvc.h). `lease` is released by kvc_lease_release,
// by close (under the exclusive lock), or by kvc_lease_free.
struct kvc_lease {
  std::shared_ptr<kvc::capi::CacheState> state;
  kvc::Lease lease;
  bool released = false;
};

struct kvc_payload {
  kvc::LoadedRow row;
};

namespace kvc::capi {

// Sets the calling thread's last error and returns `status`.
kvc_status fail(kvc_status status, std::string message);
kvc_status fail(const Status& status);  // a library error, its code mapped 1:1
kvc_status succeed();                   // clears the last error; KVC_OK

// Runs `body` (returning kvc_status); exceptions become KVC_ERR_OUT_OF_MEMORY or
// KVC_ERR_INTERNAL naming `what` (the C function).
kvc_status guarded_call(std::string_view what, kvc_status (*body)(void*), void* ctx);
template <class F>
kvc_status guarded(std::string_view what, F&& body) {
  using Body = std::remove_reference_t<F>;
  return guarded_call(what, [](void* p) { return (*static_cast<Body*>(p))(); }, &body);
}

// The error when `p` is null: "<fn>: <name> is NULL".
inline kvc_status null_argument(std::string_view fn, std::string_view name) {
  return fail(KVC_ERR_INVALID_ARGUMENT, std::string(fn) + ": " + std::string(name) + " is NULL");
}

// Runs `body(Cache&)` with the cache open (shared lock held): KVC_ERR_CLOSED
// naming `fn` when it was closed, KVC_ERR_INVALID_ARGUMENT when `cache` is null.
template <class F>
kvc_status with_open_cache(kvc_cache* cache, std::string_view fn, F&& body) {
  if (!cache) return null_argument(fn, "cache");
  return guarded(fn, [&]() -> kvc_status {
    if (cache->state->closing.load(std::memory_order_acquire))
      return fail(KVC_ERR_CLOSED, std::string(fn) + ": the cache was closed (kvc_cache_close); open a new one");
    std::shared_lock lock(cache->state->mu);
    if (!cache->state->cache)
      return fail(KVC_ERR_CLOSED, std::string(fn) + ": the cache was closed (kvc_cache_close); open a new one");
    return body(*cache->state->cache);
  });
}

// The integer a C caller stored in an enum field or argument. C lets any int
// through a C enum, while in C++ a value outside the enumerators' range is
// undefined: read the bytes, never the enum.
template <class E>
int enum_value(const E& e) {
  static_assert(std::is_enum_v<E>);
  std::underlying_type_t<E> v;
  std::memcpy(&v, &e, sizeof v);
  return static_cast<int>(v);
}

KeyNamespace to_namespace(const kvc_namespace& ns);
// The C name of a tier kind (the C API opens no remote tier: it never sees one).
kvc_tier_kind to_c_tier(TierKind kind);
Key to_key(const kvc_key& key);
kvc_key from_key(const Key& key);

}  // namespace kvc::capi
