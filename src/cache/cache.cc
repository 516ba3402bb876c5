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
  if (o.tiers.size() > 255) return bad("tiers: at most 255 tiers");
  for (std::size_t i = 0; i < o.tiers.size(); ++i) {
    const auto& t = o.tiers[i];
    const std::string name = "tiers[" + std::to_string(i) + "] (" + std::string(tiers::tier_kind_name(t.kind)) + ")";
    if (t.quota_bytes == 0) return bad(name + ".quota_bytes must be > 0");
    if (t.kind != TierKind::kRam && t.dir.empty()) return bad(name + ".dir is required for a file tier");
    if (t.kind == TierKind::kRam && !t.dir.empty()) return bad(name + ".dir must be empty for a ram tier");
  }
  if (o.save_tier >= o.tiers.size())
    return bad("save_tier = " + std::to_string(o.save_tier) + " is not a configured tier (have " +
               std::to_string(o.tiers.size()) + ")");
  if (o.writers.threads < 1) return bad("writers.threads must be >= 1, got " + std::to_string(o.writers.threads));
  if (o.writers.queue_capacity < 1) return bad("writers.queue_capacity must be >= 1");
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
  io.reservation_ttl = o.reservation_ttl;
  io.now_ns = unix_now_ns;
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
    const auto id = static_cast<index::TierId>(i);
    if (t.kind == TierKind::kRam) {
      c.tiers.push_back(std::make_unique<tiers::RamTier>(id, t.quota_bytes));
      continue;
    }
    if (Status s = c.env->create_dirs(t.dir); !s.ok())
      return Status(s.code(), "tier " + std::string(tiers::tier_kind_name(t.kind)) + ": cannot create directory " +
                                  t.dir + ": " + s.message());
    c.tiers.push_back(std::make_unique<tiers::FileTier>(t.kind, id, t.quota_bytes, t.dir, c.env, opts.file_mode));
  }
  // Startup scan: prefixes only; temp and corrupt files are removed by the tier.
  for (auto& t : c.tiers) {
    auto* ft = dynamic_cast<tiers::FileTier*>(t.get());
    if (ft == nullptr) continue;
    auto report = ft->scan([&c](index::RowInfo row, std::uint32_t hits) { c.register_found(std::move(row), hits, true); });
    if (!report.ok()) return report.status();
    c.counters.add(c.counters.corrupt_files, report->corrupt_removed);
    // A quota smaller than what is on disk: evict down to it now.
    if (ft->used() > ft->quota()) {
      const auto id = ft->id();
      c.evict_where(ft->used() - ft->quota(), [id](index::TierId t2) { return t2 == id; });
    }
  }

  c.writers = std::make_unique<WriterPool>(opts.writers.threads, opts.writers.queue_capacity);
  c.bg_thread = std::thread([&c] { c.background_loop(); });
  if (opts.watch_directories) {
    for (auto& t : c.tiers) {
      auto* ft = dynamic_cast<tiers::FileTier*>(t.get());
      if (ft == nullptr) continue;
      ft->start_watch([&c](index::RowInfo row, std::uint32_t hits) { c.register_found(std::move(row), hits, false); },
                      [&c](const Key& key, const std::string& location) {
                        auto snap = c.index.get(key);
                        if (!snap || snap->info.location != location || snap->leases > 0) return;
                        if (auto gone = c.index.evict_if_idle(key)) c.tier(gone->tier).credit(gone->size);
                      });
    }
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
      return cp->evict_where(n, [cp, &kinds](index::TierId id) {
        return std::find(kinds.begin(), kinds.end(), cp->tier(id).kind()) != kinds.end();
      });
    });
    c.pressure->start();
  }
  return std::unique_ptr<Cache>(new Cache(std::move(impl)));
}

