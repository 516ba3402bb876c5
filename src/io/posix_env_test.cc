#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <fstream>
#include <string>
#include <vector>

#include "io/env.h"
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

void write_file(const std::string& path, std::string_view content) {
  Env* env = posix_env();
  auto f = env->new_exclusive_file(path, 0600);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  auto b = bytes_of(content);
  std::span<const std::byte> one(b);
  ASSERT_TRUE((*f)->append({&one, 1}).ok());
  ASSERT_TRUE((*f)->close().ok());
}

TEST(PosixEnv, GatheredWriteRoundTrips) {
  testing::TempDir dir("kvc-io");
  Env* env = posix_env();
  const std::string path = dir.file("a.bin");
  auto f = env->new_exclusive_file(path, 0600);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  auto a = bytes_of("header|");
  std::vector<std::byte> empty;
  auto b = bytes_of("middle|");
  std::vector<std::byte> c(100000);
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = static_cast<std::byte>(i * 7);
  std::vector<std::span<const std::byte>> bufs = {a, empty, b, c};
  ASSERT_TRUE((*f)->append(bufs).ok());
  ASSERT_TRUE((*f)->append(bufs).ok());  // appends continue where the last one ended
  ASSERT_TRUE((*f)->sync().ok());
  ASSERT_TRUE((*f)->close().ok());
  ASSERT_TRUE((*f)->close().ok());  // idempotent

  std::vector<std::byte> expect;
  for (int rep = 0; rep < 2; ++rep)
    for (const auto& s : bufs) expect.insert(expect.end(), s.begin(), s.end());
  auto got = env->read_file(path);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(*got, expect);

  auto size = env->file_size(path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, expect.size());

  auto head = env->read_file(path, 7);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(string_of(*head), "header|");

  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(PosixEnv, MoreBuffersThanIovMax) {
  testing::TempDir dir("kvc-io");
  Env* env = posix_env();
  const std::string path = dir.file("many.bin");
  const std::size_t n = IOV_MAX * 2 + 17;
  std::vector<std::vector<std::byte>> storage(n);
  std::vector<std::span<const std::byte>> bufs;
  std::vector<std::byte> expect;
  for (std::size_t i = 0; i < n; ++i) {
    storage[i].assign(1 + i % 5, static_cast<std::byte>(i));
    bufs.emplace_back(storage[i]);
    expect.insert(expect.end(), storage[i].begin(), storage[i].end());
  }
  auto f = env->new_exclusive_file(path, 0600);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->append(bufs).ok());
  ASSERT_TRUE((*f)->close().ok());
  auto got = env->read_file(path);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, expect);
}

TEST(PosixEnv, ExclusiveCreateReportsExists) {
  testing::TempDir dir("kvc-io");
  Env* env = posix_env();
  const std::string path = dir.file("x");
  write_file(path, "1");
  auto f = env->new_exclusive_file(path, 0600);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Code::kExists);
  EXPECT_NE(f.status().message().find("open_exclusive"), std::string::npos) << f.status().message();
  EXPECT_NE(f.status().message().find(path), std::string::npos) << f.status().message();
  EXPECT_NE(f.status().message().find("File exists"), std::string::npos) << f.status().message();
}

TEST(PosixEnv, LinkRenameRemove) {
  testing::TempDir dir("kvc-io");
  Env* env = posix_env();
  const std::string a = dir.file("a"), b = dir.file("b"), c = dir.file("c");
  write_file(a, "aaa");
  ASSERT_TRUE(env->link(a, b).ok());
  auto again = env->link(a, b);
  EXPECT_EQ(again.code(), Code::kExists);
  EXPECT_NE(again.message().find("link"), std::string::npos);
  EXPECT_EQ(env->link(dir.file("nope"), c).code(), Code::kNotFound);

  ASSERT_TRUE(env->rename(b, c).ok());
  EXPECT_EQ(env->file_size(b).status().code(), Code::kNotFound);
  EXPECT_EQ(string_of(*env->read_file(c)), "aaa");
  EXPECT_EQ(env->rename(b, c).code(), Code::kNotFound);

  ASSERT_TRUE(env->remove(c).ok());
  Status gone = env->remove(c);
  EXPECT_EQ(gone.code(), Code::kNotFound);
  EXPECT_NE(gone.message().find("remove " + c), std::string::npos) << gone.message();
  EXPECT_EQ(env->open_readable(c).status().code(), Code::kNotFound);
  EXPECT_EQ(env->read_file(c).status().code(), Code::kNotFound);
}

