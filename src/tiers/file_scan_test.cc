// FileTier directory walks: startup scan, rescan, watch, and two tiers ("two
// processes") sharing one directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

#include "support/temp_dir.h"
#include "tiers/file_tier.h"
#include "tiers/temp_file.h"
#include "tiers/tier_test_util.h"

namespace kvc::tiers {
namespace {

using testutil::exists;
using testutil::make_file;
using testutil::names_in;
using testutil::TestFile;
using testutil::write_raw;

struct Found {
  index::RowInfo row;
  std::uint32_t hits = 0;
};

// Collects callback rows; safe to fill from the watcher thread.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::map<Key, Found> added;
  std::vector<std::pair<Key, std::string>> removed;
  FileTier::FoundFn found_fn() {
    return [this](index::RowInfo row, std::uint32_t hits) {
      std::lock_guard lock(mu);
      const Key k = row.key;
      added[k] = Found{std::move(row), hits};
      cv.notify_all();
    };
  }
  FileTier::RemovedFn removed_fn() {
    return [this](const Key& key, const std::string& location) {
      std::lock_guard lock(mu);
      removed.emplace_back(key, location);
      cv.notify_all();
    };
  }
  // Waits (generously) for a condition; the result, not the time, is asserted.
  bool wait_for(const std::function<bool()>& pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20), pred);
  }
};

index::RowInfo row_of(const TestFile& f, const std::string& location) {
  index::RowInfo row;
  row.key = f.key;
  row.ns = f.ns;
  row.size = f.size();
  row.location = location;
  row.tokens = std::make_shared<const std::vector<std::uint32_t>>(f.tokens);
  return row;
}

Result<std::string> save(FileTier& tier, index::Index& idx, const TestFile& f) {
  auto r = idx.reserve(f.key, tier.id());
  if (!r.ok()) return r.status();
  auto loc = tier.write(idx, *r, f.prefix_bytes(), f.payload_bytes());
  if (loc.ok()) {
    if (Status s = idx.publish(*r, row_of(f, *loc)); !s.ok()) return s;
  }
  return loc;
}

