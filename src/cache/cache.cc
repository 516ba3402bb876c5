// kvc::Cache: open, lookups, loads and administration. The save path is in
// cache_save.cc; shared state in cache_impl.h.
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "cache/cache_impl.h"
#include "cache/prometheus.h"
#include "tiers/ram_tier.h"

namespace kvc {

std::int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status validate_file_mode(unsigned mode) {
  if ((mode & ~0777u) != 0) return Status(Code::kInvalidArgument, "must be permission bits like 0600");
  if ((mode & 0600u) != 0600u) return Status(Code::kInvalidArgument, "must let the owner read and write (0600 bits)");
  return Status::Ok();
}

namespace {

Status validate(const CacheOptions& o) {
  auto bad = [](std::string what) { return Status(Code::kInvalidArgument, "cache options: " + std::move(what)); };
  if (o.tiers.empty()) return bad("tiers: at least one tier is required");
  if (o.tiers.size() > index::kMaxTiers) return bad("tiers: at most " + std::to_string(index::kMaxTiers) + " tiers");
  int rams = 0;
  int remotes = 0;
  for (std::size_t i = 0; i < o.tiers.size(); ++i) {
    const auto& t = o.tiers[i];
    const std::string name = "tiers[" + std::to_string(i) + "] (" + std::string(tiers::tier_kind_name(t.kind)) + ")";
    if (t.quota_bytes == 0) return bad(name + ".quota_bytes must be > 0");
    const bool file = t.kind == TierKind::kRamFile || t.kind == TierKind::kDisk;
    if (file && t.dir.empty()) return bad(name + ".dir is required for a file tier");
    if (!file && !t.dir.empty()) return bad(name + ".dir must be empty for a " + std::string(tiers::tier_kind_name(t.kind)) + " tier");
    if (i > 0 && static_cast<int>(t.kind) < static_cast<int>(o.tiers[i - 1].kind))
      return bad(name + " is faster than the tier before it: list tiers fastest first (ram, ram_file, disk, remote)");
    if (t.min_tokens && *t.min_tokens < 1) return bad(name + ".min_tokens must be >= 1, got " + std::to_string(*t.min_tokens));
    rams += t.kind == TierKind::kRam ? 1 : 0;
    remotes += t.kind == TierKind::kRemote ? 1 : 0;
    if (t.kind == TierKind::kRemote && t.remote.url.empty() && t.remote.cluster_seeds.empty())
      return bad(name + ".remote: give a redis:// url or cluster seed nodes");
  }
  if (rams > 1 || remotes > 1) return bad("tiers: at most one ram and one remote tier");
  if (o.writers.threads < 1) return bad("writers.threads must be >= 1, got " + std::to_string(o.writers.threads));
  if (o.writers.queue_capacity < 1) return bad("writers.queue_capacity must be >= 1");
  if (o.writers.queue_bytes < 1) return bad("writers.queue_bytes must be >= 1");
  if (o.writers.drain_deadline.count() < 0) return bad("writers.drain_deadline must be >= 0 ms");
  if (o.reservation_ttl.count() <= 0) return bad("reservation_ttl must be > 0 ms");
  if (o.sweep_interval.count() <= 0) return bad("sweep_interval must be > 0 ms");
  if (Status s = validate_file_mode(o.file_mode); !s.ok()) return bad("file_mode " + s.message());
  if (Status s = o.policy.validate(); !s.ok()) return s;
  if (o.pressure.enabled) {
    if (Status s = validate_pressure_options(o.pressure); !s.ok()) return s;
  }
  return Status::Ok();
}

std::string local_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return {};
  return buf;
}

index::Index::Options index_options(const CacheOptions& o) {
  index::Index::Options io;
  io.reservation_ttl = o.reservation_ttl;  // on the index's monotonic clock
  return io;
}

}  // namespace

Cache::Impl::Impl(CacheOptions o) : options(std::move(o)), index(index_options(options)) {
  env = options.env ? options.env : io::posix_env();
  hostname = options.hostname.empty() ? local_hostname() : options.hostname;
}

