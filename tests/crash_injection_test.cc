// Crash injection (issue 5): a child process runs concurrent saves (sync and
// async, 1 KiB–2 MiB), removals, gc and quota evictions on a ram_file tier and a
// disk tier, and reports every save that returned success through a pipe. The
// parent kills it with SIGKILL at a random moment, reopens the cache on the same
// directories and checks:
//   - Cache::open succeeds and no *.tmp survives it (the killed writer is gone);
//   - every row the index serves loads, verifies, and holds exactly the payload
//     derived from its tokens (zero wrong restores);
//   - every save reported successful (and not removed by the child since) is
//     present and intact; in the quota variant, rows may have been evicted, so
//     only integrity is checked;
//   - corrupt_files stays 0 and the byte accounting matches the files.
//
// The child is this binary re-executed (posix_spawn of /proc/self/exe) running
// the disabled test CrashInjection.DISABLED_Child, configured through the
// environment, so no fork() happens inside the multithreaded gtest process.
//
// 200 kills by default, 5000 with KVC_SOAK=1 (KVC_CRASH_KILLS overrides).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include "cache_test_util.h"
#include "format/kvc_file.h"
#include "support/temp_dir.h"

extern char** environ;

namespace kvc {
namespace {

namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
constexpr int kSlowdown = 2;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int kSlowdown = 2;
#else
constexpr int kSlowdown = 1;
#endif
#else
constexpr int kSlowdown = 1;
#endif

constexpr int kChildFd = 200;  // the pipe's write end in the child

// ---- the deterministic content of save `id` ----
std::vector<std::uint32_t> tokens_for(std::uint32_t id) {
  std::vector<std::uint32_t> t(8 + id % 57);
  t[0] = id;
  for (std::size_t i = 1; i < t.size(); ++i) t[i] = static_cast<std::uint32_t>(i * 7 + 1);
  return t;
}

std::size_t size_for(std::uint32_t id) {
  // Log-uniform-ish in [1 KiB, 2 MiB], mostly small.
  std::uint64_t h = id * 0x9E3779B97F4A7C15ull;
  h ^= h >> 29;
  const unsigned shift = static_cast<unsigned>(h % 12);  // 1 KiB << 0..11
  const std::size_t base = std::size_t{1024} << shift;
  const std::size_t bytes = base + (h >> 20) % base;
  return std::min<std::size_t>(bytes, 2u << 20);
}

void fill_payload(std::uint32_t id, std::span<std::byte> out) {
  std::uint64_t x = 0x243F6A8885A308D3ull ^ (std::uint64_t{id} << 17) ^ id;
  std::size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, 8);
  }
  x ^= x << 13;
  for (; i < out.size(); ++i) out[i] = std::byte(static_cast<std::uint8_t>(x >> (8 * (i % 8))));
}

SaveRequest request_for(std::uint32_t id) {
  SaveRequest r;
  r.ns = testing::ns_for_tests();
  r.tokens = tokens_for(id);
  r.reason = SaveReason::kCold;
  r.payload = BufferPool::shared().acquire(size_for(id));
  fill_payload(id, r.payload.span());
  return r;
}

Key key_for(std::uint32_t id) { return derive_key(testing::ns_for_tests(), tokens_for(id)); }

// ---- the configuration shared by child and parent ----
struct Config {
  bool quota = false;  // small quotas: saves evict
  std::string ram_file_dir;
  std::string disk_dir;
  std::uint32_t base = 0;  // first save id of this child
};

CacheOptions options_for(const Config& c) {
  CacheOptions o;
  const std::uint64_t q = c.quota ? (6u << 20) : (1ull << 30);
  // Saves land in ram_file and are written through to disk; quota evictions of
  // ram_file copies move rows down.
  o.tiers.push_back(testing::tier_options(TierKind::kRamFile, c.ram_file_dir, q));
  o.tiers.push_back(testing::tier_options(TierKind::kDisk, c.disk_dir, q));
  for (auto& t : o.tiers) t.min_tokens = 1;
  o.writers.threads = 2;
  o.writers.queue_capacity = 8;
  o.watch_directories = false;
  return o;
}

std::string encode(const Config& c) {
  return std::string(c.quota ? "q" : "n") + "|" + std::to_string(c.base) + "|" + c.ram_file_dir + "|" + c.disk_dir;
}

