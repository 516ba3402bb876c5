// FileTier's directory watch: two tiers ("two processes") sharing one directory,
// what the watcher reports and what it must not.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "support/temp_dir.h"
#include "tiers/file_tier.h"
#include "tiers/tier_test_util.h"

namespace kvc::tiers {
namespace {

using testutil::Collector;
using testutil::exists;
using testutil::make_file;
using testutil::TestFile;
using testutil::write_raw;

// Publishes a new row as the cache does (the guard always agrees here).
Status save(FileTier& tier, const TestFile& f) {
  testutil::ScriptedGuard guard;
  return tier.put(f.key, f.loaded(), &guard);
}

// Publishes like a sibling process that is not a FileTier: write elsewhere, rename in.
void publish_by_rename(const testing::TempDir& dir, FileTier& tier, const TestFile& f) {
  const std::string stage = dir.file("stage-" + f.key.hex().substr(0, 8) + ".tmp");
  write_raw(stage, f.whole());
  ASSERT_TRUE(io::posix_env()->rename(stage, tier.path_for(f.key)).ok());
}

// Two FileTier instances on one directory, as two processes would share it.
TEST(FileWatch, SiblingTiersSeeEachOther) {
  testing::TempDir dir("kvc-scan");
  Collector seen_by_b, seen_by_a;  // outlive the tiers' watchers
  FileTier a(TierKind::kRamFile, 1 << 30, dir.path(), io::posix_env());
  FileTier b(TierKind::kRamFile, 1 << 30, dir.path(), io::posix_env());
  ASSERT_TRUE(b.start_watch(seen_by_b.found_fn(), seen_by_b.removed_fn()));
  ASSERT_TRUE(a.start_watch(seen_by_a.found_fn(), seen_by_a.removed_fn()));
  EXPECT_TRUE(b.watching());
  EXPECT_TRUE(b.start_watch({}, {})) << "idempotent";

  auto f = make_file(1, 2000, 3);
  const Status saved = save(a, f);
  ASSERT_TRUE(saved.ok()) << saved.to_string();
  const std::string loc = a.path_for(f.key);
  EXPECT_EQ(b.path_for(f.key), loc);

  // b learns of the row through its watch, and through a rescan.
  ASSERT_TRUE(seen_by_b.wait_for([&] { return seen_by_b.added.count(f.key) == 1; }));
  {
    std::lock_guard lock(seen_by_b.mu);
    const auto& row = seen_by_b.added[f.key].row;
    EXPECT_EQ(row.key, f.key);
    EXPECT_EQ(row.size, f.size());
    EXPECT_EQ(seen_by_b.added[f.key].hits, 3u);
  }
  Collector rescanned;
  EXPECT_EQ(b.rescan(rescanned.found_fn()).rows, 1u);
  ASSERT_EQ(rescanned.added.count(f.key), 1u);
  auto loaded = b.load(f.key);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->payload().size(), f.payload->size());

  // b saves a row of its own; a sees it.
  auto g = make_file(2, 100);
  ASSERT_TRUE(save(b, g).ok());
  ASSERT_TRUE(seen_by_a.wait_for([&] { return seen_by_a.added.count(g.key) == 1; }));

  // a deletes f (eviction): b is told, and b's load of it is a clean miss.
  ASSERT_TRUE(a.remove(f.key).ok());
  ASSERT_TRUE(seen_by_b.wait_for([&] {
    return std::count(seen_by_b.removed.begin(), seen_by_b.removed.end(), f.key) == 1;
  }));
  EXPECT_EQ(b.load(f.key).status().code(), Code::kNotFound);
  EXPECT_EQ(b.write_hit_count(f.key, 9).code(), Code::kNotFound);
  EXPECT_FALSE(exists(loc));

  // Neither tier was told about its own publication.
  b.stop_watch();
  a.stop_watch();
  EXPECT_FALSE(b.watching());
  EXPECT_EQ(seen_by_a.added.count(f.key), 0u);
  EXPECT_EQ(seen_by_b.added.count(g.key), 0u);
  b.stop_watch();  // idempotent
}

TEST(FileWatch, IgnoresTempAndInvalidFiles) {
  testing::TempDir dir("kvc-scan");
  Collector col;
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  ASSERT_TRUE(tier.start_watch(col.found_fn(), col.removed_fn()));
  auto f = make_file(1);
  write_raw(dir.file("x.kvc.1-2-3.tmp"), f.whole());
  write_raw(dir.file("misnamed.kvc"), f.whole());
  write_raw(tier.path_for(make_file(2).key), testutil::bytes_of("garbage"));
  // A sibling publishing by rename is seen (IN_MOVED_TO); a marker file tells us the
  // watcher has processed everything before it.
  write_raw(dir.file("stage.tmp"), f.whole());
  ASSERT_TRUE(io::posix_env()->rename(dir.file("stage.tmp"), tier.path_for(f.key)).ok());
  ASSERT_TRUE(col.wait_for([&] { return col.added.count(f.key) == 1; }));
  tier.stop_watch();
  EXPECT_EQ(col.added.size(), 1u);
}

// Holds the watcher thread inside a callback until opened (or destroyed), so a
// test can change the directory between an event and its handling.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool held = false;
  bool open = false;
  void hold() {
    std::unique_lock lock(mu);
    held = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return open; });
  }
  bool wait_held() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20), [&] { return held; });
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
};

