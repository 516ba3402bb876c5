// Index: construction, shared helpers, lookups, registration, removal, eviction.
// Reservations live in reservation.cc, leases in lease.cc.
#include "index/index.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "index/index_impl.h"

namespace kvc::index {

namespace {

std::int64_t system_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// a + b, saturating (scan recency of absurd hit counts must not wrap).
std::int64_t add_sat(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? std::numeric_limits<std::int64_t>::max()
                                                     : std::numeric_limits<std::int64_t>::min();
  return r;
}

std::int64_t mul_sat(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::numeric_limits<std::int64_t>::max();
  return r;
}

}  // namespace

// ---- Impl ----

Index::Impl::Impl(Options o) : opt(std::move(o)) {
  if (opt.shards == 0) opt.shards = 1;
  if (!opt.now_ns) opt.now_ns = system_now_ns;
  shards.reserve(opt.shards);
  for (std::size_t i = 0; i < opt.shards; ++i) shards.push_back(std::make_unique<Shard>());
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
  return static_cast<std::size_t>(h % shards.size());
}

void Index::Impl::erase_locked(Shard& s, std::shared_ptr<Entry> e) {
  s.rows.erase(e->info.key);
  e->removed = true;
  if (e->status == RowStatus::kAvailable) {
    trie.remove(e->info.ns, e->info.key, e->info.tokens);
  } else {
    s.cv.notify_all();  // a save ended as a miss
  }
}

void Index::Impl::make_available_locked(Shard& s, Entry& e, RowInfo info) {
  e.info = std::move(info);
  e.status = RowStatus::kAvailable;
  e.hits = 0;
  e.last_used_ns = now();
  e.leases = 0;
  e.token = 0;
  e.deadline_ns = 0;
  e.linked = false;
  trie.insert(e.info.ns, e.info.key, e.info.tokens);
  s.cv.notify_all();
}

bool Index::Impl::drop_if_stale_locked(Shard& s, const std::shared_ptr<Entry>& e, std::int64_t now) {
  if (e->status != RowStatus::kWriting || e->linked || !expired(*e, now)) return false;
  erase_locked(s, e);
  return true;
}

void Index::Impl::lease_locked(Entry& e, std::int64_t now) {
  ++e.leases;
  if (e.hits != std::numeric_limits<std::uint32_t>::max()) ++e.hits;
  e.last_used_ns = now;
  leases.fetch_add(1, std::memory_order_relaxed);
}

// ---- Index ----

Index::Index() : Index(Options{}) {}
Index::Index(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Index::~Index() = default;

bool Index::contains(const Key& key) const {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.rows.find(key);
  return it != s.rows.end() && it->second->status == RowStatus::kAvailable;
}

std::optional<RowSnapshot> Index::get(const Key& key) const {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.rows.find(key);
  if (it == s.rows.end()) return std::nullopt;
  return it->second->snapshot();
}

Lease Index::try_checkout(const Key& key, Miss* miss) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.rows.find(key);
  if (it == s.rows.end()) {
    *miss = Miss::kAbsent;
    return {};
  }
  std::shared_ptr<Entry> e = it->second;
  if (e->status == RowStatus::kWriting) {
    *miss = impl_->drop_if_stale_locked(s, e, impl_->now()) ? Miss::kExpired : Miss::kBusy;
    return {};
  }
  impl_->lease_locked(*e, impl_->now());
  return Lease(this, std::move(e));
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
  std::shared_ptr<Entry> waited;  // the writing entry whose save we wait for
  for (;;) {
    auto it = s.rows.find(key);
    std::shared_ptr<Entry> e = it == s.rows.end() ? nullptr : it->second;
    if (e && e->status == RowStatus::kAvailable) {
      impl_->lease_locked(*e, impl_->now());
      return Lease(this, std::move(e));
    }
    if (!e || (waited && e != waited)) {
      // Absent, or the save we waited for ended as a miss (a newer writer may
      // have reserved the key since: that is another save, not ours to wait for).
      return Result<Lease>(Code::kNotFound, "no row for key " + key.hex());
    }
    if (impl_->drop_if_stale_locked(s, e, impl_->now())) {
      return Result<Lease>(Code::kNotFound, "no row for key " + key.hex() + " (its save expired)");
    }
    waited = e;
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
    // kNotFound (absent, or removed meanwhile): try the next shorter length.
  }
  return out;
}

AnyPrefixMatch Index::any_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens) const {
  return impl_->trie.lookup(ns, tokens);
}

