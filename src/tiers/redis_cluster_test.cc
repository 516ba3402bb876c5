// Redis Cluster routing: CRC16 and key slots (vectors from the cluster spec), the
// CLUSTER SLOTS parser, redirect parsing, and MOVED / ASK against a real cluster.
#include "tiers/redis_cluster.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "support/redis_server.h"
#include "tiers/redis_client.h"
#include "tiers/remote_test_util.h"

namespace kvc::tiers {
namespace {

using remotetest::cluster_options;

// A reply as hiredis would parse it from RESP bytes.
RedisReply parse_resp(const std::string& resp) {
  redisReader* r = redisReaderCreate();
  redisReaderFeed(r, resp.data(), resp.size());
  void* out = nullptr;
  EXPECT_EQ(redisReaderGetReply(r, &out), REDIS_OK);
  redisReaderFree(r);
  return RedisReply(static_cast<redisReply*>(out));
}

TEST(RedisClusterSlots, Crc16Vectors) {
  EXPECT_EQ(crc16_xmodem("123456789"), 0x31C3);  // the cluster spec's check value
  EXPECT_EQ(crc16_xmodem(""), 0x0000);
  EXPECT_EQ(crc16_xmodem("A"), 0x58E5);
}

TEST(RedisClusterSlots, KeySlotsMatchRedis) {
  // Values Redis itself gives (CLUSTER KEYSLOT).
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("123456789"), 0x31C3 % 16384);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("{user1000}.followers"), key_slot("{user1000}.following"));
}

TEST(RedisClusterSlots, HashTagEdgeCases) {
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16_xmodem("foo{}{bar}") % 16384);  // empty first tag: the whole key
  EXPECT_EQ(key_slot("foo{{bar}}zap"), crc16_xmodem("{bar") % 16384);     // from the first '{' to the first '}'
  EXPECT_EQ(key_slot("foo{bar}{zap}"), crc16_xmodem("bar") % 16384);      // only the first tag
  EXPECT_EQ(key_slot("foo{"), crc16_xmodem("foo{") % 16384);              // unclosed: the whole key
  EXPECT_EQ(key_slot("{"), crc16_xmodem("{") % 16384);
  EXPECT_EQ(key_slot("}{x}"), crc16_xmodem("x") % 16384);
  // Every key of one row shares a slot.
  const std::string k(64, 'a');
  EXPECT_EQ(key_slot("kvc:{" + k + "}:row"), key_slot("kvc:{" + k + "}:c:7"));
  EXPECT_EQ(key_slot("kvc:{" + k + "}:row"), key_slot(k));
}

TEST(RedisClusterSlots, ParsesClusterSlots) {
  const std::string resp =
      "*2\r\n"
      "*3\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$4\r\nid-a\r\n"
      "*4\r\n:5461\r\n:16383\r\n*2\r\n$0\r\n\r\n:7001\r\n*2\r\n$9\r\n127.0.0.1\r\n:7002\r\n";
  RedisReply r = parse_resp(resp);
  auto ranges = parse_cluster_slots(r.get(), RedisEndpoint{"10.1.1.1", 7777});
  ASSERT_TRUE(ranges.ok()) << ranges.status().to_string();
  ASSERT_EQ(ranges->size(), 2u);
  EXPECT_EQ((*ranges)[0].first, 0);
  EXPECT_EQ((*ranges)[0].last, 5460);
  EXPECT_EQ((*ranges)[0].master, (RedisEndpoint{"127.0.0.1", 7000}));
  EXPECT_EQ((*ranges)[1].master, (RedisEndpoint{"10.1.1.1", 7001}));  // empty address: the node asked

  for (const std::string& bad : {std::string("+OK\r\n"), std::string("*1\r\n*2\r\n:0\r\n:5\r\n"),
                                std::string("*1\r\n*3\r\n:5\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n"),
                                std::string("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n"),
                                std::string("*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n"),
                                std::string("-ERR This instance has cluster support disabled\r\n")}) {
    RedisReply b = parse_resp(bad);
    auto p = parse_cluster_slots(b.get(), RedisEndpoint{"h", 1});
    EXPECT_FALSE(p.ok()) << bad;
  }
}

