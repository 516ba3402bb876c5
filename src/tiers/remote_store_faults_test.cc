// RemoteStore faults on a real redis-server: Redis killed mid-run and restarted,
// a paused Redis, values corrupted / truncated / foreign in Redis, and Redis at
// maxmemory with allkeys-lru. Every outcome is an error or a miss within the
// deadline, counted — never a wrong file.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/redis_server.h"
#include "tiers/remote_store.h"
#include "tiers/remote_test_util.h"

namespace kvc::tiers {
namespace {

using namespace std::chrono_literals;
using remotetest::eventually;
using remotetest::File;
using remotetest::make_file;
using remotetest::single_options;

class RemoteFaultsTest : public ::testing::Test {
 protected:
  void start(const testing::RedisServerOptions& so = {}) {
    std::string error;
    server_ = testing::RedisServer::start(so, &error);
    ASSERT_TRUE(server_) << error;
    RemoteOptions o = single_options(*server_);
    o.chunk_bytes = 4096;
    auto s = RemoteStore::open(o);
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    store_ = std::move(s).value();
  }
  void put(const File& f) { ASSERT_TRUE(store_->put(f.key, f.prefix, f.payload).ok()); }
  std::string row_key(const File& f) const { return "kvc:{" + f.key.hex() + "}:row"; }
  std::string chunk_key(const File& f, int n) const { return "kvc:{" + f.key.hex() + remotetest::numbered("}:c:", n); }
  // get must reject the row: kCorrupt naming `says`, every key of it deleted, counted.
  void expect_rejected(const File& f, const std::string& says, int chunks) {
    const auto before = store_->counters().corrupt_rejected;
    auto got = store_->get(f.key, Clock::now() + 5s);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), Code::kCorrupt) << got.status().to_string();
    EXPECT_NE(got.status().message().find(says), std::string::npos) << got.status().message();
    EXPECT_NE(got.status().message().find("deleted"), std::string::npos) << got.status().message();
    EXPECT_EQ(store_->counters().corrupt_rejected, before + 1);
    EXPECT_EQ(server_->text({"EXISTS", row_key(f)}), "0");
    for (int i = 0; i < chunks; ++i) EXPECT_EQ(server_->text({"EXISTS", chunk_key(f, i)}), "0") << i;
    EXPECT_FALSE(store_->knows(f.key));
    EXPECT_EQ(store_->get(f.key, Clock::now() + 5s).status().code(), Code::kNotFound);
  }

  std::unique_ptr<testing::RedisServer> server_;
  std::unique_ptr<RemoteStore> store_;
};

TEST_F(RemoteFaultsTest, AByteFlippedInAWholeFilesPayload) {
  start();
  const File f = make_file(1, 1000);
  put(f);
  const std::string at = std::to_string(f.prefix.size() + 10);
  ASSERT_NE(server_->text({"SETRANGE", row_key(f), at, "\x5a"}), "(unreachable)");
  expect_rejected(f, "crc_mismatch", 0);
}