std::optional<Config> decode(const char* s) {
  if (!s) return std::nullopt;
  std::string v(s);
  Config c;
  auto p1 = v.find('|'), p2 = v.find('|', p1 + 1), p3 = v.find('|', p2 + 1);
  if (p1 == std::string::npos || p2 == std::string::npos || p3 == std::string::npos) return std::nullopt;
  c.quota = v.substr(0, p1) == "q";
  c.base = static_cast<std::uint32_t>(std::stoul(v.substr(p1 + 1, p2 - p1 - 1)));
  c.ram_file_dir = v.substr(p2 + 1, p3 - p2 - 1);
  c.disk_dir = v.substr(p3 + 1);
  return c;
}

// One unbuffered write per line (< PIPE_BUF, so atomic). A line is sent only after
// the event it describes ("S": save succeeded) or before it ("R": removal, "G": gc).
void report(const std::string& line) {
  const std::string l = line + "\n";
  std::size_t off = 0;
  while (off < l.size()) {
    ssize_t n = ::write(kChildFd, l.data() + off, l.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::_Exit(3);  // the parent went away
    off += static_cast<std::size_t>(n);
  }
}

// ---- the child ----
TEST(CrashInjection, DISABLED_Child) {
  auto cfg = decode(std::getenv("KVC_CRASH_CHILD"));
  if (!cfg) GTEST_SKIP() << "run by CrashInjection.KillsDuringSavesLoseNothing";
  auto opened = Cache::open(options_for(*cfg));
  if (!opened.ok()) {
    std::fprintf(stderr, "crash child: open failed: %s\n", opened.status().to_string().c_str());
    std::_Exit(4);
  }
  auto& cache = **opened;
  report("READY");
  std::atomic<std::uint32_t> next{cfg->base};
  std::mutex mu;
  std::vector<std::uint32_t> saved;  // reported, not yet removed
  // A save and its report happen under a shared lock, gc/evict_bytes under an
  // exclusive one: a row reported after "G" was published after that gc ended.
  std::shared_mutex gc_mu;
  auto note_saved = [&](std::uint32_t id) {
    report("S " + std::to_string(id));
    std::lock_guard<std::mutex> lock(mu);
    saved.push_back(id);
  };
  auto saver = [&](unsigned seed, bool async) {
    std::mt19937 rng(seed);
    std::vector<std::uint32_t> pending;
    for (;;) {
      const std::uint32_t id = next.fetch_add(1);
      if (async) {
        auto k = cache.save_async(request_for(id));
        if (k.ok()) pending.push_back(id);
        if (pending.size() >= 4) {
          std::shared_lock<std::shared_mutex> lock(gc_mu);
          cache.flush();
          for (auto p : pending)
            if (cache.checkout(key_for(p)).ok()) note_saved(p);
          pending.clear();
        }
      } else {
        std::shared_lock<std::shared_mutex> lock(gc_mu);
        auto k = cache.save(request_for(id), std::chrono::seconds(10));
        if (k.ok()) note_saved(id);
      }
    }
  };
  auto remover = [&](unsigned seed) {
    std::mt19937 rng(seed);
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng() % 4));
      const unsigned what = rng() % 16;
      if (what <= 1) {
        std::unique_lock<std::shared_mutex> lock(gc_mu);
        report("G");  // before: every row reported so far may be gone from here on
        if (what == 0)
          cache.gc();
        else
          cache.evict_bytes(1u << 20);
      } else {
        std::uint32_t id;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (saved.empty()) continue;
          const std::size_t i = rng() % saved.size();
          id = saved[i];
          saved[i] = saved.back();
          saved.pop_back();
        }
        report("R " + std::to_string(id));
        (void)cache.remove(key_for(id));
      }
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(saver, cfg->base + 1, false);
  threads.emplace_back(saver, cfg->base + 2, false);
  threads.emplace_back(saver, cfg->base + 3, true);
  threads.emplace_back(remover, cfg->base + 4);
  // The parent kills us long before this; exit on our own if it never does.
  std::this_thread::sleep_for(std::chrono::seconds(30));
  std::_Exit(5);
}

// ---- the parent ----
struct Totals {
  std::uint64_t kills = 0, saves_reported = 0, rows_verified = 0, expected_checked = 0, temps_swept = 0;
};

