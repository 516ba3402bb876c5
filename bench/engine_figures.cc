#include "engine_figures.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "engine/state_snapshot.h"

namespace engine_bench {

SnapshotFigures measure_snapshot(llama_context* ctx, const std::vector<std::byte>& payload, std::size_t n_tokens,
                                 int reps) {
  auto restore = [&] {
    if (llama_state_seq_set_data(ctx, reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), 0) !=
        payload.size()) {
      std::fprintf(stderr, "engine_bench: set_data failed in the snapshot measurement\n");
      std::exit(1);
    }
  };
  SnapshotFigures f;
  f.tokens = n_tokens;
  f.state_bytes = payload.size();
  restore();
  // The engine learns the size model from two snapshots at different lengths.
  kvc::engine::StateSnapshotter snap;
  snap.take(ctx, 0, n_tokens);
  llama_memory_seq_rm(llama_get_memory(ctx), 0, static_cast<llama_pos>(n_tokens / 2), -1);
  snap.take(ctx, 0, n_tokens / 2);
  restore();

  std::vector<std::byte> ready(payload.size());
  std::memset(ready.data(), 1, ready.size());  // pre-faulted
  std::vector<double> engine, ready_ms, size_ms;
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = Clock::now();
    const auto s = snap.take(ctx, 0, n_tokens);
    engine.push_back(ms_since(t0));
    if (s.dry_run || s.bytes.size() != payload.size()) {
      std::fprintf(stderr, "engine_bench: the snapshot took a dry run or differs in size (%zu vs %zu)\n",
                   s.bytes.size(), payload.size());
      std::exit(1);
    }
    t0 = Clock::now();
    const std::size_t wrote =
        llama_state_seq_get_data(ctx, reinterpret_cast<std::uint8_t*>(ready.data()), ready.size(), 0);
    ready_ms.push_back(ms_since(t0));
    if (wrote != payload.size()) std::exit(1);
    t0 = Clock::now();
    (void)llama_state_seq_get_size(ctx, 0);
    size_ms.push_back(ms_since(t0));
  }
  f.engine_ms = median(engine);
  f.ready_ms = median(ready_ms);
  f.get_size_ms = median(size_ms);
  return f;
}

