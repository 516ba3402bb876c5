// RamTier: files kept as the buffers they were built or read into, handed back
// with no copy and no CRC pass (they were verified on the way in).
#include "tiers/ram_tier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tiers/tier_test_util.h"

namespace kvc::tiers {
namespace {

using testutil::make_file;
using testutil::ScriptedGuard;

TEST(RamTier, PutWithoutGuardAndLoadShareTheBuffers) {
  RamTier tier(1 << 20);
  EXPECT_EQ(tier.kind(), TierKind::kRam);
  EXPECT_EQ(tier.describe(), "ram");
  auto f = make_file(1, 5000);
  const LoadedFile in = f.loaded();
  ASSERT_TRUE(tier.put(f.key, in, nullptr).ok());
  EXPECT_EQ(tier.entries(), 1u);

  auto loaded = tier.load(f.key);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->payload().data(), f.payload->data()) << "the payload is shared, not copied";
  EXPECT_EQ(loaded->bytes.prefix.data(), f.prefix->data());
  EXPECT_EQ(loaded->payload().size(), f.payload->size());
  EXPECT_EQ(loaded->meta, in.meta) << "the parsed metadata is shared too";
  EXPECT_EQ(loaded->meta->tokens, f.tokens);
  EXPECT_EQ(loaded->meta->key(), f.key);
  EXPECT_EQ(testutil::whole_of(*loaded), f.whole());

  // The LoadedFile keeps the bytes alive after the tier and the saver let go.
  const std::vector<std::byte> copy(*f.payload);
  ASSERT_TRUE(tier.remove(f.key).ok());
  ASSERT_TRUE(tier.remove(f.key).ok());  // ok when already gone
  f.payload.reset();
  f.prefix.reset();
  EXPECT_TRUE(std::equal(loaded->payload().begin(), loaded->payload().end(), copy.begin(), copy.end()));
  EXPECT_EQ(tier.entries(), 0u);
  EXPECT_EQ(tier.load(make_file(1).key).status().code(), Code::kNotFound);
  EXPECT_TRUE(tier.write_hit_count(make_file(1).key, 3).ok()) << "nothing persistent: a no-op";
}

TEST(RamTier, PutParsesTheMetadataWhenNoneIsGiven) {
  RamTier tier(1 << 20);
  auto f = make_file(2, 300, /*hits=*/7);
  ASSERT_TRUE(tier.put(f.key, f.loaded(/*with_meta=*/false), nullptr).ok());
  auto loaded = tier.load(f.key);
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE(loaded->meta);
  EXPECT_EQ(loaded->meta->key(), f.key);
  EXPECT_EQ(loaded->meta->tokens, f.tokens);
  EXPECT_EQ(loaded->meta->header.hit_count, 7u);
  EXPECT_EQ(loaded->meta->payload_offset, f.prefix->size());
}

TEST(RamTier, AnUnparsablePrefixWithoutMetadataIsRefused) {
  RamTier tier(1 << 20);
  auto f = make_file(3);
  (*f.prefix)[0] = std::byte{'X'};  // bad magic
  const Status s = tier.put(f.key, f.loaded(/*with_meta=*/false), nullptr);
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find(f.key.hex()), std::string::npos) << s.message();
  EXPECT_EQ(tier.entries(), 0u);
  EXPECT_EQ(tier.put(f.key, LoadedFile{}, nullptr).code(), Code::kInvalidArgument) << "no buffers";
  EXPECT_EQ(tier.entries(), 0u);
}

TEST(RamTier, PutWithGuardAsksBeforeAndAfter) {
  RamTier tier(1 << 20);
  auto f = make_file(4);
  ScriptedGuard guard;
  bool held_when_asked = false;
  guard.on_published = [&] { held_when_asked = tier.entries() == 1; };
  ASSERT_TRUE(tier.put(f.key, f.loaded(), &guard).ok());
  EXPECT_EQ(guard.checks, 1);
  EXPECT_EQ(guard.publications, 1);
  EXPECT_TRUE(held_when_asked) << "published() is asked once the copy is stored";
  EXPECT_TRUE(tier.load(f.key).ok());
}

TEST(RamTier, LostReservationStoresNothing) {
  RamTier tier(1 << 20);
  auto f = make_file(5);
  ScriptedGuard before;
  before.ours = false;
  const Status s = tier.put(f.key, f.loaded(), &before);
  EXPECT_EQ(s.code(), Code::kCancelled);
  EXPECT_NE(s.message().find(f.key.hex()), std::string::npos) << s.message();
  EXPECT_EQ(before.publications, 0);
  EXPECT_EQ(tier.entries(), 0u);

  ScriptedGuard after;
  after.keep = false;
  EXPECT_EQ(tier.put(f.key, f.loaded(), &after).code(), Code::kCancelled);
  EXPECT_EQ(after.checks, 1);
  EXPECT_EQ(tier.entries(), 0u) << "stored, then taken back";
  EXPECT_EQ(tier.load(f.key).status().code(), Code::kNotFound);
}

// Many keys over the tier's shards from several threads (TSan).
TEST(RamTier, ConcurrentPutsLoadsAndRemoves) {
  RamTier tier(1 << 30);
  constexpr int kThreads = 4;
  constexpr int kKeys = 64;
  std::vector<testutil::TestFile> files;
  for (int i = 0; i < kKeys; ++i) files.push_back(make_file(static_cast<std::uint32_t>(100 + i), 256));
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        const auto& f = files[static_cast<std::size_t>((round * 7 + t * 13) % kKeys)];
        switch ((round + t) % 3) {
          case 0:
            if (!tier.put(f.key, f.loaded(), nullptr).ok()) ++bad;
            break;
          case 1: {
            auto got = tier.load(f.key);
            if (got.ok() && (got->meta->key() != f.key || got->payload().data() != f.payload->data())) ++bad;
            if (!got.ok() && got.status().code() != Code::kNotFound) ++bad;
            break;
          }
          default:
            if (!tier.remove(f.key).ok()) ++bad;
            break;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  std::size_t held = 0;
  for (const auto& f : files) held += tier.load(f.key).ok() ? 1 : 0;
  EXPECT_EQ(tier.entries(), held);
}

}  // namespace
}  // namespace kvc::tiers
