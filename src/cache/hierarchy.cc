// The tier hierarchy (cache.md §3): copies of rows moving between tiers — room
// under a quota by eviction, demotion of evicted copies, write-through and
// promotion copies, and copies found or lost by scans, watches and the remote.
#include <algorithm>

#include "cache/cache_impl.h"

namespace kvc {

namespace {

// Transient trouble (the copy may be fine) against proof that it is unusable.
bool copy_unusable(Code c) {
  return c == Code::kNotFound || c == Code::kCorrupt || c == Code::kInvalidArgument || c == Code::kPermissionDenied;
}

// How long a load waits for a row whose only copy is moving (evicted from one
// tier, its copy below not yet written) before it answers busy.
constexpr std::chrono::milliseconds kMotionWait{2000};

}  // namespace

void Cache::Impl::delete_copy(const Key& key, TierId t, std::uint64_t size) {
  (void)tier(t).remove(key);  // best effort: a copy already gone is fine
  tier(t).credit(size);
}

void Cache::Impl::delete_row(const index::Dropped& d) {
  for (std::size_t t = 0; t < tiers.size(); ++t) {
    if (!(d.to_delete & index::tier_bit(static_cast<TierId>(t)))) continue;
    delete_copy(d.info.key, static_cast<TierId>(t), d.info.size);
    index.finish_delete(d.info.key, static_cast<TierId>(t));
  }
}

bool Cache::Impl::make_room(TierId t, std::uint64_t bytes) {
  tiers::Tier& tr = tier(t);
  if (bytes > tr.quota()) return false;
  // Where an evicted copy moves: the next slower tier that takes rows this long,
  // when no slower tier has (or is getting) a copy.
  const index::DemoteFn demote = [this, t](const index::RowInfo& row, index::TierMask remaining,
                                           index::TierMask pending) -> std::optional<TierId> {
    if ((remaining | pending) & index::below(t)) return std::nullopt;
    const std::size_t n = row.tokens ? row.tokens->size() : 0;
    for (std::size_t u = t + 1; u < tiers.size(); ++u)
      if (takes(static_cast<TierId>(u), n)) return static_cast<TierId>(u);
    return std::nullopt;
  };
  while (!tr.try_charge(bytes)) {
    auto v = index.evict_next(t, demote);
    if (!v) return false;
    finish_victim(t, *v, true);
  }
  return true;
}

// Called after every pending copy of the row settles (landed, failed or dropped):
// forgets the transit bytes once no copy is pending, and wakes waiting loads.
void Cache::Impl::end_transit(const Key& key) {
  LoadedFile gone;  // released outside the lock
  std::lock_guard lock(transit_mu);
  transit_cv.notify_all();
  auto it = transit.find(key);
  if (it == transit.end()) return;
  auto snap = index.get(key);
  if (snap && snap->status == index::RowStatus::kAvailable && snap->tiers == 0 && snap->pending != 0) return;
  gone = std::move(it->second.file);
  transit.erase(it);
}

void Cache::Impl::finish_victim(TierId t, index::Victim& v, bool demote) {
  const Key key = v.info.key;
  std::optional<LoadedFile> bytes;
  if (v.demoted_to) {
    // The copy moves down: read it (RAM: the buffers themselves) before deleting it.
    auto file = tier(t).load(key);
    bool queued = false;
    if (demote && file.ok()) {
      bytes = *file;
      queued = queue_copy_claimed(key, *v.demoted_to, *file, /*demotion=*/true);
    } else {
      index.end_copy(key, *v.demoted_to, false);
      end_transit(key);
    }
    if (!queued) slot(*v.demoted_to).counters.add(slot(*v.demoted_to).counters.write_through_drops);
  } else if (v.remaining == 0 && v.pending != 0 && tier(t).kind() == TierKind::kRam) {
    if (auto file = tier(t).load(key); file.ok()) bytes = std::move(*file);  // shared buffers: no copy
  }
  if (v.remaining == 0 && bytes) {
    // Until the copy below lands, loads are served from these bytes.
    std::lock_guard lock(transit_mu);
    transit.insert_or_assign(key, InTransit{std::move(*bytes), tier(t).kind()});
    transit_cv.notify_all();
  }
  delete_copy(key, t, v.info.size);
  index.finish_evict(key, t);
  counters.add(counters.evictions);
  slot(t).counters.add(slot(t).counters.evictions);
}

std::uint64_t Cache::Impl::evict_where(std::uint64_t bytes, const std::function<bool(TierId)>& accept, bool demote) {
  std::uint64_t freed = 0;
  for (std::size_t i = 0; i < tiers.size() && freed < bytes; ++i) {
    const auto t = static_cast<TierId>(i);
    if (!accept(t)) continue;
    const index::DemoteFn down = [this, t, demote](const index::RowInfo& row, index::TierMask remaining,
                                                   index::TierMask pending) -> std::optional<TierId> {
      if (!demote || ((remaining | pending) & index::below(t))) return std::nullopt;
      const std::size_t n = row.tokens ? row.tokens->size() : 0;
      for (std::size_t u = t + 1; u < tiers.size(); ++u)
        if (takes(static_cast<TierId>(u), n)) return static_cast<TierId>(u);
      return std::nullopt;
    };
    while (freed < bytes) {
      auto v = index.evict_next(t, down);
      if (!v) break;
      freed += v->info.size;
      finish_victim(t, *v, demote);
    }
  }
  return freed;
}

bool Cache::Impl::queue_copy(const Key& key, TierId t, const LoadedFile& file, bool demotion) {
  if (!index.begin_copy(key, t)) return false;  // already there, on its way, or the row is gone
  if (queue_copy_claimed(key, t, file, demotion)) return true;
  slot(t).counters.add(slot(t).counters.write_through_drops);
  return false;
}

bool Cache::Impl::queue_copy_claimed(const Key& key, TierId t, const LoadedFile& file, bool demotion) {
  Impl* self = this;
  WriterPool::Job job;
  job.bytes = file.bytes.size();
  job.run = [self, key, t, file, demotion] { self->write_copy(key, t, file, demotion); };
  job.drop = [self, key, t] {
    self->index.end_copy(key, t, false);
    self->end_transit(key);
    self->slot(t).counters.add(self->slot(t).counters.write_through_drops);
  };
  if (writers && writers->submit(std::move(job))) return true;
  index.end_copy(key, t, false);
  end_transit(key);
  return false;
}

void Cache::Impl::write_copy(const Key& key, TierId t, const LoadedFile& file, bool demotion) {
  TierSlot& s = slot(t);
  const std::uint64_t size = file.bytes.size();
  if (!make_room(t, size)) {
    index.end_copy(key, t, false);
    end_transit(key);
    s.counters.add(s.counters.write_through_drops);
    report_save_error(key, Status(Code::kQuotaExceeded, "copy of " + key.hex() + " into " + s.tier->describe() + ": " +
                                                            std::to_string(size) + " bytes do not fit (quota " +
                                                            std::to_string(s.tier->quota()) + ")"));
    return;
  }
  Status st = s.tier->put(key, file, nullptr);
  if (!st.ok()) {
    s.tier->credit(size);
    index.end_copy(key, t, false);
    end_transit(key);
    s.counters.add(s.counters.write_through_drops);
    s.counters.add(st.code() == Code::kTimeout ? s.counters.timeouts : s.counters.errors);
    report_save_error(key, st);
    return;
  }
  const auto outcome = index.end_copy(key, t, true);
  end_transit(key);
  if (outcome == index::CopyOutcome::kRowGone) {
    delete_copy(key, t, size);  // the row was removed while we wrote
    return;
  }
  s.counters.add(s.counters.bytes_out, size);
  if (demotion) {
    s.counters.add(s.counters.demotions);
  } else {
    s.counters.add(s.counters.write_through_bytes, size);
  }
}

bool Cache::Impl::promote(const Key& key, const LoadedFile& file) {
  if (!ram) return false;
  const TierId r = *ram;
  const std::size_t n = file.meta ? file.meta->tokens.size() : 0;
  if (!takes(r, n) || !index.begin_copy(key, r)) return false;
  const std::uint64_t size = file.bytes.size();
  if (!make_room(r, size)) {
    index.end_copy(key, r, false);
    end_transit(key);
    return false;
  }
  if (Status st = tier(r).put(key, file, nullptr); !st.ok()) {
    tier(r).credit(size);
    index.end_copy(key, r, false);
    end_transit(key);
    return false;
  }
  const auto outcome = index.end_copy(key, r, true);
  end_transit(key);
  if (outcome == index::CopyOutcome::kRowGone) {
    delete_copy(key, r, size);
    return false;
  }
  slot(r).counters.add(slot(r).counters.promotions);
  return true;
}

void Cache::Impl::register_found(format::RowInfo row, TierId t, std::uint32_t hits, bool from_scan) {
  const auto size = row.size;
  const auto outcome = index.register_copy(std::move(row), t, hits, from_scan);
  if (outcome != index::RegisterOutcome::kKeptExisting) tier(t).force_charge(size);
}

void Cache::Impl::on_vanished(const Key& key, TierId t) {
  auto dropped = index.drop_copy(key, t);
  if (!dropped) return;
  tier(t).credit(dropped->info.size);
  counters.add(counters.vanished_copies);
  // Published again between the event and the drop (by us or a sibling): take it back.
  if (TierSlot& s = slot(t); s.file != nullptr) {
    if (auto found = s.file->probe(key)) register_found(std::move(found->row), t, found->hits, false);
  }
}

Result<LoadedRow> Cache::load(const Lease& lease) {
  if (!lease) return Status(Code::kInvalidArgument, "load: empty lease");
  Impl& c = *impl_;
  const auto start = std::chrono::steady_clock::now();
  const Key key = lease.row().key;
  Status last(Code::kNotFound, "no copy of row " + key.hex() + " is left");
  for (;;) {
    const auto t = index::fastest(lease.tiers());
    if (!t) {
      // No copy at rest: the row may be on its way to a slower tier. Its evictor
      // files the bytes in `transit` just after taking the copy out of the index,
      // and a pending copy may land at any moment: wait (bounded) for either.
      std::unique_lock lock(c.transit_mu);
      if (auto it = c.transit.find(key); it != c.transit.end()) {
        const LoadedFile& f = it->second.file;
        LoadedRow out(f.meta, f.bytes.owner, f.bytes.payload, it->second.from, /*promoted=*/false);
        lock.unlock();
        c.index.touch(lease);
        c.note_hit(key);
        return out;
      }
      if (lease.tiers() != 0) continue;  // a copy landed meanwhile
      auto snap = c.index.get(key);
      if (!snap || snap->status != index::RowStatus::kAvailable || snap->pending == 0) break;
      if (std::chrono::steady_clock::now() - start >= kMotionWait) {
        last = Status(Code::kBusy, "row " + key.hex() + " is moving between tiers");
        break;
      }
      c.transit_cv.wait_for(lock, std::chrono::milliseconds(5));
      continue;
    }
    TierSlot& s = c.slot(*t);
    auto file = s.tier->load(key);
    if (file.ok()) {
      c.index.touch(lease);
      c.note_hit(key);
      s.counters.add(s.counters.hits);
      s.counters.add(s.counters.bytes_in, file->bytes.size());
      const bool promoted = *t != c.ram.value_or(*t) && c.promote(key, *file);
      LoadedRow out(std::move(file->meta), std::move(file->bytes.owner), file->bytes.payload, s.tier->kind(),
                    promoted);
      c.counters.add(c.counters.load_total_ns,
                     static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                    std::chrono::steady_clock::now() - start)
                                                    .count()));
      return out;
    }
    last = file.status();
    s.counters.add(s.counters.misses);
    if (!copy_unusable(last.code())) {
      s.counters.add(last.code() == Code::kTimeout ? s.counters.timeouts : s.counters.errors);
      break;  // transient: the copy stays; this request goes on as a miss
    }
    // The copy is gone or unusable: drop it (and its data) and try the next tier.
    auto dropped = c.index.drop_copy(key, *t);
    if (!dropped) continue;  // someone else dropped it meanwhile
    c.delete_copy(key, *t, dropped->info.size);
    switch (last.code()) {
      case Code::kNotFound: c.counters.add(c.counters.vanished_copies); break;
      case Code::kCorrupt: c.counters.add(c.counters.corrupt_files); break;
      default: c.counters.add(c.counters.unreadable_copies); break;
    }
  }
  c.counters.add(c.counters.load_total_ns,
                 static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::steady_clock::now() - start)
                                                .count()));
  return last;
}

}  // namespace kvc
