// engine_bench: the kvc engine on a real-shaped model (tinyllama-1.1b, random
// weights from kvc-mkmodel), in one run:
//
//   a) time to first token, cold (empty cache) against warm (a fresh Engine on the
//      same disk directory: the hit is a real file read), at several prompt sizes;
//      warm twice: with the .kvc files in the page cache (they were just written)
//      and after dropping them from it (fdatasync + POSIX_FADV_DONTNEED per file,
//      residency checked with mincore);
//   b) for the same saved states: kvc's restore (Cache::load, CRC + key verified,
//      then llama_state_seq_set_data) against llama.cpp's own
//      llama_state_seq_save_file / llama_state_seq_load_file of the same state, and
//      against llama_state_seq_set_data from a buffer in memory (the floor); saves too;
//   c) a stateless multi-turn chat: every turn resends the whole conversation; per
//      turn the tokens served from the cache with the full lookup (exact → any-token
//      prefix → stride walk) against the stride walk only
//      (EngineOptions::any_prefix_lookup = false), at the default alignment (2048)
//      and a smaller one.
//
// A plain program (each point takes seconds). Writes CSV files and a markdown
// summary into --out-dir; bench/plot_engine.py draws them. scripts/bench-engine runs it.
//
//   engine_bench --model FILE [--out-dir DIR] [--work-dir DIR] [--threads 2]
//                [--sizes 512,2048,4096] [--turns 10] [--reply-tokens 12]
//                [--small-align 256] [--reps 5] [--quick] [--chat-full-small-align]
#include <fcntl.h>
#include <llama.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/llama_handles.h"
#include "engine_bench_util.h"
#include "engine_figures.h"
#include "kvc/engine.h"

using namespace engine_bench;  // NOLINT: this program's own helpers

