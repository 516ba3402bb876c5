// RedisClient on a real single redis-server: pipelines, login, the connection
// pool under concurrency, and degradation — a paused, killed or restarted server,
// connections killed by the server, and no SIGPIPE (this test binary does not
// ignore SIGPIPE: a write to a dead peer through write(2) would end it).
#include "tiers/redis_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/redis_server.h"
#include "tiers/remote_test_util.h"

namespace kvc::tiers {
namespace {

using namespace std::chrono_literals;
using remotetest::eventually;
using remotetest::single_options;

std::unique_ptr<testing::RedisServer> start_server(const testing::RedisServerOptions& o = {}) {
  std::string error;
  auto s = testing::RedisServer::start(o, &error);
  EXPECT_TRUE(s) << error;
  return s;
}

std::unique_ptr<RedisClient> open_client(const RemoteOptions& o, RemoteCounters* counters) {
  auto c = RedisClient::open(o, counters);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST(RedisClient, PipelinesRepliesInOrder) {
  auto server = start_server();
  ASSERT_TRUE(server);
  RemoteCounters counters;
  auto client = open_client(single_options(*server), &counters);
  ASSERT_TRUE(client);
  std::vector<RedisCommand> cmds;
  for (int i = 0; i < 100; ++i) cmds.push_back(RedisCommand({"SET", remotetest::numbered("k", i), std::to_string(i)}));
  for (int i = 0; i < 100; ++i) cmds.push_back(RedisCommand({"GET", remotetest::numbered("k", i)}));
  auto r = client->exec("k", cmds, kNoDeadline);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 200u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(reply_is_ok((*r)[i].get()));
    EXPECT_EQ(reply_str((*r)[100 + i].get()), std::to_string(i));
  }
  auto err = client->exec("k", RedisCommand({"NOSUCHCOMMAND"}), kNoDeadline);
  ASSERT_TRUE(err.ok());  // an error reply is a reply
  EXPECT_TRUE(reply_is_error(err->get()));
}

TEST(RedisClient, BulkRepliesGoStraightIntoTheSink) {
  auto server = start_server();
  ASSERT_TRUE(server);
  RemoteCounters counters;
  auto client = open_client(single_options(*server), &counters);
  ASSERT_TRUE(client);
  std::string big(3u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
  ASSERT_EQ(server->text({"SET", "big", big}), "OK");
  ASSERT_EQ(server->text({"SET", "small", "hello"}), "OK");
  ASSERT_EQ(server->text({"SET", "empty", ""}), "OK");
  std::vector<std::byte> dest(big.size());
  std::vector<std::size_t> offered;
  const BulkSink sink = [&](std::size_t index, std::size_t length) -> std::span<std::byte> {
    offered.push_back(index);
    return length == dest.size() ? std::span<std::byte>(dest) : std::span<std::byte>();  // takes only `big`
  };
  const std::vector<RedisCommand> cmds{RedisCommand({"GET", "small"}), RedisCommand({"GET", "big"}),
                                       RedisCommand({"GET", "missing"}), RedisCommand({"GET", "empty"}),
                                       RedisCommand({"PING"}), RedisCommand({"GET", "big"}),
                                       RedisCommand({"GET", "small"})};
  auto r = client->exec("k", cmds, kNoDeadline, {}, &sink);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(reply_str((*r)[0].get()), "hello");  // declined: an ordinary reply
  EXPECT_EQ((*r)[1].get(), nullptr);             // delivered
  EXPECT_EQ(remotetest::as_string(dest), big);
  EXPECT_TRUE(reply_is_nil((*r)[2].get()));
  EXPECT_TRUE(reply_is_string((*r)[3].get()));
  EXPECT_EQ(reply_str((*r)[4].get()), "PONG");
  EXPECT_EQ((*r)[5].get(), nullptr);
  EXPECT_EQ(reply_str((*r)[6].get()), "hello");
  EXPECT_EQ(offered, (std::vector<std::size_t>{0, 1, 5, 6}));  // bulk strings of non-zero length only
  // The connection is in step afterwards.
  auto after = client->exec("k", RedisCommand({"GET", "small"}), kNoDeadline);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(reply_str(after->get()), "hello");
}

TEST(RedisClient, AuthAndSelectFromTheUrl) {
  testing::RedisServerOptions so;
  so.password = "pw-for-test";
  auto server = start_server(so);
  ASSERT_TRUE(server);
  RemoteCounters counters;
  RemoteOptions o = single_options(*server);
  o.url = server->url(2);
  auto client = open_client(o, &counters);
  ASSERT_TRUE(client);
  auto set = client->exec("k", RedisCommand({"SET", "k", "in-db-2"}), kNoDeadline);
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  EXPECT_TRUE(reply_is_ok(set->get()));
  auto info = client->exec("k", RedisCommand({"CLIENT", "INFO"}), kNoDeadline);
  ASSERT_TRUE(info.ok());
  EXPECT_NE(reply_str(info->get()).find(" db=2 "), std::string_view::npos) << reply_str(info->get());
  EXPECT_EQ(server->text({"GET", "k"}), "(nil)");  // db 0 untouched

  // A wrong password: a clear error, then fast failures while "down".
  RemoteOptions bad = o;
  bad.url = "redis://:wrong@" + server->host_port();
  RemoteCounters bad_counters;
  auto wrong = open_client(bad, &bad_counters);
  ASSERT_TRUE(wrong);
  auto r = wrong->exec("k", RedisCommand({"PING"}), kNoDeadline);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("AUTH"), std::string::npos) << r.status().message();
  auto again = wrong->exec("k", RedisCommand({"PING"}), kNoDeadline);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("is down"), std::string::npos) << again.status().message();
  EXPECT_GE(bad_counters.fast_failures.load(), 1u);
}

TEST(RedisClient, AHostNameIsResolvedAtStartNotPerRequest) {
  auto server = start_server();
  ASSERT_TRUE(server);
  RemoteCounters counters;
  RemoteOptions o = single_options(*server);
  o.url = remotetest::numbered("redis://localhost:", server->port());
  auto client = open_client(o, &counters);
  ASSERT_TRUE(client);
  auto r = client->exec("k", RedisCommand({"PING"}), kNoDeadline);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(reply_str(r->get()), "PONG");

  RemoteOptions nowhere = o;
  nowhere.url = "redis://no-such-host.invalid:6379";
  RemoteCounters nowhere_counters;
  auto lost = open_client(nowhere, &nowhere_counters);  // opens: Redis may come later
  ASSERT_TRUE(lost);
  auto fail = lost->exec("k", RedisCommand({"PING"}), kNoDeadline);
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.status().code(), Code::kUnavailable);
  EXPECT_NE(fail.status().message().find("no-such-host.invalid"), std::string::npos) << fail.status().message();
}

