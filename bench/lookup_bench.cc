// Lookup benchmarks of the in-memory index and the Cache facade, each against a
// baseline measured in the same run (the summary pairs BM_X/args with BM_XBaseline/args):
//
//   BM_IndexContains{Hit,Miss}      Index::contains on 10 000 rows
//     baseline: one std::mutex around one std::unordered_map<Key, row> (a naive index)
//   BM_IndexCheckout{Hit,Miss}      Index::checkout + Lease release
//     baseline: same naive map, lease count ++ under the lock, -- under the lock again
//   BM_CacheCheckout{Hit,Miss}      Cache::checkout + release (ram tier, 10 000 rows);
//                                   no baseline: compare with BM_IndexCheckout*
//   BM_StrideWalk/stride:S/row_at:R Index::longest_prefix on a 32 768-token prompt, min
//                                   length 512; row_at:16384 = one row at half the
//                                   prompt (the walk stops there), row_at:0 = no row
//                                   (full walk down to the floor)
//     baseline: the same lengths probed in the same order, each key hashed from
//     scratch with derive_key (O(L²/S) hashing), same index, same checkouts
//   BM_StrideWalkHashOnly/stride:S  only PrefixHasher::keys_at for the full walk's lengths
//                                   (no probes): the hashing share of BM_StrideWalk
//   BM_AnyPrefix                    Index::any_prefix of the 32 768-token prompt over
//                                   10 000 rows of branching conversations
//     baseline: a linear scan of every row's token list (std::mismatch)
//   BM_{Index,Cache}Lease/threads:N checkout + release throughput on 1 and 2 threads,
//                                   each thread walking its own sequence of keys
//     baseline (index): the naive single-mutex map
//   BM_EvictNext/rows:N             one eviction from a tier of N rows whose recency
//                                   varies (Index::evict_next + finish_evict; a new row
//                                   registered each time keeps N constant)
//     baseline: what eviction did before the per-tier heaps — sort every candidate
//     (Index::eviction_candidates, O(n log n)) and take the first
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "bench_common.h"
#include "index/index.h"
#include "kvc/cache.h"

namespace {

using kvc::Key;
using kvc::bench::bench_ns;
using kvc::bench::random_tokens;
using kvc::bench::Rng;
using kvc::index::Index;

constexpr std::size_t kRows = 10'000;
constexpr std::size_t kRowTokens = 512;
constexpr std::size_t kPromptTokens = 32'768;
constexpr std::size_t kMinLength = 512;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "lookup_bench: %s\n", what);
  std::exit(1);
}

kvc::index::RowInfo make_row(const kvc::KeyNamespace& ns, std::vector<std::uint32_t> tokens) {
  kvc::index::RowInfo info;
  info.ns = ns;
  info.key = kvc::derive_key(ns, tokens);
  info.size = 72 + 4 * tokens.size() + 4096;
  info.header.cached_token_count = static_cast<std::uint32_t>(tokens.size());
  info.tokens = std::make_shared<const std::vector<std::uint32_t>>(std::move(tokens));
  return info;
}

// ---------------------------------------------------------------- exact fixture
// 10 000 rows of 512 tokens; `hit` keys are theirs (shuffled), `miss` keys are not.
struct ExactFixture {
  Index index;
  std::vector<Key> hit, miss;
  // The naive baseline index.
  struct NaiveRow {
    std::uint32_t leases = 0;
    std::uint32_t hits = 0;
    std::int64_t last_used_ns = 0;
  };
  std::mutex naive_mu;
  std::unordered_map<Key, NaiveRow> naive;
  // The stride-walk prompts: `prompt` has a row at its first 16 384 tokens,
  // `cold_prompt` (same length) has no row at any length.
  std::vector<std::uint32_t> prompt, cold_prompt;