namespace {

// ------------------------------------------------------------- a) and b) --

struct TtftRow {
  int n = 0;
  Timed cold, warm, warm_dropped;  // warm ones: the run with the median TTFT
  std::vector<Timed> warm_runs, dropped_runs;
  double dropped_resident = 0;  // worst fraction of a .kvc file still in the page cache after the drop
};

struct RestoreRow {
  int n = 0;
  std::size_t row_tokens = 0;
  std::size_t state_bytes = 0;
  std::size_t kvc_file_bytes = 0;
  std::size_t llama_file_bytes = 0;
  double kvc_load = 0, kvc_set = 0, kvc_total = 0;  // page cache warm (medians)
  double llama_load = 0;
  double floor_set = 0;
  double kvc_ram_load = 0, kvc_ram_total = 0;  // a RAM-tier hit: checkout + load (no read, no CRC), + set_data
  double kvc_total_dropped = 0, llama_load_dropped = 0;  // page cache dropped
  double kvc_save = 0, llama_save = 0, llama_save_sync = 0, get_data = 0;
  SnapshotFigures snapshot;  // the engine's save snapshot against get_data into a ready buffer
};

void print_report(const char* label, int n, const Timed& t) {
  const kvc::RequestReport& r = t.result.report;
  std::printf("  %-13s n=%-5d path=%-14s cached=%-5zu prefilled=%-5zu restore=%8.1f ms ttft=%9.1f ms cpu=%9.1f ms load=%s\n",
              label, n, path_of(r).c_str(), r.cached_tokens, r.prefilled_tokens, r.restore_ms,
              r.time_to_first_token_ms, t.cpu_ms, t.load.c_str());
  std::fflush(stdout);
}

std::vector<RestoreRow> restore_comparison(const Config& c, const kvc::EngineOptions& eo, const fs::path& work,
                                           const std::vector<TtftRow>& ttft) {
  std::printf("\n== b) restore: kvc against llama.cpp's state files (median of %d), load %s\n", c.reps,
              loadavg().c_str());
  kvc::engine::init_llama_backend();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  kvc::engine::ModelPtr model(llama_model_load_from_file(c.model.c_str(), mp));
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<std::uint32_t>(c.n_ctx);
  cp.n_batch = cp.n_ubatch = static_cast<std::uint32_t>(eo.model.n_batch);
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = c.threads;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
  cp.no_perf = true;
  kvc::engine::ContextPtr ctx(llama_init_from_model(model.get(), cp));
  if (!model || !ctx) {
    std::fprintf(stderr, "engine_bench: cannot load %s for the restore comparison\n", c.model.c_str());
    std::exit(1);
  }
  auto cache = kvc::Cache::open(eo.cache);
  kvc::CacheOptions scratch_opts = eo.cache;
  scratch_opts.tiers[0].dir = (work / "save-scratch").string();
  auto scratch = kvc::Cache::open(scratch_opts);
  if (!cache.ok() || !scratch.ok()) std::exit(1);
  const fs::path llama_dir = work / "llama-files";
  fs::create_directories(llama_dir);

  std::vector<RestoreRow> out;
  for (const TtftRow& t : ttft) {
    const auto& key = t.warm.result.report.restored_key;
    if (!key) continue;
    RestoreRow row;
    row.n = t.n;
    std::vector<double> kl, ks, kt, ll, fl, ktd, lld, ksv, lsv, lsvs, gd;
    std::vector<std::byte> payload;
    std::vector<std::uint32_t> tokens;
    fs::path kvc_file;
    for (int rep = 0; rep < c.reps; ++rep) {
      // kvc: lookup by key, whole-file read with CRC and key verification, set_data.
      auto t0 = Clock::now();
      auto lease = (*cache)->checkout(*key);
      auto file = lease.ok() ? (*cache)->load(*lease) : kvc::Result<kvc::LoadedRow>(lease.status());
      if (!file.ok()) {
        std::fprintf(stderr, "engine_bench: load of %s failed: %s\n", key->hex().c_str(), file.status().to_string().c_str());
        std::exit(1);
      }
      const double load_ms = ms_since(t0);
      const auto t1 = Clock::now();
      const std::size_t read = llama_state_seq_set_data(
          ctx.get(), reinterpret_cast<const std::uint8_t*>(file->payload().data()), file->payload().size(), 0);
      const double set_ms = ms_since(t1);
      if (read != file->payload().size()) {
        std::fprintf(stderr, "engine_bench: set_data consumed %zu of %zu bytes\n", read, file->payload().size());
        std::exit(1);
      }
      kl.push_back(load_ms);
      ks.push_back(set_ms);
      kt.push_back(load_ms + set_ms);
      if (rep == 0) {
        payload.assign(file->payload().begin(), file->payload().end());
        tokens = file->meta().tokens;
        row.row_tokens = tokens.size();
        row.state_bytes = payload.size();
      }
    }
    // kvc, a RAM-tier hit (P3): the first load reads the disk copy and keeps the
    // buffer in RAM (promotion); later ones restore from it with no read and no CRC.
    {
      kvc::CacheOptions ram_opts = eo.cache;
      ram_opts.tiers.insert(ram_opts.tiers.begin(), kvc::TierOptions{kvc::TierKind::kRam, "", 8ull << 30});
      auto ram_cache = kvc::Cache::open(ram_opts);
      if (!ram_cache.ok()) std::exit(1);
      std::vector<double> rl, rt;
      for (int rep = 0; rep <= c.reps; ++rep) {
        auto t0 = Clock::now();
        auto lease = (*ram_cache)->checkout(*key);
        auto file = lease.ok() ? (*ram_cache)->load(*lease) : kvc::Result<kvc::LoadedRow>(lease.status());
        if (!file.ok() || (rep > 0 && file->tier() != kvc::TierKind::kRam)) {
          std::fprintf(stderr, "engine_bench: RAM-tier load of %s: %s\n", key->hex().c_str(),
                       file.ok() ? "not served from RAM" : file.status().to_string().c_str());
          std::exit(1);
        }
        const double load_ms = ms_since(t0);
        llama_state_seq_set_data(ctx.get(), reinterpret_cast<const std::uint8_t*>(file->payload().data()),
                                 file->payload().size(), 0);
        if (rep == 0) continue;  // the promoting read
        rl.push_back(load_ms);
        rt.push_back(ms_since(t0));
      }
      row.kvc_ram_load = median(rl);
      row.kvc_ram_total = median(rt);
    }
    for (const auto& e : fs::directory_iterator(eo.cache.tiers[0].dir))
      if (e.path().filename().string().rfind(key->hex(), 0) == 0) kvc_file = e.path();
    if (!kvc_file.empty()) row.kvc_file_bytes = fs::file_size(kvc_file);

    // The floor: set_data from memory.
    for (int rep = 0; rep < c.reps; ++rep) {
      const auto t0 = Clock::now();
      llama_state_seq_set_data(ctx.get(), reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size(), 0);
      fl.push_back(ms_since(t0));
    }
    row.snapshot = measure_snapshot(ctx.get(), payload, tokens.size(), c.reps);
    // Saves: kvc (get_data + Cache::save, synchronous: write, fdatasync, rename,
    // directory fsync) and llama.cpp's save_file (fwrite, no fsync; + fdatasync).
    const std::vector<llama_token> ltok(tokens.begin(), tokens.end());
    const fs::path lfile = llama_dir / ("state-" + std::to_string(t.n) + ".bin");
    for (int rep = 0; rep < c.reps; ++rep) {
      (*scratch)->gc();
      auto t0 = Clock::now();
      kvc::ByteBuffer snap = kvc::BufferPool::shared().acquire(llama_state_seq_get_size(ctx.get(), 0));
      llama_state_seq_get_data(ctx.get(), reinterpret_cast<std::uint8_t*>(snap.data()), snap.size(), 0);
      gd.push_back(ms_since(t0));
      kvc::SaveRequest sr;
      sr.ns = kvc::KeyNamespace{};  // a scratch cache: the namespace does not matter
      sr.tokens = tokens;
      sr.reason = kvc::SaveReason::kCold;
      sr.payload = std::move(snap);
      auto saved = (*scratch)->save(std::move(sr), std::chrono::seconds(60));
      ksv.push_back(ms_since(t0));
      if (!saved.ok()) std::fprintf(stderr, "engine_bench: scratch save: %s\n", saved.status().to_string().c_str());

      fs::remove(lfile);
      t0 = Clock::now();
      const std::size_t wrote = llama_state_seq_save_file(ctx.get(), lfile.c_str(), 0, ltok.data(), ltok.size());
      lsv.push_back(ms_since(t0));
      if (wrote == 0) {
        std::fprintf(stderr, "engine_bench: llama_state_seq_save_file failed\n");
        std::exit(1);
      }
      const int fd = ::open(lfile.c_str(), O_RDONLY);
      ::fdatasync(fd);
      ::close(fd);
      lsvs.push_back(ms_since(t0));
    }
    row.llama_file_bytes = fs::file_size(lfile);
    // llama.cpp's own load (reads the tokens and the state, set_data inside).
    std::vector<llama_token> tok_out(ltok.size() + 16);
    auto llama_load = [&] {
      std::size_t n_out = 0;
      const auto t0 = Clock::now();
      const std::size_t r =
          llama_state_seq_load_file(ctx.get(), lfile.c_str(), 0, tok_out.data(), tok_out.size(), &n_out);
      const double ms = ms_since(t0);
      if (r == 0 || n_out != ltok.size()) {
        std::fprintf(stderr, "engine_bench: llama_state_seq_load_file failed\n");
        std::exit(1);
      }
      return ms;
    };
    for (int rep = 0; rep < c.reps; ++rep) ll.push_back(llama_load());
    // Both again with their file dropped from the page cache before each read.
    for (int rep = 0; rep < c.reps; ++rep) {
      if (!kvc_file.empty()) drop_from_page_cache(kvc_file);
      auto t0 = Clock::now();
      auto lease = (*cache)->checkout(*key);
      auto file = (*cache)->load(*lease);
      llama_state_seq_set_data(ctx.get(), reinterpret_cast<const std::uint8_t*>(file->payload().data()),
                               file->payload().size(), 0);
      ktd.push_back(ms_since(t0));
      drop_from_page_cache(lfile);
      lld.push_back(llama_load());
    }
    row.kvc_load = median(kl);
    row.kvc_set = median(ks);
    row.kvc_total = median(kt);
    row.floor_set = median(fl);
    row.llama_load = median(ll);
    row.kvc_total_dropped = median(ktd);
    row.llama_load_dropped = median(lld);
    row.get_data = median(gd);
    row.kvc_save = median(ksv);
    row.llama_save = median(lsv);
    row.llama_save_sync = median(lsvs);
    std::printf("  n=%-5d row=%zu tokens, state %.1f MiB: kvc load+set %.1f ms (load %.1f + set %.1f), "
                "llama load_file %.1f ms, set_data floor %.1f ms; page cache dropped: kvc %.1f, llama %.1f ms; "
                "save: kvc %.1f ms (get_data %.1f), llama save_file %.1f ms (+fdatasync %.1f)\n",
                row.n, row.row_tokens, static_cast<double>(row.state_bytes) / (1 << 20), row.kvc_total,
                row.kvc_load, row.kvc_set, row.llama_load, row.floor_set, row.kvc_total_dropped,
                row.llama_load_dropped, row.kvc_save, row.get_data, row.llama_save, row.llama_save_sync);
    std::printf("  n=%-5d RAM-tier hit: kvc checkout + load %.2f ms, + set_data %.1f ms in all (floor %.1f ms)\n", row.n,
                row.kvc_ram_load, row.kvc_ram_total, row.floor_set);
    std::printf("  n=%-5d snapshot for a save: engine %.1f ms (one get_data, size known), get_data into a ready "
                "buffer %.1f ms, get_size dry run %.1f ms\n",
                row.n, row.snapshot.engine_ms, row.snapshot.ready_ms, row.snapshot.get_size_ms);
    std::fflush(stdout);
    out.push_back(row);
  }
  return out;
}

// ------------------------------------------------------------------- c) --

struct ChatTurn {
  std::vector<std::int32_t> prompt;
  std::size_t user_tokens = 0;
  // What this turn could reuse: the previous turn's prompt and reply tokens
  // (its whole previous conversation; 0 for the first turn).
  std::size_t reusable = 0;
};

struct ChatPoint {
  std::size_t prompt_tokens = 0, cached = 0, prefilled = 0;
  std::string path;
  double ttft = 0, cpu = 0;
  std::string load;
  bool reply_matches = true;
};

struct ChatConfig {
  std::string name;
  std::int64_t align = 2048;
  bool any_prefix = true;
  // Stride walk only, computed without the model: the trace's prompts replayed
  // against a Cache (Cache::longest_prefix, the engine's floor), saving the cold
  // rows the engine would save (the aligned prefix, when longer than the hit) with
  // stand-in payloads. No time to first token.
  bool replay = false;
  std::vector<ChatPoint> points;
};

void replay_stride_walk(const fs::path& dir, ChatConfig& cfg, const std::vector<ChatTurn>& trace) {
  kvc::CacheOptions co;
  co.tiers = {{kvc::TierKind::kDisk, dir.string(), 1ull << 30}};
  co.watch_directories = false;
  co.policy.boundary_align_tokens = cfg.align;
  auto cache = kvc::Cache::open(co);
  if (!cache.ok()) std::exit(1);
  const kvc::SavePolicy& policy = (*cache)->policy();
  const std::size_t floor = static_cast<std::size_t>(std::max<std::int64_t>(policy.min_tokens, 1));
  const kvc::KeyNamespace ns{};
  for (std::size_t t = 0; t < trace.size(); ++t) {
    const std::vector<std::uint32_t> prompt(trace[t].prompt.begin(), trace[t].prompt.end());
    std::size_t cached = 0;
    {
      kvc::PrefixHit hit = (*cache)->longest_prefix(ns, prompt, floor);
      if (hit.lease && hit.length >= floor) cached = hit.length;
    }
    if (policy.allows_cold(prompt.size())) {
      if (auto b = policy.aligned_length(prompt.size()); b && *b > cached) {
        kvc::SaveRequest sr;
        sr.ns = ns;
        sr.tokens.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(*b));
        sr.reason = kvc::SaveReason::kCold;
        sr.payload.resize(64);
        (void)(*cache)->save(std::move(sr), std::chrono::seconds(10));
      }
    }
    cfg.points.push_back({prompt.size(), cached, prompt.size() - cached, cached ? "longest_prefix" : "miss", -1, 0, "", true});
    std::printf("  turn %2zu: prompt %5zu cached %5zu (replayed)\n", t + 1, prompt.size(), cached);
  }
}

