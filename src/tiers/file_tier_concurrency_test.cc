// Loads, saves and deletes of different keys in one directory run concurrently
// (cache.md §3), alongside rescans and a watcher.
#include <gtest/gtest.h>

#include <atomic>
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
  index::Index idx;
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), io::posix_env());
  std::atomic<int> watched{0};
  ASSERT_TRUE(tier.start_watch([&](index::RowInfo, std::uint32_t) { ++watched; }, {}));

  constexpr int kThreads = 4;
  constexpr int kRounds = 25;
  std::atomic<int> failures{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        auto f = make_file(static_cast<std::uint32_t>(t * 1000 + i), 3000 + i * 17);
        auto r = idx.reserve(f.key, 0);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        auto loc = tier.write(idx, *r, f.prefix_bytes(), f.payload_bytes());
        if (!loc.ok()) {
          ++failures;
          continue;
        }
        index::RowInfo row;
        row.key = f.key;
        row.ns = f.ns;
        row.size = f.size();
        row.location = *loc;
        row.tokens = std::make_shared<const std::vector<std::uint32_t>>(f.tokens);
        if (!idx.publish(*r, row).ok()) ++failures;
        auto loaded = tier.load(row);
        if (!loaded.ok() || loaded->payload.size() != f.payload->size() ||
            !std::equal(loaded->payload.begin(), loaded->payload.end(), f.payload->begin()))
          ++failures;
        if (!tier.write_hit_count(row, static_cast<std::uint32_t>(i)).ok()) ++failures;
        if (i % 2 == 0) {  // delete every other row
          if (!idx.remove(f.key) || !tier.remove(row).ok()) ++failures;
        }
      }
    });
  }
  std::thread rescanner([&] {
    while (!stop) (void)tier.rescan([](index::RowInfo, std::uint32_t) {}, [&](const Key& k) { return idx.contains(k); });
  });
  for (auto& th : threads) th.join();
  stop = true;
  rescanner.join();
  tier.stop_watch();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(testutil::count_temp(dir.path()), 0u);
  EXPECT_EQ(idx.size(), static_cast<std::size_t>(kThreads * (kRounds / 2)));
  // What is on disk is exactly what the index holds.
  std::size_t seen = 0;
  auto report = tier.scan([&](index::RowInfo row, std::uint32_t) {
    ++seen;
    EXPECT_TRUE(idx.contains(row.key));
  });
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(seen, idx.size());
  EXPECT_EQ(report->corrupt_removed, 0u);
  EXPECT_EQ(watched.load(), 0) << "a tier is not told about its own publications";
}

}  // namespace
}  // namespace kvc::tiers
