// Reservations: the publication state machine of cache.md §2, index side.
#include <limits>
#include <mutex>

#include "index/index.h"
#include "index/index_impl.h"

namespace kvc::index {

// ---- Reservation (RAII) ----

Reservation::Reservation(Reservation&& other) noexcept
    : index_(other.index_), key_(other.key_), token_(other.token_) {
  other.index_ = nullptr;
}

Reservation& Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    if (index_ != nullptr) index_->drop_reservation(key_, token_);
    index_ = other.index_;
    key_ = other.key_;
    token_ = other.token_;
    other.index_ = nullptr;
  }
  return *this;
}

Reservation::~Reservation() {
  if (index_ != nullptr) index_->drop_reservation(key_, token_);
}

// Writer gone: before link the placeholder is dropped (waiters see a miss); after
// link the file may be complete, so the reservation is expired at once and the
// next sweep hands it to the cache to validate and adopt or discard.
void Index::drop_reservation(const Key& key, std::uint64_t token) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, key);
  if (e == nullptr || !Impl::holds(*e, token)) return;
  if (e->linked) {
    e->deadline_ns = std::numeric_limits<std::int64_t>::min();
  } else {
    impl_->erase_locked(s, e);
  }
}

// ---- Index: publication ----

Entry* Index::Impl::live_locked(Shard& s, const Key& key, std::uint64_t token, std::int64_t now) {
  Entry* e = find_locked(s, key);
  if (e == nullptr || !holds(*e, token)) return nullptr;
  if (expired(*e, now)) {
    drop_if_stale_locked(s, e, now);  // a post-link one waits for sweep()
    return nullptr;
  }
  return e;
}

Result<Reservation> Index::reserve(const Key& key) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  const std::int64_t now = impl_->now();
  if (Entry* e = impl_->find_locked(s, key)) {
    if (e->status == RowStatus::kAvailable) {
      return Result<Reservation>(Code::kAlreadyPresent, "key " + key.hex() + " is already available");
    }
    if (e->status == RowStatus::kDeleting) {
      return Result<Reservation>(Code::kConflict, "key " + key.hex() + " is being deleted");
    }
    if (!impl_->drop_if_stale_locked(s, e, now)) {
      return Result<Reservation>(Code::kConflict,
                                 e->linked && impl_->expired(*e, now)
                                     ? "key " + key.hex() + " has an expired linked save awaiting validation"
                                     : "key " + key.hex() + " is being written by another writer");
    }
  }
  auto* e = new Entry();
  e->info.key = key;
  e->status = RowStatus::kWriting;
  e->token = impl_->next_token.fetch_add(1, std::memory_order_relaxed);
  e->deadline_ns = now + impl_->ttl_ns();
  e->shard = static_cast<std::uint32_t>(impl_->shard_of(key));
  Reservation r;
  r.index_ = this;
  r.key_ = key;
  r.token_ = e->token;
  s.rows.put(key, e);
  return r;
}

bool Index::check(const Reservation& r) {
  if (r.index_ != this) return false;
  Shard& s = impl_->shard(r.key_);
  std::lock_guard lock(s.mu);
  const std::int64_t now = impl_->now();
  Entry* e = impl_->live_locked(s, r.key_, r.token_, now);
  if (e == nullptr) return false;
  e->deadline_ns = now + impl_->ttl_ns();
  return true;
}

bool Index::mark_linked(const Reservation& r, TierId tier) {
  if (r.index_ != this) return false;
  Shard& s = impl_->shard(r.key_);
  std::lock_guard lock(s.mu);
  const std::int64_t now = impl_->now();
  Entry* e = impl_->live_locked(s, r.key_, r.token_, now);
  if (e == nullptr) return false;
  e->linked = true;
  e->linked_tier = tier;
  e->deadline_ns = now + impl_->ttl_ns();
  return true;
}

Status Index::publish(Reservation& r, RowInfo info, TierId tier) {
  if (r.index_ != this) return Status(Code::kCancelled, "publish of an empty reservation");
  if (info.key != r.key_) {
    return Status(Code::kInvalidArgument,
                  "publish of key " + info.key.hex() + " under the reservation of " + r.key_.hex());
  }
  if (!info.tokens) return Status(Code::kInvalidArgument, "publish of key " + r.key_.hex() + " without tokens");
  if (tier >= kMaxTiers) return Status(Code::kInvalidArgument, "publish of key " + r.key_.hex() + " in tier " +
                                                                    std::to_string(tier) + " (at most 8 tiers)");
  EvictionQueue::Item item;
  {
    Shard& s = impl_->shard(r.key_);
    std::lock_guard lock(s.mu);
    Entry* e = impl_->live_locked(s, r.key_, r.token_, impl_->now());
    r.index_ = nullptr;  // published or lost: either way nothing is left to cancel
    if (e == nullptr) {
      return Status(Code::kCancelled, "the reservation of key " + r.key_.hex() + " was cancelled or expired");
    }
    item = impl_->make_available_locked(s, *e, std::move(info), tier);
  }
  impl_->queues[tier].push(item);
  impl_->maybe_compact(tier);
  return Status::Ok();
}

void Index::cancel(Reservation& r) {
  if (r.index_ != this) return;
  r.index_ = nullptr;
  Shard& s = impl_->shard(r.key_);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, r.key_);
  if (e == nullptr || !Impl::holds(*e, r.token_)) return;
  impl_->erase_locked(s, e);
}

std::vector<ExpiredLinked> Index::sweep() {
  std::vector<ExpiredLinked> out;
  const std::int64_t now = impl_->now();
  for (const auto& sp : impl_->shards) {
    Shard& s = *sp;
    std::lock_guard lock(s.mu);
    std::vector<Entry*> stale;
    for (const auto& [key, e] : s.rows) {
      if (e->status != RowStatus::kWriting || !impl_->expired(*e, now)) continue;
      if (e->linked) {
        out.push_back(ExpiredLinked{key, e->linked_tier, e->token});
      } else {
        stale.push_back(e);
      }
    }
    for (Entry* e : stale) impl_->erase_locked(s, e);
  }
  return out;
}

void Index::adopt(const ExpiredLinked& x, RowInfo info) {
  if (info.key != x.key || !info.tokens || x.tier >= kMaxTiers) return;  // not the row of this save
  EvictionQueue::Item item;
  {
    Shard& s = impl_->shard(x.key);
    std::lock_guard lock(s.mu);
    Entry* e = impl_->find_locked(s, x.key);
    if (e == nullptr || !Impl::holds(*e, x.token)) return;  // resolved meanwhile
    item = impl_->make_available_locked(s, *e, std::move(info), x.tier);
  }
  impl_->queues[x.tier].push(item);
}

void Index::discard(const ExpiredLinked& x) {
  Shard& s = impl_->shard(x.key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, x.key);
  if (e == nullptr || !Impl::holds(*e, x.token)) return;
  impl_->erase_locked(s, e);
}

}  // namespace kvc::index
