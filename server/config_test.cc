#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace kvc::server {
namespace {

ConfigOutcome parse(std::vector<std::string> args) {
  args.insert(args.begin(), "kvc-server");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_config(static_cast<int>(argv.size()), argv.data());
}

std::string write_toml(const std::string& text) {
  char name[] = "/tmp/kvc-server-config-XXXXXX";
  const int fd = mkstemp(name);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(name) << text;
  return name;
}

TEST(ParseSize, Suffixes) {
  EXPECT_EQ(parse_size("4096").value(), 4096u);
  EXPECT_EQ(parse_size("512M").value(), 512ull << 20);
  EXPECT_EQ(parse_size("20G").value(), 20ull << 30);
  EXPECT_EQ(parse_size("1k").value(), 1024u);
  EXPECT_EQ(parse_size("1.5K").value(), 1536u);
  EXPECT_EQ(parse_size("2GiB").value(), 2ull << 30);
  EXPECT_EQ(parse_size("3MB").value(), 3ull << 20);
  EXPECT_EQ(parse_size("1T").value(), 1ull << 40);
}

TEST(ParseSize, Rejects) {
  for (const char* bad : {"", "M", "12Q", "-1", "1.5", "abc", "1e9", "99999999999T"}) {
    EXPECT_FALSE(parse_size(bad).ok()) << bad;
  }
}

TEST(ParseConfig, Defaults) {
  auto c = parse({});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(c.config.host, "127.0.0.1");
  EXPECT_EQ(c.config.port, 8080);
  EXPECT_TRUE(c.config.api_key.empty());
  EXPECT_TRUE(c.config.model.empty());
  EXPECT_EQ(c.config.file_mode, 0600u);
  EXPECT_EQ(engine_options(c.config).cache.file_mode, 0600u);
}

TEST(ParseConfig, FileModeIsOctalAndReachesTheCache) {
  for (const char* m : {"640", "0640", "0o640"}) {
    auto c = parse({"--file-mode", m});
    ASSERT_TRUE(c.run) << m << ": " << c.message;
    EXPECT_EQ(engine_options(c.config).cache.file_mode, 0640u) << m;
  }
}

TEST(ParseConfig, Flags) {
  auto c = parse({"--port", "9001", "--parallel", "2", "--ram-quota", "512M", "--disk-dir", "/tmp/x", "--disk-quota",
                  "20G", "--min-tokens", "64", "--align", "64", "--trim", "0", "--api-key", "k", "--queue-size", "3"});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(c.config.port, 9001);
  EXPECT_EQ(c.config.parallel, 2);
  EXPECT_EQ(c.config.ram_quota, 512ull << 20);
  EXPECT_EQ(c.config.disk_quota, 20ull << 30);
  EXPECT_EQ(c.config.api_key, "k");
  const EngineOptions o = engine_options(c.config);
  ASSERT_EQ(o.cache.tiers.size(), 2u);
  EXPECT_EQ(o.cache.tiers[1].dir, "/tmp/x");
  EXPECT_EQ(o.cache.tiers[0].kind, TierKind::kRam);  // saves land in RAM, written through to disk
  EXPECT_EQ(o.cache.tiers[1].policy, TierPolicy::kWriteThrough);
  EXPECT_EQ(o.cache.policy.min_tokens, 64);
  EXPECT_EQ(o.cache.policy.cold_min_tokens, 64);
  EXPECT_EQ(o.cache.policy.boundary_align_tokens, 64);
  EXPECT_EQ(o.model.n_seq, 2);
}

TEST(ParseConfig, TierHierarchyFlags) {
  auto c = parse({"--ram-quota", "1G", "--disk-dir", "/tmp/x", "--redis", "redis://:pw@127.0.0.1:6390/2",
                  "--tier-policy", "disk=on-evict,remote=write-through", "--tier-min-tokens", "ram=1,disk=256",
                  "--redis-prefix", "fleet:", "--redis-ttl", "3600", "--redis-timeout-ms", "80", "--redis-quota", "8G"});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(tier_names(c.config), (std::vector<std::string>{"ram", "disk", "remote"}));
  const EngineOptions o = engine_options(c.config);
  ASSERT_EQ(o.cache.tiers.size(), 3u);
  EXPECT_EQ(o.cache.tiers[1].policy, TierPolicy::kOnEvict);
  EXPECT_EQ(o.cache.tiers[2].policy, TierPolicy::kWriteThrough);
  EXPECT_EQ(o.cache.tiers[0].min_tokens, 1);
  EXPECT_EQ(o.cache.tiers[1].min_tokens, 256);
  EXPECT_FALSE(o.cache.tiers[2].min_tokens.has_value());
  EXPECT_EQ(o.cache.tiers[2].kind, TierKind::kRemote);
  EXPECT_EQ(o.cache.tiers[2].remote.url, "redis://:pw@127.0.0.1:6390/2");
  EXPECT_EQ(o.cache.tiers[2].remote.prefix, "fleet:");
  EXPECT_EQ(o.cache.tiers[2].remote.ttl, std::chrono::seconds(3600));
  EXPECT_EQ(o.cache.tiers[2].remote.timeout, std::chrono::milliseconds(80));
  EXPECT_EQ(o.cache.tiers[2].quota_bytes, 8ull << 30);

  auto cluster = parse({"--redis-cluster", "127.0.0.1:7000,127.0.0.1:7001"});
  ASSERT_TRUE(cluster.run) << cluster.message;
  const auto seeds = engine_options(cluster.config).cache.tiers.back().remote.cluster_seeds;
  EXPECT_EQ(seeds, (std::vector<std::string>{"127.0.0.1:7000", "127.0.0.1:7001"}));
}

TEST(ParseConfig, SaveTierIsGoneWithAClearErrorSayingWhatReplacedIt) {
  auto c = parse({"--save-tier", "disk"});
  EXPECT_FALSE(c.run);
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.message.find("--save-tier was removed"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("--tier-policy"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("--tier-min-tokens"), std::string::npos) << c.message;
}

TEST(ParseConfig, TierFlagErrorsNameTheProblem) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--tier-policy", "disk=sometimes"}, "write-through or on-evict"},
      {{"--tier-policy", "tape=on-evict"}, "not a tier"},
      {{"--tier-policy", "remote=on-evict"}, "not configured"},
      {{"--tier-policy", "disk"}, "TIER=VALUE"},
      {{"--tier-min-tokens", "disk=0"}, "count >= 1"},
      {{"--redis", "redis://a:1", "--redis-cluster", "a:1"}, "one of them"},
      {{"--redis", "redis://a:1", "--redis-timeout-ms", "0"}, "--redis-timeout-ms"},
  };
  for (const auto& [args, want] : cases) {
    auto c = parse(args);
    EXPECT_FALSE(c.run) << args[0];
    EXPECT_NE(c.message.find(want), std::string::npos) << args[0] << ": " << c.message;
  }
}

