// Index: construction, shared helpers, lookups and pins. Reservations live in
// reservation.cc, copies and eviction in copies.cc, leases in lease.cc.
#include "index/index.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "index/index_impl.h"

namespace kvc::index {

namespace {

std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- Impl ----

Index::Impl::Impl(Options o) : opt(std::move(o)) {
  const std::size_t n = std::bit_ceil(std::max<std::size_t>(opt.shards, 1));
  if (!opt.now_ns) opt.now_ns = steady_now_ns;
  shard_mask = n - 1;
  shards.reserve(n);
  for (std::size_t i = 0; i < n; ++i) shards.push_back(std::make_unique<Shard>());
}

Index::Impl::~Impl() {
  for (auto& sp : shards) {
    for (const auto& [key, e] : sp->rows) {
      e->in_map = false;
      if (e->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete e;
    }
  }
}

std::int64_t Index::Impl::ttl_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(opt.reservation_ttl).count();
}

std::int64_t Index::Impl::hit_weight_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(opt.hit_weight).count();
}

std::size_t Index::Impl::shard_of(const Key& key) const {
  // Bytes 8..15: std::hash<Key> (the map's bucket hash) uses bytes 0..7.
  std::uint64_t h;
  std::memcpy(&h, key.bytes.data() + 8, sizeof(h));
  return static_cast<std::size_t>(h & shard_mask);
}

std::int64_t Index::Impl::value_of(const Entry& e) const {
  return add_sat(e.last_used_ns, mul_sat(e.hits, hit_weight_ns()));
}

void Index::Impl::erase_locked(Shard& s, Entry* e) {
  s.rows.erase(e->info.key);
  e->in_map = false;
  if (e->status == RowStatus::kAvailable) {
    trie.remove(e->info.ns, e->info.key, e->info.tokens);
  } else if (e->status == RowStatus::kWriting) {
    s.cv.notify_all();  // a save ended as a miss
  }
  for (TierId t = 0; t < kMaxTiers; ++t)
    if (e->present.load(std::memory_order_relaxed) & tier_bit(t)) copies[t].fetch_sub(1, std::memory_order_relaxed);
  e->present.store(0, std::memory_order_relaxed);
  if (e->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete e;
}

EvictionQueue::Item Index::Impl::add_copy_locked(Entry& e, TierId tier) {
  e.present.fetch_or(tier_bit(tier), std::memory_order_relaxed);
  copies[tier].fetch_add(1, std::memory_order_relaxed);
  e.queue_seq[tier] = next_seq.fetch_add(1, std::memory_order_relaxed);
  return EvictionQueue::Item{value_of(e), e.info.key, e.queue_seq[tier]};
}

void Index::Impl::clear_copy_locked(Entry& e, TierId tier) {
  e.present.fetch_and(static_cast<TierMask>(~tier_bit(tier)), std::memory_order_relaxed);
  copies[tier].fetch_sub(1, std::memory_order_relaxed);
  e.queue_seq[tier] = 0;  // its queue item is stale now
}

void Index::Impl::begin_deleting_locked(Entry& e) {
  if (e.status != RowStatus::kAvailable) return;
  trie.remove(e.info.ns, e.info.key, e.info.tokens);
  e.status = RowStatus::kDeleting;
}

void Index::Impl::erase_if_done_locked(Shard& s, Entry* e) {
  if (e->status == RowStatus::kDeleting && e->pending == 0 && e->deleting == 0 && e->in_map) {
    s.rows.erase(e->info.key);
    e->in_map = false;
    s.cv.notify_all();  // a save waiting for the deletion may reserve now
    if (e->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete e;
  }
}

EvictionQueue::Item Index::Impl::make_available_locked(Shard& s, Entry& e, RowInfo info, TierId tier) {
  e.info = std::move(info);
  e.status = RowStatus::kAvailable;
  e.hits = 0;
  e.last_used_ns = std::max(e.last_used_ns, now());
  e.token = 0;
  e.deadline_ns = 0;
  e.linked = false;
  trie.insert(e.info.ns, e.info.key, e.info.tokens);
  s.cv.notify_all();
  return add_copy_locked(e, tier);
}

bool Index::Impl::drop_if_stale_locked(Shard& s, Entry* e, std::int64_t now) {
  if (e->status != RowStatus::kWriting || e->linked || !expired(*e, now)) return false;
  erase_locked(s, e);
  return true;
}

// ---- Index: lookups ----

Index::Index() : Index(Options{}) {}
Index::Index(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Index::~Index() = default;

bool Index::contains(const Key& key) const {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, key);
  return e != nullptr && e->status == RowStatus::kAvailable;
}

std::optional<RowSnapshot> Index::get(const Key& key) const {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, key);
  if (e == nullptr) return std::nullopt;
  return e->snapshot();
}

Lease Index::try_checkout(const Key& key, Miss* miss) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, key);
  if (e == nullptr || e->status == RowStatus::kDeleting) {
    *miss = Miss::kAbsent;
    return {};
  }
  if (e->status == RowStatus::kWriting) {
    *miss = impl_->drop_if_stale_locked(s, e, impl_->now()) ? Miss::kExpired : Miss::kBusy;
    return {};
  }
  return Lease(Impl::lease_locked(e));
}