TEST_F(RemoteFaultsTest, AByteFlippedInAChunk) {
  start();
  const File f = make_file(2, 20'000);
  put(f);
  ASSERT_NE(server_->text({"SETRANGE", chunk_key(f, 2), "100", "\x01\x02"}), "(unreachable)");
  expect_rejected(f, "crc_mismatch", 6);
}

TEST_F(RemoteFaultsTest, AMissingChunk) {
  start();
  const File f = make_file(3, 20'000);
  put(f);
  ASSERT_EQ(server_->text({"DEL", chunk_key(f, 1)}), "1");
  expect_rejected(f, "chunk 1 is missing", 6);
}

TEST_F(RemoteFaultsTest, AShortenedChunk) {
  start();
  const File f = make_file(4, 20'000);
  put(f);
  const std::string half = server_->text({"GETRANGE", chunk_key(f, 3), "0", "1000"});
  ASSERT_EQ(server_->text({"SET", chunk_key(f, 3), half}), "OK");
  expect_rejected(f, "chunk 3 has 1001 bytes", 6);
}

TEST_F(RemoteFaultsTest, ForeignValuesAndTheFileOfAnotherKey) {
  start();
  const File f = make_file(5, 500), other = make_file(6, 500);
  ASSERT_EQ(server_->text({"SET", row_key(f), "hello, not a kvc file"}), "OK");
  expect_rejected(f, "foreign", 0);
  ASSERT_EQ(server_->text({"SET", row_key(f), other.whole_string()}), "OK");
  expect_rejected(f, "key_mismatch", 0);
  ASSERT_EQ(server_->text({"SET", row_key(f), "KVCM garbage"}), "OK");
  expect_rejected(f, "manifest", 0);
  // A truncated whole file.
  ASSERT_EQ(server_->text({"SET", row_key(f), f.whole_string().substr(0, f.size() - 7)}), "OK");
  expect_rejected(f, "truncated", 0);
}

TEST_F(RemoteFaultsTest, AManifestWhosePrefixDisagreesWithChunkZero) {
  start();
  const File f = make_file(7, 20'000);
  put(f);
  // The manifest's copy of the header says hit_count 9; chunk 0's does not.
  const std::string at = std::to_string(kManifestHeaderSize + format::kHitCountOffset);
  ASSERT_NE(server_->text({"SETRANGE", row_key(f), at, "\x09"}), "(unreachable)");
  expect_rejected(f, "manifest's prefix", 6);
}

TEST_F(RemoteFaultsTest, RedisKilledMidRunThenRestarted) {
  start();
  const File f = make_file(8, 3000);
  put(f);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0}, failed{0}, calls{0};
  std::thread load([&] {
    for (std::uint32_t i = 0; !stop; ++i) {
      const File g = make_file(100 + i % 50, 2000);
      const Status p = store_->put(g.key, g.prefix, g.payload, Clock::now() + 1s);
      auto r = store_->get(f.key, Clock::now() + 1s);
      if (r.ok() && !std::equal(r->payload.begin(), r->payload.end(), f.payload.begin(), f.payload.end())) ++wrong;
      if (!r.ok() && r.status().code() == Code::kCorrupt) ++wrong;  // a dead server is not corruption
      if (!r.ok() || (!p.ok() && p.code() != Code::kAlreadyPresent)) ++failed;
      ++calls;
    }
  });
  ASSERT_TRUE(eventually([&] { return calls.load() >= 5; }));
  server_->kill();
  const int at_kill = calls.load();
  ASSERT_TRUE(eventually([&] { return calls.load() >= at_kill + 20; }));  // calls keep returning
  EXPECT_GE(failed.load(), 1);
  const auto down = store_->counters();
  EXPECT_GE(down.errors + down.timeouts, 1u);
  EXPECT_GE(down.fast_failures, 1u);
  std::string error;
  ASSERT_TRUE(server_->restart(&error)) << error;  // an empty Redis: the row is gone
  ASSERT_TRUE(eventually([&] { return store_->counters().reconnects >= 1; }));
  stop = true;
  load.join();
  EXPECT_EQ(wrong.load(), 0);
  // Working again: a put and a get.
  ASSERT_TRUE(eventually([&] { return store_->put(f.key, f.prefix, f.payload).ok(); }));
  auto again = store_->get(f.key, Clock::now() + 5s);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
}

TEST_F(RemoteFaultsTest, APausedRedisTimesOutWithinTheDeadline) {
  start();
  const File f = make_file(9, 1000);
  put(f);
  server_->pause();
  auto got = store_->get(f.key, Clock::now() + 100ms);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kTimeout) << got.status().to_string();
  EXPECT_EQ(store_->counters().timeouts, 1u);
  const Status p = store_->put(make_file(10).key, make_file(10).prefix, make_file(10).payload, Clock::now() + 100ms);
  EXPECT_FALSE(p.ok());
  server_->resume();
  EXPECT_TRUE(eventually([&] { return store_->get(f.key, Clock::now() + 1s).ok(); }));
}

TEST_F(RemoteFaultsTest, AtMaxmemoryWithLruEvictedRowsAreMissesNeverWrongFiles) {
  testing::RedisServerOptions so;
  so.maxmemory = 6u << 20;
  so.maxmemory_policy = "allkeys-lru";
  start(so);
  std::vector<File> files;
  for (std::uint32_t i = 0; i < 40; ++i) files.push_back(make_file(200 + i, 400'000));  // ~100 chunks each
  int stored = 0;
  for (const auto& f : files) {
    const Status s = store_->put(f.key, f.prefix, f.payload);
    if (s.ok()) {
      ++stored;
    } else {
      EXPECT_TRUE(s.code() == Code::kNoSpace || s.code() == Code::kUnavailable) << s.to_string();
    }
  }
  EXPECT_GE(stored, 1);
  const std::string stats = server_->text({"INFO", "stats"});
  ASSERT_NE(stats.find("evicted_keys:"), std::string::npos);
  EXPECT_EQ(stats.find("evicted_keys:0\r"), std::string::npos) << "nothing was evicted; the test proves nothing";
  int hits = 0, misses = 0;
  for (const auto& f : files) {
    auto got = store_->get(f.key, Clock::now() + 5s);
    if (got.ok()) {
      ++hits;
      ASSERT_TRUE(std::equal(got->payload.begin(), got->payload.end(), f.payload.begin(), f.payload.end()));
    } else {
      ++misses;
      EXPECT_TRUE(got.status().code() == Code::kNotFound || got.status().code() == Code::kCorrupt)
          << got.status().to_string();
    }
  }
  EXPECT_GE(misses, 1);
  EXPECT_EQ(hits + misses, 40);
}

}  // namespace
}  // namespace kvc::tiers
