// Index: the copies of rows in tiers — registration, write-through/demotion/
// promotion bookkeeping, dropping, deletion and per-tier eviction order.
#include <algorithm>
#include <limits>

#include "index/index.h"
#include "index/index_impl.h"

namespace kvc::index {

RegisterOutcome Index::register_copy(RowInfo info, TierId tier, std::uint32_t hits, bool from_scan) {
  if (tier >= kMaxTiers || !info.tokens) return RegisterOutcome::kKeptExisting;
  const std::int64_t now = impl_->now();
  EvictionQueue::Item item;
  RegisterOutcome outcome;
  {
    Shard& s = impl_->shard(info.key);
    std::lock_guard lock(s.mu);
    Entry* e = impl_->find_locked(s, info.key);
    if (e != nullptr) {
      const TierMask busy = e->present.load(std::memory_order_relaxed) | e->pending | e->deleting;
      if (e->status != RowStatus::kAvailable || (busy & tier_bit(tier))) return RegisterOutcome::kKeptExisting;
      item = impl_->add_copy_locked(*e, tier);
      outcome = RegisterOutcome::kAddedCopy;
    } else {
      e = new Entry();
      e->info = std::move(info);
      e->status = RowStatus::kAvailable;
      e->hits = hits;
      e->last_used_ns = from_scan ? add_sat(now, mul_sat(hits, impl_->hit_weight_ns())) : now;
      e->shard = static_cast<std::uint32_t>(impl_->shard_of(e->info.key));
      impl_->trie.insert(e->info.ns, e->info.key, e->info.tokens);
      item = impl_->add_copy_locked(*e, tier);
      s.rows.put(e->info.key, e);
      outcome = RegisterOutcome::kInserted;
    }
  }
  impl_->queues[tier].push(item);
  impl_->maybe_compact(tier);
  return outcome;
}

bool Index::begin_copy(const Key& key, TierId tier) {
  if (tier >= kMaxTiers) return false;
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, key);
  if (e == nullptr || e->status != RowStatus::kAvailable) return false;
  const TierMask busy = e->present.load(std::memory_order_relaxed) | e->pending | e->deleting;
  if (busy & tier_bit(tier)) return false;
  e->pending |= tier_bit(tier);
  return true;
}

CopyOutcome Index::end_copy(const Key& key, TierId tier, bool ok) {
  std::optional<EvictionQueue::Item> item;
  CopyOutcome outcome = CopyOutcome::kAdded;
  {
    Shard& s = impl_->shard(key);
    std::lock_guard lock(s.mu);
    Entry* e = impl_->find_locked(s, key);
    if (e == nullptr || !(e->pending & tier_bit(tier))) return CopyOutcome::kRowGone;
    e->pending &= static_cast<TierMask>(~tier_bit(tier));
    if (e->status != RowStatus::kAvailable) {
      outcome = CopyOutcome::kRowGone;  // removed while we wrote: the copy is the caller's to delete
      impl_->erase_if_done_locked(s, e);
    } else if (ok) {
      item = impl_->add_copy_locked(*e, tier);
    } else if (e->present.load(std::memory_order_relaxed) == 0 && e->pending == 0) {
      // A demotion that failed: the row has no copy left anywhere.
      impl_->begin_deleting_locked(*e);
      impl_->erase_if_done_locked(s, e);
      outcome = CopyOutcome::kRowGone;
    }
  }
  if (item) {
    impl_->queues[tier].push(*item);
    impl_->maybe_compact(tier);
  }
  return outcome;
}

std::optional<Dropped> Index::drop_copy(const Key& key, TierId tier) {
  if (tier >= kMaxTiers) return std::nullopt;
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, key);
  if (e == nullptr || !(e->present.load(std::memory_order_relaxed) & tier_bit(tier))) return std::nullopt;
  impl_->clear_copy_locked(*e, tier);
  Dropped out{e->info, tier_bit(tier), false};
  if (e->present.load(std::memory_order_relaxed) == 0 && e->pending == 0) {
    impl_->begin_deleting_locked(*e);
    out.erased = true;
    impl_->erase_if_done_locked(s, e);
  }
  return out;
}

