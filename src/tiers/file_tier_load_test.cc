// FileTier::load: pooled buffers read 1 MiB at a time with the CRC computed as
// the bytes arrive, and the errors a load reports (permission, corruption).
#include <gtest/gtest.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvc/buffer.h"
#include "support/temp_dir.h"
#include "tiers/file_tier.h"
#include "tiers/tier_test_util.h"

namespace kvc::tiers {
namespace {

using testutil::make_file;
using testutil::TestFile;

constexpr std::size_t kMiB = 1 << 20;

// Flips one byte of the file at `path`, in place.
void flip(const std::string& path, std::uint64_t offset) {
  auto bytes = testutil::read_raw(path);
  ASSERT_LT(offset, bytes.size());
  const std::byte b[1] = {bytes[offset] ^ std::byte{0x20}};
  ASSERT_TRUE(io::posix_env()->write_in_place(path, offset, b).ok());
}

class FileTierLoadTest : public ::testing::Test {
 protected:
  testing::TempDir dir{"kvc-load"};
  FileTier tier{TierKind::kDisk, std::uint64_t{1} << 40, dir.path(), io::posix_env()};

  void put(const TestFile& f) { ASSERT_TRUE(tier.put(f.key, f.loaded(), nullptr).ok()); }
};

// A file of several MiB whose size is no multiple of the chunk: the pooled load
// returns bitwise the same bytes, also into a recycled buffer that held another
// file before.
TEST_F(FileTierLoadTest, PooledLoadsAreBitwiseExact) {
  const TestFile a = make_file(1, 5 * kMiB + 12345, 0, 300);
  const TestFile b = make_file(2, 5 * kMiB + 12345, 0, 300);
  put(a);
  put(b);
  {
    auto got = tier.load(a.key);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_EQ(testutil::whole_of(*got), a.whole());
    EXPECT_EQ(got->bytes.size(), a.size());
    EXPECT_EQ(got->bytes.prefix.size(), a.prefix->size());
    EXPECT_EQ(got->meta->key(), a.key);
  }  // its buffer goes back to the pool
  const auto before = BufferPool::shared().stats();
  auto got = tier.load(b.key);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_GT(BufferPool::shared().stats().reused, before.reused) << "the second load reuses a pooled buffer";
  EXPECT_EQ(testutil::whole_of(*got), b.whole()) << "no byte of the previous file shows through";
  // Loaded twice at once: two buffers, both intact.
  auto again = tier.load(b.key);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->bytes.payload.data(), got->bytes.payload.data());
  EXPECT_EQ(testutil::whole_of(*again), b.whole());
}

// One payload byte flipped anywhere — first chunk, a chunk boundary, the middle,
// the last byte — is a crc_mismatch naming the file.
TEST_F(FileTierLoadTest, AFlippedPayloadByteAnywhereIsACrcMismatch) {
  const TestFile f = make_file(3, 6 * kMiB + 777, 0, 100);
  put(f);
  const std::string path = tier.path_for(f.key);
  const std::uint64_t p0 = f.prefix->size();
  const std::uint64_t end = f.size();
  for (std::uint64_t offset : {p0, std::uint64_t{64} << 10, p0 + kMiB, p0 + kMiB - 1, end / 2, end - 1}) {
    flip(path, offset);
    auto bad = tier.load(f.key);
    ASSERT_EQ(bad.status().code(), Code::kCorrupt) << "offset " << offset;
    EXPECT_NE(bad.status().message().find("crc_mismatch"), std::string::npos) << bad.status().message();
    EXPECT_NE(bad.status().message().find(path), std::string::npos) << bad.status().message();
    flip(path, offset);  // back
    auto good = tier.load(f.key);
    ASSERT_TRUE(good.ok()) << "offset " << offset << ": " << good.status().to_string();
  }
}

TEST_F(FileTierLoadTest, ATruncatedLargeFileIsCorrupt) {
  const TestFile f = make_file(4, 3 * kMiB, 0, 50);
  put(f);
  const std::string path = tier.path_for(f.key);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(f.size() - kMiB)), 0);
  auto bad = tier.load(f.key);
  EXPECT_EQ(bad.status().code(), Code::kCorrupt) << bad.status().to_string();
}

TEST_F(FileTierLoadTest, ADirectoryAtTheRowsPathIsNotLoaded) {
  const TestFile f = make_file(5);
  ASSERT_EQ(::mkdir(tier.path_for(f.key).c_str(), 0700), 0);
  auto got = tier.load(f.key);
  EXPECT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find(tier.path_for(f.key)), std::string::npos) << got.status().message();
  EXPECT_FALSE(tier.exists(f.key));
  EXPECT_FALSE(tier.probe(f.key).has_value());
}

// Runs `fn` with this thread's filesystem uid set to `nobody`: a root thread then
// loses CAP_DAC_OVERRIDE for file access (setfsuid is per thread on Linux).
template <class Fn>
bool as_nobody(Fn&& fn) {
  const int nobody = 65534;
  const int old = ::setfsuid(nobody);
  if (::setfsuid(nobody) != nobody) {  // returns the current fsuid
    ::setfsuid(old);
    return false;
  }
  fn();
  ::setfsuid(old);
  return ::setfsuid(old) == old;
}

// issue 9 (stuck rows): an unreadable file is reported as kPermissionDenied, which
// the cache treats as not transient (it drops the copy instead of retrying).
TEST_F(FileTierLoadTest, AnUnreadableFileIsPermissionDenied) {
  const TestFile f = make_file(6, 4096);
  put(f);
  const std::string path = tier.path_for(f.key);
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // only the file is unreadable
  Result<LoadedFile> got = Status(Code::kCancelled, "not run");
  if (::geteuid() != 0) {
    got = tier.load(f.key);
  } else if (!as_nobody([&] { got = tier.load(f.key); })) {
    GTEST_SKIP() << "running as root and setfsuid(nobody) failed: root reads a mode-000 file anyway";
  }
  EXPECT_EQ(got.status().code(), Code::kPermissionDenied) << got.status().to_string();
  EXPECT_NE(got.status().message().find(path), std::string::npos) << got.status().message();
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_TRUE(tier.load(f.key).ok()) << "readable again";
}

}  // namespace
}  // namespace kvc::tiers
