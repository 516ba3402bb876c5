// FileTier save path and loads, including a fault at every step of a save.
#include "tiers/file_tier.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>

#include "io/fault_env.h"
#include "support/temp_dir.h"
#include "tiers/tier_test_util.h"

namespace kvc::tiers {
namespace {

using io::Fault;
using io::FaultEnv;
using io::FaultOp;
using testutil::count_temp;
using testutil::exists;
using testutil::make_file;
using testutil::names_in;
using testutil::TestFile;

index::RowInfo row_of(const TestFile& f, const std::string& location) {
  index::RowInfo row;
  row.key = f.key;
  row.ns = f.ns;
  row.size = f.size();
  row.location = location;
  row.tokens = std::make_shared<const std::vector<std::uint32_t>>(f.tokens);
  return row;
}

// Reserve, write, and (on success) publish, as the cache does.
struct SaveOutcome {
  Result<std::string> location{Status(Code::kCancelled, "not run")};
};
SaveOutcome save(FileTier& tier, index::Index& idx, const TestFile& f) {
  SaveOutcome out;
  auto r = idx.reserve(f.key, tier.id());
  if (!r.ok()) {
    out.location = r.status();
    return out;
  }
  out.location = tier.write(idx, *r, f.prefix_bytes(), f.payload_bytes());
  if (out.location.ok()) {
    Status s = idx.publish(*r, row_of(f, *out.location));
    if (!s.ok()) out.location = s;
  }
  return out;  // a failed save's reservation is dropped here ("writer gone")
}

// After a failed save: no temp file, no published file, no row, reservation resolved.
void expect_clean_failure(const testing::TempDir& dir, FileTier& tier, index::Index& idx, const TestFile& f,
                          const std::string& what) {
  EXPECT_EQ(count_temp(dir.path()), 0u) << what;
  EXPECT_FALSE(exists(tier.path_for(f.key))) << what;
  EXPECT_FALSE(idx.contains(f.key)) << what;
  EXPECT_FALSE(idx.get(f.key).has_value()) << what << ": the reservation must be resolved";
  EXPECT_EQ(idx.size(), 0u) << what;
  auto again = idx.reserve(f.key, tier.id());
  EXPECT_TRUE(again.ok()) << what << ": " << again.status().to_string();
}

TEST(FileTier, SaveLoadRoundTrip) {
  for (TierKind kind : {TierKind::kDisk, TierKind::kRamFile}) {
    testing::TempDir dir("kvc-tier");
    index::Index idx;
    FileTier tier(kind, 1, 1 << 30, dir.path() + "/", io::posix_env(), 0640);
    EXPECT_EQ(tier.describe(), std::string(tier_kind_name(kind)) + " " + dir.path());
    auto f = make_file(1, 70000, 0, 20000);  // prefix longer than 64 KiB
    auto out = save(tier, idx, f);
    ASSERT_TRUE(out.location.ok()) << out.location.status().to_string();
    EXPECT_EQ(*out.location, dir.file(f.key.hex() + ".kvc"));
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{f.key.hex() + ".kvc"});
    EXPECT_EQ(testutil::read_raw(*out.location), f.whole());
    struct stat st {};
    ASSERT_EQ(::stat(out.location->c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    EXPECT_TRUE(idx.contains(f.key));

    auto loaded = tier.load(row_of(f, *out.location));
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    EXPECT_TRUE(std::equal(loaded->payload.begin(), loaded->payload.end(), f.payload->begin(), f.payload->end()));
    EXPECT_EQ(loaded->meta.tokens, f.tokens);
    // Empty location: the tier derives the path from the key.
    EXPECT_TRUE(tier.load(row_of(f, "")).ok());
    // The buffer outlives the file.
    ASSERT_TRUE(tier.remove(row_of(f, *out.location)).ok());
    EXPECT_TRUE(tier.remove(row_of(f, *out.location)).ok()) << "ok when already gone";
    EXPECT_EQ(static_cast<std::uint8_t>(loaded->payload[5]), static_cast<std::uint8_t>((*f.payload)[5]));
  }
}

TEST(FileTier, LoadMissingAndCorrupt) {
  testing::TempDir dir("kvc-tier");
  index::Index idx;
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(2, 4096);
  EXPECT_EQ(tier.load(row_of(f, tier.path_for(f.key))).status().code(), Code::kNotFound);

  auto out = save(tier, idx, f);
  ASSERT_TRUE(out.location.ok());
  const std::string path = *out.location;
  auto bytes = f.whole();
  bytes[f.prefix->size() + 100] ^= std::byte{0x40};
  ASSERT_TRUE(io::posix_env()->remove(path).ok());
  testutil::write_raw(path, bytes);
  auto bad = tier.load(row_of(f, path));
  ASSERT_EQ(bad.status().code(), Code::kCorrupt);
  EXPECT_NE(bad.status().message().find("crc_mismatch"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find(path), std::string::npos) << bad.status().message();

  // Truncated, and loaded under the wrong key.
  ASSERT_TRUE(io::posix_env()->remove(path).ok());
  auto whole = f.whole();
  testutil::write_raw(path, std::span<const std::byte>(whole).first(whole.size() - 1));
  auto trunc = tier.load(row_of(f, path));
  ASSERT_EQ(trunc.status().code(), Code::kCorrupt);
  EXPECT_NE(trunc.status().message().find("truncated"), std::string::npos);
  ASSERT_TRUE(io::posix_env()->remove(path).ok());
  testutil::write_raw(path, whole);
  auto other = make_file(3);
  auto wrong = tier.load(row_of(other, path));
  ASSERT_EQ(wrong.status().code(), Code::kCorrupt);
  EXPECT_NE(wrong.status().message().find("key_mismatch"), std::string::npos);
}

TEST(FileTier, HitCountPersistedInPlaceNeverCreates) {
  testing::TempDir dir("kvc-tier");
  index::Index idx;
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(4);
  auto out = save(tier, idx, f);
  ASSERT_TRUE(out.location.ok());
  ASSERT_TRUE(tier.write_hit_count(row_of(f, *out.location), 0x01020304).ok());
  auto bytes = testutil::read_raw(*out.location);
  ASSERT_GE(bytes.size(), 16u);
  EXPECT_EQ(bytes[12], std::byte{0x04});
  EXPECT_EQ(bytes[13], std::byte{0x03});
  EXPECT_EQ(bytes[14], std::byte{0x02});
  EXPECT_EQ(bytes[15], std::byte{0x01});
  EXPECT_EQ(bytes.size(), f.size());
  auto loaded = tier.load(row_of(f, *out.location));
  ASSERT_TRUE(loaded.ok()) << "hit_count is advisory: not covered by the CRC";
  EXPECT_EQ(loaded->meta.header.hit_count, 0x01020304u);

  ASSERT_TRUE(tier.remove(row_of(f, *out.location)).ok());
  EXPECT_EQ(tier.write_hit_count(row_of(f, *out.location), 5).code(), Code::kNotFound);
  EXPECT_FALSE(exists(*out.location));
}

TEST(FileTier, ReservationLostBeforeLink) {
  testing::TempDir dir("kvc-tier");
  index::Index idx;
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(5);
  auto r = idx.reserve(f.key, 0);
  ASSERT_TRUE(r.ok());
  idx.cancel(*r);
  auto loc = tier.write(idx, *r, f.prefix_bytes(), f.payload_bytes());
  ASSERT_EQ(loc.status().code(), Code::kCancelled);
  EXPECT_NE(loc.status().message().find("check reservation"), std::string::npos) << loc.status().message();
  expect_clean_failure(dir, tier, idx, f, "check lost");
}

TEST(FileTier, ReservationLostAfterLinkRemovesTheLinkedFile) {
  testing::TempDir dir("kvc-tier");
  std::atomic<std::int64_t> now{1'000'000'000};
  index::Index::Options opt;
  opt.reservation_ttl = std::chrono::milliseconds(1000);
  opt.now_ns = [&now] { return now.load(); };
  index::Index idx(opt);
  testutil::HookEnv env(io::posix_env());
  env.before_sync_dir = [&now] { now += 5'000'000'000; };  // the TTL passes between link and mark_linked
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), &env);
  auto f = make_file(6);
  auto out = save(tier, idx, f);
  ASSERT_EQ(out.location.status().code(), Code::kCancelled);
  EXPECT_NE(out.location.status().message().find("mark linked"), std::string::npos);
  expect_clean_failure(dir, tier, idx, f, "mark_linked lost");
}

TEST(FileTier, LinkExistsAdoptsValidFile) {
  testing::TempDir dir("kvc-tier");
  index::Index idx;
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(7, 300);
  auto existing = make_file(7, 300, /*hits=*/9);  // same key, different header
  ASSERT_EQ(existing.key, f.key);
  testutil::write_raw(tier.path_for(f.key), existing.whole());
  auto out = save(tier, idx, f);
  ASSERT_TRUE(out.location.ok()) << out.location.status().to_string();
  EXPECT_EQ(testutil::read_raw(*out.location), existing.whole()) << "the existing valid file is adopted";
  EXPECT_EQ(count_temp(dir.path()), 0u);
  EXPECT_TRUE(idx.contains(f.key));
}

TEST(FileTier, LinkExistsReplacesInvalidFile) {
  testing::TempDir dir("kvc-tier");
  index::Index idx;
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(8, 300);
  auto garbage = testutil::bytes_of("not a kvc file");
  testutil::write_raw(tier.path_for(f.key), garbage);
  auto out = save(tier, idx, f);
  ASSERT_TRUE(out.location.ok()) << out.location.status().to_string();
  EXPECT_EQ(testutil::read_raw(*out.location), f.whole());
  EXPECT_EQ(count_temp(dir.path()), 0u);

  // A valid file of another key under this key's name is invalid here too.
  auto g = make_file(9, 300);
  auto other = make_file(10, 300);
  testutil::write_raw(tier.path_for(g.key), other.whole());
  auto out2 = save(tier, idx, g);
  ASSERT_TRUE(out2.location.ok()) << out2.location.status().to_string();
  EXPECT_EQ(testutil::read_raw(*out2.location), g.whole());
}

// Named faults, one per step of a save (cache.md §2 steps 2–5).
TEST(FileTier, FaultAtEachNamedStep) {
  struct Case {
    const char* name;
    FaultOp op;
    int error;
    Code expect;
    const char* step;
  };
  const Case cases[] = {
      {"open", FaultOp::kOpenExclusive, ENOSPC, Code::kNoSpace, "create temp file"},
      {"short append", FaultOp::kShortAppend, 0, Code::kNoSpace, "write temp file"},
      {"append", FaultOp::kAppend, EIO, Code::kIoError, "write temp file"},
      {"sync", FaultOp::kSync, EIO, Code::kIoError, "sync temp file"},
      {"close", FaultOp::kClose, EIO, Code::kIoError, "close temp file"},
      {"link", FaultOp::kLink, EIO, Code::kIoError, "link"},
      {"link enospc", FaultOp::kLink, ENOSPC, Code::kNoSpace, "link"},
      {"remove temp", FaultOp::kRemove, EIO, Code::kIoError, "remove temp file"},
      {"sync_dir", FaultOp::kSyncDir, EIO, Code::kIoError, "sync directory"},
  };
  for (const auto& c : cases) {
    testing::TempDir dir("kvc-tier");
    FaultEnv env(io::posix_env());
    index::Index idx;
    FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), &env);
    auto f = make_file(11, 10000);
    Fault fault;
    fault.op = c.op;
    fault.error = c.error;
    env.inject(fault);
    auto out = save(tier, idx, f);
    ASSERT_FALSE(out.location.ok()) << c.name;
    EXPECT_EQ(out.location.status().code(), c.expect) << c.name << ": " << out.location.status().to_string();
    const std::string msg = out.location.status().message();
    EXPECT_NE(msg.find(c.step), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(dir.path()), std::string::npos) << c.name << ": the error names the path: " << msg;
    EXPECT_NE(msg.find(f.key.hex()), std::string::npos) << c.name << ": " << msg;
    EXPECT_EQ(env.failures(), 1u) << c.name;
    expect_clean_failure(dir, tier, idx, f, c.name);

    // The same tier saves fine once the fault is gone.
    env.clear_faults();
    index::Index idx2;
    auto ok = save(tier, idx2, f);
    EXPECT_TRUE(ok.location.ok()) << c.name << ": " << ok.location.status().to_string();
  }
}

// Enumerate: fail step k of a save, for every k, with several errnos, and with the
// effect of the failing call either not happening or happening (a "crash" after it).
TEST(FileTier, FaultAtEveryStep) {
  auto f = make_file(12, 20000);
  std::vector<io::FaultCall> steps;
  {
    testing::TempDir dir("kvc-tier");
    FaultEnv env(io::posix_env());
    index::Index idx;
    FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), &env);
    ASSERT_TRUE(save(tier, idx, f).location.ok());
    steps = env.trace();
  }
  ASSERT_EQ(steps.size(), 7u) << "open, append, sync, close, link, remove temp, sync_dir";
  for (std::uint64_t k = 1; k <= steps.size(); ++k) {
    for (int error : {EIO, ENOSPC, EDQUOT}) {
      for (bool after_effect : {false, true}) {
        // A link(2) that creates the name and still fails is not a POSIX outcome.
        if (after_effect && steps[k - 1].op == FaultOp::kLink) continue;
        const std::string what = "step " + std::to_string(k) + " (" + std::string(io::fault_op_name(steps[k - 1].op)) +
                                 ") errno " + std::to_string(error) + (after_effect ? " after effect" : "");
        testing::TempDir dir("kvc-tier");
        FaultEnv env(io::posix_env());
        index::Index idx;
        FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), &env);
        env.fail_step(k, error, after_effect);
        auto out = save(tier, idx, f);
        ASSERT_FALSE(out.location.ok()) << what;
        EXPECT_EQ(out.location.status().code(), error == EIO ? Code::kIoError : Code::kNoSpace) << what;
        EXPECT_TRUE(env.trace()[k - 1].failed) << what;
        expect_clean_failure(dir, tier, idx, f, what);
      }
    }
  }
}

TEST(FileTier, FailedReplaceOfInvalidFileIsClean) {
  testing::TempDir dir("kvc-tier");
  FaultEnv env(io::posix_env());
  index::Index idx;
  FileTier tier(TierKind::kDisk, 0, 1 << 30, dir.path(), &env);
  auto f = make_file(13, 300);
  auto garbage = testutil::bytes_of("garbage");
  testutil::write_raw(tier.path_for(f.key), garbage);
  Fault fault;
  fault.op = FaultOp::kRemove;
  fault.path_contains = ".kvc";
  fault.nth = 1;  // the removal of the invalid file
  env.inject(fault);
  auto out = save(tier, idx, f);
  ASSERT_FALSE(out.location.ok());
  EXPECT_NE(out.location.status().message().find("remove invalid existing file"), std::string::npos)
      << out.location.status().message();
  EXPECT_EQ(count_temp(dir.path()), 0u);
  EXPECT_EQ(testutil::read_raw(tier.path_for(f.key)), garbage) << "not ours: left for a scan to judge";
  EXPECT_FALSE(idx.get(f.key).has_value());
}

}  // namespace
}  // namespace kvc::tiers