TEST(PosixEnv, WriteInPlaceNeverCreates) {
  testing::TempDir dir("kvc-io");
  Env* env = posix_env();
  const std::string path = dir.file("f");
  auto patch = bytes_of("XY");
  EXPECT_EQ(env->write_in_place(path, 0, patch).code(), Code::kNotFound);
  EXPECT_EQ(env->file_size(path).status().code(), Code::kNotFound);

  write_file(path, "0123456789");
  ASSERT_TRUE(env->write_in_place(path, 3, patch).ok());
  EXPECT_EQ(string_of(*env->read_file(path)), "012XY56789");
}

// A symlink, FIFO or directory under a file's name is never followed, written
// through, or waited on: opening it is an error and the symlink's target is untouched.
TEST(PosixEnv, NeverFollowsSymlinksOrBlocksOnFifos) {
  testing::TempDir dir("kvc-io");
  Env* env = posix_env();
  const std::string target = dir.file("target");
  write_file(target, "0123456789");
  ASSERT_EQ(::symlink(target.c_str(), dir.file("link").c_str()), 0);
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  ASSERT_EQ(::mkdir(dir.file("sub").c_str(), 0700), 0);
  auto patch = bytes_of("XY");
  for (const char* name : {"link", "fifo", "sub"}) {
    SCOPED_TRACE(name);
    auto r = env->open_readable(dir.file(name));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(dir.file(name)), std::string::npos) << r.status().to_string();
    EXPECT_FALSE(env->write_in_place(dir.file(name), 0, patch).ok());
  }
  EXPECT_EQ(string_of(*env->read_file(target)), "0123456789");
  // A directory path with a symlink in the middle still resolves (only the last
  // component is refused), so tier directories may live behind symlinks.
  ASSERT_EQ(::symlink(dir.path().c_str(), dir.file("alias").c_str()), 0);
  EXPECT_EQ(string_of(*env->read_file(dir.file("alias/target"))), "0123456789");
}

TEST(PosixEnv, ReadAtIsShortOnlyAtEof) {
  testing::TempDir dir("kvc-io");
  Env* env = posix_env();
  const std::string path = dir.file("r");
  write_file(path, "abcdef");
  auto f = env->open_readable(path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->size(), 6u);
  std::vector<std::byte> buf(4);
  auto n = (*f)->read_at(4, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  n = (*f)->read_at(0, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  n = (*f)->read_at(100, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

TEST(PosixEnv, DirectoriesAndListing) {
  testing::TempDir dir("kvc-io");
  Env* env = posix_env();
  const std::string deep = dir.file("a/b/c");
  ASSERT_TRUE(env->create_dirs(deep).ok());
  ASSERT_TRUE(env->create_dirs(deep).ok());  // ok if it exists
  ASSERT_TRUE(env->create_dirs(deep + "/").ok());
  struct stat st {};
  ASSERT_EQ(::stat(deep.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  write_file(deep + "/one", "1");
  write_file(deep + "/three", "333");
  ASSERT_TRUE(env->create_dirs(deep + "/sub").ok());
  ASSERT_TRUE(env->sync_dir(deep).ok());

  auto list = env->list_dir(deep);
  ASSERT_TRUE(list.ok()) << list.status().to_string();
  std::sort(list->begin(), list->end(), [](const DirEntry& x, const DirEntry& y) { return x.name < y.name; });
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "one");
  EXPECT_TRUE((*list)[0].is_regular);
  EXPECT_EQ((*list)[1].name, "sub");
  EXPECT_FALSE((*list)[1].is_regular);
  EXPECT_EQ((*list)[2].name, "three");
  EXPECT_TRUE((*list)[2].is_regular);

  EXPECT_EQ(env->list_dir(dir.file("missing")).status().code(), Code::kNotFound);
  EXPECT_EQ(env->sync_dir(dir.file("missing")).code(), Code::kNotFound);

  // A file in the way of a directory is an error, not success.
  EXPECT_FALSE(env->create_dirs(deep + "/one/x").ok());
}

TEST(PosixEnv, ErrnoMapping) {
  EXPECT_EQ(status_from_errno("op", "/p", ENOSPC).code(), Code::kNoSpace);
  EXPECT_EQ(status_from_errno("op", "/p", EDQUOT).code(), Code::kNoSpace);
  EXPECT_EQ(status_from_errno("op", "/p", ENOENT).code(), Code::kNotFound);
  EXPECT_EQ(status_from_errno("op", "/p", EEXIST).code(), Code::kExists);
  Status s = status_from_errno("sync", "/some/path", EIO);
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(s.message(), "sync /some/path: Input/output error");
}

}  // namespace
}  // namespace kvc::io