Cache::Cache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Cache::~Cache() {
  Impl& c = *impl_;
  c.pressure.reset();
  c.writers.reset();  // finishes queued saves
  for (auto& t : c.tiers)
    if (auto* ft = dynamic_cast<tiers::FileTier*>(t.get())) ft->stop_watch();
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

// ---------------------------------------------------------------- Impl helpers

void Cache::Impl::drop_row(const index::RowInfo& row) {
  auto& t = tier(row.tier);
  (void)t.remove(row);  // best effort: a file already gone is fine
  t.credit(row.size);
}

bool Cache::Impl::make_room(tiers::Tier& t, std::uint64_t bytes) {
  if (bytes > t.quota()) return false;
  for (;;) {
    if (t.try_charge(bytes)) return true;
    bool evicted = false;
    for (const auto& cand : index.eviction_candidates(t.id())) {
      if (auto row = index.evict_if_idle(cand.info.key)) {
        drop_row(*row);
        counters.add(counters.evictions);
        evicted = true;
        break;
      }
    }
    if (!evicted) return false;
  }
}

std::uint64_t Cache::Impl::evict_where(std::uint64_t bytes, const std::function<bool(index::TierId)>& accept) {
  std::uint64_t freed = 0;
  if (bytes == 0) return 0;
  for (const auto& cand : index.eviction_candidates(std::nullopt)) {
    if (!accept(cand.info.tier)) continue;
    if (auto row = index.evict_if_idle(cand.info.key)) {
      drop_row(*row);
      counters.add(counters.evictions);
      freed += row->size;
      if (freed >= bytes) break;
    }
  }
  return freed;
}

void Cache::Impl::register_found(index::RowInfo row, std::uint32_t hits, bool from_scan) {
  const auto size = row.size;
  const auto id = row.tier;
  if (index.register_row(std::move(row), hits, from_scan) == index::RegisterOutcome::kInserted)
    tier(id).force_charge(size);
}

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
    (void)tier(snap->info.tier).write_hit_count(snap->info, snap->hits);  // best effort, never creates
  }
}

void Cache::Impl::resolve_expired() {
  for (const auto& e : index.sweep()) {
    index::RowInfo probe;
    probe.key = e.key;
    probe.tier = e.tier;
    probe.location = e.location;
    auto loaded = tier(e.tier).load(probe);
    if (!loaded.ok()) {
      index.discard(e);
      (void)tier(e.tier).remove(probe);
      continue;
    }
    index::RowInfo info;
    info.key = e.key;
    info.ns = loaded->meta.key_namespace();
    info.tier = e.tier;
    info.size = loaded->meta.payload_offset + loaded->meta.payload_length;
    info.header = loaded->meta.header;
    info.location = e.location;
    info.tokens = std::make_shared<const std::vector<std::uint32_t>>(std::move(loaded->meta.tokens));
    index.adopt(e, std::move(info));
  }
}

// ---------------------------------------------------------------- lookups

Result<Lease> Cache::checkout(const Key& key) {
  auto lease = impl_->index.checkout(key);
  if (lease.ok()) {
    impl_->counters.add(impl_->counters.hits_exact);
    impl_->note_hit(key);
  }
  return lease;
}

Result<Lease> Cache::checkout_or_wait(const Key& key, std::chrono::milliseconds wait) {
  auto lease = impl_->index.checkout_or_wait(key, std::chrono::steady_clock::now() + wait);
  if (lease.ok()) {
    impl_->counters.add(impl_->counters.hits_resume);
    impl_->note_hit(key);
  }
  return lease;
}

PrefixHit Cache::longest_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens) {
  const auto start = std::chrono::steady_clock::now();
  const auto& p = impl_->options.policy;
  auto m = impl_->index.longest_prefix(ns, tokens, static_cast<std::size_t>(p.boundary_align_tokens),
                                       static_cast<std::size_t>(p.min_tokens));
  auto& k = impl_->counters;
  k.add(k.longest_prefix_probes, m.probes);
  k.add(k.longest_prefix_ns, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                            std::chrono::steady_clock::now() - start)
                                                            .count()));
  PrefixHit hit;
  hit.busy_seen = m.busy_seen;
  if (m.lease) {
    k.add(k.hits_longest_prefix);
    impl_->note_hit(m.lease.row().key);
    hit.length = m.length;
    hit.row_length = m.length;
    hit.lease = std::move(m.lease);
  }
  return hit;
}