TEST(RedisClusterSlots, ParsesRedirects) {
  RedisReply moved = parse_resp("-MOVED 3999 127.0.0.1:6381\r\n");
  auto m = parse_redirect(moved.get());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->kind, Redirect::Kind::kMoved);
  EXPECT_EQ(m->slot, 3999);
  EXPECT_EQ(m->target, (RedisEndpoint{"127.0.0.1", 6381}));
  RedisReply ask = parse_resp("-ASK 1 ::1:7000\r\n");
  auto a = parse_redirect(ask.get());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->kind, Redirect::Kind::kAsk);
  EXPECT_EQ(a->target.host, "::1");
  RedisReply same = parse_resp("-MOVED 5 :7000\r\n");  // Redis 7: the node's own host left out
  ASSERT_TRUE(parse_redirect(same.get()).has_value());
  EXPECT_EQ(parse_redirect(same.get())->target.host, "");
  for (const char* not_redirect : {"-ERR wrong\r\n", "-MOVED x h:1\r\n", "-MOVED 16384 h:1\r\n", "-ASK 1 h\r\n",
                                   "+MOVED 1 h:1\r\n", "$5\r\nMOVED\r\n"}) {
    RedisReply r = parse_resp(not_redirect);
    EXPECT_FALSE(parse_redirect(r.get()).has_value()) << not_redirect;
  }
}

// ---- against a real 3-master cluster ----

class RedisClusterLive : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    cluster_ = testing::RedisTestCluster::start(3, &error);
    ASSERT_TRUE(cluster_) << error;
    auto c = RedisClient::open(cluster_options(*cluster_), &counters_);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    client_ = std::move(c).value();
  }
  RemoteCounters counters_;
  std::unique_ptr<testing::RedisTestCluster> cluster_;
  std::unique_ptr<RedisClient> client_;
};

TEST_F(RedisClusterLive, RoutesEveryKeyToItsMaster) {
  EXPECT_EQ(client_->masters().size(), 3u);
  for (int i = 0; i < 50; ++i) {
    const std::string key = remotetest::numbered("k", i);
    auto set = client_->exec(key, RedisCommand({"SET", key, remotetest::numbered("v", i)}), kNoDeadline);
    ASSERT_TRUE(set.ok()) << set.status().to_string();
    ASSERT_TRUE(reply_is_ok(set->get())) << reply_str(set->get());
    // The key is on the node that owns its slot.
    const int owner = cluster_->owner_of_slot(key_slot(key));
    ASSERT_GE(owner, 0);
    EXPECT_EQ(cluster_->node(owner).text({"GET", key}), remotetest::numbered("v", i));
  }
  EXPECT_EQ(counters_.moved.load(), 0u);
}

TEST_F(RedisClusterLive, FollowsMovedAndUpdatesTheMap) {
  const std::string key = "{moving}k";
  const int slot = key_slot(key);
  ASSERT_TRUE(reply_is_ok(client_->exec(key, RedisCommand({"SET", key, "before"}), kNoDeadline)->get()));
  // Move the slot behind the client's back: the client still has the old owner.
  const int from = cluster_->owner_of_slot(slot);
  const int to = (from + 1) % 3;
  const std::string to_id = cluster_->node_id(to), from_id = cluster_->node_id(from);
  const std::string s = std::to_string(slot);
  EXPECT_EQ(cluster_->node(to).text({"CLUSTER", "SETSLOT", s, "IMPORTING", from_id}), "OK");
  EXPECT_EQ(cluster_->node(from).text({"CLUSTER", "SETSLOT", s, "MIGRATING", to_id}), "OK");
  EXPECT_EQ(cluster_->node(from).text({"MIGRATE", "127.0.0.1", std::to_string(cluster_->node(to).port()), key, "0",
                                      "5000"}),
            "OK");
  for (int n = 0; n < 3; ++n) EXPECT_EQ(cluster_->node(n).text({"CLUSTER", "SETSLOT", s, "NODE", to_id}), "OK");

  auto got = client_->exec(key, RedisCommand({"GET", key}), kNoDeadline);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(reply_str(got->get()), "before");
  EXPECT_GE(counters_.moved.load(), 1u);
  // The map was updated: the next call goes straight to the new owner.
  const auto moved = counters_.moved.load();
  ASSERT_TRUE(client_->exec(key, RedisCommand({"GET", key}), kNoDeadline).ok());
  EXPECT_EQ(counters_.moved.load(), moved);
  EXPECT_TRUE(remotetest::eventually([&] { return counters_.slot_map_refreshes.load() >= 2; }));
}