  ExactFixture() {
    const auto ns = bench_ns();
    for (std::size_t i = 0; i < kRows; ++i) {
      auto row = make_row(ns, random_tokens(kRowTokens, 1000 + i));
      hit.push_back(row.key);
      naive.emplace(row.key, NaiveRow{});
      index.register_copy(std::move(row), 0, 0, false);
      miss.push_back(kvc::derive_key(ns, random_tokens(kRowTokens, 900'000 + i)));
    }
    Rng r(7);
    for (std::size_t i = hit.size(); i > 1; --i) std::swap(hit[i - 1], hit[r.next() % i]);
    prompt = random_tokens(kPromptTokens, 42);
    cold_prompt = random_tokens(kPromptTokens, 43);
    index.register_copy(make_row(ns, {prompt.begin(), prompt.begin() + kPromptTokens / 2}), 0, 0, false);
    if (index.size() != kRows + 1) die("exact fixture: rows missing after register_copy");
  }

  bool naive_contains(const Key& k) {
    std::lock_guard lock(naive_mu);
    return naive.find(k) != naive.end();
  }
  // Checkout + release on the naive map: what a single-lock index would do.
  bool naive_lease(const Key& k) {
    NaiveRow* row;
    {
      std::lock_guard lock(naive_mu);
      auto it = naive.find(k);
      if (it == naive.end()) return false;
      row = &it->second;
      ++row->leases;
      ++row->hits;
      row->last_used_ns = std::chrono::system_clock::now().time_since_epoch().count();
    }
    std::lock_guard lock(naive_mu);
    --row->leases;
    return true;
  }
};

ExactFixture& exact() {
  static ExactFixture f;
  return f;
}

// ---------------------------------------------------------------- cache fixture
// A Cache with a ram tier holding the same 10 000 rows (256-byte payloads).
struct CacheFixture {
  std::unique_ptr<kvc::Cache> cache;
  CacheFixture() {
    kvc::CacheOptions o;
    o.tiers.push_back({kvc::TierKind::kRam, "", 1ull << 30});
    auto opened = kvc::Cache::open(o);
    if (!opened.ok()) die(opened.status().to_string().c_str());
    cache = std::move(opened).value();
    const auto ns = bench_ns();
    for (std::size_t i = 0; i < kRows; ++i) {
      kvc::SaveRequest req;
      req.ns = ns;
      req.tokens = random_tokens(kRowTokens, 1000 + i);
      req.payload = kvc::ByteBuffer::copy_of(kvc::bench::random_bytes(256, i));
      req.reason = kvc::SaveReason::kCold;
      auto k = cache->save(std::move(req), std::chrono::seconds(10));
      if (!k.ok()) die(k.status().to_string().c_str());
    }
  }
};

CacheFixture& cache_fixture() {
  static CacheFixture f;
  return f;
}

// ---------------------------------------------------------------- exact lookups

void BM_IndexContainsHit(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    found += f.index.contains(f.hit[i]);
    if (++i == f.hit.size()) i = 0;
  }
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a hit key was not found");
  state.SetItemsProcessed(state.iterations());
}

void BM_IndexContainsHitBaseline(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    found += f.naive_contains(f.hit[i]);
    if (++i == f.hit.size()) i = 0;
  }
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a hit key was not found");
  state.SetItemsProcessed(state.iterations());
}

void BM_IndexContainsMiss(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    found += f.index.contains(f.miss[i]);
    if (++i == f.miss.size()) i = 0;
  }
  if (found != 0) state.SkipWithError("a miss key was found");
  state.SetItemsProcessed(state.iterations());
}

void BM_IndexContainsMissBaseline(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    found += f.naive_contains(f.miss[i]);
    if (++i == f.miss.size()) i = 0;
  }
  if (found != 0) state.SkipWithError("a miss key was found");
  state.SetItemsProcessed(state.iterations());
}

void BM_IndexCheckoutHit(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    auto lease = f.index.checkout(f.hit[i]);
    found += lease.ok();
    if (++i == f.hit.size()) i = 0;
  }  // the Lease is released when it goes out of scope, inside the timed loop
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a hit key was not found");
  state.SetItemsProcessed(state.iterations());
}

void BM_IndexCheckoutHitBaseline(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    found += f.naive_lease(f.hit[i]);
    if (++i == f.hit.size()) i = 0;
  }
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a hit key was not found");
  state.SetItemsProcessed(state.iterations());
}

