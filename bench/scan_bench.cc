// Startup scan: Cache::open on a disk-tier directory pre-filled with 10 000 valid
// KVC files (512-token lists, 1–4 KiB payloads), against a raw baseline in the same run.
//
//   BM_ScanOpen             Cache::open: list the directory, read each file's prefix,
//                           parse_meta, recompute the key, register the row (index +
//                           prefix trie), start the writer pool and directory watch.
//     baseline: list the directory (readdir) and read the first 4 KiB of every *.kvc
//     file with open + pread + close: the raw I/O a scan cannot avoid.
//   BM_ScanOpenCold         the same after dropping every file's pages from the page
//                           cache (posix_fadvise DONTNEED, outside the timing); the
//                           kernel's dentry/inode caches stay warm.
//
// Time is manual (only the open/scan itself; closing the Cache is not timed); the
// counter cpu_ms is the calling thread's CPU time in that region (the scan runs there).
// items/s = files/s. The directory lives under $KVC_BENCH_DIR (default /var/tmp).
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "format/kvc_file.h"
#include "kvc/cache.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kFiles = 10'000;
constexpr std::size_t kTokens = 512;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct ScanFixture {
  kvc::bench::ScratchDir dir{kvc::bench::disk_base(), "kvc-bench-scan"};
  std::vector<std::string> files;  // full paths
  std::uint64_t bytes = 0;
  std::string error;

  ScanFixture() {
    const auto ns = kvc::bench::bench_ns();
    kvc::bench::Rng r(3);
    for (std::size_t i = 0; i < kFiles; ++i) {
      const auto tokens = kvc::bench::random_tokens(kTokens, 20'000'000 + i);
      const auto payload = kvc::bench::random_bytes(r.between(1024, 4096), i);
      kvc::format::KvcBuildInput in;
      in.ns = ns;
      in.tokens = tokens;
      in.save_reason = kvc::format::SaveReason::kCold;
      in.creation_time = in.last_used_time = 1'700'000'000;
      in.hostname = "bench";
      in.producer_version = "kvc bench";
      in.prompt_text = "scan bench row " + std::to_string(i);
      auto file = kvc::format::build_prefix(in, payload);
      file.insert(file.end(), payload.begin(), payload.end());
      const std::string path = dir.path() + "/" + kvc::derive_key(ns, tokens).hex() + ".kvc";
      const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
      if (fd < 0 || ::write(fd, file.data(), file.size()) != static_cast<ssize_t>(file.size())) {
        error = "cannot write " + path + ": " + std::strerror(errno);
        if (fd >= 0) ::close(fd);
        return;
      }
      ::close(fd);
      files.push_back(path);
      bytes += file.size();
    }
    ::sync();  // clean pages, so DONTNEED can drop them
  }

  void drop_page_cache() const {
    for (const auto& p : files) {
      const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
  }
};

ScanFixture& fixture() {
  static ScanFixture f;
  return f;
}

void scan_open(benchmark::State& state, bool cold) {
  auto& f = fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  std::size_t rows = 0;
  double cpu = 0;
  for (auto _ : state) {
    if (cold) f.drop_page_cache();
    kvc::CacheOptions o;
    o.tiers.push_back({kvc::TierKind::kDisk, f.dir.path(), 16ull << 30});
    const double c0 = kvc::bench::thread_cpu_seconds();
    const auto t0 = Clock::now();
    auto cache = kvc::Cache::open(o);
    state.SetIterationTime(seconds_since(t0));
    cpu += kvc::bench::thread_cpu_seconds() - c0;
    if (!cache.ok()) {
      state.SkipWithError(("Cache::open: " + cache.status().to_string()).c_str());
      break;
    }
    rows = cache.value()->tier_stats().at(0).rows;
    if (rows != kFiles) {
      state.SkipWithError(("scan registered " + std::to_string(rows) + " rows, expected 10000").c_str());
      break;
    }
  }  // ~Cache (stopping threads) happens here, untimed
  state.counters["rows"] = static_cast<double>(rows);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kFiles));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
}

void scan_baseline(benchmark::State& state, bool cold) {
  auto& f = fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  std::vector<std::byte> buf(4096);
  std::size_t n = 0;
  std::uint64_t read_bytes = 0;
  double cpu = 0;
  for (auto _ : state) {
    if (cold) f.drop_page_cache();
    const double c0 = kvc::bench::thread_cpu_seconds();
    const auto t0 = Clock::now();
    n = 0;
    read_bytes = 0;
    DIR* d = ::opendir(f.dir.path().c_str());
    if (d == nullptr) {
      state.SkipWithError("opendir failed");
      break;
    }
    const int dfd = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
      const std::size_t len = std::strlen(e->d_name);
      if (len < 4 || std::strcmp(e->d_name + len - 4, ".kvc") != 0) continue;
      const int fd = ::openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      const ssize_t r = ::pread(fd, buf.data(), buf.size(), 0);
      if (r > 0) read_bytes += static_cast<std::uint64_t>(r);
      ::close(fd);
      ++n;
    }
    ::closedir(d);
    state.SetIterationTime(seconds_since(t0));
    cpu += kvc::bench::thread_cpu_seconds() - c0;
    benchmark::DoNotOptimize(read_bytes);
  }
  if (n != kFiles) state.SkipWithError(("baseline saw " + std::to_string(n) + " files").c_str());
  state.counters["rows"] = static_cast<double>(n);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kFiles));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
}

void BM_ScanOpen(benchmark::State& s) { scan_open(s, false); }
void BM_ScanOpenBaseline(benchmark::State& s) { scan_baseline(s, false); }
void BM_ScanOpenCold(benchmark::State& s) { scan_open(s, true); }
void BM_ScanOpenColdBaseline(benchmark::State& s) { scan_baseline(s, true); }

void Setup(const benchmark::State&) { fixture(); }

}  // namespace

BENCHMARK(BM_ScanOpen)->Setup(Setup)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanOpenBaseline)->Setup(Setup)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanOpenCold)->Setup(Setup)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanOpenColdBaseline)->Setup(Setup)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