TEST(FileScan, SweepsDeletesRenamesAndRegisters) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 2, 1 << 30, dir.path(), io::posix_env());
  auto a = make_file(1, 500, /*hits=*/5);
  auto b = make_file(2, 600);
  auto c = make_file(3, 700, 2);
  auto d = make_file(4, 800);
  auto e = make_file(7, 300);
  auto corrupt_named = make_file(5, 100);
  // a: valid under its name.
  write_raw(tier.path_for(a.key), a.whole());
  // b: valid content under a name that is no key → renamed.
  write_raw(dir.file("b-elsewhere.kvc"), b.whole());
  // e: valid content under ANOTHER key's name → deleted as corrupt (its key-bearing
  // fields were damaged; renaming could serve a wrong state).
  write_raw(dir.file("0000000000000000000000000000000000000000000000000000000000000000.kvc"), e.whole());
  // c: valid under its name, plus a misnamed copy → the copy is deleted.
  write_raw(tier.path_for(c.key), c.whole());
  write_raw(dir.file("copy-of-c.kvc"), c.whole());
  // d: misnamed, and the right name holds garbage → renamed over it.
  write_raw(tier.path_for(d.key), testutil::bytes_of("garbage"));
  write_raw(dir.file("d-elsewhere.kvc"), d.whole());
  // corrupt files: bad magic, truncated, bad payload length.
  write_raw(tier.path_for(corrupt_named.key), testutil::bytes_of("KVX-not-a-file"));
  auto truncated = make_file(6, 100);
  auto tw = truncated.whole();
  write_raw(tier.path_for(truncated.key), std::span<const std::byte>(tw).first(tw.size() - 10));
  // temp files: stale (junk name, our pid from a previous life) and live (in flight here).
  write_raw(dir.file(a.key.hex() + ".kvc.junk.tmp"), testutil::bytes_of("x"));
  write_raw(dir.file(b.key.hex() + ".kvc." + std::to_string(::getpid()) + "-1-00.tmp"), testutil::bytes_of("x"));
  const std::string live_tmp = dir.file(temp_file_name(b.key.hex()));
  write_raw(live_tmp, testutil::bytes_of("x"));
  InflightTemp inflight(live_tmp);
  // Not ours: left alone.
  write_raw(dir.file("README"), testutil::bytes_of("hello"));

  Collector col;
  auto report = tier.scan(col.found_fn());
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->rows, 4u);
  EXPECT_EQ(report->bytes, a.size() + b.size() + c.size() + d.size());
  EXPECT_EQ(report->temp_removed, 2u);
  // Bad magic, truncated and e; the garbage under d's name counts too when the
  // listing reaches it before d's misnamed copy replaces it by rename.
  EXPECT_GE(report->corrupt_removed, 3u);
  EXPECT_LE(report->corrupt_removed, 4u);
  EXPECT_FALSE(std::filesystem::exists(dir.file("0000000000000000000000000000000000000000000000000000000000000000.kvc")));
  EXPECT_EQ(report->renamed, 2u);
  EXPECT_EQ(report->duplicates_removed, 1u);
  EXPECT_EQ(tier.used(), 0u) << "the scan charges nothing: the callback's owner charges what it installs";

  ASSERT_EQ(col.added.size(), 4u);
  for (const TestFile* f : {&a, &b, &c, &d}) {
    auto it = col.added.find(f->key);
    ASSERT_NE(it, col.added.end());
    const auto& row = it->second.row;
    EXPECT_EQ(row.location, tier.path_for(f->key));
    EXPECT_EQ(row.size, f->size());
    EXPECT_EQ(row.tier, 2);
    EXPECT_EQ(row.ns, f->ns);
    ASSERT_TRUE(row.tokens);
    EXPECT_EQ(*row.tokens, f->tokens);
    EXPECT_EQ(row.header.payload_byte_count, f->payload->size());
    EXPECT_EQ(testutil::read_raw(row.location), f->whole());
    EXPECT_TRUE(tier.load(row).ok());
  }
  EXPECT_EQ(col.added[a.key].hits, 5u) << "hits restored from the header";
  EXPECT_EQ(col.added[c.key].hits, 2u);

  std::vector<std::string> expect = {a.key.hex() + ".kvc", b.key.hex() + ".kvc", c.key.hex() + ".kvc",
                                     d.key.hex() + ".kvc", "README", live_tmp.substr(dir.path().size() + 1)};
  std::sort(expect.begin(), expect.end());
  EXPECT_EQ(names_in(dir.path()), expect);

  // A second scan finds the same rows and changes nothing.
  Collector again;
  auto report2 = tier.scan(again.found_fn());
  ASSERT_TRUE(report2.ok());
  EXPECT_EQ(report2->rows, 4u);
  EXPECT_EQ(report2->renamed + report2->corrupt_removed + report2->duplicates_removed + report2->temp_removed, 0u);
}

TEST(FileScan, MissingDirectoryIsAnError) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.file("nope"), io::posix_env());
  auto report = tier.scan({});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Code::kNotFound);
  EXPECT_NE(report.status().message().find(dir.file("nope")), std::string::npos);
  EXPECT_EQ(tier.rescan({}).rows, 0u);
}

TEST(FileScan, TenThousandFiles) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), io::posix_env());
  constexpr int kFiles = 10'000;
  std::uint64_t total = 0;
  for (int i = 0; i < kFiles; ++i) {
    auto f = make_file(100 + i, 64, 0, 8);
    write_raw(tier.path_for(f.key), f.whole());
    total += f.size();
  }
  std::size_t seen = 0;
  auto report = tier.scan([&](index::RowInfo, std::uint32_t) { ++seen; });
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->rows, static_cast<std::size_t>(kFiles));
  EXPECT_EQ(seen, static_cast<std::size_t>(kFiles));
  EXPECT_EQ(report->bytes, total);
}

TEST(FileScan, RescanPicksUpUnknownRowsAndDeletesNothing) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), io::posix_env());
  auto a = make_file(1);
  auto b = make_file(2, 300, 4);
  write_raw(tier.path_for(a.key), a.whole());
  write_raw(tier.path_for(b.key), b.whole());
  write_raw(dir.file("x.kvc.1-2-3.tmp"), testutil::bytes_of("t"));
  write_raw(dir.file("misnamed.kvc"), make_file(3).whole());
  write_raw(tier.path_for(make_file(4).key), testutil::bytes_of("garbage"));
  Collector col;
  auto report = tier.rescan(col.found_fn(), [&](const Key& k) { return k == a.key; });
  EXPECT_EQ(report.rows, 1u);
  ASSERT_EQ(col.added.size(), 1u);
  EXPECT_EQ(col.added.begin()->first, b.key);
  EXPECT_EQ(col.added.begin()->second.hits, 4u);
  EXPECT_EQ(names_in(dir.path()).size(), 5u) << "rescan deletes nothing";
}