Result<Lease> Index::checkout(const Key& key) {
  Miss miss = Miss::kAbsent;
  Lease lease = try_checkout(key, &miss);
  if (lease) return lease;
  // Messages are built outside the shard lock, only for callers that get an error.
  switch (miss) {
    case Miss::kAbsent: return Result<Lease>(Code::kNotFound, "no row for key " + key.hex());
    case Miss::kExpired: return Result<Lease>(Code::kNotFound, "no row for key " + key.hex() + " (its save expired)");
    case Miss::kBusy: break;
  }
  return Result<Lease>(Code::kBusy, "key " + key.hex() + " is being written");
}

Result<Lease> Index::checkout_or_wait(const Key& key, std::chrono::steady_clock::time_point deadline) {
  Shard& s = impl_->shard(key);
  std::unique_lock lock(s.mu);
  Entry* waited = nullptr;  // the writing entry whose save we wait for (compared, never dereferenced)
  std::uint64_t waited_token = 0;
  for (;;) {
    Entry* e = impl_->find_locked(s, key);
    if (e != nullptr && e->status == RowStatus::kAvailable) return Lease(Impl::lease_locked(e));
    const bool other = waited != nullptr && (e != waited || e->token != waited_token);
    if (e == nullptr || e->status == RowStatus::kDeleting || other) {
      // Absent, or the save we waited for ended as a miss (a newer writer may
      // have reserved the key since: that is another save, not ours to wait for).
      return Result<Lease>(Code::kNotFound, "no row for key " + key.hex());
    }
    if (impl_->drop_if_stale_locked(s, e, impl_->now())) {
      return Result<Lease>(Code::kNotFound, "no row for key " + key.hex() + " (its save expired)");
    }
    waited = e;
    waited_token = e->token;
    if (std::chrono::steady_clock::now() >= deadline) {
      return Result<Lease>(Code::kTimeout, "key " + key.hex() + " still being written at the deadline");
    }
    s.cv.wait_until(lock, deadline);
  }
}