TEST(ParseConfig, HelpDocumentsEveryOption) {
  auto c = parse({"--help"});
  EXPECT_FALSE(c.run);
  EXPECT_EQ(c.exit_code, 0);
  for (const char* opt : {"--model", "--host", "--port", "--parallel", "--threads", "--ctx-size", "--ram-quota",
                          "--ram-file-dir", "--ram-file-quota", "--disk-dir", "--disk-quota", "--min-tokens", "--align",
                          "--trim", "--continued-interval", "--api-key", "--max-body-bytes", "--max-tokens-limit",
                          "--queue-size", "--file-mode", "--config", "--tier-policy", "--tier-min-tokens", "--redis",
                          "--redis-cluster", "--redis-prefix", "--redis-ttl", "--redis-timeout-ms", "--redis-quota"}) {
    EXPECT_NE(c.message.find(opt), std::string::npos) << opt;
  }
}

TEST(ParseConfig, ErrorsNameTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::string option;
  };
  const std::vector<Case> cases = {
      {{"--port", "0"}, "--port"},
      {{"--port", "http"}, "--port"},
      {{"--parallel", "0"}, "--parallel"},
      {{"--ram-quota", "12Q"}, "--ram-quota"},
      {{"--ram-file-dir", "/dev/shm/x"}, "--ram-file-quota"},
      {{"--align", "0"}, "align"},
      {{"--min-tokens", "-5"}, "min"},
      {{"--save-tier", "ram_file"}, "--save-tier"},
      {{"--saves", "maybe"}, "--saves"},
      {{"--max-tokens-limit", "0"}, "--max-tokens-limit"},
      {{"--ctx-size", "8"}, "--ctx-size"},
      {{"--file-mode", "0400"}, "--file-mode"},
      {{"--file-mode", "rw"}, "--file-mode"},
      {{"--file-mode", "0800"}, "--file-mode"},
      {{"--file-mode", "1777"}, "--file-mode"},
  };
  for (const auto& k : cases) {
    auto c = parse(k.args);
    EXPECT_FALSE(c.run) << k.args[0];
    EXPECT_EQ(c.exit_code, 2) << k.args[0];
    EXPECT_NE(c.message.find(k.option), std::string::npos) << k.args[0] << ": " << c.message;
  }
  auto unknown = parse({"--no-such-flag"});
  EXPECT_FALSE(unknown.run);
  EXPECT_NE(unknown.exit_code, 0);
}