void BM_IndexCheckoutMiss(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    auto lease = f.index.checkout(f.miss[i]);
    found += lease.ok();
    if (++i == f.miss.size()) i = 0;
  }
  if (found != 0) state.SkipWithError("a miss key was found");
  state.SetItemsProcessed(state.iterations());
}

void BM_IndexCheckoutMissBaseline(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    found += f.naive_lease(f.miss[i]);
    if (++i == f.miss.size()) i = 0;
  }
  if (found != 0) state.SkipWithError("a miss key was found");
  state.SetItemsProcessed(state.iterations());
}

void BM_CacheCheckoutHit(benchmark::State& state) {
  auto& f = exact();
  auto& c = *cache_fixture().cache;
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    auto lease = c.checkout(f.hit[i]);
    found += lease.ok();
    if (++i == f.hit.size()) i = 0;
  }
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a hit key was not found in the cache");
  state.SetItemsProcessed(state.iterations());
}

void BM_CacheCheckoutMiss(benchmark::State& state) {
  auto& f = exact();
  auto& c = *cache_fixture().cache;
  std::size_t i = 0, found = 0;
  for (auto _ : state) {
    auto lease = c.checkout(f.miss[i]);
    found += lease.ok();
    if (++i == f.miss.size()) i = 0;
  }
  if (found != 0) state.SkipWithError("a miss key was found in the cache");
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------- stride walk

// The lengths Index::longest_prefix probes, longest first.
std::vector<std::size_t> walk_lengths(std::size_t n, std::size_t stride, std::size_t min_length) {
  std::vector<std::size_t> out;
  const std::size_t top = n / stride * stride;
  const std::size_t low = std::max(min_length, stride);
  const std::size_t floor = (low + stride - 1) / stride * stride;
  for (std::size_t len = top; len >= floor && len > 0; len -= stride) out.push_back(len);
  return out;
}

const std::vector<std::uint32_t>& walk_prompt(std::int64_t row_at) {
  auto& f = exact();
  return row_at != 0 ? f.prompt : f.cold_prompt;
}

void BM_StrideWalk(benchmark::State& state) {
  auto& f = exact();
  const auto stride = static_cast<std::size_t>(state.range(0));
  const auto& prompt = walk_prompt(state.range(1));
  const auto ns = bench_ns();
  std::size_t probes = 0, length = 0;
  for (auto _ : state) {
    auto m = f.index.longest_prefix(ns, prompt, stride, kMinLength);
    probes = m.probes;
    length = m.length;
    benchmark::DoNotOptimize(m.lease);
  }
  if (length != static_cast<std::size_t>(state.range(1))) state.SkipWithError("stride walk found the wrong length");
  state.counters["probes"] = static_cast<double>(probes);
  state.counters["found"] = static_cast<double>(length);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(probes));  // probes/s
}

void BM_StrideWalkBaseline(benchmark::State& state) {
  auto& f = exact();
  const auto stride = static_cast<std::size_t>(state.range(0));
  const auto& prompt = walk_prompt(state.range(1));
  const std::span<const std::uint32_t> tokens(prompt);
  const auto ns = bench_ns();
  const auto lengths = walk_lengths(prompt.size(), stride, kMinLength);
  std::size_t probes = 0, length = 0;
  for (auto _ : state) {
    probes = 0;
    length = 0;
    for (std::size_t len : lengths) {
      ++probes;
      auto lease = f.index.checkout(kvc::derive_key(ns, tokens.first(len)));
      if (lease.ok()) {
        length = len;
        benchmark::DoNotOptimize(lease.value());
        break;
      }
    }
  }
  if (length != static_cast<std::size_t>(state.range(1))) state.SkipWithError("baseline walk found the wrong length");
  state.counters["probes"] = static_cast<double>(probes);
  state.counters["found"] = static_cast<double>(length);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(probes));
}

