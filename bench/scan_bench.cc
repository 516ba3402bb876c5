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
//   BM_ScanOpenLogits       Cache::open on 1 000 rows as the engine writes them for a
//                           32 000-token vocabulary: 2 048 tokens, the logits after
//                           the prompt (0x0B) and after the row (0x0A), 250 KiB each
//                           row, against the same raw baseline (BM_ScanOpenLogitsBaseline).
//   BM_ReadRowMeta/lean     one such row's metadata as the scan reads it now
//                           (format::read_meta_without_bulk: tens of KiB)
//   BM_ReadRowMeta/whole    the same as the scan read it before: the whole prefix
//                           (logits included) and parse_meta; the same-run baseline.
//
// Time is manual (only the open/scan itself; closing the Cache is not timed); the
// counter cpu_ms is the calling thread's CPU time in that region (the scan runs there).
// items/s = files/s. The directory lives under $KVC_BENCH_DIR (default /var/tmp).
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
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

// Writes one row file (prefix + payload) at `path`; its size, or 0 with *error set.
std::size_t write_row(const std::string& path, const kvc::format::KvcBuildInput& in,
                      std::span<const std::byte> payload, std::string* error) {
  auto file = kvc::format::build_prefix(in, payload);
  file.insert(file.end(), payload.begin(), payload.end());
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, file.data(), file.size()) != static_cast<ssize_t>(file.size())) {
    *error = "cannot write " + path + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return file.size();
}

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
      const std::string prompt = "scan bench row " + std::to_string(i);  // outlives the build
      in.prompt_text = prompt;
      const std::string path = dir.path() + "/" + kvc::derive_key(ns, tokens).hex() + ".kvc";
      const std::size_t written = write_row(path, in, payload, &error);
      if (written == 0) return;
      files.push_back(path);
      bytes += written;
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

// Rows with logits, as a chat server's finish rows are.
struct LogitsFixture {
  static constexpr std::size_t kRows = 1'000, kRowTokens = 2'048, kVocab = 32'000;
  kvc::bench::ScratchDir dir{kvc::bench::disk_base(), "kvc-bench-scan-logits"};
  std::vector<std::string> files;
  std::string error;

  LogitsFixture() {
    const auto ns = kvc::bench::bench_ns();
    std::vector<float> after_row(kVocab), after_prompt(kVocab);
    for (std::size_t v = 0; v < kVocab; ++v) {
      after_row[v] = static_cast<float>(v % 97) * 0.25f;
      after_prompt[v] = -static_cast<float>(v % 89) * 0.5f;
    }
    const std::vector<kvc::format::PositionLogits> records = {{kRowTokens - 100, after_prompt}};
    const std::string prompt(6'000, 'p');  // ~3 characters per token of the prompt part
    for (std::size_t i = 0; i < kRows; ++i) {
      const auto tokens = kvc::bench::random_tokens(kRowTokens, 30'000'000 + i);
      const auto payload = kvc::bench::random_bytes(4096, i);
      kvc::format::KvcBuildInput in;
      in.ns = ns;
      in.tokens = tokens;
      in.save_reason = kvc::format::SaveReason::kFinish;
      in.creation_time = in.last_used_time = 1'700'000'000;
      in.prompt_text = prompt;
      in.next_token_logits = after_row;
      in.position_logits = records;
      const std::string path = dir.path() + "/" + kvc::derive_key(ns, tokens).hex() + ".kvc";
      if (write_row(path, in, payload, &error) == 0) return;
      files.push_back(path);
    }
  }
};

LogitsFixture& logits_fixture() {
  static LogitsFixture f;
  return f;
}

// Cache::open of `dir`, which holds `files` valid rows.
void scan_open(benchmark::State& state, const std::string& dir, std::size_t files, const ScanFixture* cold) {
  std::size_t rows = 0;
  double cpu = 0;
  for (auto _ : state) {
    if (cold != nullptr) cold->drop_page_cache();
    kvc::CacheOptions o;
    o.tiers.push_back({kvc::TierKind::kDisk, dir, 16ull << 30});
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
    if (rows != files) {
      state.SkipWithError(("scan registered " + std::to_string(rows) + " rows, expected " + std::to_string(files)).c_str());
      break;
    }
  }  // ~Cache (stopping threads) happens here, untimed
  state.counters["rows"] = static_cast<double>(rows);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(files));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
}

