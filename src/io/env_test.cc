// Env's members built on the virtual interface: the default open_dir (a Directory
// that opens entries by full path through the Env's own open_readable, so a user
// Env written before open_dir existed keeps working) and check_entry_name.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <string>
#include <vector>

#include "io/env.h"
#include "support/temp_dir.h"

namespace kvc::io {
namespace {

// A user Env as written against the pure methods only: forwards to posix_env()
// and counts the opens it sees. It does not override open_dir.
class ForwardingEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> new_exclusive_file(const std::string& path, unsigned mode) override {
    return base_->new_exclusive_file(path, mode);
  }
  Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path) override {
    ++opens;
    opened.push_back(path);
    return base_->open_readable(path);
  }
  Status write_in_place(const std::string& path, std::uint64_t offset, std::span<const std::byte> data) override {
    return base_->write_in_place(path, offset, data);
  }
  Status link(const std::string& from, const std::string& to) override { return base_->link(from, to); }
  Status rename(const std::string& from, const std::string& to) override { return base_->rename(from, to); }
  Status remove(const std::string& path) override { return base_->remove(path); }
  Status sync_dir(const std::string& dir) override { return base_->sync_dir(dir); }
  Status create_dirs(const std::string& dir) override { return base_->create_dirs(dir); }
  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override { return base_->list_dir(dir); }
  Result<std::uint64_t> file_size(const std::string& path) override { return base_->file_size(path); }
  Result<PathKind> path_kind(const std::string& path) override { return base_->path_kind(path); }
  Status remove_empty_dir(const std::string& path) override { return base_->remove_empty_dir(path); }

  std::atomic<int> opens{0};
  std::vector<std::string> opened;

 private:
  Env* base_ = posix_env();
};

void write_file(const std::string& path, std::string_view content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string read_all(ReadableFile& f) {
  std::string s(static_cast<std::size_t>(f.size()), '\0');
  auto n = f.read_at(0, std::as_writable_bytes(std::span<char>(s)));
  EXPECT_TRUE(n.ok());
  s.resize(n.ok() ? *n : 0);
  return s;
}

TEST(EnvDefaultOpenDir, OpensEntriesThroughOpenReadable) {
  testing::TempDir dir("kvc-env");
  write_file(dir.file("one"), "1");
  write_file(dir.file("three"), "333");
  ForwardingEnv env;
  auto d = env.open_dir(dir.path());
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ((*d)->path(), dir.path());
  auto f = (*d)->open_readable("three");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->size(), 3u);
  EXPECT_EQ(read_all(**f), "333");
  ASSERT_EQ(env.opens.load(), 1);
  EXPECT_EQ(env.opened[0], dir.file("three")) << "the user Env sees the full path";

  auto missing = (*d)->open_readable("nope");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find(dir.file("nope")), std::string::npos);
}

TEST(EnvDefaultOpenDir, KeepsOpenReadablesRules) {
  testing::TempDir dir("kvc-env");
  write_file(dir.file("target"), "x");
  ASSERT_EQ(::symlink(dir.file("target").c_str(), dir.file("link").c_str()), 0);
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  ForwardingEnv env;
  auto d = env.open_dir(dir.path());
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE((*d)->open_readable("link").ok());
  EXPECT_FALSE((*d)->open_readable("fifo").ok());
}

TEST(EnvDefaultOpenDir, RejectsWhatIsNotAnEntryName) {
  testing::TempDir dir("kvc-env");
  ASSERT_EQ(::mkdir(dir.file("sub").c_str(), 0700), 0);
  write_file(dir.file("sub/f"), "x");
  ForwardingEnv env;
  auto d = env.open_dir(dir.path());
  ASSERT_TRUE(d.ok());
  for (std::string_view name : {std::string_view(""), std::string_view("."), std::string_view(".."),
                                std::string_view("sub/f"), std::string_view("a\0b", 3)}) {
    SCOPED_TRACE(std::string(name));
    auto f = (*d)->open_readable(name);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), Code::kInvalidArgument);
    EXPECT_NE(f.status().message().find(dir.path()), std::string::npos) << f.status().to_string();
  }
  EXPECT_EQ(env.opens.load(), 0) << "nothing reached the Env";
}

TEST(EnvDefaultOpenDir, MissingOrNotADirectory) {
  testing::TempDir dir("kvc-env");
  write_file(dir.file("plain"), "x");
  ForwardingEnv env;
  auto missing = env.open_dir(dir.file("missing"));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find(dir.file("missing")), std::string::npos);
  auto plain = env.open_dir(dir.file("plain"));
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status().code(), Code::kIoError);
  EXPECT_NE(plain.status().message().find(dir.file("plain")), std::string::npos);
  // A symlink to a directory is a directory, as for PosixEnv.
  ASSERT_EQ(::symlink(dir.path().c_str(), dir.file("alias").c_str()), 0);
  auto alias = env.open_dir(dir.file("alias"));
  ASSERT_TRUE(alias.ok()) << alias.status().to_string();
  auto f = (*alias)->open_readable("plain");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(read_all(**f), "x");
}

}  // namespace
}  // namespace kvc::io