// Config 0 builds the trace (its replies, generated greedily, become the
// assistant turns); the others replay the same prompt token lists.
void run_chat(const Config& c, const fs::path& work, std::vector<ChatConfig>& configs, std::vector<ChatTurn>& trace) {
  std::printf("\n== c) stateless chat, %d turns, replies of at most %d tokens\n", c.turns, c.reply_tokens);
  std::vector<std::vector<std::int32_t>> replies;
  for (std::size_t k = 0; k < configs.size(); ++k) {
    ChatConfig& cfg = configs[k];
    const fs::path dir = work / ("chat-" + std::to_string(k));
    fs::remove_all(dir);
    if (cfg.replay) {
      std::printf(" -- %s (replayed through Cache::longest_prefix, no model)\n", cfg.name.c_str());
      replay_stride_walk(dir, cfg, trace);
      fs::remove_all(dir);
      continue;
    }
    auto e = open_engine(engine_options(c, dir, cfg.align, cfg.any_prefix));
    std::printf(" -- %s (load %s)\n", cfg.name.c_str(), loadavg().c_str());
    if (k == 0) {
      TextGen g(2024);
      std::vector<kvc::ChatMessage> msgs;
      std::string system = "You are a careful assistant for a travel and science magazine. ";
      system += g.words(90);
      msgs.push_back({"system", system});
      std::mt19937 rng(77);
      for (int t = 0; t < c.turns; ++t) {
        const int target = 100 + static_cast<int>(rng() % 201);  // 100–300 tokens
        std::string user = g.words(target / 2);
        while (e->tokenize(user, false)->size() < static_cast<std::size_t>(target)) {
          user += ' ';
          user += g.words(12);
        }
        msgs.push_back({"user", user});
        kvc::ChatRequest chat;
        chat.messages_json = kvc::chat_messages_json(msgs);
        auto text = e->apply_chat(chat);
        if (!text.ok()) std::exit(1);
        auto ids = e->tokenize(text->prompt, true);
        if (!ids.ok()) std::exit(1);
        const std::size_t reusable = trace.empty() ? 0 : trace.back().prompt.size() + replies.back().size();
        trace.push_back({*ids, e->tokenize(user, false)->size(), reusable});
        Timed r = run(*e, *ids, c.reply_tokens);
        replies.push_back(r.result.tokens);
        msgs.push_back({"assistant", r.result.text});
        e->cache().flush();
        const auto& rep = r.result.report;
        cfg.points.push_back({rep.prompt_tokens, rep.cached_tokens, rep.prefilled_tokens, path_of(rep),
                              rep.time_to_first_token_ms, r.cpu_ms, r.load, true});
        std::printf("  turn %2d: prompt %5zu (user %3zu) cached %5zu path %-14s ttft %8.1f ms cpu %8.1f ms load %s\n",
                    t + 1, rep.prompt_tokens, trace.back().user_tokens, rep.cached_tokens, path_of(rep).c_str(),
                    rep.time_to_first_token_ms, r.cpu_ms, r.load.c_str());
        std::fflush(stdout);
      }
    } else {
      // Stride-only replays need only the first token (their finish rows are never
      // at an aligned length, so the stride walk cannot find them); full-lookup
      // replays generate the same reply length, whose finish rows the next turn uses.
      const int max_tokens = cfg.any_prefix ? c.reply_tokens : 1;
      for (std::size_t t = 0; t < trace.size(); ++t) {
        Timed r = run(*e, trace[t].prompt, max_tokens);
        e->cache().flush();
        const auto& rep = r.result.report;
        const bool same = !cfg.any_prefix || r.result.tokens == replies[t];
        cfg.points.push_back({rep.prompt_tokens, rep.cached_tokens, rep.prefilled_tokens, path_of(rep),
                              rep.time_to_first_token_ms, r.cpu_ms, r.load, same});
        std::printf("  turn %2zu: prompt %5zu cached %5zu path %-14s ttft %8.1f ms cpu %8.1f ms load %s%s\n", t + 1,
                    rep.prompt_tokens, rep.cached_tokens, path_of(rep).c_str(), rep.time_to_first_token_ms, r.cpu_ms,
                    r.load.c_str(), same ? "" : " (reply differs from the trace's)");
        std::fflush(stdout);
      }
    }
    e.reset();
    fs::remove_all(dir);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "engine_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") c.model = next();
    else if (a == "--out-dir") c.out_dir = next();
    else if (a == "--work-dir") c.work_dir = next();
    else if (a == "--threads") c.threads = std::atoi(next().c_str());
    else if (a == "--sizes") c.sizes = parse_list(next());
    else if (a == "--turns") c.turns = std::atoi(next().c_str());
    else if (a == "--reply-tokens") c.reply_tokens = std::atoi(next().c_str());
    else if (a == "--small-align") c.small_align = std::atoi(next().c_str());
    else if (a == "--reps") c.reps = std::atoi(next().c_str());
    else if (a == "--n-ctx") c.n_ctx = std::atoi(next().c_str());
    else if (a == "--quick") c.quick = true;
    else if (a == "--chat-full-small-align") c.chat_full_small_align = true;
    else if (a == "--chat-replay-stride") c.chat_replay = true;
    else if (a == "--skip-ttft") c.skip_ttft = true;
    else if (a == "--skip-chat") c.skip_chat = true;
    else if (a == "--figures") c.figures = true;
    else if (a == "--miss-tokens") c.miss_tokens = std::atoi(next().c_str());
    else if (a == "--miss-reps") c.miss_reps = std::atoi(next().c_str());
    else {
      std::printf(
          "usage: engine_bench --model FILE [--out-dir DIR] [--work-dir DIR] [--threads N] [--sizes 512,2048,4096]\n"
          "                    [--turns 10] [--reply-tokens 12] [--small-align 256] [--reps 5] [--n-ctx 4608]\n"
          "                    [--quick] [--chat-full-small-align] [--chat-replay-stride] [--skip-ttft] [--skip-chat]\n"
          "                    [--figures] [--miss-tokens 1056] [--miss-reps 3]\n"
          "--quick: sizes up to 2048, 3 repetitions, replies of 8 tokens, stride-only chat replayed.\n"
          "--figures: also d) the miss path (P9: misses with the cache on vs off, interleaved pairs) and\n"
          "  engine_figures.json, every engine figure of the issue-12 table (bench/figures_table.py prints it);\n"
          "  the stride-only chat configurations are replayed.\n"
          "--chat-replay-stride: the stride-walk-only chat configurations replayed through a Cache\n"
          "  (Cache::longest_prefix, the engine's cold-save rule, stand-in payloads) instead of run on the model.\n");
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  if (c.model.empty()) {
    std::fprintf(stderr, "engine_bench: --model FILE is required\n");
    return 2;
  }
  if (c.quick) {
    c.sizes.erase(std::remove_if(c.sizes.begin(), c.sizes.end(), [](int n) { return n > 2048; }), c.sizes.end());
    c.reps = std::min(c.reps, 3);
    c.reply_tokens = std::min(c.reply_tokens, 8);
    c.chat_replay = true;
  }
  if (c.figures) c.chat_replay = true;
  const fs::path work = c.work_dir.empty() ? fs::temp_directory_path() / ("kvc-engine-bench-" + std::to_string(::getpid()))
                                           : fs::path(c.work_dir);
  fs::create_directories(work);
  fs::create_directories(c.out_dir);
  const auto wall0 = Clock::now();
  const std::string load_start = loadavg();
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  std::printf("engine_bench: %s, %d threads, n_ctx %d, %s, load %s, work dir %s\n", c.model.c_str(), c.threads,
              c.n_ctx, machine().c_str(), load_start.c_str(), work.c_str());

  // ---- a) TTFT cold vs warm ----
  std::vector<TtftRow> ttft;
  std::vector<RestoreRow> restore;
  const fs::path ttft_dir = work / "ttft-cache";
  const auto eo = engine_options(c, ttft_dir, 2048, true);
  double open_cold = 0, open_warm = 0, open_dropped = 0;
  kvc::EngineStats cold_stats;  // saves of the cold runs: time they blocked the decode loop
  if (!c.skip_ttft) {
    fs::remove_all(ttft_dir);
    std::printf("\n== a) time to first token, cold then warm (default policy, disk tier %s)\n", ttft_dir.c_str());
    std::map<int, std::vector<std::int32_t>> prompts;
    {
      auto e = open_engine(eo, &open_cold);
      for (int n : c.sizes) {
        prompts[n] = sized_prompt(*e, n, static_cast<std::uint64_t>(n));
        TtftRow row;
        row.n = n;
        row.cold = run(*e, prompts[n], 4);
        print_report("cold", n, row.cold);
        ttft.push_back(std::move(row));
      }
      e->cache().flush();
      cold_stats = e->stats();
    }  // shutdown: every save is on disk
    {
      auto e = open_engine(eo, &open_warm);  // a fresh Engine: fresh Cache (directory scan), fresh context
      for (TtftRow& row : ttft) {
        for (int rep = 0; rep < c.reps; ++rep) {
          row.warm_runs.push_back(run(*e, prompts[row.n], 1));
          print_report("warm", row.n, row.warm_runs.back());
        }
        row.warm = median_run(row.warm_runs);
      }
    }
    double resident = drop_dir_from_page_cache(ttft_dir);
    {
      auto e = open_engine(eo, &open_dropped);
      for (TtftRow& row : ttft) {
        row.dropped_resident = resident;
        for (int rep = 0; rep < c.reps; ++rep) {
          if (rep > 0) drop_dir_from_page_cache(ttft_dir);
          row.dropped_runs.push_back(run(*e, prompts[row.n], 1));
          print_report("warm dropped", row.n, row.dropped_runs.back());
        }
        row.warm_dropped = median_run(row.dropped_runs);
      }
    }
    std::printf("  (engine open + warm-up request: %.0f / %.0f / %.0f ms; after the drop at most %.0f%% of a .kvc file was resident)\n",
                open_cold, open_warm, open_dropped, resident * 100);
    restore = restore_comparison(c, eo, work, ttft);
  }

  // ---- c) chat ----
  std::vector<ChatConfig> chat;
  std::vector<ChatTurn> trace;
  if (!c.skip_chat) {
    const std::string sa = std::to_string(c.small_align);
    const bool rp = c.chat_replay;
    const std::string tag = rp ? " (replayed)" : "";
    chat.push_back({"full lookup, align 2048", 2048, true, false, {}});
    chat.push_back({"stride walk only, align 2048" + tag, 2048, false, rp, {}});
    if (c.chat_full_small_align) chat.push_back({"full lookup, align " + sa, c.small_align, true, false, {}});
    chat.push_back({"stride walk only, align " + sa + tag, c.small_align, false, rp, {}});
    run_chat(c, work, chat, trace);
  }
  // ---- d) miss path ----
  MissPathFigures miss;
  if (c.figures) miss = measure_miss_path(c, work);
  const double total_s = ms_since(wall0) / 1000;
  const std::string load_end = loadavg();

  // ---- files ----
  const fs::path out(c.out_dir);
  {
    std::ofstream f(out / "engine_ttft.csv");
    f << "prompt_tokens,variant,path,cached_tokens,prefilled_tokens,restore_ms,ttft_ms,cpu_ms,load1\n";
    for (const TtftRow& r : ttft) {
      std::vector<std::pair<const char*, const Timed*>> vs = {{"cold", &r.cold}};
      for (const Timed& t : r.warm_runs) vs.emplace_back("warm", &t);
      for (const Timed& t : r.dropped_runs) vs.emplace_back("warm_dropped", &t);
      for (auto [name, t] : vs) {
        const auto& p = t->result.report;
        f << r.n << ',' << name << ',' << path_of(p) << ',' << p.cached_tokens << ',' << p.prefilled_tokens << ','
          << p.restore_ms << ',' << p.time_to_first_token_ms << ',' << t->cpu_ms << ',' << t->load.substr(0, t->load.find(' ')) << '\n';
      }
    }
  }
  {
    std::ofstream f(out / "engine_restore.csv");
    f << "prompt_tokens,row_tokens,state_bytes,kvc_file_bytes,llama_file_bytes,kvc_load_ms,kvc_set_ms,kvc_total_ms,"
         "llama_load_file_ms,set_data_floor_ms,kvc_total_dropped_ms,llama_load_file_dropped_ms,get_data_ms,kvc_save_ms,"
         "llama_save_file_ms,llama_save_file_fdatasync_ms,kvc_ram_load_ms,kvc_ram_total_ms\n";
    for (const RestoreRow& r : restore)
      f << r.n << ',' << r.row_tokens << ',' << r.state_bytes << ',' << r.kvc_file_bytes << ',' << r.llama_file_bytes << ','
        << r.kvc_load << ',' << r.kvc_set << ',' << r.kvc_total << ',' << r.llama_load << ',' << r.floor_set << ','
        << r.kvc_total_dropped << ',' << r.llama_load_dropped << ',' << r.get_data << ',' << r.kvc_save << ','
        << r.llama_save << ',' << r.llama_save_sync << ',' << r.kvc_ram_load << ',' << r.kvc_ram_total << '\n';
  }
  {
    std::ofstream f(out / "engine_chat.csv");
    f << "config,align,any_prefix,turn,prompt_tokens,cached_tokens,prefilled_tokens,path,ttft_ms,cpu_ms,load1,reply_matches\n";
    for (const ChatConfig& cfg : chat)
      for (std::size_t t = 0; t < cfg.points.size(); ++t) {
        const ChatPoint& p = cfg.points[t];
        f << '"' << cfg.name << "\"," << cfg.align << ',' << (cfg.any_prefix ? 1 : 0) << ',' << t + 1 << ','
          << p.prompt_tokens << ',' << p.cached << ',' << p.prefilled << ',' << p.path << ',' << p.ttft << ',' << p.cpu
          << ',' << p.load.substr(0, p.load.find(' ')) << ',' << (p.reply_matches ? 1 : 0) << '\n';
      }
  }

  // ---- markdown ----
  std::ostringstream md;
  char buf[512];
  md << "Run: " << date << "; " << machine() << "; model " << fs::path(c.model).filename().string() << ", "
     << c.threads << " threads, n_ctx " << c.n_ctx << ", n_batch 512, flash attention, F16 KV; load average "
     << load_start << " at the start, " << load_end << " at the end; " << static_cast<int>(total_s) << " s"
     << (c.quick ? " (--quick)" : "") << ".\n\n";
  if (!ttft.empty()) {
    md << "### Time to first token, cold vs warm (disk tier; warm: median of " << c.reps << " requests)\n\n"
       << "| prompt tokens | cold TTFT | cold CPU time | warm TTFT | of which restore | warm TTFT, file dropped from page cache | "
          "speedup | warm path, cached tokens | load (1 min) cold / warm |\n|---:|---:|---:|---:|---:|---:|---:|---|---|\n";
    for (const TtftRow& r : ttft) {
      const auto& cr = r.cold.result.report;
      const auto& wr = r.warm.result.report;
      const auto& dr = r.warm_dropped.result.report;
      std::snprintf(buf, sizeof buf, "| %d | %.2f s | %.2f s | %.0f ms | %.0f ms | %.0f ms | %.0f× | %s, %zu | %s / %s |\n", r.n,
                    cr.time_to_first_token_ms / 1000, r.cold.cpu_ms / 1000, wr.time_to_first_token_ms, wr.restore_ms,
                    dr.time_to_first_token_ms, cr.time_to_first_token_ms / std::max(wr.time_to_first_token_ms, 1e-3),
                    path_of(wr).c_str(), wr.cached_tokens, r.cold.load.substr(0, r.cold.load.find(' ')).c_str(),
                    r.warm.load.substr(0, r.warm.load.find(' ')).c_str());
      md << buf;
    }
    md << "\n";
  }
  if (!restore.empty()) {
    md << "### Restoring the same state: kvc against llama.cpp's state files (median of " << c.reps << ")\n\n"
       << "| prompt tokens | row tokens | state | kvc: load + verify | kvc: set_data | **kvc total** | "
          "llama_state_seq_load_file | set_data from memory (floor) | kvc, file not in page cache | "
          "llama load_file, not in page cache |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const RestoreRow& r : restore) {
      std::snprintf(buf, sizeof buf,
                    "| %d | %zu | %.1f MiB | %.1f ms | %.1f ms | **%.1f ms** | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n",
                    r.n, r.row_tokens, static_cast<double>(r.state_bytes) / (1 << 20), r.kvc_load, r.kvc_set,
                    r.kvc_total, r.llama_load, r.floor_set, r.kvc_total_dropped, r.llama_load_dropped);
      md << buf;
    }
    md << "\n| prompt tokens | kvc file | llama.cpp file | get_data | kvc save (get_data + write + fdatasync + rename) | "
          "llama_state_seq_save_file (no fsync) | save_file + fdatasync |\n|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const RestoreRow& r : restore) {
      std::snprintf(buf, sizeof buf, "| %d | %.1f MiB | %.1f MiB | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", r.n,
                    static_cast<double>(r.kvc_file_bytes) / (1 << 20), static_cast<double>(r.llama_file_bytes) / (1 << 20),
                    r.get_data, r.kvc_save, r.llama_save, r.llama_save_sync);
      md << buf;
    }
    md << "\n";
  }
  if (!chat.empty()) {
    md << "### Stateless chat: tokens served from the cache per turn\n\n| turn | prompt tokens |";
    for (const ChatConfig& cfg : chat) md << ' ' << cfg.name << " |";
    md << "\n|---:|---:|";
    for (std::size_t k = 0; k < chat.size(); ++k) md << "---:|";
    md << "\n";
    std::vector<std::size_t> sum_cached(chat.size()), sum_prefill(chat.size());
    std::vector<double> sum_ttft(chat.size());
    std::size_t sum_prompt = 0;
    for (std::size_t t = 0; t < trace.size(); ++t) {
      md << "| " << t + 1 << " | " << trace[t].prompt.size() << " |";
      sum_prompt += trace[t].prompt.size();
      for (std::size_t k = 0; k < chat.size(); ++k) {
        if (t >= chat[k].points.size()) continue;
        const ChatPoint& p = chat[k].points[t];
        if (p.ttft < 0)
          std::snprintf(buf, sizeof buf, " %zu |", p.cached);
        else
          std::snprintf(buf, sizeof buf, " %zu (%.1f s)%s |", p.cached, p.ttft / 1000, p.reply_matches ? "" : "*");
        md << buf;
        sum_cached[k] += p.cached;
        sum_prefill[k] += p.prefilled;
        sum_ttft[k] += p.ttft;
      }
      md << "\n";
    }
    md << "| **all** | **" << sum_prompt << "** |";
    for (std::size_t k = 0; k < chat.size(); ++k) {
      const double share =
          100.0 * static_cast<double>(sum_cached[k]) / static_cast<double>(std::max<std::size_t>(sum_prompt, 1));
      if (chat[k].replay)
        std::snprintf(buf, sizeof buf, " **%zu (%.0f%%)** |", sum_cached[k], share);
      else
        std::snprintf(buf, sizeof buf, " **%zu (%.0f%%), %.0f s** |", sum_cached[k], share, sum_ttft[k] / 1000);
      md << buf;
    }
    std::size_t reusable = 0;
    for (const ChatTurn& t : trace) reusable += t.reusable;
    const std::size_t first = chat[0].points.empty() ? 0 : chat[0].points[0].cached;
    std::snprintf(buf, sizeof buf,
                  "\n\nReusable tokens (each turn's previous prompt + reply): %zu; the full lookup served %zu of them "
                  "after the first turn (%.2f%%).",
                  reusable, sum_cached[0] - first,
                  100.0 * static_cast<double>(sum_cached[0] - first) / static_cast<double>(std::max<std::size_t>(reusable, 1)));
    md << buf;
    md << "\n\nEach cell: cached tokens (time to first token). Last row: cached tokens over all turns "
          "(share of all prompt tokens), summed time to first token. \"(replayed)\": the trace's prompts replayed "
          "through Cache::longest_prefix with the engine's cold-save rule, without the model (no timings).\n";
  }
  if (!restore.empty()) {
    md << "\n### The save snapshot on the decode thread (median of " << c.reps << ")\n\n"
       << "| prompt tokens | state | engine snapshot (one get_data, size known) | get_data into a ready buffer | "
          "ratio | get_size dry run (avoided) |\n|---:|---:|---:|---:|---:|---:|\n";
    for (const RestoreRow& r : restore) {
      std::snprintf(buf, sizeof buf, "| %d | %.1f MiB | %.1f ms | %.1f ms | %.2f | %.1f ms |\n", r.n,
                    static_cast<double>(r.snapshot.state_bytes) / (1 << 20), r.snapshot.engine_ms, r.snapshot.ready_ms,
                    r.snapshot.engine_ms / std::max(r.snapshot.ready_ms, 1e-6), r.snapshot.get_size_ms);
      md << buf;
    }
    if (cold_stats.saves > 0) {
      std::snprintf(buf, sizeof buf,
                    "\nThe cold runs' %llu saves blocked the decode loop %.1f ms each on average (longest %.1f ms; "
                    "CPU time %.1f ms each); %llu of them asked llama.cpp for the state size.\n",
                    static_cast<unsigned long long>(cold_stats.saves),
                    static_cast<double>(cold_stats.save_blocked_ns) / 1e6 / static_cast<double>(cold_stats.saves),
                    static_cast<double>(cold_stats.save_blocked_max_ns) / 1e6,
                    static_cast<double>(cold_stats.save_blocked_cpu_ns) / 1e6 / static_cast<double>(cold_stats.saves),
                    static_cast<unsigned long long>(cold_stats.state_size_dry_runs));
      md << buf;
    }
  }
  if (c.figures && !miss.ttft_on.empty()) {
    const double on = median(miss.ttft_on), off = median(miss.ttft_off);
    md << "\n### Miss path (P9): " << miss.prompt_tokens << "-token misses, cache on vs off (" << miss.reps
       << " interleaved pairs, medians)\n\n| | cache on | cache off | difference |\n|---|---:|---:|---:|\n";
    std::snprintf(buf, sizeof buf, "| time to first token | %.1f ms | %.1f ms | %+.2f%% |\n", on, off, 100.0 * (on / off - 1));
    md << buf;
    const double ton = median(miss.total_on), toff = median(miss.total_off);
    std::snprintf(buf, sizeof buf, "| whole request | %.1f ms | %.1f ms | %+.2f%% |\n", ton, toff, 100.0 * (ton / toff - 1));
    md << buf;
    const double aa = median(miss.ttft_aa);
    std::snprintf(buf, sizeof buf, "| time to first token, a second cache-off request (the noise) | %.1f ms | %.1f ms | %+.2f%% |\n",
                  aa, off, 100.0 * (aa / off - 1));
    md << buf;
    const double con = median(miss.cpu_on), coff = median(miss.cpu_off);
    std::snprintf(buf, sizeof buf, "| process CPU until the writer pool is idle | %.1f ms | %.1f ms | %+.2f%% |\n", con,
                  coff, 100.0 * (con / coff - 1));
    md << buf;
    std::snprintf(buf, sizeof buf,
                  "\nOn the request path the cache costs %.3f ms of lookups and %.2f ms of save snapshots (%zu saves; "
                  "CPU time %.2f ms) per request: %.3f%% of the cache-off time to first token. Load %s before, %s after.\n",
                  miss.lookup_ms, miss.save_blocked_ms, miss.saves_per_request, miss.save_blocked_cpu_ms,
                  100.0 * (miss.lookup_ms + miss.save_blocked_ms) / std::max(off, 1e-6), miss.load_before.c_str(),
                  miss.load_after.c_str());
    md << buf;
  }
  if (c.figures) {
    FiguresJson fj;
    fj.load_start = load_start;
    fj.load_end = load_end;
    fj.machine = machine();
    fj.model = fs::path(c.model).filename().string();
    fj.threads = c.threads;
    if (!ttft.empty()) {
      const TtftRow& t = ttft.back();
      fj.p1_tokens = t.n;
      fj.cold_ttft_ms = t.cold.result.report.time_to_first_token_ms;
      fj.warm_ttft_ms = t.warm.result.report.time_to_first_token_ms;
      fj.warm_restore_ms = t.warm.result.report.restore_ms;
      fj.warm_prefilled = t.warm.result.report.prefilled_tokens;
      fj.warm_logits_from_cache = t.warm.result.report.logits_from_cache;
    }
    if (!restore.empty()) {
      const RestoreRow& r = restore.back();
      fj.state_bytes = r.state_bytes;
      fj.kvc_restore_ms = r.kvc_total;
      fj.kvc_load_ms = r.kvc_load;
      fj.kvc_set_ms = r.kvc_set;
      fj.llama_load_file_ms = r.llama_load;
      fj.set_data_floor_ms = r.floor_set;
      fj.kvc_ram_restore_ms = r.kvc_ram_total;
      fj.snapshot = r.snapshot;
      fj.kvc_save_ms = r.kvc_save;
      fj.llama_save_sync_ms = r.llama_save_sync;
    }
    fj.cold_saves = cold_stats.saves;
    fj.cold_save_blocked_ms =
        cold_stats.saves ? static_cast<double>(cold_stats.save_blocked_ns) / 1e6 / static_cast<double>(cold_stats.saves) : 0;
    fj.cold_save_blocked_max_ms = static_cast<double>(cold_stats.save_blocked_max_ns) / 1e6;
    fj.cold_save_blocked_cpu_ms = cold_stats.saves ? static_cast<double>(cold_stats.save_blocked_cpu_ns) / 1e6 /
                                                         static_cast<double>(cold_stats.saves)
                                                   : 0;
    fj.cold_dry_runs = cold_stats.state_size_dry_runs;
    if (!chat.empty()) {
      fj.chat_turns = static_cast<int>(chat[0].points.size());
      for (std::size_t t = 0; t < chat[0].points.size() && t < trace.size(); ++t) {
        fj.chat_prompt_tokens += trace[t].prompt.size();
        fj.chat_cached += chat[0].points[t].cached;
        fj.chat_reusable += trace[t].reusable;
        if (t > 0) fj.chat_cached_after_first += chat[0].points[t].cached;
      }
    }
    fj.miss = miss;
    write_figures_json(out / "engine_figures.json", fj);
  }
  const std::string mds = md.str();
  std::ofstream(out / "engine_results.md") << mds;
  std::printf("\n%s", mds.c_str());
  std::printf("\nwritten: %s/engine_{ttft,restore,chat}.csv, engine_results.md%s (%.0f s in all)\n", out.c_str(),
              c.figures ? ", engine_figures.json" : "", total_s);
  if (c.work_dir.empty()) fs::remove_all(work);
  return 0;
}
