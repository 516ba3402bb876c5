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
using testutil::ScriptedGuard;
using testutil::TestFile;

// Publishes a new row as the cache does (with a guard); the guard is returned
// so tests can check what the tier asked.
struct SaveOutcome {
  Status status;
  ScriptedGuard guard;
};
std::unique_ptr<SaveOutcome> save(FileTier& tier, const TestFile& f, bool ours = true, bool keep = true) {
  auto out = std::make_unique<SaveOutcome>();
  out->guard.ours = ours;
  out->guard.keep = keep;
  out->status = tier.put(f.key, f.loaded(), &out->guard);
  return out;
}

// After a failed save: no temp file and no published file.
void expect_clean_failure(const testing::TempDir& dir, FileTier& tier, const TestFile& f, const std::string& what) {
  EXPECT_EQ(count_temp(dir.path()), 0u) << what;
  EXPECT_FALSE(exists(tier.path_for(f.key))) << what;
  EXPECT_FALSE(tier.exists(f.key)) << what;
}

TEST(FileTier, SaveLoadRoundTrip) {
  for (TierKind kind : {TierKind::kDisk, TierKind::kRamFile}) {
    testing::TempDir dir("kvc-tier");
    FileTier tier(kind, 1 << 30, dir.path() + "/", io::posix_env(), 0640);
    EXPECT_EQ(tier.describe(), std::string(tier_kind_name(kind)) + " " + dir.path());
    EXPECT_EQ(tier.kind(), kind);
    auto f = make_file(1, 70000, 0, 20000);  // prefix longer than 64 KiB
    auto out = save(tier, f);
    ASSERT_TRUE(out->status.ok()) << out->status.to_string();
    EXPECT_EQ(out->guard.checks, 1) << "still_ours() before the link";
    EXPECT_EQ(out->guard.publications, 1) << "published() after it";
    const std::string path = tier.path_for(f.key);
    EXPECT_EQ(path, dir.file(f.key.hex() + ".kvc"));
    EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{f.key.hex() + ".kvc"});
    EXPECT_EQ(testutil::read_raw(path), f.whole());
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    EXPECT_TRUE(tier.exists(f.key));
    auto probed = tier.probe(f.key);
    ASSERT_TRUE(probed.has_value());
    EXPECT_EQ(probed->row.key, f.key);
    EXPECT_EQ(probed->row.size, f.size());
    EXPECT_EQ(*probed->row.tokens, f.tokens);

    auto loaded = tier.load(f.key);
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    EXPECT_EQ(testutil::whole_of(*loaded), f.whole()) << "bitwise the same file";
    EXPECT_TRUE(std::equal(loaded->payload().begin(), loaded->payload().end(), f.payload->begin(), f.payload->end()));
    ASSERT_TRUE(loaded->meta);
    EXPECT_EQ(loaded->meta->tokens, f.tokens);
    EXPECT_EQ(loaded->meta->key(), f.key);
    // The buffer outlives the file.
    ASSERT_TRUE(tier.remove(f.key).ok());
    EXPECT_TRUE(tier.remove(f.key).ok()) << "ok when already gone";
    EXPECT_FALSE(tier.exists(f.key));
    EXPECT_FALSE(tier.probe(f.key).has_value());
    EXPECT_EQ(static_cast<std::uint8_t>(loaded->payload()[5]), static_cast<std::uint8_t>((*f.payload)[5]));
  }
}

// Write-through, demotion and promotion store a copy of a row that is already
// available: no guard, nothing to ask.
TEST(FileTier, CopyWithoutGuard) {
  testing::TempDir dir("kvc-tier");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(21, 3000);
  ASSERT_TRUE(tier.put(f.key, f.loaded(/*with_meta=*/false), nullptr).ok());
  EXPECT_EQ(testutil::read_raw(tier.path_for(f.key)), f.whole());
  ASSERT_TRUE(tier.put(f.key, f.loaded(), nullptr).ok()) << "a valid copy already there is kept";
  EXPECT_EQ(count_temp(dir.path()), 0u);
  EXPECT_EQ(names_in(dir.path()).size(), 1u);
}

TEST(FileTier, PutWithoutBuffersIsRefused) {
  testing::TempDir dir("kvc-tier");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(22);
  const Status s = tier.put(f.key, LoadedFile{}, nullptr);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find(f.key.hex()), std::string::npos) << s.message();
  EXPECT_TRUE(names_in(dir.path()).empty());
}