// Only the hashing half of the walk: PrefixHasher::keys_at for the same lengths
// (no index probes). Explains where BM_StrideWalk's time goes.
void BM_StrideWalkHashOnly(benchmark::State& state) {
  const auto stride = static_cast<std::size_t>(state.range(0));
  const auto& prompt = walk_prompt(state.range(1));
  auto lengths = walk_lengths(prompt.size(), stride, kMinLength);
  std::reverse(lengths.begin(), lengths.end());  // keys_at wants them ascending
  const auto ns = bench_ns();
  for (auto _ : state) {
    auto keys = kvc::PrefixHasher::keys_at(ns, std::span<const std::uint32_t>(prompt).first(lengths.back()), lengths);
    benchmark::DoNotOptimize(keys.data());
  }
  state.counters["keys"] = static_cast<double>(lengths.size());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(lengths.size()));
}

void stride_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"stride", "row_at"});
  for (std::int64_t s : {2048, 256, 16})
    for (std::int64_t row_at : {static_cast<std::int64_t>(kPromptTokens / 2), std::int64_t{0}}) b->Args({s, row_at});
  b->Unit(benchmark::kMicrosecond);
}

// ---------------------------------------------------------------- any-token prefix
// 10 000 rows of branching conversations in one namespace:
//  - 200 rows branch off the 32 768-token prompt at a random point (they share a
//    prefix with it) and continue with 1–512 tokens of their own;
//  - 50 "system prompts" (256–2 048 tokens; 10 of them are a prefix of the prompt);
//  - the rest continue a random earlier conversation of the same system prompt: cut
//    it at a random point and append 32–1 024 new tokens (capped at 8 192 tokens).
struct AnyPrefixFixture {
  Index index;
  std::vector<std::shared_ptr<const std::vector<std::uint32_t>>> rows;
  std::vector<std::uint32_t> prompt;
  kvc::index::AnyPrefixMatch expected;

  AnyPrefixFixture() {
    const auto ns = bench_ns();
    prompt = exact().prompt;
    Rng r(99);
    std::uint64_t seed = 5'000'000;
    auto add = [&](std::vector<std::uint32_t> t) {
      auto row = make_row(ns, std::move(t));
      rows.push_back(row.tokens);
      index.register_copy(std::move(row), 0, 0, false);
    };
    for (int i = 0; i < 200; ++i) {
      const std::size_t cut = r.between(1, kPromptTokens - 1);
      std::vector<std::uint32_t> t(prompt.begin(), prompt.begin() + static_cast<long>(cut));
      auto tail = random_tokens(r.between(1, 512), ++seed);
      if (tail[0] == prompt[cut]) tail[0] = (tail[0] + 1) % 32000;  // really diverge at `cut`
      t.insert(t.end(), tail.begin(), tail.end());
      add(std::move(t));
    }
    std::vector<std::vector<std::size_t>> families(50);  // row indices per system prompt
    for (std::size_t s = 0; s < families.size(); ++s) {
      const std::size_t n = r.between(256, 2048);
      std::vector<std::uint32_t> t =
          s < 10 ? std::vector<std::uint32_t>(prompt.begin(), prompt.begin() + static_cast<long>(n))
                 : random_tokens(n, ++seed);
      families[s].push_back(rows.size());
      add(std::move(t));
    }
    while (rows.size() < kRows) {
      auto& fam = families[r.next() % families.size()];
      const auto& parent = *rows[fam[r.next() % fam.size()]];
      const std::size_t cut = r.between(parent.size() / 2, parent.size());
      std::vector<std::uint32_t> t(parent.begin(), parent.begin() + static_cast<long>(cut));
      auto tail = random_tokens(r.between(32, 1024), ++seed);
      t.insert(t.end(), tail.begin(), tail.end());
      if (t.size() > 8192) t.resize(8192);
      fam.push_back(rows.size());
      add(std::move(t));
    }
    expected = index.any_prefix(ns, prompt);
  }

