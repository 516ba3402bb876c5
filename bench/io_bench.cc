// Save and load throughput through kvc::Cache on a disk tier and a ram_file tier,
// against raw POSIX I/O of the same bytes measured in the same run.
//
//   BM_Save{Disk,RamFile}/bytes:N   Cache::save (synchronous) of an N-byte payload with a
//                                   512-token list: CRC32C, prefix, O_EXCL temp file, one
//                                   gathered write, fdatasync, link, directory fsync, index.
//     baseline: the same file bytes (prefix + payload, pre-built in one buffer) written
//     the way a naive writer would: open(O_CREAT|O_EXCL) a temp name, write(2) loop,
//     fdatasync, close, rename(2) to the final name. No directory fsync, no CRC.
//   BM_Load{Disk,RamFile}/bytes:N   Cache::load of a leased row: read the file once into
//                                   a buffer owned by the caller, verify CRC32C and key.
//     baseline: open, fstat, allocate an uninitialised buffer, read(2) loop, close —
//     the same file, no verification.
//   BM_FreshBuffer/bytes:N          BufferPool::acquire of a new buffer (the pool trimmed
//                                   first): what the first save or load of a size costs.
//     baseline: aligned_alloc (2 MiB), MADV_HUGEPAGE, and one write per 4 KiB page —
//     the pool's allocation before it used MADV_POPULATE_WRITE. thp:0 runs both with
//     transparent huge pages disabled for the process (prctl PR_SET_THP_DISABLE), as
//     when no huge page can be had (fragmented memory, THP off).
//   BM_LoadDiskCold/bytes:N         the same with the file dropped from the page cache
//                                   before each iteration (posix_fadvise DONTNEED after
//                                   fdatasync); the warm variants read from the page cache.
//
// Timing is manual (wall clock around the operation only, reported as real time;
// the counter cpu_ms is the calling thread's CPU time in that region):
// building each request (a copy of the pre-generated payload, fresh tokens so every
// iteration saves a distinct key), removing the row after it, and freeing buffers
// are outside the timed region. Every save is a real save of a new key.
//
// Directories: disk under $KVC_BENCH_DIR (default /var/tmp), ram_file under
// $KVC_BENCH_SHM_DIR (default /dev/shm); both removed at exit.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "format/kvc_file.h"
#include "kvc/cache.h"
#include "kvc/buffer.h"

namespace {

using Clock = std::chrono::steady_clock;
using kvc::bench::bench_ns;
using kvc::bench::random_tokens;

constexpr std::size_t kTokens = 512;
constexpr std::int64_t kKiB = 1024, kMiB = 1024 * 1024;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One Cache per tier kind for the whole process, on a scratch directory.
struct TierFixture {
  std::unique_ptr<kvc::bench::ScratchDir> dir;
  std::unique_ptr<kvc::Cache> cache;
  std::string error;

