// FileTier directory walks: the startup scan and the sibling rescan (the
// directory watch is in file_watch_test.cc).
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "support/temp_dir.h"
#include "tiers/file_tier.h"
#include "tiers/temp_file.h"
#include "tiers/tier_test_util.h"

namespace kvc::tiers {
namespace {

using testutil::Collector;
using testutil::make_file;
using testutil::names_in;
using testutil::TestFile;
using testutil::write_raw;

TEST(FileScan, SweepsDeletesRenamesAndRegisters) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
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
    EXPECT_EQ(row.key, f->key);
    EXPECT_EQ(row.size, f->size());
    EXPECT_EQ(row.ns, f->ns);
    ASSERT_TRUE(row.tokens);
    EXPECT_EQ(*row.tokens, f->tokens);
    EXPECT_EQ(row.header.payload_byte_count, f->payload->size());
    EXPECT_EQ(testutil::read_raw(tier.path_for(f->key)), f->whole()) << "registered under its right name";
    EXPECT_TRUE(tier.load(row.key).ok());
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
  FileTier tier(TierKind::kDisk, 1 << 30, dir.file("nope"), io::posix_env());
  auto report = tier.scan({});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Code::kNotFound);
  EXPECT_NE(report.status().message().find(dir.file("nope")), std::string::npos);
  EXPECT_EQ(tier.rescan({}).rows, 0u);
}

TEST(FileScan, TenThousandFiles) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  constexpr int kFiles = 10'000;
  std::uint64_t total = 0;
  for (int i = 0; i < kFiles; ++i) {
    auto f = make_file(100 + i, 64, 0, 8);
    write_raw(tier.path_for(f.key), f.whole());
    total += f.size();
  }
  std::size_t seen = 0;
  auto report = tier.scan([&](format::RowInfo, std::uint32_t) { ++seen; });
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->rows, static_cast<std::size_t>(kFiles));
  EXPECT_EQ(seen, static_cast<std::size_t>(kFiles));
  EXPECT_EQ(report->bytes, total);
}

TEST(FileScan, RescanPicksUpUnknownRowsAndDeletesNothing) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
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

// Rows as the engine writes them, with logits records: registered from what the
// scan reads, their logits intact for a load; a damaged record order is caught
// without the floats being read.
TEST(FileScan, RowsWithLogitsRecords) {
  testing::TempDir dir("kvc-scan");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  constexpr std::size_t kVocab = 32'000;
  const std::string prompt(5000, 'p');
  auto row_with_logits = [&](std::uint32_t seed) {
    auto f = make_file(seed, 2000, 3, 1200, prompt);
    const std::vector<float> after_row(kVocab, 0.5f);
    const std::vector<format::PositionLogits> records = {{400, std::vector<float>(kVocab, -1.0f)},
                                                         {1100, std::vector<float>(kVocab, 2.0f)}};
    format::KvcBuildInput in;
    in.save_reason = format::SaveReason::kFinish;
    in.hit_count = 3;
    in.prompt_text = prompt;
    in.ns = f.ns;
    in.tokens = f.tokens;
    in.next_token_logits = after_row;
    in.position_logits = records;
    f.prefix = std::make_shared<std::vector<std::byte>>(format::build_prefix(in, *f.payload));
    return f;
  };
  const auto good = row_with_logits(1);
  write_raw(tier.path_for(good.key), good.whole());
  // The second 0x0B record's position (1100) rewritten to 300, below the first's.
  const auto bad = row_with_logits(2);
  auto bad_bytes = bad.whole();
  const std::size_t second = bad.prefix->size() - (4 + kVocab * 4) - 5;
  ASSERT_EQ(bad_bytes[second], std::byte{format::kTagPositionLogits});
  bad_bytes[second + 5] = std::byte{300 & 0xff};
  bad_bytes[second + 6] = std::byte{300 >> 8};
  write_raw(tier.path_for(bad.key), bad_bytes);

  Collector col;
  auto report = tier.scan(col.found_fn());
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->rows, 1u);
  EXPECT_EQ(report->corrupt_removed, 1u);
  ASSERT_EQ(col.added.count(good.key), 1u);
  const testutil::FoundRow& found = col.added.at(good.key);
  EXPECT_EQ(*found.row.tokens, good.tokens);
  EXPECT_EQ(found.hits, 3u);
  EXPECT_EQ(found.row.size, good.size());
  EXPECT_FALSE(testutil::exists(tier.path_for(bad.key)));
  // A load still reads and returns every float.
  auto loaded = tier.load(good.key);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->meta->next_token_logits.size(), kVocab);
  ASSERT_EQ(loaded->meta->position_logits.size(), 2u);
  EXPECT_EQ(loaded->meta->position_logits[1].position, 1100u);
  EXPECT_EQ(loaded->meta->position_logits[1].logits[kVocab - 1], 2.0f);
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
