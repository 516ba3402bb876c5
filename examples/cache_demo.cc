// cache_demo: the kvc cache at work on a directory, without llama.cpp.
//
//   cache_demo DIR [--rows N] [--tokens N] [--bytes N]
//
// Run 1 saves N rows (synthetic KV payloads of growing prompts) to a disk tier in
// DIR. Run 2 (a new process, after a "restart") finds them again: exact lookups,
// the stride walk and the any-token prefix index, then loads and verifies each.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <numeric>
#include <string>

#include "kvc/cache.h"

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

kvc::KeyNamespace demo_ns() {
  kvc::KeyNamespace ns;
  ns.fingerprint.fill(0xd5);
  ns.quant = kvc::quant_byte("f16");
  ns.ctx_hash.fill(0x3c);
  return ns;
}

std::vector<std::uint32_t> prompt(std::size_t n) {
  std::vector<std::uint32_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::uint32_t>((i * 2654435761u) % 32000);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--rows N] [--tokens N] [--bytes N]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  std::size_t rows = 8, tokens = 4096, bytes = 8 << 20;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    std::size_t v = std::strtoull(argv[i + 1], nullptr, 10);
    if (a == "--rows") rows = v;
    else if (a == "--tokens") tokens = v;
    else if (a == "--bytes") bytes = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }

  kvc::CacheOptions o;
  o.tiers.push_back({kvc::TierKind::kDisk, dir, 4ull << 30});
  o.policy.min_tokens = 256;
  o.policy.cold_min_tokens = 256;
  o.policy.boundary_align_tokens = 256;
  auto t0 = Clock::now();
  auto opened = kvc::Cache::open(o);
  if (!opened.ok()) {
    std::fprintf(stderr, "cache_demo: %s\n", opened.status().to_string().c_str());
    return 1;
  }
  auto& cache = *opened.value();
  const auto found = cache.rows().size();
  std::printf("opened disk tier %s in %.1f ms: %zu rows found\n", dir.c_str(), ms_since(t0), found);

  const auto full = prompt(tokens);
  if (found == 0) {
    std::printf("saving %zu rows (prompts of %zu..%zu tokens, %zu-byte payloads)\n", rows, tokens / rows, tokens, bytes);
    for (std::size_t r = 1; r <= rows; ++r) {
      kvc::SaveRequest req;
      req.ns = demo_ns();
      req.tokens.assign(full.begin(), full.begin() + static_cast<long>(tokens * r / rows));
      req.payload = kvc::BufferPool::shared().acquire(bytes);
      std::memset(req.payload.data(), 0, bytes);
      for (std::size_t i = 0; i < bytes; i += 4096) req.payload.data()[i] = std::byte(static_cast<unsigned char>(r + i));
      req.reason = kvc::SaveReason::kCold;
      req.prompt_text = "cache_demo row " + std::to_string(r);
      auto ts = Clock::now();
      auto key = cache.save(std::move(req), std::chrono::seconds(30));
      if (!key.ok()) {
        std::fprintf(stderr, "save failed: %s\n", key.status().to_string().c_str());
        return 1;
      }
      std::printf("  saved %s… (%zu tokens) in %.1f ms\n", key->hex().substr(0, 16).c_str(), tokens * r / rows,
                  ms_since(ts));
    }
    std::printf("run me again (a new process) to find them after the restart\n");
  } else {
    auto ts = Clock::now();
    auto exact = cache.checkout(kvc::derive_key(demo_ns(), full));
    std::printf("exact lookup of the %zu-token prompt: %s (%.3f ms)\n", tokens, exact.ok() ? "hit" : "miss", ms_since(ts));
    auto longer = full;
    longer.push_back(7);
    longer.push_back(8);
    ts = Clock::now();
    auto walk = cache.longest_prefix(demo_ns(), longer, 1);
    std::printf("stride walk on a %zu-token follow-up: %zu tokens reused (%.3f ms)\n", longer.size(), walk.length,
                ms_since(ts));
    auto diverged = full;
    diverged[tokens / 2 + 3] ^= 1;
    ts = Clock::now();
    auto any = cache.any_prefix(demo_ns(), diverged, true, 1);
    std::printf("any-token prefix on a prompt diverging at %zu: %zu tokens reused from a %zu-token row (%.3f ms)\n",
                tokens / 2 + 3, any.length, any.row_length, ms_since(ts));
    if (walk.lease) {
      ts = Clock::now();
      auto loaded = cache.load(walk.lease);
      std::printf("load + verify (CRC, key) of %zu bytes: %s in %.1f ms\n",
                  loaded.ok() ? loaded->payload().size() : 0, loaded.ok() ? "ok" : loaded.status().to_string().c_str(),
                  ms_since(ts));
    }
  }
  auto st = cache.tier_stats()[0];
  auto c = cache.counters();
  std::printf("stats: %zu rows, %.1f MiB of %.1f MiB quota; hits exact %llu, longest_prefix %llu, any_prefix %llu; "
              "saves cold %llu; probes %llu\n",
              st.rows, st.used_bytes / 1048576.0, st.quota_bytes / 1048576.0, (unsigned long long)c.hits_exact,
              (unsigned long long)c.hits_longest_prefix, (unsigned long long)c.hits_any_prefix,
              (unsigned long long)c.saves_cold, (unsigned long long)c.longest_prefix_probes);
  return 0;
}