TEST(RedisClient, ManyThreadsShareASmallPool) {
  auto server = start_server();
  ASSERT_TRUE(server);
  RemoteCounters counters;
  RemoteOptions o = single_options(*server);
  o.max_connections_per_node = 3;
  o.timeout = 2s;  // waiting for a free connection is part of the test
  auto client = open_client(o, &counters);
  ASSERT_TRUE(client);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const std::string k = remotetest::numbered("t", t) + remotetest::numbered(":", i);
        const std::vector<RedisCommand> cmds{RedisCommand({"SET", k, k}), RedisCommand({"GET", k})};
        auto r = client->exec(k, cmds, kNoDeadline);
        if (!r.ok() || reply_str((*r)[1].get()) != k) ++failures;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const std::string info = server->text({"INFO", "clients"});
  const auto at = info.find("connected_clients:");
  ASSERT_NE(at, std::string::npos) << info;
  EXPECT_LE(std::stoi(info.substr(at + 18)), 3 + 1);  // the pool's 3, plus the test's own connection
}

TEST(RedisClient, APausedServerTimesOutThenFailsFast) {
  auto server = start_server();
  ASSERT_TRUE(server);
  RemoteCounters counters;
  RemoteOptions o = single_options(*server);
  o.timeout = 100ms;
  auto client = open_client(o, &counters);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->exec("k", RedisCommand({"PING"}), kNoDeadline).ok());
  server->pause();
  // Each call ends with kTimeout (bounded by the stall limit); after three the node is down.
  for (int i = 0; i < 3; ++i) {
    auto r = client->exec("k", RedisCommand({"PING"}), kNoDeadline);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kTimeout) << r.status().to_string();
  }
  auto fast = client->exec("k", RedisCommand({"PING"}), kNoDeadline);
  ASSERT_FALSE(fast.ok());
  EXPECT_EQ(fast.status().code(), Code::kUnavailable) << fast.status().to_string();
  EXPECT_GE(counters.fast_failures.load(), 1u);
  // A caller's deadline that has passed is honoured without waiting at all.
  auto past = client->exec("k", RedisCommand({"PING"}), Clock::now() - 1s);
  EXPECT_FALSE(past.ok());
  server->resume();
  EXPECT_TRUE(eventually([&] { return client->exec("k", RedisCommand({"PING"}), kNoDeadline).ok(); }));
  EXPECT_GE(counters.reconnects.load(), 1u);
}

