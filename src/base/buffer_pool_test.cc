#include "kvc/buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace kvc {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

TEST(BufferPoolTest, ALargeBufferIsWritableOverItsWholeCapacityAndHugePageAligned) {
  BufferPool pool(256 * kMiB);
  ByteBuffer b = pool.acquire(5 * kMiB + 123);
  ASSERT_EQ(b.size(), 5 * kMiB + 123);
  ASSERT_GE(b.capacity(), b.size());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % (2 * kMiB), 0u);
  std::memset(b.data(), 0xAB, b.capacity());  // every byte of the capacity is ours
  EXPECT_EQ(b.data()[b.capacity() - 1], std::byte{0xAB});
  EXPECT_EQ(pool.stats().allocated, 1u);
}

TEST(BufferPoolTest, AGivenBackBufferIsReusedForASimilarSize) {
  BufferPool pool(256 * kMiB);
  std::byte* first = nullptr;
  {
    ByteBuffer b = pool.acquire(8 * kMiB);
    first = b.data();
  }
  EXPECT_EQ(pool.stats().kept_bytes, 8 * kMiB);
  ByteBuffer again = pool.acquire(7 * kMiB);  // within [size, 2·size + 1 MiB]
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(again.size(), 7 * kMiB);
  EXPECT_EQ(pool.stats().reused, 1u);
  ByteBuffer other = pool.acquire(7 * kMiB);  // the kept one is taken: a new one
  EXPECT_NE(other.data(), first);
  EXPECT_EQ(pool.stats().allocated, 2u);
}

TEST(BufferPoolTest, ABufferFarLargerThanTheRequestIsNotHandedOut) {
  BufferPool pool(256 * kMiB);
  { ByteBuffer big = pool.acquire(64 * kMiB); }
  ByteBuffer small = pool.acquire(2 * kMiB);
  EXPECT_EQ(small.capacity(), 2 * kMiB);
  EXPECT_EQ(pool.stats().reused, 0u);
  EXPECT_EQ(pool.stats().kept_bytes, 64 * kMiB);
}

TEST(BufferPoolTest, TheBudgetBoundsWhatIsKept) {
  BufferPool pool(10 * kMiB);
  {
    ByteBuffer a = pool.acquire(4 * kMiB);
    ByteBuffer b = pool.acquire(4 * kMiB);
    ByteBuffer c = pool.acquire(4 * kMiB);
  }
  EXPECT_LE(pool.stats().kept_bytes, 10 * kMiB);
  EXPECT_EQ(pool.stats().kept_bytes, 8 * kMiB);
  pool.trim();
  EXPECT_EQ(pool.stats().kept_bytes, 0u);
}

TEST(BufferPoolTest, SmallBuffersAreNotKept) {
  BufferPool pool(256 * kMiB);
  { ByteBuffer b = pool.acquire(1000); std::memset(b.data(), 1, b.size()); }
  EXPECT_EQ(pool.stats().kept_bytes, 0u);
  ByteBuffer empty = pool.acquire(0);
  EXPECT_TRUE(empty.empty());
}

TEST(BufferPoolTest, ResizeStaysWithinTheCapacityAndMovesTransferOwnership) {
  BufferPool pool(256 * kMiB);
  ByteBuffer a = pool.acquire(3 * kMiB);
  EXPECT_TRUE(a.resize(a.capacity()));
  EXPECT_FALSE(a.resize(a.capacity() + 1));
  EXPECT_EQ(a.size(), a.capacity());
  std::byte* p = a.data();
  ByteBuffer b = std::move(a);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  b = ByteBuffer();
  EXPECT_EQ(pool.stats().kept_bytes, 4 * kMiB);  // 3 MiB rounded up to 2 MiB pages
}

TEST(BufferPoolTest, CopyOfHoldsTheBytes) {
  std::vector<std::byte> src(3 * kMiB);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::byte(i * 7);
  ByteBuffer b = ByteBuffer::copy_of(src);
  ASSERT_EQ(b.size(), src.size());
  EXPECT_EQ(std::memcmp(b.data(), src.data(), src.size()), 0);
}

}  // namespace
}  // namespace kvc
