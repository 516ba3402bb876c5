// Fault injection through the Env at every step of a save made through the Cache:
// each failure returns an error, leaves no temp file and no half-visible row, keeps
// the index and the byte accounting consistent, and a retry succeeds.
#include <gtest/gtest.h>

#include "cache_test_util.h"
#include "io/fault_env.h"
#include "support/temp_dir.h"

namespace kvc {
namespace {

using testing::cache_consistent;
using testing::make_request;
using testing::token_run;

CacheOptions options_for(const std::string& dir, io::Env* env) {
  CacheOptions o;
  o.tiers.push_back({TierKind::kDisk, dir, 1 << 30});
  for (auto& t : o.tiers) t.min_tokens = 1;  // short test rows are kept
  o.env = env;
  o.watch_directories = false;
  o.sweep_interval = std::chrono::milliseconds(3'600'000);  // no background hit writes during the test
  return o;
}

TEST(CacheFaults, EveryStepOfASaveFailsCleanly) {
  // Learn how many Env calls one save makes.
  std::uint64_t steps = 0;
  {
    testing::TempDir dir;
    io::FaultEnv env(io::posix_env());
    auto cache = Cache::open(options_for(dir.path(), &env));
    ASSERT_TRUE(cache.ok());
    env.reset_counts();
    ASSERT_TRUE((*cache)->save(make_request(token_run(64), 100000), std::chrono::seconds(5)).ok());
    steps = env.total_calls();
    ASSERT_GE(steps, 5u);  // open, append, sync, close, link, remove temp, sync_dir…
  }
  for (int errnum : {EIO, ENOSPC}) {
    for (std::uint64_t k = 1; k <= steps; ++k) {
      for (bool after : {false, true}) {
        SCOPED_TRACE("step " + std::to_string(k) + " errno " + std::to_string(errnum) + (after ? " after effect" : ""));
        testing::TempDir dir;
        io::FaultEnv env(io::posix_env());
        auto opened = Cache::open(options_for(dir.path(), &env));
        ASSERT_TRUE(opened.ok());
        auto& cache = **opened;
        // An existing row that must survive every failure.
        auto keep = cache.save(make_request(token_run(32, 5000), 5000), std::chrono::seconds(5));
        ASSERT_TRUE(keep.ok());
        env.reset_counts();
        env.fail_step(k, errnum, after);
        auto r = cache.save(make_request(token_run(64), 100000), std::chrono::seconds(5));
        env.clear_faults();
        const auto key = derive_key(testing::ns_for_tests(), token_run(64));
        if (r.ok()) {
          // Only steps whose failure is tolerated by design (best-effort cleanup of the
          // temp name after a successful link) may succeed, and then the row is whole.
          auto lease = cache.checkout(key);
          ASSERT_TRUE(lease.ok());
          EXPECT_TRUE(cache.load(*lease).ok());
        } else {
          EXPECT_FALSE(cache.checkout(key).ok()) << "half-visible row after " << r.status().to_string();
          if (errnum == ENOSPC && !after) {
            // The error names the space problem when it came from a write or sync.
            EXPECT_TRUE(r.status().code() == Code::kNoSpace || r.status().code() == Code::kIoError ||
                        r.status().code() == Code::kNotFound)
                << r.status().to_string();
          }
        }
        EXPECT_TRUE(cache_consistent(cache, dir.path()));
        EXPECT_TRUE(cache.checkout(*keep).ok());
        // The same save succeeds once the fault is gone (or was already done).
        auto retry = cache.save(make_request(token_run(64), 100000), std::chrono::seconds(5));
        EXPECT_TRUE(retry.ok() || retry.status().code() == Code::kAlreadyPresent) << retry.status().to_string();
        EXPECT_TRUE(cache_consistent(cache, dir.path()));
      }
    }
  }
}

TEST(CacheFaults, ShortWriteThenNoSpace) {
  testing::TempDir dir;
  io::FaultEnv env(io::posix_env());
  auto opened = Cache::open(options_for(dir.path(), &env));
  ASSERT_TRUE(opened.ok());
  io::Fault f;
  f.op = io::FaultOp::kShortAppend;
  env.inject(f);
  auto r = (*opened)->save(make_request(token_run(64), 1 << 20), std::chrono::seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNoSpace) << r.status().to_string();
  EXPECT_TRUE(cache_consistent(**opened, dir.path()));
}

TEST(CacheFaults, UnreadableFileOnLoadIsCountedAndRemoved) {
  testing::TempDir dir;
  io::FaultEnv env(io::posix_env());
  auto opened = Cache::open(options_for(dir.path(), &env));
  ASSERT_TRUE(opened.ok());
  auto& cache = **opened;
  auto k = cache.save(make_request(token_run(64), 4096), std::chrono::seconds(5));
  ASSERT_TRUE(k.ok());
  auto lease = cache.checkout(*k);
  ASSERT_TRUE(lease.ok());
  io::Fault f;
  f.op = io::FaultOp::kRead;
  f.error = EIO;
  env.inject(f);
  auto loaded = cache.load(*lease);
  env.clear_faults();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kIoError);
  // An I/O error is not proof of corruption: the row stays and loads once the fault is gone.
  EXPECT_EQ(cache.counters().corrupt_files, 0u);
  EXPECT_TRUE(cache.load(*lease).ok());
}

}  // namespace
}  // namespace kvc
