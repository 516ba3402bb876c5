// engine_tier_bench: warm time to first token by the tier that serves the hit
// (issue 9), against the cold prefill of the same prompt measured in the same run.
//
// One Engine per tier, whose cache has that tier only, so that a hit can come from
// nothing else: ram (process memory), ram_file (a directory on /dev/shm), disk (a
// directory under $KVC_BENCH_DIR, default /var/tmp) and remote (a redis-server this
// program starts on a free loopback port in a temp dir, stopped at exit). In each
// Engine, per prompt size: Cache::gc (an empty tier), one cold request (a miss: the
// prompt is prefilled and saved), a flush (the rows are in the tier), then --reps
// warm requests of the same prompt, one token each, with sticky sessions off (a
// parked sequence would serve them otherwise). The disk engine also runs --reps
// warm requests with every row file dropped from the page cache first
// ("warm_dropped": the read from the virtual disk).
//
// Every request is checked: a cold one must miss, a warm one must be served by the
// measured tier and prefill at most one token. Anything else fails the run (exit 1,
// nothing written) instead of being reported.
//
//   engine_tier_bench --model FILE --out FILE.csv [--sizes 512,2048] [--reps 5]
//                     [--threads 2] [--n-ctx N] [--tiers ram,ram_file,disk,remote]
//                     [--redis-timeout-ms 1000]
//
// The remote tier's timeout is 1 s here, not kvc-server's default 50 ms: with 50 ms,
// on the shared 2-core machine at load ~7-8, the 4.4 MiB fetch of the tiny shape at
// 8192 tokens timed out (a counted miss) in every try, which failed the run.
//
// Writes one CSV row per request (bench/plot_tier_ttft.py turns the CSVs of
// several models into the markdown table and the SVG plot). scripts/bench-engine
// --tiers runs it on the tiny and the tinyllama-1.1b shapes.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "engine_bench_util.h"
#include "kvc/engine.h"
#include "support/redis_server.h"

using namespace engine_bench;  // NOLINT: the engine benchmarks' own helpers

