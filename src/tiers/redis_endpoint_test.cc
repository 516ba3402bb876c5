#include "tiers/redis_endpoint.h"

#include <gtest/gtest.h>

#include "tiers/remote_options.h"

namespace kvc::tiers {
namespace {

TEST(RedisUrl, HostPortAndDefaults) {
  auto u = parse_redis_url("redis://127.0.0.1:6380");
  ASSERT_TRUE(u.ok()) << u.status().to_string();
  EXPECT_EQ(u->endpoint.host, "127.0.0.1");
  EXPECT_EQ(u->endpoint.port, 6380);
  EXPECT_EQ(u->login.db, 0);
  EXPECT_TRUE(u->login.password.empty());

  auto d = parse_redis_url("redis://cache.example");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->endpoint.port, 6379);
  EXPECT_EQ(d->endpoint.to_string(), "cache.example:6379");
}

TEST(RedisUrl, PasswordUserDbAndIpv6) {
  auto u = parse_redis_url("redis://:s3cret@10.0.0.5:7000/3");
  ASSERT_TRUE(u.ok()) << u.status().to_string();
  EXPECT_EQ(u->login.password, "s3cret");
  EXPECT_TRUE(u->login.username.empty());
  EXPECT_EQ(u->login.db, 3);
  EXPECT_EQ(u->endpoint.port, 7000);

  auto v = parse_redis_url("redis://alice:p%40ss%3Aw@[::1]:6379/0");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->login.username, "alice");
  EXPECT_EQ(v->login.password, "p@ss:w");
  EXPECT_EQ(v->endpoint.host, "::1");
  EXPECT_EQ(v->endpoint.to_string(), "[::1]:6379");

  auto bare = parse_redis_url("redis://pw@host:1");  // no ':' — the whole userinfo is the password
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->login.password, "pw");
}

TEST(RedisUrl, ErrorsNameTheProblemAndHideThePassword) {
  struct Case {
    const char* url;
    const char* says;
  };
  const Case cases[] = {
      {"http://h:1", "expected redis://"},
      {"rediss://h:1", "TLS"},
      {"unix:///tmp/r.sock", "unix sockets"},
      {"redis://", "host is empty"},
      {"redis://h:0", "port"},
      {"redis://h:65536", "port"},
      {"redis://h:12x", "port"},
      {"redis://h:1/abc", "database"},
      {"redis://h:1/-1", "database"},
      {"redis://[::1:6379", "not closed"},
      {"redis://[::1]6379", "':port'"},
      {"redis://ho st:1", "character"},
      {"redis://:@h:1", "password before '@' is empty"},
      {"redis://:p%4@h:1", "'%'"},
      {"redis://h:1?x=1", "query"},
  };
  for (const auto& c : cases) {
    auto r = parse_redis_url(c.url);
    ASSERT_FALSE(r.ok()) << c.url;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.url;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << c.url << " -> " << r.status().message();
    EXPECT_NE(r.status().message().find("--redis"), std::string::npos) << r.status().message();
  }
  auto secret = parse_redis_url("redis://:topsecret@h:99999");
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().message().find("topsecret"), std::string::npos) << secret.status().message();
}

TEST(ClusterSeeds, ListsDeduplicatesAndRejects) {
  auto s = parse_cluster_seeds("127.0.0.1:7000, 127.0.0.1:7001,127.0.0.1:7000,[::1]:7002");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ((*s)[1].port, 7001);
  EXPECT_EQ((*s)[2].host, "::1");

  for (const char* bad : {"", "h", "h:1,", ",h:1", "h:1,,h:2", "h:x", "h:1:2:3x"}) {
    auto r = parse_cluster_seeds(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--redis-cluster"), std::string::npos) << r.status().message();
  }
}

TEST(RemoteOptions, ValidateNamesTheFlag) {
  RemoteOptions o;
  EXPECT_NE(o.validate().message().find("--redis"), std::string::npos);
  o.url = "redis://h:1";
  EXPECT_TRUE(o.validate().ok());
  o.cluster_seeds = "h:1";
  EXPECT_NE(o.validate().message().find("exclusive"), std::string::npos);
  o.cluster_seeds.clear();

  auto expect_bad = [&](RemoteOptions x, const char* flag) {
    const Status s = x.validate();
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << flag;
    EXPECT_NE(s.message().find(flag), std::string::npos) << s.message();
  };
  RemoteOptions p = o;
  p.prefix = "a{b";
  expect_bad(p, "--redis-prefix");
  p.prefix = "a b";
  expect_bad(p, "--redis-prefix");
  p.prefix = "";
  expect_bad(p, "--redis-prefix");
  RemoteOptions t = o;
  t.timeout = std::chrono::milliseconds(0);
  expect_bad(t, "--redis-timeout-ms");
  RemoteOptions c = o;
  c.chunk_bytes = 100;
  expect_bad(c, "chunk size");
  EXPECT_EQ(o.stream_key(), "kvc::pub");
}

}  // namespace
}  // namespace kvc::tiers