Result<Dropped> Index::remove(const Key& key, bool only_if_unleased) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, key);
  if (e == nullptr || e->status != RowStatus::kAvailable)
    return Result<Dropped>(Code::kNotFound, "no row " + key.hex());
  if (only_if_unleased && e->leases() > 0)
    return Result<Dropped>(Code::kBusy, "row " + key.hex() + " is leased; try again when it is released");
  const TierMask present = e->present.load(std::memory_order_relaxed);
  Dropped out{e->info, present, true};
  for (TierId t = 0; t < kMaxTiers; ++t)
    if (present & tier_bit(t)) impl_->clear_copy_locked(*e, t);
  e->deleting |= present;
  impl_->begin_deleting_locked(*e);
  impl_->erase_if_done_locked(s, e);  // nothing to delete and nothing pending: gone now
  return out;
}

void Index::finish_delete(const Key& key, TierId tier) {
  Shard& s = impl_->shard(key);
  std::lock_guard lock(s.mu);
  Entry* e = impl_->find_locked(s, key);
  if (e == nullptr) return;
  e->deleting &= static_cast<TierMask>(~tier_bit(tier));
  impl_->erase_if_done_locked(s, e);
}

std::optional<Victim> Index::evict_next(TierId tier, const DemoteFn& demote_to) {
  if (tier >= kMaxTiers) return std::nullopt;
  EvictionQueue& q = impl_->queues[tier];
  std::vector<EvictionQueue::Item> set_aside;  // leased now: back in the queue afterwards
  std::optional<Victim> victim;
  while (!victim) {
    auto item = q.pop();
    if (!item) break;
    Shard& s = impl_->shard(item->key);
    std::unique_lock lock(s.mu);
    Entry* e = impl_->find_locked(s, item->key);
    if (e == nullptr || e->status != RowStatus::kAvailable || e->queue_seq[tier] != item->seq ||
        !(e->present.load(std::memory_order_relaxed) & tier_bit(tier)))
      continue;  // stale
    if (e->pinned) {
      e->queue_seq[tier] = 0;  // unpin queues it again
      continue;
    }
    const std::int64_t value = impl_->value_of(*e);
    if (value > item->value) {  // used since it was queued: queue it at its new value
      e->queue_seq[tier] = impl_->next_seq.fetch_add(1, std::memory_order_relaxed);
      const EvictionQueue::Item again{value, item->key, e->queue_seq[tier]};
      lock.unlock();
      q.push(again);
      continue;
    }
    if (e->leases() > 0) {
      set_aside.push_back(*item);
      continue;
    }
    impl_->clear_copy_locked(*e, tier);
    e->deleting |= tier_bit(tier);
    const TierMask remaining = e->present.load(std::memory_order_relaxed);
    std::optional<TierId> down;
    if (demote_to) down = demote_to(e->info, remaining, e->pending);
    if (down && (*down >= kMaxTiers || ((remaining | e->pending | e->deleting) & tier_bit(*down)))) down.reset();
    if (down) e->pending |= tier_bit(*down);
    victim = Victim{e->info, remaining, e->pending, down};
    if (remaining == 0 && e->pending == 0) impl_->begin_deleting_locked(*e);
  }
  q.push_all(set_aside);
  return victim;
}

std::vector<RowSnapshot> Index::eviction_candidates(std::optional<TierId> tier) const {
  std::vector<RowSnapshot> out;
  for (const auto& sp : impl_->shards) {
    std::lock_guard lock(sp->mu);
    for (const auto& [key, e] : sp->rows) {
      if (e->status != RowStatus::kAvailable || e->leases() > 0 || e->pinned) continue;
      if (tier && !(e->present.load(std::memory_order_relaxed) & tier_bit(*tier))) continue;
      out.push_back(e->snapshot());
    }
  }
  const std::int64_t w = impl_->hit_weight_ns();
  auto value = [w](const RowSnapshot& r) { return add_sat(r.last_used_ns, mul_sat(r.hits, w)); };
  std::sort(out.begin(), out.end(), [&](const RowSnapshot& a, const RowSnapshot& b) {
    const std::int64_t va = value(a);
    const std::int64_t vb = value(b);
    return va != vb ? va < vb : a.info.key < b.info.key;
  });
  return out;
}

std::size_t Index::eviction_queue_size(TierId tier) const {
  return tier < kMaxTiers ? impl_->queues[tier].size() : 0;
}

void Index::Impl::maybe_compact(TierId tier) {
  EvictionQueue& q = queues[tier];
  const std::size_t live = copies[tier].load(std::memory_order_relaxed);
  if (q.size() <= 2 * live + 1024) return;
  q.compact([this, tier](const EvictionQueue::Item& i) {
    Shard& s = shard(i.key);
    std::lock_guard lock(s.mu);
    Entry* e = find_locked(s, i.key);
    return e != nullptr && e->queue_seq[tier] == i.seq;
  });
}

}  // namespace kvc::index