TEST(RedisClient, KilledServerFailsFastAndReconnectsAfterRestart) {
  auto server = start_server();
  ASSERT_TRUE(server);
  RemoteCounters counters;
  auto client = open_client(single_options(*server), &counters);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->exec("k", RedisCommand({"SET", "k", "v"}), kNoDeadline).ok());
  server->kill();
  for (int i = 0; i < 20; ++i) {
    auto r = client->exec("k", RedisCommand({"GET", "k"}), kNoDeadline);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().code() == Code::kUnavailable || r.status().code() == Code::kTimeout)
        << r.status().to_string();
  }
  EXPECT_GE(counters.fast_failures.load(), 1u);
  std::string error;
  ASSERT_TRUE(server->restart(&error)) << error;
  EXPECT_TRUE(eventually([&] { return client->exec("k", RedisCommand({"PING"}), kNoDeadline).ok(); }));
  EXPECT_GE(counters.reconnects.load(), 1u);
}

TEST(RedisClient, ConnectionsKilledByTheServerAreReplaced) {
  auto server = start_server();
  ASSERT_TRUE(server);
  RemoteCounters counters;
  auto client = open_client(single_options(*server), &counters);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->exec("k", RedisCommand({"PING"}), kNoDeadline).ok());
  EXPECT_NE(server->text({"CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal"}), "(unreachable)");
  EXPECT_TRUE(eventually([&] { return client->exec("k", RedisCommand({"PING"}), kNoDeadline).ok(); }));
}

// The server closes our idle pooled connection (FIN); the next large write makes
// the kernel answer with RST, and a second write to that socket fails with EPIPE —
// which, through write(2) or send(2) without MSG_NOSIGNAL, raises SIGPIPE and ends
// this process (checked: the test dies when MSG_NOSIGNAL is removed).
TEST(RedisClient, NoSigpipeWhenTheServerClosedTheConnection) {
  auto server = start_server();
  ASSERT_TRUE(server);
  RemoteCounters counters;
  RemoteOptions o = single_options(*server);
  o.max_connections_per_node = 1;
  auto client = open_client(o, &counters);
  ASSERT_TRUE(client);
  const std::vector<std::byte> big(16u << 20, std::byte{'x'});
  int failures = 0;
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(eventually([&] { return client->exec("k", RedisCommand({"PING"}), kNoDeadline).ok(); }));
    ASSERT_NE(server->text({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}), "(unreachable)");
    std::this_thread::sleep_for(20ms);  // the FIN arrives
    RedisCommand set({"SET", "big"});
    set.arg_ref(big);
    auto r = client->exec("k", set, kNoDeadline);
    if (!r.ok()) {
      ++failures;
      EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().to_string();
    }
  }
  EXPECT_EQ(failures, 3);  // and the process is still alive
}

}  // namespace
}  // namespace kvc::tiers