MissPathFigures measure_miss_path(const Config& c, const fs::path& work) {
  MissPathFigures m;
  m.prompt_tokens = c.miss_tokens;
  m.reps = c.miss_reps;
  std::printf("\n== d) miss path (P9): %d-token misses, cache on vs off, %d interleaved pairs, load %s\n",
              c.miss_tokens, c.miss_reps, loadavg().c_str());
  m.load_before = loadavg();
  const fs::path dir = work / "miss-cache";
  fs::remove_all(dir);
  kvc::EngineOptions opt_on = engine_options(c, dir, c.miss_align, true);
  opt_on.sticky_sessions = false;
  kvc::EngineOptions opt_off = opt_on;
  opt_off.cache_enabled = false;
  auto e_on = open_engine(opt_on);
  auto e_off = open_engine(opt_off);

  std::vector<double> blocked, blocked_cpu;
  // Three requests per repetition, in an order that rotates so a drift in the
  // machine's load hits every side alike: cache on, cache off, and cache off again
  // (the A/A pair: what the machine's noise alone does to an "on vs off" ratio).
  // Each request's CPU time is the whole process's from its start until the
  // cache's writer pool is idle again, so the cold save's write is counted.
  struct Side {
    kvc::Engine& engine;
    const char* name;
    std::vector<double>& ttft;
    std::vector<double>& total;
    std::vector<double>& cpu;
  };
  Side sides[3] = {{*e_on, "cache on", m.ttft_on, m.total_on, m.cpu_on},
                   {*e_off, "cache off", m.ttft_off, m.total_off, m.cpu_off},
                   {*e_off, "cache off'", m.ttft_aa, m.total_aa, m.cpu_aa}};
  for (int rep = 0; rep < c.miss_reps; ++rep) {
    // A fresh prompt each time: every request misses.
    const auto seed = 900 + 3 * static_cast<std::uint64_t>(rep);
    std::vector<std::int32_t> prompts[3];
    for (int i = 0; i < 3; ++i) prompts[i] = sized_prompt(sides[i].engine, c.miss_tokens, seed + i);
    for (int k = 0; k < 3; ++k) {
      const int i = (k + rep) % 3;
      Side& side = sides[i];
      const bool cache_on = i == 0;
      const std::uint64_t cpu_before = e_on->stats().save_blocked_cpu_ns;
      const double process_cpu0 = process_cpu_ms();
      Timed t = run(side.engine, prompts[i], 4);
      side.engine.cache().flush();
      t.cpu_ms = process_cpu_ms() - process_cpu0;
      const auto& r = t.result.report;
      side.ttft.push_back(r.time_to_first_token_ms);
      side.total.push_back(r.total_ms);
      side.cpu.push_back(t.cpu_ms);
      if (cache_on) {
        blocked.push_back(r.save_blocked_ms);
        blocked_cpu.push_back(static_cast<double>(e_on->stats().save_blocked_cpu_ns - cpu_before) / 1e6);
        m.saves_per_request = r.saves;
        if (r.path != kvc::LookupPath::kMiss || r.saves < 2) m.all_missed = false;
      }
      std::printf("  %-10s n=%d path=%-6s saves=%zu blocked=%6.2f ms ttft=%9.1f ms total=%9.1f ms cpu=%9.1f ms load=%s\n",
                  side.name, c.miss_tokens, path_of(r).c_str(), r.saves, r.save_blocked_ms,
                  r.time_to_first_token_ms, r.total_ms, t.cpu_ms, t.load.c_str());
      std::fflush(stdout);
    }
  }
  m.save_blocked_ms = median(blocked);
  m.save_blocked_cpu_ms = median(blocked_cpu);
  // The lookups of a miss, alone: what find_start_state does before a cold prefill.
  e_on->cache().flush();
  const auto probe = sized_prompt(*e_on, c.miss_tokens, 999);
  const std::vector<std::uint32_t> p(probe.begin(), probe.end());
  const kvc::KeyNamespace ns = e_on->key_namespace();
  // The floors find_start_state uses.
  const std::size_t floor = std::max<std::size_t>(e_on->cache().min_save_tokens(), 1);
  const auto stride_floor = static_cast<std::size_t>(std::max<std::int64_t>(e_on->cache().policy().min_tokens, 1));
  std::vector<double> lookups;
  for (int i = 0; i < 200; ++i) {
    const auto t0 = Clock::now();
    auto exact = e_on->cache().checkout(kvc::derive_key(ns, p));
    auto any = e_on->cache().any_prefix(ns, p, true, floor);
    auto stride = e_on->cache().longest_prefix(ns, p, stride_floor);
    lookups.push_back(ms_since(t0));
    // Rows sharing a few leading tokens come back from any_prefix; the engine uses
    // none shorter than min_tokens (find_start_state), and neither does this probe.
    if (exact.ok() || (any.lease && any.length >= floor) || (stride.lease && stride.length >= stride_floor)) {
      std::fprintf(stderr, "engine_bench: the miss-path probe prompt hit a row\n");
      std::exit(1);
    }
  }
  m.lookup_ms = median(lookups);
  m.load_after = loadavg();
  e_on.reset();
  e_off.reset();
  fs::remove_all(dir);
  // Medians of the per-repetition ratios: each ratio compares requests run back to back.
  auto pair_median = [](const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> r;
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
      if (b[i] > 0) r.push_back(a[i] / b[i]);
    return r.empty() ? 1.0 : median(r);
  };
  std::printf("  TTFT, median of pair ratios: on/off %+.2f%%, off'/off (noise) %+.2f%%; CPU on/off %+.2f%%, off'/off "
              "%+.2f%%; lookups %.3f ms, save snapshots %.2f ms (CPU %.2f ms) per request\n",
              100.0 * (pair_median(m.ttft_on, m.ttft_off) - 1.0), 100.0 * (pair_median(m.ttft_aa, m.ttft_off) - 1.0),
              100.0 * (pair_median(m.cpu_on, m.cpu_off) - 1.0), 100.0 * (pair_median(m.cpu_aa, m.cpu_off) - 1.0),
              m.lookup_ms, m.save_blocked_ms, m.save_blocked_cpu_ms);
  return m;
}

