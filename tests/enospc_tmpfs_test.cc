// Real ENOSPC (issue 5): a small tmpfs, mounted by the test in a private mount
// namespace, fills up under a disk tier and a ram_file tier whose byte quotas are far
// larger than the filesystem. The save that does not fit fails with kNoSpace and a
// message naming the file; it leaves no temp file and gives back every byte it wrote;
// the rows saved before stay whole; asynchronous saves are dropped and counted; space
// freed through the cache makes the same save succeed; a restart on the full
// filesystem finds exactly the rows that were saved.
//
// Mounting needs root or an unprivileged user namespace; where neither is permitted,
// the tests skip with a message saying so.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <mutex>
#include <optional>
#include <thread>

#include "cache_test_util.h"
#include "support/temp_dir.h"

namespace kvc {
namespace {

using testing::cache_consistent;
using testing::files_with_suffix;
using testing::make_request;
using testing::token_run;

bool write_proc(const char* path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

// Moves this process into a private mount namespace (as root, or else through a new
// user namespace). Returns why it could not, or nullopt on success. Must run while
// the process has one thread (the user-namespace path requires it).
std::optional<std::string> enter_private_mount_namespace() {
  static std::optional<std::string> result = []() -> std::optional<std::string> {
    if (unshare(CLONE_NEWNS) != 0) {
      const int root_errno = errno;
      const uid_t uid = getuid();
      const gid_t gid = getgid();
      if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
        return "unshare(CLONE_NEWNS): " + std::string(std::strerror(root_errno)) +
               "; unshare(CLONE_NEWUSER|CLONE_NEWNS): " + std::strerror(errno);
      }
      write_proc("/proc/self/setgroups", "deny");  // absent on old kernels: not fatal
      if (!write_proc("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
          !write_proc("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
        return std::string("cannot write the user namespace's uid/gid map");
      }
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return "making / private in the new mount namespace: " + std::string(std::strerror(errno));
    }
    return std::nullopt;
  }();
  return result;
}

// A tmpfs of `bytes` mounted over a fresh temporary directory for the scope.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(std::uint64_t bytes) : dir_("enospc") {
    const std::string opts = "size=" + std::to_string(bytes) + ",mode=0700";
    if (mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
      error_ = "mount -t tmpfs " + dir_.path() + ": " + std::strerror(errno);
    }
  }
  ~SmallTmpfs() {
    if (error_.empty()) umount2(dir_.path().c_str(), MNT_DETACH);
  }
  const std::string& error() const { return error_; }
  const std::string& path() const { return dir_.path(); }
  std::uint64_t free_bytes() const {
    struct statvfs s {};
    if (statvfs(path().c_str(), &s) != 0) return 0;
    return static_cast<std::uint64_t>(s.f_bfree) * s.f_frsize;
  }

 private:
  testing::TempDir dir_;
  std::string error_;
};

#define KVC_MOUNT_TMPFS_OR_SKIP(var, bytes)                                                          \
  if (auto why = enter_private_mount_namespace()) GTEST_SKIP() << "cannot mount a tmpfs here: " << *why; \
  SmallTmpfs var(bytes);                                                                              \
  if (!var.error().empty()) GTEST_SKIP() << "cannot mount a tmpfs here: " << var.error()

constexpr std::uint64_t kFsBytes = 1 << 20;     // the filesystem: 1 MiB
constexpr std::size_t kRowPayload = 150 * 1024;  // a row: ~150 KiB, so the 7th does not fit
constexpr std::uint64_t kQuota = 1ull << 30;     // quota far above the filesystem

CacheOptions options_on(const std::string& dir, TierKind kind) {
  CacheOptions o;
  o.tiers.push_back({kind, dir, kQuota});
  for (auto& t : o.tiers) t.min_tokens = 1;  // short test rows are kept
  o.watch_directories = false;
  o.sweep_interval = std::chrono::milliseconds(3'600'000);
  return o;
}

std::vector<std::uint32_t> row_tokens(int i) { return token_run(64, 1000 * static_cast<std::uint32_t>(i) + 1); }

class EnospcTmpfs : public ::testing::TestWithParam<TierKind> {};

TEST_P(EnospcTmpfs, TheSaveThatDoesNotFitFailsCleanlyAndNothingIsLost) {
  KVC_MOUNT_TMPFS_OR_SKIP(fs, kFsBytes);
  std::vector<Key> saved;
  std::optional<Key> failed_key;
  int failed_index = -1;
  // Every failed save is reported through on_save_error, with its cause.
  std::mutex reported_mu;
  std::vector<std::pair<Key, Code>> reported;
  {
    CacheOptions o = options_on(fs.path(), GetParam());
    o.on_save_error = [&](const Key& k, const Status& s) {
      std::lock_guard lock(reported_mu);
      reported.emplace_back(k, s.code());
    };
    auto opened = Cache::open(o);
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    auto& cache = **opened;
    for (int i = 0; i < 64 && !failed_key; ++i) {
      const std::uint64_t free_before = fs.free_bytes();
      auto r = cache.save(make_request(row_tokens(i), kRowPayload, static_cast<std::uint8_t>(i)), std::chrono::seconds(10));
      if (r.ok()) {
        saved.push_back(*r);
        continue;
      }
      failed_key = derive_key(testing::ns_for_tests(), row_tokens(i));
      failed_index = i;
      std::printf("SUMMARY enospc %s: %zu saves fit in %llu bytes, save %d failed: %s\n",
                  GetParam() == TierKind::kDisk ? "disk" : "ram_file", saved.size(),
                  static_cast<unsigned long long>(kFsBytes), i, r.status().to_string().c_str());
      SCOPED_TRACE(r.status().to_string());
      EXPECT_EQ(r.status().code(), Code::kNoSpace);
      EXPECT_NE(r.status().message().find(fs.path()), std::string::npos) << "the error names the file";
      // Every byte the failed save wrote is given back; no temp file, no row.
      EXPECT_EQ(fs.free_bytes(), free_before);
      EXPECT_TRUE(files_with_suffix(fs.path(), ".tmp").empty());
      EXPECT_FALSE(cache.checkout(*failed_key).ok());
    }
    ASSERT_TRUE(failed_key) << "1 MiB never filled up";
    ASSERT_GE(saved.size(), 3u);
    EXPECT_LT(saved.size(), 8u);
    EXPECT_TRUE(cache_consistent(cache, fs.path()));
    for (const auto& k : saved) {
      auto lease = cache.checkout(k);
      ASSERT_TRUE(lease.ok()) << k.hex();
      auto loaded = cache.load(*lease);
      ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
      EXPECT_EQ(loaded->payload().size(), kRowPayload);
    }

    // Asynchronous saves on the full filesystem are dropped and counted; nothing leaks.
    const auto dropped_before = cache.counters().saves_dropped;
    for (int i = 100; i < 104; ++i) {
      auto k = cache.save_async(make_request(row_tokens(i), kRowPayload));
      ASSERT_TRUE(k.ok()) << k.status().to_string();
    }
    cache.flush();
    EXPECT_EQ(cache.counters().saves_dropped - dropped_before, 4u);
    EXPECT_TRUE(cache_consistent(cache, fs.path()));
    {
      std::lock_guard lock(reported_mu);
      ASSERT_EQ(reported.size(), 5u);  // the synchronous failure, then the 4 asynchronous ones
      EXPECT_EQ(reported[0].first, *failed_key);
      for (const auto& [key, code] : reported) EXPECT_EQ(code, Code::kNoSpace) << key.hex();
    }

    // Freeing a row through the cache makes room: the failed save now succeeds.
    ASSERT_TRUE(cache.remove(saved.front()).ok());
    saved.erase(saved.begin());
    auto retry = cache.save(make_request(row_tokens(failed_index), kRowPayload, static_cast<std::uint8_t>(failed_index)),
                            std::chrono::seconds(10));
    ASSERT_TRUE(retry.ok()) << retry.status().to_string();
    EXPECT_EQ(*retry, *failed_key);
    saved.push_back(*retry);
    EXPECT_TRUE(cache_consistent(cache, fs.path()));
  }
  // A restart on the (still nearly full) filesystem finds exactly the saved rows, whole.
  auto reopened = Cache::open(options_on(fs.path(), GetParam()));
  ASSERT_TRUE(reopened.ok()) << reopened.status().to_string();
  auto& cache = **reopened;
  EXPECT_EQ(cache.rows(0).size(), saved.size());
  for (const auto& k : saved) {
    auto lease = cache.checkout(k);
    ASSERT_TRUE(lease.ok()) << k.hex();
    EXPECT_TRUE(cache.load(*lease).ok());
  }
  EXPECT_TRUE(cache_consistent(cache, fs.path()));
}

// Several threads racing for the last bytes: every save either succeeds whole or
// fails with kNoSpace; afterwards the index, the files and the free space agree.
TEST_P(EnospcTmpfs, ConcurrentSavesRacingForTheLastBytes) {
  KVC_MOUNT_TMPFS_OR_SKIP(fs, kFsBytes);
  auto opened = Cache::open(options_on(fs.path(), GetParam()));
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  auto& cache = **opened;
  const std::uint64_t free_empty = fs.free_bytes();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, no_space{0}, other{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        const int id = t * 10 + i;
        auto r = cache.save(make_request(row_tokens(id), 60 * 1024 + 4096 * static_cast<std::size_t>(t)), std::chrono::seconds(10));
        if (r.ok()) ++ok;
        else if (r.status().code() == Code::kNoSpace) ++no_space;
        else ++other;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(no_space.load(), 0) << "the filesystem never filled";
  EXPECT_EQ(other.load(), 0);
  std::printf("SUMMARY enospc race %s: %d saved, %d no_space, %d other\n",
              GetParam() == TierKind::kDisk ? "disk" : "ram_file", ok.load(), no_space.load(), other.load());
  EXPECT_TRUE(cache_consistent(cache, fs.path()));
  for (const auto& row : cache.rows(0)) {
    auto lease = cache.checkout(row.info.key);
    ASSERT_TRUE(lease.ok());
    EXPECT_TRUE(cache.load(*lease).ok()) << row.info.key.hex();
  }
  // Removing every row gives every byte back (nothing orphaned by the failures).
  cache.gc();
  EXPECT_TRUE(files_with_suffix(fs.path(), ".kvc").empty());
  EXPECT_EQ(fs.free_bytes(), free_empty);
}

INSTANTIATE_TEST_SUITE_P(Tiers, EnospcTmpfs, ::testing::Values(TierKind::kDisk, TierKind::kRamFile),
                         [](const auto& info) { return info.param == TierKind::kDisk ? "disk" : "ram_file"; });

}  // namespace
}  // namespace kvc