  // The baseline: every row's common prefix with the prompt, by brute force.
  kvc::index::AnyPrefixMatch scan() const {
    kvc::index::AnyPrefixMatch out;
    for (const auto& row : rows) {
      const std::size_t n = std::min(row->size(), prompt.size());
      const auto lcp = static_cast<std::size_t>(
          std::mismatch(row->begin(), row->begin() + static_cast<long>(n), prompt.begin()).first - row->begin());
      if (lcp > out.common_prefix) {  // (keys are not needed by the comparison: lengths are)
        out.common_prefix = lcp;
        out.row_length = row->size();
      }
      if (lcp == row->size() && lcp > out.boundary_length) out.boundary_length = lcp;
    }
    return out;
  }
};

AnyPrefixFixture& any_fixture() {
  static AnyPrefixFixture f;
  return f;
}

void BM_AnyPrefix(benchmark::State& state) {
  auto& f = any_fixture();
  const auto ns = bench_ns();
  kvc::index::AnyPrefixMatch m;
  for (auto _ : state) {
    m = f.index.any_prefix(ns, f.prompt);
    benchmark::DoNotOptimize(m);
  }
  const auto base = f.scan();
  if (m.common_prefix != base.common_prefix || m.boundary_length != base.boundary_length)
    state.SkipWithError("Index::any_prefix disagrees with the brute-force scan");
  state.counters["common_prefix"] = static_cast<double>(m.common_prefix);
  state.counters["boundary"] = static_cast<double>(m.boundary_length);
  state.counters["rows"] = static_cast<double>(f.rows.size());
  state.SetItemsProcessed(state.iterations());
}