std::string ram_file_root() {
  std::error_code ec;
  if (fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  return "";
}

// Spawns the child, returns its pid and the read end of its pipe.
std::pair<pid_t, int> spawn_child(const Config& c) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {-1, -1};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], kChildFd);  // clears FD_CLOEXEC on kChildFd
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::string env_entry = "KVC_CRASH_CHILD=" + encode(c);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "KVC_CRASH_CHILD=", 16) != 0) envp.push_back(*e);
  envp.push_back(env_entry.data());
  envp.push_back(nullptr);
  std::string a0 = "/proc/self/exe", a1 = "--gtest_filter=CrashInjection.DISABLED_Child",
              a2 = "--gtest_also_run_disabled_tests";
  char* argv[] = {a0.data(), a1.data(), a2.data(), nullptr};
  // /proc/self/exe resolves in the parent's posix_spawn before exec: it is this binary.
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return {-1, -1};
  self[n] = 0;
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, self, &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return {-1, -1};
  }
  return {pid, fds[0]};
}

// Reads what is available (or waits up to timeout_ms for more) into `buf`.
// Returns false at EOF.
bool pump(int fd, std::string& buf, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  const int r = ::poll(&p, 1, timeout_ms);
  if (r <= 0) return true;
  char tmp[8192];
  const ssize_t n = ::read(fd, tmp, sizeof tmp);
  if (n == 0) return false;
  if (n > 0) buf.append(tmp, static_cast<std::size_t>(n));
  return true;
}

struct Expected {
  std::set<std::uint32_t> present;  // must be there
};

void apply_lines(const std::string& buf, Expected& exp, Totals& totals) {
  std::istringstream in(buf);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a partial last line (cannot happen: one write per line)
    if (line.rfind("S ", 0) == 0) {
      exp.present.insert(static_cast<std::uint32_t>(std::stoul(line.substr(2))));
      ++totals.saves_reported;
    } else if (line.rfind("R ", 0) == 0) {
      exp.present.erase(static_cast<std::uint32_t>(std::stoul(line.substr(2))));
    } else if (line == "G") {
      exp.present.clear();
    }
  }
}

// Reopens the cache and checks everything; returns bytes held.
std::uint64_t verify(const Config& c, Expected& exp, Totals& totals) {
  std::uint64_t held = 0;
  auto opened = Cache::open(options_for(c));
  EXPECT_TRUE(opened.ok()) << opened.status().to_string();
  if (!opened.ok()) return 0;
  auto& cache = **opened;
  for (const auto& dir : {c.ram_file_dir, c.disk_dir}) {
    const auto tmps = testing::files_with_suffix(dir, ".tmp");
    EXPECT_TRUE(tmps.empty()) << "temp file survived startup: " << tmps.front();
  }
  // Every file in both directories verifies (structure, CRC, key): a copy is never
  // half written, whichever tier it is in.
  for (const auto& dir : {c.ram_file_dir, c.disk_dir}) {
    for (const auto& path : testing::files_with_suffix(dir, ".kvc")) {
      std::ifstream in(path, std::ios::binary);
      std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const auto name = fs::path(path).filename().string();
      auto key = Key::from_hex(name.substr(0, 64));
      if (!key.ok()) {
        ADD_FAILURE() << "a .kvc file not named by a key: " << path;
        continue;
      }
      EXPECT_TRUE(format::parse(std::as_bytes(std::span<const char>(bytes)), *key).ok()) << "invalid file " << path;
    }
  }
  std::set<std::uint32_t> seen;
  for (const auto& row : cache.rows()) {
    auto lease = cache.checkout(row.info.key);
    EXPECT_TRUE(lease.ok()) << row.info.key.hex() << ": " << lease.status().to_string();
    if (!lease.ok()) continue;
    auto loaded = cache.load(*lease);
    EXPECT_TRUE(loaded.ok()) << row.info.key.hex() << ": " << loaded.status().to_string();
    if (!loaded.ok()) continue;
    const auto& toks = loaded->meta().tokens;
    EXPECT_FALSE(toks.empty());
    if (toks.empty()) continue;
    const std::uint32_t id = toks[0];
    EXPECT_EQ(toks, tokens_for(id)) << "row " << row.info.key.hex();
    EXPECT_EQ(loaded->meta().key(), row.info.key);
    std::vector<std::byte> want(size_for(id));
    fill_payload(id, want);
    const auto got = loaded->payload();
    EXPECT_EQ(got.size(), want.size()) << "row of save " << id;
    EXPECT_TRUE(got.size() == want.size() && std::memcmp(got.data(), want.data(), want.size()) == 0)
        << "WRONG PAYLOAD served for save " << id;
    seen.insert(id);
    held += row.info.size;
    ++totals.rows_verified;
  }
  for (std::size_t tier = 0; tier < 2; ++tier)
    EXPECT_TRUE(testing::cache_consistent(cache, tier == 0 ? c.ram_file_dir : c.disk_dir, tier));
  if (!c.quota) {
    for (auto id : exp.present) {
      EXPECT_TRUE(seen.count(id)) << "save " << id << " (key " << key_for(id).hex()
                                  << ") was reported successful but is gone after the kill";
      ++totals.expected_checked;
    }
  }
  EXPECT_EQ(cache.counters().corrupt_files, 0u);
  if (held > (8u << 20)) {  // keep the directories small: start over
    cache.gc();
    exp.present.clear();
    held = 0;
  }
  return held;
}