namespace {

struct Request {
  std::string tier;     // the tier measured
  std::string variant;  // "cold", "warm", "warm_dropped"
  int n = 0;
  int rep = 0;
  Timed t;
  std::uint64_t row_bytes = 0;  // size of the row a warm request restored
};

// engine_bench's Config (model, sizes, reps, threads, n_ctx) and the remote tier's timeout.
struct TierConfig : Config {
  int redis_timeout_ms = 1000;
};

struct TierRun {
  kvc::TierKind kind;
  std::string name;        // as the engine reports it: "ram", "ram_file", "disk", "remote"
  std::string location;    // directory or redis URL
};

kvc::Result<std::unique_ptr<kvc::Engine>> open_tier_engine(const TierConfig& c, const TierRun& tier) {
  kvc::EngineOptions o;
  o.model.path = c.model;
  o.model.n_ctx = c.n_ctx;
  o.model.threads = c.threads;
  kvc::TierOptions t;
  t.kind = tier.kind;
  t.quota_bytes = 8ull << 30;
  if (tier.kind == kvc::TierKind::kRemote) {
    t.remote.url = tier.location;
    t.remote.timeout = std::chrono::milliseconds(c.redis_timeout_ms);  // see --redis-timeout-ms
  } else if (tier.kind != kvc::TierKind::kRam) {
    t.dir = tier.location;
  }
  o.cache.tiers = {t};
  o.cache.watch_directories = false;
  o.sticky_sessions = false;
  auto e = kvc::Engine::open(o);
  if (!e.ok()) return e.status();
  // A short request first (below min_tokens: no hit, no save), so that the first
  // decode's one-time setup is not counted against the first measured request.
  kvc::CompletionRequest warmup;
  warmup.prompt_tokens = std::vector<std::int32_t>{1, 450, 4996, 17354, 1701, 432};
  warmup.sampling.max_tokens = 1;
  if (auto r = (*e)->complete(warmup); !r.ok()) return r.status();
  return std::move(e.value());
}

// Not ok when the request was not served the way its variant must be (see the top).
kvc::Status check_served(const Request& q) {
  const kvc::RequestReport& r = q.t.result.report;
  const std::string what = q.tier + " " + q.variant + " n=" + std::to_string(q.n) + ": ";
  if (q.variant == "cold") {
    if (r.path != kvc::LookupPath::kMiss)
      return {kvc::Code::kUnavailable, what + "expected a miss, got path " + path_of(r) + " from tier " + r.tier};
    return kvc::Status::Ok();
  }
  if (r.path == kvc::LookupPath::kMiss || r.tier != q.tier)
    return {kvc::Code::kUnavailable, what + "expected a hit served by tier " + q.tier + ", got path " + path_of(r) +
                                         " (" + std::string(kvc::miss_reason_name(r.miss_reason)) + ") from tier '" +
                                         r.tier + "'"};
  if (r.prefilled_tokens > 1)
    return {kvc::Code::kUnavailable, what + "the hit covered " + std::to_string(r.cached_tokens) + " tokens, " +
                                         std::to_string(r.prefilled_tokens) + " were prefilled"};
  return kvc::Status::Ok();
}

std::uint64_t row_bytes(kvc::Engine& e, const std::optional<kvc::Key>& key) {
  if (!key) return 0;
  for (const auto& row : e.cache().rows())
    if (row.info.key == *key) return row.info.size;
  return 0;
}

// The tier's counters, for a failure message.
std::string tier_counters(kvc::Engine& e) {
  std::string out;
  for (const kvc::TierStats& t : e.cache().tier_stats()) {
    out += t.name + ": " + std::to_string(t.rows) + " rows, " + std::to_string(t.used_bytes) + " bytes";
    if (t.remote)
      out += ", remote hits " + std::to_string(t.remote->hits) + " misses " + std::to_string(t.remote->misses) +
             " errors " + std::to_string(t.remote->errors) + " timeouts " + std::to_string(t.remote->timeouts) +
             " corrupt " + std::to_string(t.remote->corrupt_rejected);
  }
  return out;
}

// The cold and warm requests of one tier, appended to `out`.
kvc::Status measure_tier(const TierConfig& c, const TierRun& tier,
                         const std::vector<std::vector<std::int32_t>>& prompts, std::vector<Request>& out) {
  std::printf("\n== tier %s (%s), load %s\n", tier.name.c_str(), tier.location.c_str(), loadavg().c_str());
  auto e = open_tier_engine(c, tier);
  if (!e.ok()) return e.status();
  auto record = [&](const std::string& variant, std::size_t i, int rep, int max_tokens) -> kvc::Status {
    Request q{tier.name, variant, c.sizes[i], rep, {}, 0};
    auto t = timed_request(**e, prompts[i], max_tokens);
    if (!t.ok()) return t.status();
    q.t = std::move(t.value());
    if (variant != "cold") q.row_bytes = row_bytes(**e, q.t.result.report.restored_key);
    const auto& r = q.t.result.report;
    std::printf("  %-12s n=%-5d path=%-14s tier=%-8s cached=%-5zu prefilled=%-5zu restore=%8.1f ms ttft=%9.1f ms load=%s\n",
                variant.c_str(), q.n, path_of(r).c_str(), r.tier.c_str(), r.cached_tokens, r.prefilled_tokens,
                r.restore_ms, r.time_to_first_token_ms, q.t.load.c_str());
    std::fflush(stdout);
    if (auto s = check_served(q); !s.ok()) return {s.code(), s.message() + "; " + tier_counters(**e)};
    (*e)->cache().flush();  // the request's own saves land before the next one starts
    out.push_back(std::move(q));
    return kvc::Status::Ok();
  };
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    // An empty tier for the cold request: the RAM tier keeps rows of any length, and
    // an earlier prompt's row sharing the leading tokens would be a (tiny) prefix hit.
    (*e)->cache().gc();
    if (auto s = record("cold", i, 0, 4); !s.ok()) return s;
    for (int rep = 0; rep < c.reps; ++rep)
      if (auto s = record("warm", i, rep, 1); !s.ok()) return s;
    if (tier.kind != kvc::TierKind::kDisk) continue;
    for (int rep = 0; rep < c.reps; ++rep) {
      drop_dir_from_page_cache(tier.location);
      if (auto s = record("warm_dropped", i, rep, 1); !s.ok()) return s;
    }
  }
  return kvc::Status::Ok();
}

void write_csv(const fs::path& file, const std::string& model, const std::vector<Request>& rows) {
  std::ofstream f(file);
  f << "model,tier,variant,prompt_tokens,rep,path,served_tier,cached_tokens,prefilled_tokens,row_bytes,restore_ms,"
       "ttft_ms,cpu_ms,load1\n";
  for (const Request& q : rows) {
    const auto& r = q.t.result.report;
    f << model << ',' << q.tier << ',' << q.variant << ',' << q.n << ',' << q.rep << ',' << path_of(r) << ','
      << r.tier << ',' << r.cached_tokens << ',' << r.prefilled_tokens << ',' << q.row_bytes << ',' << r.restore_ms
      << ',' << r.time_to_first_token_ms << ',' << q.t.cpu_ms << ',' << q.t.load.substr(0, q.t.load.find(' ')) << '\n';
  }
}