// Two FileTier instances on one directory, as two processes would share it.
TEST(FileScan, SiblingTiersSeeEachOther) {
  testing::TempDir dir("kvc-scan");
  index::Index idx_a, idx_b;
  FileTier a(TierKind::kRamFile, 0, 1 << 30, dir.path(), io::posix_env());
  FileTier b(TierKind::kRamFile, 0, 1 << 30, dir.path(), io::posix_env());
  Collector seen_by_b, seen_by_a;
  ASSERT_TRUE(b.start_watch(seen_by_b.found_fn(), seen_by_b.removed_fn()));
  ASSERT_TRUE(a.start_watch(seen_by_a.found_fn(), seen_by_a.removed_fn()));
  EXPECT_TRUE(b.watching());
  EXPECT_TRUE(b.start_watch({}, {})) << "idempotent";

  auto f = make_file(1, 2000, 3);
  auto loc = save(a, idx_a, f);
  ASSERT_TRUE(loc.ok()) << loc.status().to_string();

  // b learns of the row through its watch, and through a rescan.
  ASSERT_TRUE(seen_by_b.wait_for([&] { return seen_by_b.added.count(f.key) == 1; }));
  {
    std::lock_guard lock(seen_by_b.mu);
    const auto& row = seen_by_b.added[f.key].row;
    EXPECT_EQ(row.location, *loc);
    EXPECT_EQ(row.size, f.size());
    EXPECT_EQ(seen_by_b.added[f.key].hits, 3u);
  }
  Collector rescanned;
  EXPECT_EQ(b.rescan(rescanned.found_fn()).rows, 1u);
  ASSERT_EQ(rescanned.added.count(f.key), 1u);
  auto loaded = b.load(rescanned.added[f.key].row);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->payload.size(), f.payload->size());

  // b saves a row of its own; a sees it.
  auto g = make_file(2, 100);
  ASSERT_TRUE(save(b, idx_b, g).ok());
  ASSERT_TRUE(seen_by_a.wait_for([&] { return seen_by_a.added.count(g.key) == 1; }));

  // a deletes f (eviction): b is told, and b's load of it is a clean miss.
  ASSERT_TRUE(a.remove(row_of(f, *loc)).ok());
  ASSERT_TRUE(seen_by_b.wait_for([&] {
    return std::any_of(seen_by_b.removed.begin(), seen_by_b.removed.end(),
                       [&](const auto& p) { return p.first == f.key && p.second == *loc; });
  }));
  EXPECT_EQ(b.load(rescanned.added[f.key].row).status().code(), Code::kNotFound);
  EXPECT_EQ(b.write_hit_count(rescanned.added[f.key].row, 9).code(), Code::kNotFound);
  EXPECT_FALSE(exists(*loc));

  // Neither tier was told about its own publication.
  b.stop_watch();
  a.stop_watch();
  EXPECT_FALSE(b.watching());
  EXPECT_EQ(seen_by_a.added.count(f.key), 0u);
  EXPECT_EQ(seen_by_b.added.count(g.key), 0u);
  b.stop_watch();  // idempotent
}

TEST(FileScan, WatchIgnoresTempAndInvalidFiles) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), io::posix_env());
  Collector col;
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

TEST(FileScan, WatchUnavailableForMissingDirectory) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.file("missing"), io::posix_env());
  EXPECT_FALSE(tier.start_watch([](index::RowInfo, std::uint32_t) {}, {}));
  EXPECT_FALSE(tier.watching());
}

TEST(FileScan, KeyFromFileName) {
  auto f = make_file(1);
  EXPECT_EQ(FileTier::key_from_file_name(f.key.hex() + ".kvc"), f.key);
  std::string upper = f.key.hex();
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(ch));
  EXPECT_FALSE(FileTier::key_from_file_name(upper + ".kvc"));
  EXPECT_FALSE(FileTier::key_from_file_name(f.key.hex() + ".kvc.1-2-3.tmp"));
  EXPECT_FALSE(FileTier::key_from_file_name(f.key.hex()));
  EXPECT_FALSE(FileTier::key_from_file_name("x.kvc"));
}

}  // namespace
}  // namespace kvc::tiers