std::uint64_t kills_wanted() {
  if (const char* k = std::getenv("KVC_CRASH_KILLS")) return std::strtoull(k, nullptr, 10);
  if (const char* s = std::getenv("KVC_SOAK"); s && *s && std::string(s) != "0") return 5000;
  return 200;
}

TEST(CrashInjection, KillsDuringSavesLoseNothing) {
  const std::uint64_t kills = kills_wanted();
  testing::TempDir disk_root("kvc-crash-disk");
  std::unique_ptr<testing::TempDir> shm_root;
  std::string shm = ram_file_root();
  if (!shm.empty()) {
    const char* old = std::getenv("TMPDIR");
    std::string saved = old ? old : "";
    ::setenv("TMPDIR", shm.c_str(), 1);
    shm_root = std::make_unique<testing::TempDir>("kvc-crash-shm");
    if (old) ::setenv("TMPDIR", saved.c_str(), 1); else ::unsetenv("TMPDIR");
  } else {
    shm_root = std::make_unique<testing::TempDir>("kvc-crash-ramfile");
  }
  Config variants[2];
  for (int v = 0; v < 2; ++v) {
    variants[v].quota = v == 1;
    variants[v].ram_file_dir = shm_root->path() + (v ? "/quota" : "/plain");
    variants[v].disk_dir = disk_root.path() + (v ? "/quota" : "/plain");
  }
  Expected expected[2];
  Totals totals;
  std::mt19937 rng(20261121);
  std::uint32_t next_base = 1;
  for (std::uint64_t i = 0; i < kills && !::testing::Test::HasFailure(); ++i) {
    Config& c = variants[i % 2];
    c.base = next_base;
    next_base += 1'000'000;  // ids never repeat across children
    auto [pid, rfd] = spawn_child(c);
    ASSERT_GT(pid, 0) << "posix_spawn failed";
    std::string buf;
    bool eof = false;
    // Wait for READY (the cache is open), then run for a random 2–100 ms (scaled
    // under ASan) while draining the pipe, then SIGKILL.
    while (!eof && buf.find("READY\n") == std::string::npos) eof = !pump(rfd, buf, 1000);
    ASSERT_FALSE(eof) << "child exited before it was ready";
    const auto window = std::chrono::milliseconds((2 + rng() % 99) * kSlowdown);
    const auto deadline = std::chrono::steady_clock::now() + window;
    while (!eof && std::chrono::steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      eof = !pump(rfd, buf, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    while (pump(rfd, buf, 1000)) {
    }
    ::close(rfd);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child died on its own (status " << status << ") before the kill";
    ++totals.kills;
    apply_lines(buf, expected[i % 2], totals);
    verify(c, expected[i % 2], totals);
  }
  std::printf("crash injection: %llu kills, %llu saves reported, %llu rows verified, %llu reported saves checked\n",
              static_cast<unsigned long long>(totals.kills), static_cast<unsigned long long>(totals.saves_reported),
              static_cast<unsigned long long>(totals.rows_verified),
              static_cast<unsigned long long>(totals.expected_checked));
  RecordProperty("kills", std::to_string(totals.kills));
  RecordProperty("saves_reported", std::to_string(totals.saves_reported));
  RecordProperty("rows_verified", std::to_string(totals.rows_verified));
  RecordProperty("reported_saves_checked", std::to_string(totals.expected_checked));
  EXPECT_EQ(totals.kills, kills);
  EXPECT_GT(totals.saves_reported, 0u);
}

}  // namespace
}  // namespace kvc