void write_figures_json(const fs::path& file, const FiguresJson& f) {
  using nlohmann::json;
  json j;
  j["load_start"] = f.load_start;
  j["load_end"] = f.load_end;
  j["machine"] = f.machine;
  j["model"] = f.model;
  j["threads"] = f.threads;
  j["p1"] = {{"prompt_tokens", f.p1_tokens},
             {"cold_ttft_ms", f.cold_ttft_ms},
             {"warm_ttft_ms", f.warm_ttft_ms},
             {"warm_restore_ms", f.warm_restore_ms},
             {"warm_prefilled_tokens", f.warm_prefilled},
             {"warm_logits_from_cache", f.warm_logits_from_cache}};
  j["restore"] = {{"state_bytes", f.state_bytes},
                  {"kvc_restore_ms", f.kvc_restore_ms},
                  {"kvc_load_ms", f.kvc_load_ms},
                  {"kvc_set_ms", f.kvc_set_ms},
                  {"llama_load_file_ms", f.llama_load_file_ms},
                  {"set_data_floor_ms", f.set_data_floor_ms},
                  {"kvc_ram_restore_ms", f.kvc_ram_restore_ms}};
  j["save"] = {{"state_bytes", f.snapshot.state_bytes},
               {"snapshot_engine_ms", f.snapshot.engine_ms},
               {"get_data_ready_ms", f.snapshot.ready_ms},
               {"get_size_ms", f.snapshot.get_size_ms},
               {"kvc_save_ms", f.kvc_save_ms},
               {"llama_save_file_fdatasync_ms", f.llama_save_sync_ms},
               {"cold_run_saves", f.cold_saves},
               {"cold_run_blocked_ms", f.cold_save_blocked_ms},
               {"cold_run_blocked_max_ms", f.cold_save_blocked_max_ms},
               {"cold_run_blocked_cpu_ms", f.cold_save_blocked_cpu_ms},
               {"cold_run_state_size_dry_runs", f.cold_dry_runs}};
  j["chat"] = {{"turns", f.chat_turns},
               {"prompt_tokens", f.chat_prompt_tokens},
               {"cached_tokens", f.chat_cached},
               {"reusable_tokens", f.chat_reusable},
               {"cached_tokens_after_first_turn", f.chat_cached_after_first}};
  const MissPathFigures& m = f.miss;
  j["miss"] = {{"prompt_tokens", m.prompt_tokens},
               {"pairs", m.reps},
               {"ttft_on_ms", m.ttft_on},
               {"ttft_off_ms", m.ttft_off},
               {"total_on_ms", m.total_on},
               {"total_off_ms", m.total_off},
               {"cpu_on_ms", m.cpu_on},
               {"cpu_off_ms", m.cpu_off},
               {"ttft_off_again_ms", m.ttft_aa},
               {"total_off_again_ms", m.total_aa},
               {"cpu_off_again_ms", m.cpu_aa},
               {"lookup_ms", m.lookup_ms},
               {"save_blocked_ms", m.save_blocked_ms},
               {"save_blocked_cpu_ms", m.save_blocked_cpu_ms},
               {"saves_per_request", m.saves_per_request},
               {"all_missed_with_cold_save", m.all_missed},
               {"load_before", m.load_before},
               {"load_after", m.load_after}};
  std::ofstream(file) << j.dump(2) << '\n';
}

}  // namespace engine_bench