TEST(FileTier, LoadMissingAndCorrupt) {
  testing::TempDir dir("kvc-tier");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(2, 4096);
  EXPECT_EQ(tier.load(f.key).status().code(), Code::kNotFound);

  ASSERT_TRUE(save(tier, f)->status.ok());
  const std::string path = tier.path_for(f.key);
  auto bytes = f.whole();
  bytes[f.prefix->size() + 100] ^= std::byte{0x40};
  ASSERT_TRUE(io::posix_env()->remove(path).ok());
  testutil::write_raw(path, bytes);
  auto bad = tier.load(f.key);
  ASSERT_EQ(bad.status().code(), Code::kCorrupt);
  EXPECT_NE(bad.status().message().find("crc_mismatch"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find(path), std::string::npos) << bad.status().message();

  // Truncated, and another key's valid file under this key's name.
  ASSERT_TRUE(io::posix_env()->remove(path).ok());
  auto whole = f.whole();
  testutil::write_raw(path, std::span<const std::byte>(whole).first(whole.size() - 1));
  auto trunc = tier.load(f.key);
  ASSERT_EQ(trunc.status().code(), Code::kCorrupt);
  EXPECT_NE(trunc.status().message().find("truncated"), std::string::npos) << trunc.status().message();
  auto other = make_file(3);
  testutil::write_raw(tier.path_for(other.key), whole);
  auto wrong = tier.load(other.key);
  ASSERT_EQ(wrong.status().code(), Code::kCorrupt);
  EXPECT_NE(wrong.status().message().find("key_mismatch"), std::string::npos) << wrong.status().message();
  EXPECT_FALSE(tier.probe(other.key).has_value()) << "probe checks the key too";

  // Not a KVC file at all.
  ASSERT_TRUE(io::posix_env()->remove(path).ok());
  testutil::write_raw(path, testutil::bytes_of("garbage"));
  auto garbage = tier.load(f.key);
  ASSERT_EQ(garbage.status().code(), Code::kCorrupt);
  EXPECT_NE(garbage.status().message().find(path), std::string::npos) << garbage.status().message();
  EXPECT_FALSE(tier.probe(f.key).has_value());
}

TEST(FileTier, HitCountPersistedInPlaceNeverCreates) {
  testing::TempDir dir("kvc-tier");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(4);
  ASSERT_TRUE(save(tier, f)->status.ok());
  const std::string path = tier.path_for(f.key);
  ASSERT_TRUE(tier.write_hit_count(f.key, 0x01020304).ok());
  auto bytes = testutil::read_raw(path);
  ASSERT_GE(bytes.size(), 16u);
  EXPECT_EQ(bytes[12], std::byte{0x04});
  EXPECT_EQ(bytes[13], std::byte{0x03});
  EXPECT_EQ(bytes[14], std::byte{0x02});
  EXPECT_EQ(bytes[15], std::byte{0x01});
  EXPECT_EQ(bytes.size(), f.size());
  auto loaded = tier.load(f.key);
  ASSERT_TRUE(loaded.ok()) << "hit_count is advisory: not covered by the CRC";
  EXPECT_EQ(loaded->meta->header.hit_count, 0x01020304u);
  EXPECT_EQ(tier.probe(f.key)->hits, 0x01020304u);

  ASSERT_TRUE(tier.remove(f.key).ok());
  EXPECT_EQ(tier.write_hit_count(f.key, 5).code(), Code::kNotFound);
  EXPECT_FALSE(exists(path));
}

TEST(FileTier, ReservationLostBeforeLink) {
  testing::TempDir dir("kvc-tier");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(5);
  auto out = save(tier, f, /*ours=*/false);
  ASSERT_EQ(out->status.code(), Code::kCancelled);
  EXPECT_NE(out->status.message().find("check reservation"), std::string::npos) << out->status.message();
  EXPECT_EQ(out->guard.publications, 0);
  expect_clean_failure(dir, tier, f, "check lost");
}

TEST(FileTier, ReservationLostAfterLinkRemovesTheLinkedFile) {
  testing::TempDir dir("kvc-tier");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(6);
  ScriptedGuard guard;
  guard.keep = false;
  bool visible_when_asked = false;
  guard.on_published = [&] { visible_when_asked = tier.exists(f.key); };
  const Status s = tier.put(f.key, f.loaded(), &guard);
  ASSERT_EQ(s.code(), Code::kCancelled);
  EXPECT_NE(s.message().find("mark linked"), std::string::npos) << s.message();
  EXPECT_TRUE(visible_when_asked) << "published() is asked once the file is linked";
  expect_clean_failure(dir, tier, f, "mark_linked lost");
}

TEST(FileTier, LinkExistsAdoptsValidFile) {
  testing::TempDir dir("kvc-tier");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(7, 300);
  auto existing = make_file(7, 300, /*hits=*/9);  // same key, different header
  ASSERT_EQ(existing.key, f.key);
  testutil::write_raw(tier.path_for(f.key), existing.whole());
  auto out = save(tier, f);
  ASSERT_TRUE(out->status.ok()) << out->status.to_string();
  EXPECT_EQ(out->guard.publications, 1);
  EXPECT_EQ(testutil::read_raw(tier.path_for(f.key)), existing.whole()) << "the existing valid file is adopted";
  EXPECT_EQ(count_temp(dir.path()), 0u);
}

TEST(FileTier, LinkExistsReplacesInvalidFile) {
  testing::TempDir dir("kvc-tier");
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), io::posix_env());
  auto f = make_file(8, 300);
  auto garbage = testutil::bytes_of("not a kvc file");
  testutil::write_raw(tier.path_for(f.key), garbage);
  ASSERT_TRUE(save(tier, f)->status.ok());
  EXPECT_EQ(testutil::read_raw(tier.path_for(f.key)), f.whole());
  EXPECT_EQ(count_temp(dir.path()), 0u);

  // A valid file of another key under this key's name is invalid here too.
  auto g = make_file(9, 300);
  auto other = make_file(10, 300);
  testutil::write_raw(tier.path_for(g.key), other.whole());
  ASSERT_TRUE(save(tier, g)->status.ok());
  EXPECT_EQ(testutil::read_raw(tier.path_for(g.key)), g.whole());
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
    FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), &env);
    auto f = make_file(11, 10000);
    Fault fault;
    fault.op = c.op;
    fault.error = c.error;
    env.inject(fault);
    auto out = save(tier, f);
    ASSERT_FALSE(out->status.ok()) << c.name;
    EXPECT_EQ(out->status.code(), c.expect) << c.name << ": " << out->status.to_string();
    const std::string msg = out->status.message();
    EXPECT_NE(msg.find(c.step), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(dir.path()), std::string::npos) << c.name << ": the error names the path: " << msg;
    EXPECT_NE(msg.find(f.key.hex()), std::string::npos) << c.name << ": " << msg;
    EXPECT_EQ(env.failures(), 1u) << c.name;
    expect_clean_failure(dir, tier, f, c.name);

    // The same tier saves fine once the fault is gone.
    env.clear_faults();
    auto ok = save(tier, f);
    EXPECT_TRUE(ok->status.ok()) << c.name << ": " << ok->status.to_string();
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
    FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), &env);
    ASSERT_TRUE(save(tier, f)->status.ok());
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
        FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), &env);
        env.fail_step(k, error, after_effect);
        auto out = save(tier, f);
        ASSERT_FALSE(out->status.ok()) << what;
        EXPECT_EQ(out->status.code(), error == EIO ? Code::kIoError : Code::kNoSpace) << what;
        EXPECT_TRUE(env.trace()[k - 1].failed) << what;
        EXPECT_LE(out->guard.publications, 1) << what;
        expect_clean_failure(dir, tier, f, what);
      }
    }
  }
}

TEST(FileTier, FailedReplaceOfInvalidFileIsClean) {
  testing::TempDir dir("kvc-tier");
  FaultEnv env(io::posix_env());
  FileTier tier(TierKind::kDisk, 1 << 30, dir.path(), &env);
  auto f = make_file(13, 300);
  auto garbage = testutil::bytes_of("garbage");
  testutil::write_raw(tier.path_for(f.key), garbage);
  Fault fault;
  fault.op = FaultOp::kRemove;
  fault.path_contains = ".kvc";
  fault.nth = 1;  // the removal of the invalid file
  env.inject(fault);
  auto out = save(tier, f);
  ASSERT_FALSE(out->status.ok());
  EXPECT_NE(out->status.message().find("remove invalid existing file"), std::string::npos) << out->status.message();
  EXPECT_EQ(count_temp(dir.path()), 0u);
  EXPECT_EQ(testutil::read_raw(tier.path_for(f.key)), garbage) << "not ours: left for a scan to judge";
  EXPECT_EQ(out->guard.publications, 0) << "never reported published";
}

}  // namespace
}  // namespace kvc::tiers