PrefixHit Cache::any_prefix(const KeyNamespace& ns, std::span<const std::uint32_t> tokens, bool allow_truncation) {
  auto m = impl_->index.any_prefix(ns, tokens);
  PrefixHit hit;
  auto try_take = [&](const std::optional<Key>& key, std::size_t length, std::size_t row_length) {
    if (!key || length == 0) return false;
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
  if (got) {
    impl_->counters.add(impl_->counters.hits_any_prefix);
    impl_->note_hit(hit.lease.row().key);
  }
  return hit;
}

void Cache::note_miss() { impl_->counters.add(impl_->counters.misses); }

Result<LoadedFile> Cache::load(const Lease& lease) {
  if (!lease) return Status(Code::kInvalidArgument, "load: empty lease");
  const auto start = std::chrono::steady_clock::now();
  const auto& row = lease.row();
  auto loaded = impl_->tier(row.tier).load(row);
  impl_->counters.add(impl_->counters.load_total_ns,
                      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                     std::chrono::steady_clock::now() - start)
                                                     .count()));
  const Code code = loaded.ok() ? Code::kOk : loaded.status().code();
  if (code == Code::kCorrupt || code == Code::kNotFound) {
    // Corrupt or missing: the row leaves the index and its file is deleted. Other
    // errors (EIO) are not proof of corruption and leave the row in place.
    if (auto removed = impl_->index.remove(row.key)) {
      impl_->drop_row(*removed);
      impl_->counters.add(impl_->counters.corrupt_files);
    }
  }
  return loaded;
}

void Cache::quarantine(const Key& key, std::string_view /*why*/) {
  if (auto removed = impl_->index.remove(key)) {
    impl_->drop_row(*removed);
    impl_->counters.add(impl_->counters.restore_failures);
  }
}

// ---------------------------------------------------------------- administration

Status Cache::pin(const Key& key) { return impl_->index.pin(key); }
Status Cache::unpin(const Key& key) { return impl_->index.unpin(key); }

Status Cache::remove(const Key& key) {
  auto snap = impl_->index.get(key);
  if (!snap || snap->status != index::RowStatus::kAvailable) return Status(Code::kNotFound, "no row " + key.hex());
  if (snap->leases > 0) return Status(Code::kBusy, "row " + key.hex() + " is leased; try again when it is released");
  if (auto removed = impl_->index.remove(key)) impl_->drop_row(*removed);
  return Status::Ok();
}

std::uint64_t Cache::evict_bytes(std::uint64_t bytes, std::span<const TierKind> kinds) {
  std::vector<TierKind> wanted(kinds.begin(), kinds.end());
  return impl_->evict_where(bytes, [&](index::TierId id) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), impl_->tier(id).kind()) != wanted.end();
  });
}

std::uint64_t Cache::gc() { return impl_->evict_where(UINT64_MAX, [](index::TierId) { return true; }); }

void Cache::rescan() {
  for (auto& t : impl_->tiers) {
    auto* ft = dynamic_cast<tiers::FileTier*>(t.get());
    if (ft == nullptr) continue;
    ft->rescan([this](index::RowInfo row, std::uint32_t hits) { impl_->register_found(std::move(row), hits, false); },
               [this](const Key& key) { return impl_->index.contains(key); });
  }
}

std::vector<index::RowSnapshot> Cache::rows(std::optional<std::size_t> tier) const {
  if (tier) return impl_->index.rows(static_cast<index::TierId>(*tier));
  return impl_->index.rows();
}

std::vector<TierStats> Cache::tier_stats() const {
  std::vector<TierStats> out;
  std::vector<std::size_t> counts(impl_->tiers.size(), 0);
  for (const auto& r : impl_->index.rows())
    if (r.status == index::RowStatus::kAvailable) ++counts[r.info.tier];
  for (const auto& t : impl_->tiers) {
    TierStats s;
    s.name = std::string(t->name());
    auto* ft = dynamic_cast<tiers::FileTier*>(t.get());
    s.location = ft ? ft->dir() : "";
    s.used_bytes = t->used();
    s.quota_bytes = t->quota();
    s.rows = counts[t->id()];
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
                           impl_->writers ? impl_->writers->queued() : 0);
}

}  // namespace kvc