StrideMatch Index::longest_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens,
                                  std::size_t stride, std::size_t min_length) {
  StrideMatch out;
  if (stride == 0) return out;
  const std::size_t top = tokens.size() / stride * stride;
  const std::size_t low = std::max(min_length, stride);
  const std::size_t floor = (low + stride - 1) / stride * stride;  // smallest multiple ≥ low
  if (top < floor) return out;
  std::vector<std::size_t> lengths;  // ascending, as keys_at wants them
  lengths.reserve((top - floor) / stride + 1);
  for (std::size_t len = floor; len <= top; len += stride) lengths.push_back(len);
  const std::vector<Key> keys = PrefixHasher::keys_at(ns, tokens.first(top), lengths);
  for (std::size_t i = lengths.size(); i-- > 0;) {
    ++out.probes;
    Miss miss = Miss::kAbsent;
    Lease lease = try_checkout(keys[i], &miss);  // no error strings on the probe path
    if (lease) {
      out.lease = std::move(lease);
      out.length = lengths[i];
      return out;
    }
    if (miss == Miss::kBusy) out.busy_seen = true;
  }
  return out;
}

AnyPrefixMatch Index::any_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens) const {
  return impl_->trie.lookup(ns, tokens);
}

std::uint32_t Index::touch(const Lease& lease) {
  if (!lease) return 0;
  Entry* e = lease.entry_;
  Shard& s = *impl_->shards[e->shard];
  std::lock_guard lock(s.mu);
  if (e->hits != std::numeric_limits<std::uint32_t>::max()) ++e->hits;
  e->last_used_ns = std::max(e->last_used_ns, impl_->now());
  return e->hits;
}

// ---- pins and listings ----

Status Index::pin(const Key& key) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, key);
  if (e == nullptr || e->status != RowStatus::kAvailable) {
    return Status(Code::kNotFound, "cannot pin key " + key.hex() + ": no available row");
  }
  e->pinned = true;
  return Status::Ok();
}

Status Index::unpin(const Key& key) {
  std::vector<std::pair<TierId, EvictionQueue::Item>> requeue;
  {
    Shard& s = impl_->shard(key);
    std::lock_guard lock(s.mu);
    Entry* e = impl_->find_locked(s, key);
    if (e == nullptr || e->status != RowStatus::kAvailable) {
      return Status(Code::kNotFound, "cannot unpin key " + key.hex() + ": no available row");
    }
    if (!e->pinned) return Status::Ok();
    e->pinned = false;
    // A pinned row's queue item is dropped when popped (queue_seq 0): queue it
    // again. A tier whose item is still live keeps it (a new one each time would
    // grow the heap by one stale item per pin/unpin).
    const TierMask present = e->present.load(std::memory_order_relaxed);
    for (TierId t = 0; t < kMaxTiers; ++t) {
      if (!(present & tier_bit(t)) || e->queue_seq[t] != 0) continue;
      e->queue_seq[t] = impl_->next_seq.fetch_add(1, std::memory_order_relaxed);
      requeue.emplace_back(t, EvictionQueue::Item{impl_->value_of(*e), key, e->queue_seq[t]});
    }
  }
  for (const auto& [t, item] : requeue) impl_->queues[t].push(item);
  return Status::Ok();
}

std::vector<RowSnapshot> Index::rows(std::optional<TierId> tier) const {
  std::vector<RowSnapshot> out;
  for (const auto& sp : impl_->shards) {
    std::lock_guard lock(sp->mu);
    for (const auto& [key, e] : sp->rows) {
      if (!tier || (e->present.load(std::memory_order_relaxed) & tier_bit(*tier))) out.push_back(e->snapshot());
    }
  }
  return out;
}

std::size_t Index::size() const {
  std::size_t n = 0;
  for (const auto& sp : impl_->shards) {
    std::lock_guard lock(sp->mu);
    for (const auto& [key, e] : sp->rows) n += e->status == RowStatus::kAvailable ? 1 : 0;
  }
  return n;
}

std::size_t Index::copies(TierId tier) const {
  return tier < kMaxTiers ? impl_->copies[tier].load(std::memory_order_relaxed) : 0;
}

std::uint64_t Index::total_leases() const {
  std::uint64_t n = 0;
  for (const auto& sp : impl_->shards) {
    std::lock_guard lock(sp->mu);
    for (const auto& [key, e] : sp->rows) n += e->leases();
  }
  return n;
}

}  // namespace kvc::index