Result<std::unique_ptr<Cache>> Cache::open(CacheOptions options) {
  if (Status s = validate(options); !s.ok()) return s;
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl& c = *impl;
  const auto& opts = c.options;

  for (std::size_t i = 0; i < opts.tiers.size(); ++i) {
    const auto& t = opts.tiers[i];
    auto slot = std::make_unique<TierSlot>();
    slot->policy = t.policy;
    slot->min_tokens = static_cast<std::size_t>(
        t.min_tokens.value_or(t.kind == TierKind::kRam ? 1 : std::max<std::int64_t>(opts.policy.min_tokens, 1)));
    switch (t.kind) {
      case TierKind::kRam:
        slot->tier = std::make_unique<tiers::RamTier>(t.quota_bytes);
        c.ram = static_cast<TierId>(i);
        break;
      case TierKind::kRamFile:
      case TierKind::kDisk: {
        if (Status s = c.env->create_dirs(t.dir); !s.ok())
          return Status(s.code(), "tier " + std::string(tiers::tier_kind_name(t.kind)) +
                                      ": cannot create directory " + t.dir + ": " + s.message());
        auto ft = std::make_unique<tiers::FileTier>(t.kind, t.quota_bytes, t.dir, c.env, opts.file_mode);
        slot->file = ft.get();
        slot->tier = std::move(ft);
        break;
      }
      case TierKind::kRemote: {
        auto rt = tiers::RemoteTier::open(t.remote, t.quota_bytes, c.hostname);
        if (!rt.ok()) return Status(rt.status().code(), "tier remote: " + rt.status().message());
        slot->remote = rt->get();
        slot->tier = std::move(rt.value());
        break;
      }
    }
    c.tiers.push_back(std::move(slot));
  }
  // Startup scan: prefixes only; temp and corrupt files are removed by the tier.
  for (std::size_t i = 0; i < c.tiers.size(); ++i) {
    const auto t = static_cast<TierId>(i);
    tiers::FileTier* ft = c.slot(t).file;
    if (ft == nullptr) continue;
    auto report = ft->scan([&c, t](format::RowInfo row, std::uint32_t hits) { c.register_found(std::move(row), t, hits, true); });
    if (!report.ok()) return report.status();
    c.counters.add(c.counters.corrupt_files, report->corrupt_removed);
  }

  c.writers = std::make_unique<WriterPool>(opts.writers.threads, opts.writers.queue_capacity, opts.writers.queue_bytes);
  // A quota smaller than what is on disk: evict down to it now (copies move down).
  for (std::size_t i = 0; i < c.tiers.size(); ++i) {
    tiers::Tier& tr = c.tier(static_cast<TierId>(i));
    if (tr.used() > tr.quota()) {
      const auto id = static_cast<TierId>(i);
      c.evict_where(tr.used() - tr.quota(), [id](TierId t2) { return t2 == id; }, true);
    }
  }
  c.bg_thread = std::thread([&c] { c.background_loop(); });
  if (opts.watch_directories) {
    for (std::size_t i = 0; i < c.tiers.size(); ++i) {
      const auto t = static_cast<TierId>(i);
      tiers::FileTier* ft = c.slot(t).file;
      if (ft == nullptr) continue;
      ft->start_watch([&c, t](format::RowInfo row, std::uint32_t hits) { c.register_found(std::move(row), t, hits, false); },
                      [&c, t](const Key& key) { c.on_vanished(key, t); },
                      [&c, t](const Key& key) {
                        auto snap = c.index.get(key);
                        return snap && (snap->tiers & index::tier_bit(t));
                      });
    }
  }
  // The remote tier: rows the fleet published (a scan, then the publication stream),
  // learnt in the background so that every lookup path finds them locally.
  for (std::size_t i = 0; i < c.tiers.size(); ++i) {
    const auto t = static_cast<TierId>(i);
    if (tiers::RemoteTier* rt = c.slot(t).remote)
      rt->start_discovery([&c, t](format::RowInfo row) { c.register_found(std::move(row), t, 0, false); });
  }
  if (opts.pressure.enabled) {
    std::unique_ptr<PressureSource> source;
    switch (opts.pressure.source) {
      case PressureOptions::Source::kMeminfo: source = make_meminfo_source(opts.pressure.meminfo_path); break;
      case PressureOptions::Source::kNvidia: source = make_nvidia_source(); break;
      case PressureOptions::Source::kCallback: source = make_callback_source(opts.pressure.callback); break;
    }
    auto kinds = opts.pressure.tiers;
    Impl* cp = &c;
    c.pressure = std::make_unique<PressureScheduler>(opts.pressure, std::move(source), [cp, kinds](std::uint64_t n) {
      return cp->evict_where(
          n, [cp, &kinds](TierId id) {
            return std::find(kinds.begin(), kinds.end(), cp->tier(id).kind()) != kinds.end();
          },
          true);
    });
    c.pressure->start();
  }
  return std::unique_ptr<Cache>(new Cache(std::move(impl)));
}