// The raw floor: readdir + open, 4 KiB pread, close of every *.kvc file in `dir`.
void scan_baseline(benchmark::State& state, const std::string& dir, std::size_t files, const ScanFixture* cold) {
  std::vector<std::byte> buf(4096);
  std::size_t n = 0;
  std::uint64_t read_bytes = 0;
  double cpu = 0;
  for (auto _ : state) {
    if (cold != nullptr) cold->drop_page_cache();
    const double c0 = kvc::bench::thread_cpu_seconds();
    const auto t0 = Clock::now();
    n = 0;
    read_bytes = 0;
    DIR* d = ::opendir(dir.c_str());
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
  if (n != files) state.SkipWithError(("baseline saw " + std::to_string(n) + " files").c_str());
  state.counters["rows"] = static_cast<double>(n);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(files));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
}

// Runs `run` on the 10 000-row directory, or skips when it could not be made.
template <class Run>
void on_scan_fixture(benchmark::State& s, Run run) {
  const auto& f = fixture();
  if (!f.error.empty()) return s.SkipWithError(f.error.c_str());
  run(f);
}
template <class Run>
void on_logits_fixture(benchmark::State& s, Run run) {
  const auto& f = logits_fixture();
  if (!f.error.empty()) return s.SkipWithError(f.error.c_str());
  run(f);
}

void BM_ScanOpen(benchmark::State& s) {
  on_scan_fixture(s, [&](const ScanFixture& f) { scan_open(s, f.dir.path(), kFiles, nullptr); });
}
void BM_ScanOpenBaseline(benchmark::State& s) {
  on_scan_fixture(s, [&](const ScanFixture& f) { scan_baseline(s, f.dir.path(), kFiles, nullptr); });
}
void BM_ScanOpenCold(benchmark::State& s) {
  on_scan_fixture(s, [&](const ScanFixture& f) { scan_open(s, f.dir.path(), kFiles, &f); });
}
void BM_ScanOpenColdBaseline(benchmark::State& s) {
  on_scan_fixture(s, [&](const ScanFixture& f) { scan_baseline(s, f.dir.path(), kFiles, &f); });
}
void BM_ScanOpenLogits(benchmark::State& s) {
  on_logits_fixture(s, [&](const LogitsFixture& f) { scan_open(s, f.dir.path(), f.files.size(), nullptr); });
}
void BM_ScanOpenLogitsBaseline(benchmark::State& s) {
  on_logits_fixture(s, [&](const LogitsFixture& f) { scan_baseline(s, f.dir.path(), f.files.size(), nullptr); });
}

// One row's metadata, arg 0: lean (the scan's reader), 1: whole prefix + parse_meta.
void BM_ReadRowMeta(benchmark::State& s) {
  on_logits_fixture(s, [&](const LogitsFixture& f) {
    const bool whole = s.range(0) == 1;
    std::vector<std::byte> buf;
    std::size_t i = 0;
    std::uint64_t bytes = 0;
    for (auto _ : s) {
      const int fd = ::open(f.files[i++ % f.files.size()].c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st {};
      ::fstat(fd, &st);
      const auto size = static_cast<std::uint64_t>(st.st_size);
      auto read_at = [&](std::uint64_t off, std::span<std::byte> out) -> std::size_t {
        const ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(off));
        bytes += n > 0 ? static_cast<std::uint64_t>(n) : 0;
        return n > 0 ? static_cast<std::size_t>(n) : 0;
      };
      kvc::format::Parsed<kvc::format::KvcMeta> meta;
      if (whole) {
        buf.resize(4096);
        std::size_t have = read_at(0, buf);
        if (auto need = kvc::format::prefix_length(std::span(buf).first(have), size); need && *need > have) {
          buf.resize(*need);
          have += read_at(have, std::span(buf).subspan(have));
        }
        meta = kvc::format::parse_meta(std::span(buf).first(have), size);
      } else {
        meta = kvc::format::read_meta_without_bulk(read_at, size, buf);
      }
      ::close(fd);
      if (!meta.ok()) return s.SkipWithError("a row did not parse");
      benchmark::DoNotOptimize(meta.value->tokens.data());
    }
    s.SetLabel(whole ? "whole prefix + parse_meta (before)" : "read_meta_without_bulk (now)");
    s.counters["bytes_read_per_row"] = benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kAvgIterations);
    s.SetItemsProcessed(s.iterations());
  });
}

void Setup(const benchmark::State&) { fixture(); }
void SetupLogits(const benchmark::State&) { logits_fixture(); }

}  // namespace

BENCHMARK(BM_ScanOpen)->Setup(Setup)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanOpenBaseline)->Setup(Setup)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanOpenCold)->Setup(Setup)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanOpenColdBaseline)->Setup(Setup)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanOpenLogits)->Setup(SetupLogits)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanOpenLogitsBaseline)->Setup(SetupLogits)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadRowMeta)->Setup(SetupLogits)->ArgName("whole")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
