#include "engine/lookup.h"

#include <algorithm>

namespace kvc::engine {
namespace {

using Clock = std::chrono::steady_clock;

bool is_prefix(std::span<const std::uint32_t> row, std::span<const std::uint32_t> prompt) {
  return row.size() <= prompt.size() && std::equal(row.begin(), row.end(), prompt.begin());
}

}  // namespace

StartState find_start_state(Cache& cache, const KeyNamespace& ns, std::span<const std::uint32_t> prompt,
                            const LookupOptions& options) {
  StartState s;
  bool busy_seen = false;
  auto take = [&](Lease lease, LookupPath path, std::size_t usable) {
    s.row_length = lease.row().tokens ? lease.row().tokens->size() : 0;
    s.lease = std::move(lease);
    s.path = path;
    s.usable = usable;
  };

  // 1. exact
  if (auto lease = cache.checkout(derive_key(ns, prompt)); lease.ok()) {
    take(std::move(lease.value()), LookupPath::kExact, prompt.size());
  } else if (lease.status().code() == Code::kBusy) {
    busy_seen = true;
  }

  // 2. resume: the caller's parent_key, waited for while its save is in flight.
  if (!s.lease && options.parent_key) {
    const auto wait = std::chrono::milliseconds(cache.policy().session_resume_wait_ms);
    auto lease = cache.checkout_or_wait(*options.parent_key, wait);
    if (!lease.ok()) {
      s.miss_reason = lease.status().code() == Code::kTimeout || lease.status().code() == Code::kBusy
                          ? MissReason::kRowBusy
                          : MissReason::kNoRow;
    } else if (!(lease->row().ns == ns)) {
      s.miss_reason = MissReason::kNamespaceMismatch;  // another model, quant, ctx or LoRA set
    } else if (!lease->row().tokens || !is_prefix(*lease->row().tokens, prompt) ||
               lease->row().tokens->empty()) {
      s.miss_reason = MissReason::kParentNotPrefix;
    } else {
      const std::size_t n = lease->row().tokens->size();
      take(std::move(lease.value()), LookupPath::kResume, n);
    }
  }

  // 3. any-token prefix, then 4. the stride walk. A prefix shorter than the
  // shortest row any tier keeps is not worth a restore.
  const std::size_t floor = std::max<std::size_t>(cache.min_save_tokens(), 1);
  if (!s.lease && options.use_any_prefix) {
    PrefixHit hit = cache.any_prefix(ns, prompt, options.allow_truncation, floor);
    busy_seen = busy_seen || hit.busy_seen;
    if (hit.lease) {
      take(std::move(hit.lease), LookupPath::kAnyPrefix, std::min(hit.length, prompt.size()));
      s.row_length = hit.row_length;
    }
  }
  if (!s.lease) {
    PrefixHit hit = cache.longest_prefix(ns, prompt, static_cast<std::size_t>(std::max<std::int64_t>(cache.policy().min_tokens, 1)));
    busy_seen = busy_seen || hit.busy_seen;
    if (hit.lease) take(std::move(hit.lease), LookupPath::kLongestPrefix, hit.length);
  }

  if (!s.lease) {
    cache.note_miss();
    if (s.miss_reason == MissReason::kNone) s.miss_reason = busy_seen ? MissReason::kRowBusy : MissReason::kNoRow;
    return s;
  }

  // Load (CRC and key verified). A corrupt or missing row is removed by the cache.
  const auto t0 = Clock::now();
  auto loaded = cache.load(s.lease);
  s.load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!loaded.ok() || loaded->meta().tokens.size() != s.row_length || s.usable > s.row_length) {
    s.lease.release();
    s.path = LookupPath::kMiss;
    s.miss_reason = MissReason::kLoadFailed;
    s.usable = s.row_length = 0;
    return s;
  }
  s.tier = std::string(loaded->tier_name());
  s.file = std::move(loaded.value());
  return s;
}

}  // namespace kvc::engine