  TierFixture(kvc::TierKind kind) {
    const bool disk = kind == kvc::TierKind::kDisk;
    dir = std::make_unique<kvc::bench::ScratchDir>(disk ? kvc::bench::disk_base() : kvc::bench::shm_base(),
                                                   disk ? "kvc-bench-disk" : "kvc-bench-ramfile");
    kvc::CacheOptions o;
    o.tiers.push_back({kind, dir->path() + "/tier", 8ull << 30});
    auto opened = kvc::Cache::open(o);
    if (!opened.ok()) {
      error = opened.status().to_string();
      return;
    }
    cache = std::move(opened).value();
  }
  std::string raw_dir() const { return dir->path(); }
  std::string row_path(const kvc::Key& key) const { return dir->path() + "/tier/" + key.hex() + ".kvc"; }
};

TierFixture& fixture(kvc::TierKind kind) {
  static TierFixture disk(kvc::TierKind::kDisk);
  static TierFixture ram_file(kvc::TierKind::kRamFile);
  return kind == kvc::TierKind::kDisk ? disk : ram_file;
}

// Pre-generated payloads, one per size, shared by all benchmarks.
const std::vector<std::byte>& payload(std::size_t n) {
  static std::map<std::size_t, std::vector<std::byte>> cache;
  auto it = cache.find(n);
  if (it == cache.end()) it = cache.emplace(n, kvc::bench::random_bytes(n, n)).first;
  return it->second;
}

std::uint64_t next_seed() {
  static std::uint64_t seed = 10'000'000;
  return ++seed;
}

kvc::SaveRequest make_request(std::size_t bytes) {
  kvc::SaveRequest req;
  req.ns = bench_ns();
  req.tokens = random_tokens(kTokens, next_seed());
  req.payload = kvc::ByteBuffer::copy_of(payload(bytes));  // a copy, outside the timing: save() takes it by move
  req.reason = kvc::SaveReason::kCold;
  return req;
}

// The bytes of the KVC file a save of `req` writes (prefix + payload), in one buffer.
std::vector<std::byte> file_bytes(const kvc::SaveRequest& req) {
  kvc::format::KvcBuildInput in;
  in.ns = req.ns;
  in.tokens = req.tokens;
  in.save_reason = req.reason;
  in.producer_version = "kvc bench";
  auto bytes = kvc::format::build_prefix(in, req.payload.span());
  bytes.insert(bytes.end(), req.payload.span().begin(), req.payload.span().end());
  return bytes;
}

bool write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// The naive writer: O_EXCL temp, write(2), fdatasync, close, rename(2).
bool naive_save(const std::string& dir, const std::string& name, const std::vector<std::byte>& bytes) {
  const std::string tmp = dir + "/" + name + ".tmp", final_path = dir + "/" + name;
  const int fd = ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = write_all(fd, bytes.data(), bytes.size()) && ::fdatasync(fd) == 0;
  if (::close(fd) != 0 || !ok) return false;
  return ::rename(tmp.c_str(), final_path.c_str()) == 0;
}

// The naive reader: open, fstat, uninitialised buffer, read(2) loop, close.
std::unique_ptr<std::byte[]> naive_load(const std::string& path, std::size_t& size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return nullptr;
  }
  size = static_cast<std::size_t>(st.st_size);
  auto buf = std::make_unique_for_overwrite<std::byte[]>(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t r = ::read(fd, buf.get() + done, size - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<std::size_t>(r);
  }
  ::close(fd);
  if (done != size) return nullptr;
  return buf;
}

// Drops a (clean) file's pages from the page cache.
void drop_from_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// ---------------------------------------------------------------- saves

void save_bench(benchmark::State& state, kvc::TierKind kind) {
  auto& f = fixture(kind);
  if (!f.cache) {
    state.SkipWithError(("Cache::open: " + f.error).c_str());
    return;
  }
  const auto bytes = static_cast<std::size_t>(state.range(0));
  payload(bytes);
  double cpu = 0;
  for (auto _ : state) {
    auto req = make_request(bytes);
    const double c0 = kvc::bench::thread_cpu_seconds();
    const auto t0 = Clock::now();
    auto key = f.cache->save(std::move(req), std::chrono::seconds(120));
    state.SetIterationTime(seconds_since(t0));
    cpu += kvc::bench::thread_cpu_seconds() - c0;
    if (!key.ok()) {
      state.SkipWithError(("save: " + key.status().to_string()).c_str());
      break;
    }
    if (auto s = f.cache->remove(key.value()); !s.ok()) {
      state.SkipWithError(("remove: " + s.to_string()).c_str());
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
}

void save_baseline(benchmark::State& state, kvc::TierKind kind) {
  auto& f = fixture(kind);
  const auto bytes = static_cast<std::size_t>(state.range(0));
  std::size_t n = 0;
  double cpu = 0;
  for (auto _ : state) {
    const auto file = file_bytes(make_request(bytes));
    const std::string name = "raw-" + std::to_string(n++) + ".kvc";
    const double c0 = kvc::bench::thread_cpu_seconds();
    const auto t0 = Clock::now();
    const bool ok = naive_save(f.raw_dir(), name, file);
    state.SetIterationTime(seconds_since(t0));
    cpu += kvc::bench::thread_cpu_seconds() - c0;
    if (!ok) {
      state.SkipWithError(("naive save failed: " + std::string(std::strerror(errno))).c_str());
      break;
    }
    ::unlink((f.raw_dir() + "/" + name).c_str());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
}

void BM_SaveDisk(benchmark::State& s) { save_bench(s, kvc::TierKind::kDisk); }
void BM_SaveDiskBaseline(benchmark::State& s) { save_baseline(s, kvc::TierKind::kDisk); }
void BM_SaveRamFile(benchmark::State& s) { save_bench(s, kvc::TierKind::kRamFile); }
void BM_SaveRamFileBaseline(benchmark::State& s) { save_baseline(s, kvc::TierKind::kRamFile); }

// ---------------------------------------------------------------- loads

// Saves one row of `bytes` and keeps it leased for the benchmark's lifetime.
struct SavedRow {
  kvc::Lease lease;
  std::string error;
};

SavedRow save_row(TierFixture& f, std::size_t bytes) {
  SavedRow out;
  if (!f.cache) {
    out.error = "Cache::open: " + f.error;
    return out;
  }
  auto key = f.cache->save(make_request(bytes), std::chrono::seconds(120));
  if (!key.ok()) {
    out.error = "save: " + key.status().to_string();
    return out;
  }
  auto lease = f.cache->checkout(key.value());
  if (!lease.ok()) {
    out.error = "checkout: " + lease.status().to_string();
    return out;
  }
  out.lease = std::move(lease).value();
  return out;
}

void load_bench(benchmark::State& state, kvc::TierKind kind, bool cold) {
  auto& f = fixture(kind);
  const auto bytes = static_cast<std::size_t>(state.range(0));
  auto row = save_row(f, bytes);
  if (!row.lease) {
    state.SkipWithError(row.error.c_str());
    return;
  }
  double cpu = 0;
  for (auto _ : state) {
    if (cold) drop_from_page_cache(f.row_path(row.lease.row().key));
    const double c0 = kvc::bench::thread_cpu_seconds();
    const auto t0 = Clock::now();
    auto loaded = f.cache->load(row.lease);
    state.SetIterationTime(seconds_since(t0));
    cpu += kvc::bench::thread_cpu_seconds() - c0;
    if (!loaded.ok() || loaded->payload().size() != bytes) {
      state.SkipWithError(("load: " + loaded.status().to_string()).c_str());
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
  const auto key = row.lease.row().key;
  row.lease.release();
  (void)f.cache->remove(key);
}

void load_baseline(benchmark::State& state, kvc::TierKind kind, bool cold) {
  auto& f = fixture(kind);
  const auto bytes = static_cast<std::size_t>(state.range(0));
  auto row = save_row(f, bytes);
  if (!row.lease) {
    state.SkipWithError(row.error.c_str());
    return;
  }
  const std::string path = f.row_path(row.lease.row().key);
  double cpu = 0;
  for (auto _ : state) {
    if (cold) drop_from_page_cache(path);
    std::size_t size = 0;
    const double c0 = kvc::bench::thread_cpu_seconds();
    const auto t0 = Clock::now();
    auto buf = naive_load(path, size);
    state.SetIterationTime(seconds_since(t0));
    cpu += kvc::bench::thread_cpu_seconds() - c0;
    if (!buf || size < bytes) {
      state.SkipWithError(("naive load of " + path + " failed").c_str());
      break;
    }
    benchmark::DoNotOptimize(buf.get());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
  const auto key = row.lease.row().key;
  row.lease.release();
  (void)f.cache->remove(key);
}

void BM_LoadDisk(benchmark::State& s) { load_bench(s, kvc::TierKind::kDisk, false); }
void BM_LoadDiskBaseline(benchmark::State& s) { load_baseline(s, kvc::TierKind::kDisk, false); }
void BM_LoadDiskCold(benchmark::State& s) { load_bench(s, kvc::TierKind::kDisk, true); }
void BM_LoadDiskColdBaseline(benchmark::State& s) { load_baseline(s, kvc::TierKind::kDisk, true); }
void BM_LoadRamFile(benchmark::State& s) { load_bench(s, kvc::TierKind::kRamFile, false); }
void BM_LoadRamFileBaseline(benchmark::State& s) { load_baseline(s, kvc::TierKind::kRamFile, false); }

// thp:0 disables transparent huge pages for the process while the benchmark runs.
struct ThpSetting {
  explicit ThpSetting(bool on) { (void)::prctl(PR_SET_THP_DISABLE, on ? 0 : 1, 0, 0, 0); }
  ~ThpSetting() { (void)::prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0); }
};

void BM_FreshBuffer(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  ThpSetting thp(state.range(1) != 0);
  kvc::BufferPool pool(std::size_t{1} << 30);
  double cpu = 0;
  for (auto _ : state) {
    pool.trim();
    const double c0 = kvc::bench::thread_cpu_seconds();
    const auto t0 = Clock::now();
    kvc::ByteBuffer b = pool.acquire(bytes);
    state.SetIterationTime(seconds_since(t0));
    cpu += kvc::bench::thread_cpu_seconds() - c0;
    benchmark::DoNotOptimize(b.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
}

void BM_FreshBufferBaseline(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  ThpSetting thp(state.range(1) != 0);
  const std::size_t huge = std::size_t{2} << 20, cap = (bytes + huge - 1) / huge * huge;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  double cpu = 0;
  for (auto _ : state) {
    const double c0 = kvc::bench::thread_cpu_seconds();
    const auto t0 = Clock::now();
    void* p = std::aligned_alloc(huge, cap);
    (void)::madvise(p, cap, MADV_HUGEPAGE);
    auto* v = static_cast<volatile std::byte*>(p);
    for (std::size_t i = 0; i < cap; i += page) v[i] = std::byte{0};
    state.SetIterationTime(seconds_since(t0));
    cpu += kvc::bench::thread_cpu_seconds() - c0;
    std::free(p);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3, benchmark::Counter::kAvgIterations);
}

}  // namespace

BENCHMARK(BM_FreshBuffer)->ArgNames({"bytes", "thp"})->ArgsProduct({{88 * kMiB}, {1, 0}})->Iterations(10)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FreshBufferBaseline)->ArgNames({"bytes", "thp"})->ArgsProduct({{88 * kMiB}, {1, 0}})->Iterations(10)->UseManualTime()->Unit(benchmark::kMillisecond);

// 64 KiB and 16 MiB: as many iterations as the min time asks; 256 MiB: a fixed few.
#define KVC_IO_BENCH(fn, big_iters)                                                              \
  BENCHMARK(fn)->ArgName("bytes")->Arg(64 * kKiB)->UseManualTime()->Unit(benchmark::kMillisecond); \
  BENCHMARK(fn)->ArgName("bytes")->Arg(16 * kMiB)->UseManualTime()->Unit(benchmark::kMillisecond); \
  BENCHMARK(fn)->ArgName("bytes")->Arg(256 * kMiB)->Iterations(big_iters)->UseManualTime()->Unit(benchmark::kMillisecond)

KVC_IO_BENCH(BM_SaveDisk, 3);
KVC_IO_BENCH(BM_SaveDiskBaseline, 3);
KVC_IO_BENCH(BM_SaveRamFile, 3);
KVC_IO_BENCH(BM_SaveRamFileBaseline, 3);
KVC_IO_BENCH(BM_LoadDisk, 5);
KVC_IO_BENCH(BM_LoadDiskBaseline, 5);
KVC_IO_BENCH(BM_LoadDiskCold, 3);
KVC_IO_BENCH(BM_LoadDiskColdBaseline, 3);
KVC_IO_BENCH(BM_LoadRamFile, 5);
KVC_IO_BENCH(BM_LoadRamFileBaseline, 5);

BENCHMARK_MAIN();
