#include "io/fault_env.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

namespace kvc::io {
namespace {

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> out(s.size());
  std::transform(s.begin(), s.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
  return out;
}

std::string string_of(const std::vector<std::byte>& b) {
  std::string s(b.size(), '\0');
  std::transform(b.begin(), b.end(), s.begin(), [](std::byte c) { return static_cast<char>(c); });
  return s;
}

// Writes `content` through `env` with every step checked.
Status write_file(Env* env, const std::string& path, std::string_view content) {
  auto f = env->new_exclusive_file(path, 0600);
  if (!f.ok()) return f.status();
  auto b = bytes_of(content);
  std::span<const std::byte> one(b);
  if (Status s = (*f)->append({&one, 1}); !s.ok()) return s;
  if (Status s = (*f)->sync(); !s.ok()) return s;
  return (*f)->close();
}

bool exists(const std::string& path) { return posix_env()->file_size(path).ok(); }

TEST(FaultEnv, PassesThroughAndCounts) {
  testing::TempDir dir("kvc-fault");
  FaultEnv env(posix_env());
  ASSERT_TRUE(write_file(&env, dir.file("a"), "hello").ok());
  ASSERT_TRUE(env.link(dir.file("a"), dir.file("b")).ok());
  ASSERT_TRUE(env.remove(dir.file("a")).ok());
  ASSERT_TRUE(env.sync_dir(dir.path()).ok());
  auto got = env.read_file(dir.file("b"));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(string_of(*got), "hello");
  EXPECT_EQ(env.calls(FaultOp::kOpenExclusive), 1u);
  EXPECT_EQ(env.calls(FaultOp::kAppend), 1u);
  EXPECT_EQ(env.calls(FaultOp::kSync), 1u);
  EXPECT_EQ(env.calls(FaultOp::kClose), 1u);
  EXPECT_EQ(env.calls(FaultOp::kLink), 1u);
  EXPECT_EQ(env.calls(FaultOp::kRemove), 1u);
  EXPECT_EQ(env.calls(FaultOp::kSyncDir), 1u);
  EXPECT_EQ(env.calls(FaultOp::kOpenReadable), 1u);
  EXPECT_GE(env.calls(FaultOp::kRead), 1u);
  EXPECT_EQ(env.failures(), 0u);
  const auto trace = env.trace();
  ASSERT_EQ(trace.size(), env.total_calls());
  EXPECT_EQ(trace[0].op, FaultOp::kOpenExclusive);
  EXPECT_EQ(trace[4].op, FaultOp::kLink);
  EXPECT_EQ(trace[4].path, dir.file("a") + " -> " + dir.file("b"));
  env.reset_counts();
  EXPECT_EQ(env.total_calls(), 0u);
}

// Each operation kind can be made to fail; the errno maps like PosixEnv.
TEST(FaultEnv, InjectsEachKind) {
  testing::TempDir dir("kvc-fault");
  FaultEnv env(posix_env());
  ASSERT_TRUE(write_file(posix_env(), dir.file("base"), "0123456789").ok());
  auto data = bytes_of("xy");
  std::span<const std::byte> one(data);

  auto arm = [&](FaultOp op, int err = 0) {
    env.clear_faults();
    Fault f;
    f.op = op;
    f.error = err;
    env.inject(f);
  };

  arm(FaultOp::kOpenExclusive, ENOSPC);
  auto w = env.new_exclusive_file(dir.file("o"), 0600);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Code::kNoSpace);
  EXPECT_NE(w.status().message().find("open_exclusive " + dir.file("o")), std::string::npos);
  EXPECT_FALSE(exists(dir.file("o")));

  {
    arm(FaultOp::kAppend);
    auto f = env.new_exclusive_file(dir.file("ap"), 0600);
    ASSERT_TRUE(f.ok());
    EXPECT_EQ((*f)->append({&one, 1}).code(), Code::kIoError);
    arm(FaultOp::kSync, EDQUOT);
    EXPECT_EQ((*f)->sync().code(), Code::kNoSpace);
    arm(FaultOp::kClose);
    EXPECT_EQ((*f)->close().code(), Code::kIoError);
    EXPECT_TRUE((*f)->close().ok());  // already closed
    EXPECT_EQ(*posix_env()->file_size(dir.file("ap")), 0u);
  }

  arm(FaultOp::kLink, EEXIST);
  EXPECT_EQ(env.link(dir.file("base"), dir.file("l")).code(), Code::kExists);
  EXPECT_FALSE(exists(dir.file("l")));
  arm(FaultOp::kRename);
  EXPECT_EQ(env.rename(dir.file("base"), dir.file("r")).code(), Code::kIoError);
  EXPECT_TRUE(exists(dir.file("base")));
  arm(FaultOp::kRemove);
  EXPECT_EQ(env.remove(dir.file("base")).code(), Code::kIoError);
  EXPECT_TRUE(exists(dir.file("base")));
  arm(FaultOp::kSyncDir);
  EXPECT_EQ(env.sync_dir(dir.path()).code(), Code::kIoError);
  arm(FaultOp::kOpenReadable, ENOENT);
  EXPECT_EQ(env.open_readable(dir.file("base")).status().code(), Code::kNotFound);
  arm(FaultOp::kRead);
  EXPECT_EQ(env.read_file(dir.file("base")).status().code(), Code::kIoError);
  arm(FaultOp::kWriteInPlace);
  EXPECT_EQ(env.write_in_place(dir.file("base"), 0, data).code(), Code::kIoError);
  EXPECT_EQ(string_of(*posix_env()->read_file(dir.file("base"))), "0123456789");
  arm(FaultOp::kListDir);
  EXPECT_EQ(env.list_dir(dir.path()).status().code(), Code::kIoError);
  arm(FaultOp::kCreateDirs);
  EXPECT_EQ(env.create_dirs(dir.file("d")).code(), Code::kIoError);
  EXPECT_FALSE(posix_env()->list_dir(dir.file("d")).ok());
  arm(FaultOp::kFileSize);
  EXPECT_EQ(env.file_size(dir.file("base")).status().code(), Code::kIoError);