Cache::Cache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Cache::~Cache() {
  Impl& c = *impl_;
  c.pressure.reset();
  const auto drain = c.options.writers.drain_deadline;
  const std::size_t dropped = c.writers->drain(std::chrono::steady_clock::now() + drain);
  (void)dropped;  // counted by the jobs' drop paths
  c.writers.reset();
  for (auto& s : c.tiers) {
    if (s->file != nullptr) s->file->stop_watch();
    if (s->remote != nullptr) s->remote->stop_discovery();
  }
  {
    std::lock_guard lock(c.bg_mu);
    c.bg_stop = true;
  }
  c.bg_cv.notify_all();
  if (c.bg_thread.joinable()) c.bg_thread.join();
  c.persist_hits();
}

const CacheOptions& Cache::options() const { return impl_->options; }
const SavePolicy& Cache::policy() const { return impl_->options.policy; }

std::size_t Cache::min_save_tokens() const {
  std::size_t m = SIZE_MAX;
  for (const auto& s : impl_->tiers) m = std::min(m, s->min_tokens);
  return m;
}

// ---------------------------------------------------------------- Impl helpers

void Cache::Impl::note_hit(const Key& key) { dirty_hits.mark(key); }

void Cache::Impl::background_loop() {
  std::unique_lock lock(bg_mu);
  while (!bg_stop) {
    bg_cv.wait_for(lock, options.sweep_interval, [&] { return bg_stop; });
    if (bg_stop) break;
    lock.unlock();
    persist_hits();
    resolve_expired();
    lock.lock();
  }
}

void Cache::Impl::persist_hits() {
  const std::vector<Key> keys = dirty_hits.take();
  for (const auto& key : keys) {
    auto snap = index.get(key);
    if (!snap || snap->status != index::RowStatus::kAvailable) continue;
    for (std::size_t t = 0; t < tiers.size(); ++t)  // best effort, never creates
      if (snap->tiers & index::tier_bit(static_cast<TierId>(t)))
        (void)tier(static_cast<TierId>(t)).write_hit_count(key, snap->hits);
  }
}

void Cache::Impl::resolve_expired() {
  for (const auto& e : index.sweep()) {
    auto loaded = tier(e.tier).load(e.key);
    if (!loaded.ok()) {
      index.discard(e);
      (void)tier(e.tier).remove(e.key);
      continue;
    }
    index::RowInfo info;
    info.key = e.key;
    info.ns = loaded->meta->key_namespace();
    info.size = loaded->bytes.size();
    info.header = loaded->meta->header;
    info.tokens = std::make_shared<const std::vector<std::uint32_t>>(loaded->meta->tokens);
    const auto size = info.size;
    index.adopt(e, std::move(info));
    auto snap = index.get(e.key);
    if (snap && (snap->tiers & index::tier_bit(e.tier))) tier(e.tier).force_charge(size);  // adopted: charged now
  }
}

// ---------------------------------------------------------------- lookups

Result<Lease> Cache::checkout(const Key& key) {
  auto lease = impl_->index.checkout(key);
  if (lease.ok()) impl_->counters.add(impl_->counters.hits_exact);
  return lease;
}

Result<Lease> Cache::checkout_or_wait(const Key& key, std::chrono::milliseconds wait) {
  auto lease = impl_->index.checkout_or_wait(key, std::chrono::steady_clock::now() + wait);
  if (lease.ok()) impl_->counters.add(impl_->counters.hits_resume);
  return lease;
}

PrefixHit Cache::longest_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens, std::size_t min_length) {
  const auto start = std::chrono::steady_clock::now();
  const auto& p = impl_->options.policy;
  auto m = impl_->index.longest_prefix(ns, tokens, static_cast<std::size_t>(p.boundary_align_tokens), min_length);
  auto& k = impl_->counters;
  k.add(k.longest_prefix_probes, m.probes);
  k.add(k.longest_prefix_ns, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                            std::chrono::steady_clock::now() - start)
                                                            .count()));
  PrefixHit hit;
  hit.busy_seen = m.busy_seen;
  if (m.lease) {
    k.add(k.hits_longest_prefix);
    hit.length = m.length;
    hit.row_length = m.length;
    hit.lease = std::move(m.lease);
  }
  return hit;
}