TEST(ParseConfig, TomlFileAndFlagsOverrideIt) {
  const std::string f = write_toml("port = 9100\nhost = \"0.0.0.0\"\nram_quota = \"256M\"\nmin-tokens = 128\n"
                                   "align = 128\nsaves = false\n");
  auto c = parse({"--config", f, "--port", "9200"});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(c.config.port, 9200);
  EXPECT_EQ(c.config.host, "0.0.0.0");
  EXPECT_EQ(c.config.ram_quota, 256ull << 20);
  EXPECT_EQ(c.config.min_tokens, 128);
  EXPECT_FALSE(c.config.saves);
  std::remove(f.c_str());
}

TEST(ParseConfig, TomlErrorsNameFileAndKey) {
  const std::string unknown = write_toml("prot = 1\n");
  auto c = parse({"--config", unknown});
  EXPECT_FALSE(c.run);
  EXPECT_NE(c.message.find("prot"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find(unknown), std::string::npos) << c.message;
  std::remove(unknown.c_str());

  const std::string bad_value = write_toml("disk_quota = \"lots\"\n");
  c = parse({"--config", bad_value});
  EXPECT_FALSE(c.run);
  EXPECT_NE(c.message.find("disk_quota"), std::string::npos) << c.message;
  std::remove(bad_value.c_str());

  const std::string syntax = write_toml("port = = 3\n");
  c = parse({"--config", syntax});
  EXPECT_FALSE(c.run);
  EXPECT_NE(c.message.find(syntax), std::string::npos) << c.message;
  std::remove(syntax.c_str());

  c = parse({"--config", "/nonexistent/kvc.toml"});
  EXPECT_FALSE(c.run);
  EXPECT_NE(c.message.find("/nonexistent/kvc.toml"), std::string::npos) << c.message;
}

TEST(ParseConfig, TiersCanBeDisabled) {
  auto c = parse({"--ram-quota", "0", "--disk-dir", "none"});
  EXPECT_FALSE(c.run);
  EXPECT_NE(c.message.find("tier"), std::string::npos);
  c = parse({"--ram-quota", "0", "--disk-dir", "/tmp/d"});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(tier_names(c.config), std::vector<std::string>{"disk"});
}

}  // namespace
}  // namespace kvc::server
