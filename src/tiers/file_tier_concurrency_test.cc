// Loads, saves and deletes of different keys in one directory run concurrently
// (cache.md §3), alongside rescans and a watcher.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "support/temp_dir.h"
#include "tiers/file_tier.h"
#include "tiers/tier_test_util.h"

namespace kvc::tiers {
namespace {

using testutil::make_file;

TEST(FileTierConcurrency, SavesLoadsDeletesOfDifferentKeys) {
  testing::TempDir dir("kvc-conc");
  std::atomic<int> watched{0};  // outlives the tier's watcher
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  ASSERT_TRUE(tier.start_watch([&](format::RowInfo, std::uint32_t) { ++watched; }, {}));

  // What the tier should hold: the keys saved and not deleted.
  std::mutex kept_mu;
  std::set<Key> kept;
  auto is_kept = [&](const Key& k) {
    std::lock_guard lock(kept_mu);
    return kept.count(k) != 0;
  };

  constexpr int kThreads = 4;
  constexpr int kRounds = 25;
  std::atomic<int> failures{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        auto f = make_file(static_cast<std::uint32_t>(t * 1000 + i), 3000 + i * 17);
        testutil::ScriptedGuard guard;
        // Every other save is a copy of an available row (no guard).
        if (!tier.put(f.key, f.loaded(i % 3 == 0), i % 2 == 0 ? &guard : nullptr).ok()) {
          ++failures;
          continue;
        }
        {
          std::lock_guard lock(kept_mu);
          kept.insert(f.key);
        }
        auto loaded = tier.load(f.key);
        if (!loaded.ok() || loaded->payload().size() != f.payload->size() ||
            !std::equal(loaded->payload().begin(), loaded->payload().end(), f.payload->begin()) ||
            loaded->meta->tokens != f.tokens)
          ++failures;
        if (!tier.write_hit_count(f.key, static_cast<std::uint32_t>(i)).ok()) ++failures;
        if (i % 2 == 0) {  // delete every other row
          {
            std::lock_guard lock(kept_mu);
            kept.erase(f.key);
          }
          if (!tier.remove(f.key).ok()) ++failures;
        }
      }
    });
  }
  std::thread rescanner([&] {
    while (!stop) (void)tier.rescan([](format::RowInfo, std::uint32_t) {}, is_kept);
  });
  for (auto& th : threads) th.join();
  stop = true;
  rescanner.join();
  tier.stop_watch();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(testutil::count_temp(dir.path()), 0u);
  EXPECT_EQ(kept.size(), static_cast<std::size_t>(kThreads * (kRounds / 2)));
  // What is on disk is exactly what should be kept.
  std::size_t seen = 0;
  auto report = tier.scan([&](format::RowInfo row, std::uint32_t hits) {
    ++seen;
    EXPECT_TRUE(is_kept(row.key));
    EXPECT_EQ(hits % 2, 1u) << "odd rounds are kept, with their hit count written";
  });
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(seen, kept.size());
  EXPECT_EQ(report->corrupt_removed, 0u);
  EXPECT_EQ(watched.load(), 0) << "a tier is not told about its own publications";
}

}  // namespace
}  // namespace kvc::tiers