// Opens a gate when it goes out of scope: declared after the tier, so that on an
// early exit the watcher is let go before the tier joins it.
struct OpenOnExit {
  Gate& gate;
  ~OpenOnExit() { gate.release(); }
};

// issue 9: a delete event handled after the file was published again (by us or a
// sibling) must not drop the new row.
TEST(FileWatch, DoesNotReportADeleteOfAFileRepublishedBeforeTheEventIsHandled) {
  testing::TempDir dir("kvc-scan");
  const auto x = make_file(1), holder = make_file(2), marker = make_file(3);
  Gate gate;
  Collector col;
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  OpenOnExit opener{gate};
  write_raw(tier.path_for(x.key), x.whole());
  col.while_adding = [&](const Key& k) {
    if (k == holder.key) gate.hold();
  };
  ASSERT_TRUE(tier.start_watch(col.found_fn(), col.removed_fn()));
  publish_by_rename(dir, tier, holder);
  ASSERT_TRUE(gate.wait_held());
  // The watcher is busy: x is deleted and published again before it sees the delete.
  ASSERT_TRUE(io::posix_env()->remove(tier.path_for(x.key)).ok());
  publish_by_rename(dir, tier, x);
  gate.release();
  publish_by_rename(dir, tier, marker);  // events are handled in order: marker comes last
  ASSERT_TRUE(col.wait_for([&] { return col.added.count(marker.key) == 1; }));
  tier.stop_watch();
  EXPECT_TRUE(col.removed.empty()) << "x is there: its delete must not be reported";
  EXPECT_EQ(col.added.count(x.key), 1u) << "its publication is";
  EXPECT_TRUE(tier.exists(x.key));
}

TEST(FileWatch, ReportsADeleteOfAFileThatStaysGone) {
  testing::TempDir dir("kvc-scan");
  const auto x = make_file(1), holder = make_file(2), marker = make_file(3);
  Gate gate;
  Collector col;
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  OpenOnExit opener{gate};
  write_raw(tier.path_for(x.key), x.whole());
  col.while_adding = [&](const Key& k) {
    if (k == holder.key) gate.hold();
  };
  ASSERT_TRUE(tier.start_watch(col.found_fn(), col.removed_fn()));
  publish_by_rename(dir, tier, holder);
  ASSERT_TRUE(gate.wait_held());
  ASSERT_TRUE(io::posix_env()->remove(tier.path_for(x.key)).ok());
  gate.release();
  publish_by_rename(dir, tier, marker);
  ASSERT_TRUE(col.wait_for([&] { return col.added.count(marker.key) == 1; }));
  tier.stop_watch();
  EXPECT_EQ(col.removed, std::vector<Key>{x.key});
}

// A tier's own publications are announced by the cache, not by its watcher; a
// sibling's are seen; a rescan skips what the index already knows.
TEST(FileWatch, SkipsOwnPublicationsAndKnownKeys) {
  testing::TempDir dir("kvc-scan");
  Collector col;
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  const auto own = make_file(1), known = make_file(2), sibling = make_file(3);
  ASSERT_TRUE(tier.start_watch(col.found_fn(), col.removed_fn(), [&](const Key& k) { return k == known.key; }));
  ASSERT_TRUE(save(tier, own).ok());
  ASSERT_TRUE(tier.put(own.key, own.loaded(), nullptr).ok()) << "a copy already there: kept, no event";
  publish_by_rename(dir, tier, known);
  publish_by_rename(dir, tier, sibling);
  ASSERT_TRUE(col.wait_for([&] { return col.added.count(sibling.key) == 1; }));
  tier.stop_watch();
  EXPECT_EQ(col.added.size(), 1u);
  EXPECT_TRUE(col.removed.empty());
}

TEST(FileWatch, UnavailableForMissingDirectory) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.file("missing"), io::posix_env());
  EXPECT_FALSE(tier.start_watch([](format::RowInfo, std::uint32_t) {}, {}));
  EXPECT_FALSE(tier.watching());
}

}  // namespace
}  // namespace kvc::tiers