  env.clear_faults();
  EXPECT_TRUE(env.file_size(dir.file("base")).ok());
  EXPECT_EQ(env.failures(), 14u);
}

TEST(FaultEnv, ShortAppendLeavesPartialFile) {
  testing::TempDir dir("kvc-fault");
  FaultEnv env(posix_env());
  Fault f;
  f.op = FaultOp::kShortAppend;
  env.inject(f);
  auto a = bytes_of("abcd");
  auto b = bytes_of("efghij");
  std::vector<std::span<const std::byte>> bufs = {a, b};
  auto w = env.new_exclusive_file(dir.file("s"), 0600);
  ASSERT_TRUE(w.ok());
  Status s = (*w)->append(bufs);
  EXPECT_EQ(s.code(), Code::kNoSpace);  // ENOSPC by default
  EXPECT_NE(s.message().find("short_append"), std::string::npos);
  ASSERT_TRUE((*w)->close().ok());
  EXPECT_EQ(string_of(*posix_env()->read_file(dir.file("s"))), "abcde");  // half of 10 bytes
  EXPECT_EQ(env.calls(FaultOp::kAppend), 1u);

  Fault g;
  g.op = FaultOp::kShortAppend;
  g.short_bytes = 7;
  g.error = EIO;
  env.inject(g);
  auto w2 = env.new_exclusive_file(dir.file("s2"), 0600);
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ((*w2)->append(bufs).code(), Code::kIoError);
  ASSERT_TRUE((*w2)->close().ok());
  EXPECT_EQ(string_of(*posix_env()->read_file(dir.file("s2"))), "abcdefg");
}

TEST(FaultEnv, NthEveryAndPathFilter) {
  testing::TempDir dir("kvc-fault");
  FaultEnv env(posix_env());
  Fault third;
  third.op = FaultOp::kFileSize;
  third.nth = 3;
  env.inject(third);
  EXPECT_EQ(env.file_size(dir.file("x")).status().code(), Code::kNotFound);  // real answer
  EXPECT_EQ(env.file_size(dir.file("x")).status().code(), Code::kNotFound);
  EXPECT_EQ(env.file_size(dir.file("x")).status().code(), Code::kIoError);   // injected
  EXPECT_EQ(env.file_size(dir.file("x")).status().code(), Code::kNotFound);  // spent

  env.clear_faults();
  Fault every;
  every.op = FaultOp::kRemove;
  every.nth = 0;
  every.path_contains = ".tmp";
  env.inject(every);
  ASSERT_TRUE(write_file(&env, dir.file("a.tmp"), "t").ok());
  ASSERT_TRUE(write_file(&env, dir.file("a.kvc"), "k").ok());
  EXPECT_EQ(env.remove(dir.file("a.tmp")).code(), Code::kIoError);
  EXPECT_EQ(env.remove(dir.file("a.tmp")).code(), Code::kIoError);
  EXPECT_TRUE(env.remove(dir.file("a.kvc")).ok());
  env.clear_faults();
  EXPECT_TRUE(env.remove(dir.file("a.tmp")).ok());
}

TEST(FaultEnv, FailStepEnumeratesEveryStep) {
  testing::TempDir dir("kvc-fault");
  FaultEnv env(posix_env());
  ASSERT_TRUE(write_file(&env, dir.file("probe"), "abc").ok());
  const std::uint64_t steps = env.total_calls();
  ASSERT_EQ(steps, 4u);  // open, append, sync, close
  for (std::uint64_t k = 1; k <= steps; ++k) {
    env.reset_counts();
    env.clear_faults();
    env.fail_step(k, ENOSPC);
    const std::string path = dir.file(std::string("f").append(std::to_string(k)));  // not "f" + …: g++ 12 -O3 -Wrestrict false positive
    Status s = write_file(&env, path, "abc");
    EXPECT_EQ(s.code(), Code::kNoSpace) << "step " << k;
    EXPECT_EQ(env.failures(), 1u);
    EXPECT_TRUE(env.trace()[k - 1].failed);
    EXPECT_EQ(env.total_calls(), k) << "the write stops at the failing step";
  }
}

TEST(FaultEnv, AfterEffectPerformsTheOperation) {
  testing::TempDir dir("kvc-fault");
  FaultEnv env(posix_env());
  ASSERT_TRUE(write_file(posix_env(), dir.file("a"), "a").ok());
  Fault f;
  f.op = FaultOp::kLink;
  f.after_effect = true;
  env.inject(f);
  EXPECT_EQ(env.link(dir.file("a"), dir.file("b")).code(), Code::kIoError);
  EXPECT_TRUE(exists(dir.file("b")));
}

TEST(FaultEnv, ThreadSafeCounting) {
  testing::TempDir dir("kvc-fault");
  FaultEnv env(posix_env());
  Fault every;
  every.op = FaultOp::kFileSize;
  every.nth = 0;
  every.path_contains = "fail";
  env.inject(every);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) (void)env.file_size(dir.file(std::string(i % 2 ? "fail" : "pass").append(std::to_string(t))));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(env.calls(FaultOp::kFileSize), 2000u);
  EXPECT_EQ(env.failures(), 1000u);
}

}  // namespace
}  // namespace kvc::io
