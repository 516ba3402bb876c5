// FileTier::put with a directory sitting at a row's path (issue 9, stuck rows): an
// empty one is removed and the save succeeds; a non-empty one is a clear error
// the first time, then refused cheaply (no temp file written) until it is gone.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "io/fault_env.h"
#include "support/temp_dir.h"
#include "tiers/file_tier.h"
#include "tiers/tier_test_util.h"

namespace kvc::tiers {
namespace {

using io::FaultEnv;
using io::FaultOp;
using testutil::count_temp;
using testutil::make_file;
using testutil::ScriptedGuard;

class BlockedPathTest : public ::testing::Test {
 protected:
  testing::TempDir dir{"kvc-blocked"};
  FaultEnv env{io::posix_env()};  // counts the calls a save makes
  FileTier tier{TierKind::kDisk, 1 << 30, dir.path(), &env};
  testutil::TestFile f = make_file(1, 2000);
  std::string path = tier.path_for(f.key);

  Status put(ScriptedGuard* guard = nullptr) { return tier.put(f.key, f.loaded(), guard); }
  void block() {
    ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
    testutil::write_raw(path + "/someone's file", testutil::bytes_of("keep me"));
  }
  bool is_regular_file() const { return std::filesystem::is_regular_file(path); }
};

TEST_F(BlockedPathTest, AnEmptyDirectoryInTheWayIsRemoved) {
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  ScriptedGuard guard;
  const Status s = put(&guard);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(is_regular_file());
  EXPECT_EQ(testutil::read_raw(path), f.whole());
  EXPECT_EQ(guard.publications, 1);
  EXPECT_EQ(count_temp(dir.path()), 0u);
  EXPECT_TRUE(tier.load(f.key).ok());
}

TEST_F(BlockedPathTest, ANonEmptyDirectoryIsAClearErrorThenRefusedCheaply) {
  block();
  ScriptedGuard guard;
  const Status first = put(&guard);
  ASSERT_EQ(first.code(), Code::kExists) << first.to_string();
  EXPECT_NE(first.message().find(path), std::string::npos) << first.message();
  EXPECT_NE(first.message().find("not empty"), std::string::npos) << first.message();
  EXPECT_NE(first.message().find("remove or rename"), std::string::npos) << "says what to do: " << first.message();
  EXPECT_NE(first.message().find(f.key.hex()), std::string::npos) << first.message();
  EXPECT_EQ(guard.publications, 0);
  EXPECT_EQ(count_temp(dir.path()), 0u);
  EXPECT_TRUE(std::filesystem::exists(path + "/someone's file")) << "never deletes what it did not write";

  env.reset_counts();
  const Status second = put(&guard);
  ASSERT_EQ(second.code(), Code::kExists) << second.to_string();
  EXPECT_NE(second.message().find(path), std::string::npos) << second.message();
  EXPECT_LT(second.message().size(), first.message().size()) << "reported in full once";
  EXPECT_EQ(env.calls(FaultOp::kOpenExclusive), 0u) << "refused without writing a temp file";
  EXPECT_EQ(env.calls(FaultOp::kAppend), 0u);
  EXPECT_EQ(guard.checks, 1) << "and without asking for the reservation again";
  EXPECT_EQ(count_temp(dir.path()), 0u);

  // Another key saves fine meanwhile.
  auto g = make_file(2);
  EXPECT_TRUE(tier.put(g.key, g.loaded(), nullptr).ok());

  // Once the directory is gone, the key saves again.
  std::filesystem::remove_all(path);
  const Status third = put(&guard);
  ASSERT_TRUE(third.ok()) << third.to_string();
  EXPECT_TRUE(is_regular_file());
  EXPECT_EQ(testutil::read_raw(path), f.whole());
}

TEST_F(BlockedPathTest, ABlockingDirectoryThatWasEmptiedIsRemovedOnTheNextSave) {
  block();
  ASSERT_EQ(put().code(), Code::kExists);
  std::filesystem::remove(path + "/someone's file");
  const Status s = put();
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(is_regular_file());
  EXPECT_EQ(count_temp(dir.path()), 0u);
}

TEST_F(BlockedPathTest, ADirectoryReplacedByAValidFileIsAdopted) {
  block();
  ASSERT_EQ(put().code(), Code::kExists);
  std::filesystem::remove_all(path);
  const auto existing = make_file(1, 2000, /*hits=*/4);  // same key, published by a sibling
  testutil::write_raw(path, existing.whole());
  ASSERT_TRUE(put().ok());
  EXPECT_EQ(testutil::read_raw(path), existing.whole());
}

}  // namespace
}  // namespace kvc::tiers