int usage(int code) {
  std::printf(
      "usage: engine_tier_bench --model FILE --out FILE.csv [--sizes 512,2048] [--reps 5] [--threads 2]\n"
      "                         [--n-ctx N] [--tiers ram,ram_file,disk,remote] [--redis-timeout-ms 1000]\n"
      "Warm time to first token by the tier that serves the hit (a cache with that tier only),\n"
      "against the cold prefill of the same prompt, same run. --n-ctx: default the largest size + 256.\n"
      "--redis-timeout-ms: the remote tier's timeout (kvc-server's default is 50 ms; on a loaded machine\n"
      "  a fetch then times out now and then: a miss, which fails the run).\n"
      "Scratch: $KVC_BENCH_DIR (disk, default /var/tmp), $KVC_BENCH_SHM_DIR (ram_file, default\n"
      "/dev/shm); redis-server is started in $TMPDIR (default /tmp) and stopped at exit.\n");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  TierConfig c;
  c.sizes = {512, 2048};
  c.n_ctx = 0;
  std::string out_csv;
  std::vector<std::string> tier_names = {"ram", "ram_file", "disk", "remote"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") return usage(0);
    if (i + 1 >= argc) return usage(2);
    const std::string v = argv[++i];
    if (a == "--model") c.model = v;
    else if (a == "--out") out_csv = v;
    else if (a == "--sizes") c.sizes = parse_list(v);
    else if (a == "--reps") c.reps = std::atoi(v.c_str());
    else if (a == "--threads") c.threads = std::atoi(v.c_str());
    else if (a == "--n-ctx") c.n_ctx = std::atoi(v.c_str());
    else if (a == "--redis-timeout-ms") c.redis_timeout_ms = std::atoi(v.c_str());
    else if (a == "--tiers") {
      tier_names.clear();
      std::stringstream ss(v);
      for (std::string t; std::getline(ss, t, ',');) tier_names.push_back(t);
    } else {
      std::fprintf(stderr, "engine_tier_bench: unknown option %s\n", a.c_str());
      return usage(2);
    }
  }
  if (c.model.empty() || out_csv.empty() || c.sizes.empty() || c.reps < 1) {
    std::fprintf(stderr, "engine_tier_bench: --model and --out are required; --sizes and --reps must not be empty\n");
    return 2;
  }
  if (c.n_ctx == 0) c.n_ctx = *std::max_element(c.sizes.begin(), c.sizes.end()) + 256;

  // Scratch directories and the redis-server, released on every return below.
  kvc::bench::ScratchDir shm(kvc::bench::shm_base(), "kvc-tier-bench-shm");
  kvc::bench::ScratchDir disk(kvc::bench::disk_base(), "kvc-tier-bench-disk");
  std::unique_ptr<kvc::testing::RedisServer> redis;
  std::vector<TierRun> tiers;
  for (const std::string& t : tier_names) {
    if (t == "ram") tiers.push_back({kvc::TierKind::kRam, t, "process memory"});
    else if (t == "ram_file") tiers.push_back({kvc::TierKind::kRamFile, t, shm.path() + "/ram_file"});
    else if (t == "disk") tiers.push_back({kvc::TierKind::kDisk, t, disk.path() + "/disk"});
    else if (t == "remote") {
      std::string error;
      redis = kvc::testing::RedisServer::start({}, &error);
      if (!redis) {
        std::fprintf(stderr, "engine_tier_bench: cannot start redis-server: %s\n", error.c_str());
        return 1;
      }
      tiers.push_back({kvc::TierKind::kRemote, t, redis->url()});
    } else {
      std::fprintf(stderr, "engine_tier_bench: unknown tier '%s' in --tiers (ram, ram_file, disk, remote)\n", t.c_str());
      return 2;
    }
  }
  const std::string model_name = fs::path(c.model).filename().string();
  const std::string load_start = loadavg();
  std::printf("engine_tier_bench: %s, %d threads, n_ctx %d, %s, %d warm repetitions, remote timeout %d ms, load %s\n",
              c.model.c_str(), c.threads, c.n_ctx, machine().c_str(), c.reps, c.redis_timeout_ms, load_start.c_str());

  // The same token lists for every tier (engine_bench's sized prompts).
  std::vector<std::vector<std::int32_t>> prompts;
  {
    auto e = open_tier_engine(c, {kvc::TierKind::kRam, "ram", ""});
    if (!e.ok()) {
      std::fprintf(stderr, "engine_tier_bench: %s\n", e.status().to_string().c_str());
      return 1;
    }
    for (int n : c.sizes) prompts.push_back(sized_prompt(**e, n, static_cast<std::uint64_t>(n)));
  }
  std::vector<Request> rows;
  for (const TierRun& t : tiers)
    if (auto s = measure_tier(c, t, prompts, rows); !s.ok()) {
      std::fprintf(stderr, "engine_tier_bench: FAILED, nothing written: %s\n", s.to_string().c_str());
      return 1;
    }
  write_csv(out_csv, model_name, rows);
  std::printf("\nload %s at the start, %s at the end; written: %s\n", load_start.c_str(), loadavg().c_str(),
              out_csv.c_str());
  return 0;
}