RegisterOutcome Index::register_row(RowInfo info, std::uint32_t hits, bool from_scan) {
  const std::int64_t now = impl_->now();
  const std::int64_t last_used =
      from_scan ? add_sat(now, mul_sat(static_cast<std::int64_t>(hits), impl_->hit_weight_ns())) : now;
  Shard& s = impl_->shard(info.key);
  std::lock_guard lock(s.mu);
  auto it = s.rows.find(info.key);
  if (it != s.rows.end()) {
    Entry& e = *it->second;
    if (e.status == RowStatus::kWriting || e.leases > 0) return RegisterOutcome::kKeptExisting;
    impl_->trie.remove(e.info.ns, e.info.key, e.info.tokens);
    e.info = std::move(info);
    e.hits = hits;
    e.last_used_ns = last_used;
    impl_->trie.insert(e.info.ns, e.info.key, e.info.tokens);
    return RegisterOutcome::kReplaced;  // the pin, if any, stays
  }
  auto e = std::make_shared<Entry>();
  e->info = std::move(info);
  e->status = RowStatus::kAvailable;
  e->hits = hits;
  e->last_used_ns = last_used;
  e->shard = impl_->shard_of(e->info.key);
  impl_->trie.insert(e->info.ns, e->info.key, e->info.tokens);
  const Key key = e->info.key;
  s.rows.emplace(key, std::move(e));
  return RegisterOutcome::kInserted;
}

std::optional<RowInfo> Index::remove(const Key& key) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.rows.find(key);
  if (it == s.rows.end() || it->second->status != RowStatus::kAvailable) return std::nullopt;
  std::shared_ptr<Entry> e = it->second;
  impl_->erase_locked(s, e);
  return e->info;  // lease holders keep their copy of the entry alive
}

std::optional<RowInfo> Index::evict_if_idle(const Key& key) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.rows.find(key);
  if (it == s.rows.end()) return std::nullopt;
  std::shared_ptr<Entry> e = it->second;
  if (e->status != RowStatus::kAvailable || e->leases > 0 || e->pinned) return std::nullopt;
  impl_->erase_locked(s, e);
  return std::move(e->info);  // no lease refers to it: nobody reads it again
}

std::vector<RowSnapshot> Index::eviction_candidates(std::optional<TierId> tier) const {
  std::vector<RowSnapshot> out;
  for (const auto& sp : impl_->shards) {
    std::lock_guard lock(sp->mu);
    for (const auto& [key, e] : sp->rows) {
      if (e->status != RowStatus::kAvailable || e->leases > 0 || e->pinned) continue;
      if (tier && e->info.tier != *tier) continue;
      out.push_back(e->snapshot());
    }
  }
  const std::int64_t w = impl_->hit_weight_ns();
  auto value = [w](const RowSnapshot& r) {
    return add_sat(r.last_used_ns, mul_sat(static_cast<std::int64_t>(r.hits), w));
  };
  std::sort(out.begin(), out.end(), [&](const RowSnapshot& a, const RowSnapshot& b) {
    const std::int64_t va = value(a);
    const std::int64_t vb = value(b);
    return va != vb ? va < vb : a.info.key < b.info.key;
  });
  return out;
}

Status Index::pin(const Key& key) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.rows.find(key);
  if (it == s.rows.end() || it->second->status != RowStatus::kAvailable) {
    return Status(Code::kNotFound, "cannot pin key " + key.hex() + ": no available row");
  }
  it->second->pinned = true;
  return Status::Ok();
}

Status Index::unpin(const Key& key) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.rows.find(key);
  if (it == s.rows.end() || it->second->status != RowStatus::kAvailable) {
    return Status(Code::kNotFound, "cannot unpin key " + key.hex() + ": no available row");
  }
  it->second->pinned = false;
  return Status::Ok();
}

std::vector<RowSnapshot> Index::rows(std::optional<TierId> tier) const {
  std::vector<RowSnapshot> out;
  for (const auto& sp : impl_->shards) {
    std::lock_guard lock(sp->mu);
    for (const auto& [key, e] : sp->rows) {
      if (!tier || e->info.tier == *tier) out.push_back(e->snapshot());
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

std::uint64_t Index::total_leases() const { return impl_->leases.load(std::memory_order_relaxed); }

}  // namespace kvc::index