PrefixHit Cache::any_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens, bool allow_truncation,
                            std::size_t min_length) {
  auto m = impl_->index.any_prefix(ns, tokens);
  PrefixHit hit;
  auto try_take = [&](const std::optional<Key>& key, std::size_t length, std::size_t row_length) {
    if (!key || length == 0 || length < min_length) return false;  // too short to use: not taken, not counted
    auto lease = impl_->index.checkout(*key);
    if (!lease.ok()) {
      if (lease.status().code() == Code::kBusy) hit.busy_seen = true;
      return false;
    }
    hit.lease = std::move(lease.value());
    hit.length = length;
    hit.row_length = row_length;
    return true;
  };
  bool got = false;
  if (allow_truncation && m.common_prefix > m.boundary_length)
    got = try_take(m.key, m.common_prefix, m.row_length);
  if (!got) got = try_take(m.boundary_key, m.boundary_length, m.boundary_length);
  if (got) impl_->counters.add(impl_->counters.hits_any_prefix);
  return hit;
}

void Cache::note_miss() { impl_->counters.add(impl_->counters.misses); }

void Cache::quarantine(const Key& key, std::string_view /*why*/) {
  auto removed = impl_->index.remove(key, /*only_if_unleased=*/false);
  if (!removed.ok()) return;
  impl_->delete_row(*removed);
  impl_->counters.add(impl_->counters.restore_failures);
}

// ---------------------------------------------------------------- administration

Status Cache::pin(const Key& key) { return impl_->index.pin(key); }
Status Cache::unpin(const Key& key) { return impl_->index.unpin(key); }

Status Cache::remove(const Key& key) {
  auto removed = impl_->index.remove(key, /*only_if_unleased=*/true);
  if (!removed.ok()) return removed.status();
  impl_->delete_row(*removed);
  return Status::Ok();
}

std::uint64_t Cache::evict_bytes(std::uint64_t bytes, std::span<const TierKind> kinds) {
  std::vector<TierKind> wanted(kinds.begin(), kinds.end());
  return impl_->evict_where(
      bytes,
      [&](TierId id) {
        return wanted.empty() || std::find(wanted.begin(), wanted.end(), impl_->tier(id).kind()) != wanted.end();
      },
      true);
}

std::uint64_t Cache::gc() { return impl_->evict_where(UINT64_MAX, [](TierId) { return true; }, false); }

void Cache::rescan() {
  Impl& c = *impl_;
  for (std::size_t i = 0; i < c.tiers.size(); ++i) {
    const auto t = static_cast<TierId>(i);
    tiers::FileTier* ft = c.slot(t).file;
    if (ft == nullptr) continue;
    ft->rescan([&c, t](format::RowInfo row, std::uint32_t hits) { c.register_found(std::move(row), t, hits, false); },
               [&c, t](const Key& key) {
                 auto snap = c.index.get(key);
                 return snap && (snap->tiers & index::tier_bit(t));
               });
  }
}

std::vector<index::RowSnapshot> Cache::rows(std::optional<std::size_t> tier) const {
  if (tier) return impl_->index.rows(static_cast<TierId>(*tier));
  return impl_->index.rows();
}

std::vector<TierStats> Cache::tier_stats() const {
  std::vector<TierStats> out;
  for (std::size_t i = 0; i < impl_->tiers.size(); ++i) {
    const TierSlot& slot = *impl_->tiers[i];
    TierStats s;
    s.name = std::string(slot.tier->name());
    s.location = slot.file != nullptr ? slot.file->dir() : (slot.tier->kind() == TierKind::kRam ? "" : slot.tier->describe());
    s.policy = slot.policy;
    s.min_tokens = static_cast<std::int64_t>(slot.min_tokens);
    s.used_bytes = slot.tier->used();
    s.quota_bytes = slot.tier->quota();
    s.rows = impl_->index.copies(static_cast<TierId>(i));
    s.counters = slot.counters.snapshot();
    if (slot.remote != nullptr) {
      // The store sees every remote operation (discovery too): its errors are the tier's.
      const auto r = slot.remote->counters();
      s.counters.errors = r.errors;
      s.counters.timeouts = r.timeouts;
      s.remote = r;
    }
    out.push_back(std::move(s));
  }
  return out;
}

CounterSnapshot Cache::counters() const { return impl_->counters.snapshot(); }

PressureStatus Cache::pressure_status() const {
  if (impl_->pressure) return impl_->pressure->status();
  PressureStatus s;
  return s;
}

std::string Cache::prometheus_text() const {
  return render_prometheus(counters(), tier_stats(), impl_->index.total_leases(),
                           impl_->writers ? impl_->writers->queued() : 0,
                           impl_->writers ? impl_->writers->queued_bytes() : 0);
}

}  // namespace kvc