TEST_F(RedisClusterLive, FollowsAskOnceWithAskingAndKeepsTheMap) {
  const std::string moved_key = "{asking}moved", staying_key = "{asking}staying";
  const int slot = key_slot(moved_key);
  for (const auto& k : {moved_key, staying_key})
    ASSERT_TRUE(reply_is_ok(client_->exec(k, RedisCommand({"SET", k, k}), kNoDeadline)->get()));
  const int from = cluster_->owner_of_slot(slot);
  const int to = (from + 1) % 3;
  const std::string s = std::to_string(slot);
  ASSERT_EQ(cluster_->node(to).text({"CLUSTER", "SETSLOT", s, "IMPORTING", cluster_->node_id(from)}), "OK");
  ASSERT_EQ(cluster_->node(from).text({"CLUSTER", "SETSLOT", s, "MIGRATING", cluster_->node_id(to)}), "OK");
  ASSERT_EQ(cluster_->node(from).text({"MIGRATE", "127.0.0.1", std::to_string(cluster_->node(to).port()), moved_key,
                                      "0", "5000"}),
            "OK");
  // Mid-migration: one pipeline for the slot, one key on each node.
  const std::vector<RedisCommand> gets{RedisCommand({"GET", moved_key}), RedisCommand({"GET", staying_key})};
  auto r = client_->exec(moved_key, gets, kNoDeadline);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(reply_str((*r)[0].get()), moved_key);
  EXPECT_EQ(reply_str((*r)[1].get()), staying_key);
  EXPECT_EQ(counters_.ask.load(), 1u);
  EXPECT_EQ(counters_.moved.load(), 0u);
  // ASK changed nothing: the slot still routes to the old owner, which asks again.
  ASSERT_TRUE(client_->exec(moved_key, RedisCommand({"GET", moved_key}), kNoDeadline).ok());
  EXPECT_EQ(counters_.ask.load(), 2u);
  // A new key in a migrating slot is created on the importing node through ASK.
  auto created = client_->exec(moved_key, RedisCommand({"SET", "{asking}new", "n"}), kNoDeadline);
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(reply_is_ok(created->get())) << reply_str(created->get());
  auto read_back = client_->exec(moved_key, RedisCommand({"GET", "{asking}new"}), kNoDeadline);
  ASSERT_TRUE(read_back.ok());
  EXPECT_EQ(reply_str(read_back->get()), "n");
  EXPECT_EQ(cluster_->owner_of_slot(slot), from);  // the slot itself has not moved
}

TEST_F(RedisClusterLive, ReshardingWithRedisCliKeepsEveryKeyReachable) {
  for (int i = 0; i < 200; ++i) {
    const std::string k = remotetest::numbered("key:", i);
    ASSERT_TRUE(reply_is_ok(client_->exec(k, RedisCommand({"SET", k, std::to_string(i)}), kNoDeadline)->get()));
  }
  std::string out;
  ASSERT_TRUE(cluster_->reshard(0, 1, 2000, &out)) << out;
  for (int i = 0; i < 200; ++i) {
    const std::string k = remotetest::numbered("key:", i);
    auto r = client_->exec(k, RedisCommand({"GET", k}), kNoDeadline);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(reply_str(r->get()), std::to_string(i));
  }
  EXPECT_GE(counters_.moved.load(), 1u);
}

}  // namespace
}  // namespace kvc::tiers