void BM_AnyPrefixBaseline(benchmark::State& state) {
  auto& f = any_fixture();
  kvc::index::AnyPrefixMatch m;
  for (auto _ : state) {
    m = f.scan();
    benchmark::DoNotOptimize(m);
  }
  state.counters["common_prefix"] = static_cast<double>(m.common_prefix);
  state.counters["boundary"] = static_cast<double>(m.boundary_length);
  state.counters["rows"] = static_cast<double>(f.rows.size());
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------- lease throughput
// Each thread walks the hit keys from its own offset; items/s is the total over
// all threads (real time).

void BM_IndexLease(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (kRows / 2), found = 0;
  for (auto _ : state) {
    auto lease = f.index.checkout(f.hit[i % kRows]);
    found += lease.ok();
    ++i;
  }
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a hit key was not found");
  state.SetItemsProcessed(state.iterations());
}

void BM_IndexLeaseBaseline(benchmark::State& state) {
  auto& f = exact();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (kRows / 2), found = 0;
  for (auto _ : state) {
    found += f.naive_lease(f.hit[i % kRows]);
    ++i;
  }
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a hit key was not found");
  state.SetItemsProcessed(state.iterations());
}

// The machine's floor for two threads leasing the same rows: each checkout +
// release here is only the refcount's atomic increment and decrement, on a padded
// counter per row, in BM_IndexLease's order over the same number of rows. Any
// lease design writes some per-row line that both threads then share; when the
// host places the two vCPUs far apart (another core complex) every such write moves
// the line between cores, and 2 threads run slower than 1 even here.
void BM_SharedRowFloor(benchmark::State& state) {
  struct alignas(64) Counter {
    std::atomic<std::uint32_t> refs{0};
  };
  static std::vector<Counter> counters(kRows);
  static const std::vector<std::uint32_t> order = [] {
    std::vector<std::uint32_t> v(kRows);
    Rng r(11);
    for (auto& x : v) x = static_cast<std::uint32_t>(r.next() % kRows);
    return v;
  }();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (kRows / 2);
  for (auto _ : state) {
    auto& c = counters[order[i++ % kRows]].refs;
    c.fetch_add(1, std::memory_order_relaxed);
    c.fetch_sub(1, std::memory_order_acq_rel);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_CacheLease(benchmark::State& state) {
  auto& f = exact();
  auto& c = *cache_fixture().cache;
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (kRows / 2), found = 0;
  for (auto _ : state) {
    auto lease = c.checkout(f.hit[i % kRows]);
    found += lease.ok();
    ++i;
  }
  if (found != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a hit key was not found in the cache");
  state.SetItemsProcessed(state.iterations());
}

// ---------------------------------------------------------------- eviction cost

// A tier of `rows` rows, a quarter of them touched (re-queued lazily), for the
// eviction benchmarks. Each call builds a fresh index.
struct EvictFixture {
  std::unique_ptr<Index> index;
  std::vector<kvc::index::Lease> leases;  // held while touching, then released
  std::uint64_t next = 0;
  explicit EvictFixture(std::size_t rows) {
    index = std::make_unique<Index>();
    const auto ns = bench_ns();
    for (std::size_t i = 0; i < rows; ++i) index->register_copy(make_row(ns, random_tokens(16, 1'000'000 + next++)), 0, 0, false);
    Rng r(7);
    for (std::size_t i = 0; i < rows / 4; ++i) {
      auto lease = index->checkout(kvc::derive_key(ns, random_tokens(16, 1'000'000 + r.between(0, rows - 1))));
      if (lease.ok()) index->touch(*lease);
    }
  }
  void refill() { index->register_copy(make_row(bench_ns(), random_tokens(16, 1'000'000 + next++)), 0, 0, false); }
};

void BM_EvictNext(benchmark::State& state) {
  EvictFixture f(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto v = f.index->evict_next(0);
    if (!v) {
      state.SkipWithError("nothing to evict");
      break;
    }
    f.index->finish_evict(v->info.key, 0);
    state.PauseTiming();
    f.refill();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_EvictNextBaseline(benchmark::State& state) {
  EvictFixture f(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto cands = f.index->eviction_candidates(0);
    if (cands.empty()) {
      state.SkipWithError("nothing to evict");
      break;
    }
    auto removed = f.index->remove(cands.front().info.key, true);
    if (removed.ok()) f.index->finish_delete(cands.front().info.key, 0);
    state.PauseTiming();
    f.refill();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations());
}

// Fixtures are built before any timing (and before threads start).
void SetupFixtures(const benchmark::State&) {
  exact();
  cache_fixture();
}
void SetupAny(const benchmark::State&) { any_fixture(); }

}  // namespace

BENCHMARK(BM_IndexContainsHit)->Setup(SetupFixtures);
BENCHMARK(BM_IndexContainsHitBaseline)->Setup(SetupFixtures);
BENCHMARK(BM_IndexContainsMiss)->Setup(SetupFixtures);
BENCHMARK(BM_IndexContainsMissBaseline)->Setup(SetupFixtures);
BENCHMARK(BM_IndexCheckoutHit)->Setup(SetupFixtures);
BENCHMARK(BM_IndexCheckoutHitBaseline)->Setup(SetupFixtures);
BENCHMARK(BM_IndexCheckoutMiss)->Setup(SetupFixtures);
BENCHMARK(BM_IndexCheckoutMissBaseline)->Setup(SetupFixtures);
BENCHMARK(BM_CacheCheckoutHit)->Setup(SetupFixtures);
BENCHMARK(BM_CacheCheckoutMiss)->Setup(SetupFixtures);

BENCHMARK(BM_StrideWalk)->Apply(stride_args)->Setup(SetupFixtures);
BENCHMARK(BM_StrideWalkBaseline)->Apply(stride_args)->Setup(SetupFixtures);
BENCHMARK(BM_StrideWalkHashOnly)
    ->ArgNames({"stride", "row_at"})
    ->Args({2048, 0})
    ->Args({256, 0})
    ->Args({16, 0})
    ->Setup(SetupFixtures)
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_AnyPrefix)->Setup(SetupAny)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AnyPrefixBaseline)->Setup(SetupAny)->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_EvictNext)->ArgName("rows")->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EvictNextBaseline)->ArgName("rows")->Arg(10'000)->Arg(100'000)->Iterations(20)->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_IndexLease)->Setup(SetupFixtures)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_IndexLeaseBaseline)->Setup(SetupFixtures)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_CacheLease)->Setup(SetupFixtures)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_SharedRowFloor)->Threads(1)->Threads(2)->UseRealTime();

BENCHMARK_MAIN();
