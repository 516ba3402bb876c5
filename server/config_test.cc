#include "server/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
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
  EXPECT_EQ(c.config.hosts, std::vector<std::string>{"127.0.0.1"});
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
                          "--redis-cluster", "--redis-prefix", "--redis-ttl", "--redis-timeout-ms", "--redis-quota",
                          "--max-header-bytes", "--max-header-fields", "--header-timeout", "--body-timeout",
                          "--idle-timeout", "--keep-alive-timeout", "--request-timeout", "--max-connections",
                          "--http-threads"}) {
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
      {{"--max-header-bytes", "10"}, "--max-header-bytes"},
      {{"--max-header-fields", "0"}, "--max-header-fields"},
      {{"--header-timeout", "soon"}, "--header-timeout"},
      {{"--body-timeout", "0"}, "--body-timeout"},
      {{"--request-timeout", "-1"}, "--request-timeout"},
      {{"--max-connections", "0"}, "--max-connections"},
      {{"--host", ""}, "--host"},
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
  EXPECT_EQ(c.config.hosts, std::vector<std::string>{"0.0.0.0"});
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


// ---- llama-server flags and LLAMA_ARG_* (issue 11) ----

ConfigOutcome parse_env(std::vector<std::string> args, std::map<std::string, std::string> env) {
  args.insert(args.begin(), "kvc-server");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_config(static_cast<int>(argv.size()), argv.data(), [env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(LlamaFlags, ShortFormsAndLongNames) {
  auto c = parse_env({"-m", "/m.gguf", "-c", "4096", "-np", "2", "-t", "3", "-b", "64", "-ub", "64", "-a", "tiny,tiny-2",
                      "-n", "32", "-ngl", "all", "-mg", "1", "-sm", "row", "--temp", "0.5", "--seed", "42", "--metrics",
                      "--jinja", "--slot-save-path", "/tmp/slots", "--cache-ram", "512", "--no-slots", "-fa", "off",
                      "-ctk", "q8_0", "-ctv", "q8_0", "--port", "9001", "--host", "0.0.0.0", "--top-k", "5"},
                     {});
  ASSERT_TRUE(c.run) << c.message;
  const ServerConfig& k = c.config;
  EXPECT_EQ(k.model, "/m.gguf");
  EXPECT_EQ(k.ctx_size, 4096);
  EXPECT_EQ(k.parallel, 2);
  EXPECT_EQ(k.threads, 3);
  EXPECT_EQ(k.batch_size, 64);
  EXPECT_EQ(k.default_max_tokens, 32);
  EXPECT_EQ(k.n_gpu_layers, -1);
  EXPECT_EQ(k.main_gpu, 1);
  EXPECT_EQ(k.split_mode, "row");
  EXPECT_FLOAT_EQ(k.temp, 0.5f);
  EXPECT_EQ(k.seed, 42);
  EXPECT_TRUE(k.metrics);
  EXPECT_TRUE(k.jinja);
  EXPECT_FALSE(k.slots);
  EXPECT_EQ(k.slot_save_path, "/tmp/slots");
  EXPECT_EQ(k.ram_quota, 512ull << 20);
  EXPECT_EQ(k.port, 9001);
  EXPECT_EQ(k.hosts, std::vector<std::string>{"0.0.0.0"});
  EXPECT_EQ(model_aliases(k, "m.gguf"), (std::vector<std::string>{"tiny", "tiny-2"}));
  const EngineOptions o = engine_options(k);
  EXPECT_EQ(o.model.n_gpu_layers, -1);
  EXPECT_EQ(o.model.main_gpu, 1);
  EXPECT_EQ(o.model.split_mode, "row");
  EXPECT_FALSE(o.model.flash_attn);
  EXPECT_EQ(o.model.type_k, "q8_0");
  const SamplingParams s = default_sampling(k);
  EXPECT_FLOAT_EQ(s.temperature, 0.5f);
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(s.top_k, 5);
  EXPECT_EQ(s.max_tokens, 32);
}

TEST(LlamaFlags, CorsOriginsAndVerbose) {
  auto c = parse_env({"--cors-origins", "localhost", "--verbose"}, {});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(c.config.cors_origins, "localhost");
  EXPECT_TRUE(c.config.verbose);
  EXPECT_EQ(parse_env({}, {}).config.cors_origins, "*");
  auto e = parse_env({}, {{"LLAMA_ARG_CORS_ORIGINS", "https://app.example"}});
  ASSERT_TRUE(e.run) << e.message;
  EXPECT_EQ(e.config.cors_origins, "https://app.example");
  auto bad = parse_env({"--cors-origins", ""}, {});
  EXPECT_FALSE(bad.run);
  EXPECT_NE(bad.message.find("--cors-origins"), std::string::npos) << bad.message;
}

TEST(LlamaFlags, BackendSampling) {
  EXPECT_FALSE(default_sampling(parse_env({}, {}).config).backend_sampling);
  for (const char* f : {"-bs", "--backend-sampling", "--backend_sampling"}) {  // llama.cpp reads _ as -
    auto c = parse_env({f}, {});
    ASSERT_TRUE(c.run) << f << ": " << c.message;
    EXPECT_TRUE(c.config.backend_sampling) << f;
    EXPECT_TRUE(default_sampling(c.config).backend_sampling) << f;
  }
  auto e = parse_env({}, {{"LLAMA_ARG_BACKEND_SAMPLING", "1"}});
  ASSERT_TRUE(e.run) << e.message;
  EXPECT_TRUE(e.config.backend_sampling);
}

TEST(LlamaFlags, EqualsFormsBooleansAndDefaults) {
  auto c = parse_env({"--n-gpu-layers=7", "--alias=x", "--no-jinja", "--embedding", "--pooling", "mean",
                      "--n-predict", "-1", "-cb", "--no-context-shift", "--offline", "--no-ui"},
                     {});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(c.config.n_gpu_layers, 7);
  EXPECT_FALSE(c.config.jinja);
  EXPECT_TRUE(c.config.embeddings);
  EXPECT_EQ(c.config.pooling, "mean");
  EXPECT_EQ(c.config.default_max_tokens, -1);
  EXPECT_EQ(default_sampling(c.config).max_tokens, -1);
  auto d = parse_env({}, {});
  ASSERT_TRUE(d.run) << d.message;
  EXPECT_EQ(d.config.n_gpu_layers, 0);  // CPU unless asked
  EXPECT_TRUE(d.config.jinja);
  EXPECT_EQ(default_sampling(d.config).seed, SamplingParams::kRandomSeed);
  EXPECT_FLOAT_EQ(default_sampling(d.config).temperature, 0.8f);
  EXPECT_EQ(model_aliases(d.config, "file.gguf"), std::vector<std::string>{"file.gguf"});
}

TEST(LlamaFlags, EnvironmentUnderTheCommandLine) {
  auto c = parse_env({"--ctx-size", "2048"}, {{"LLAMA_ARG_CTX_SIZE", "4096"},
                                               {"LLAMA_ARG_N_PARALLEL", "3"},
                                               {"LLAMA_ARG_MODEL", "/e.gguf"},
                                               {"LLAMA_API_KEY", "secret"},
                                               {"LLAMA_ARG_JINJA", "false"},
                                               {"LLAMA_ARG_ENDPOINT_METRICS", "1"},
                                               {"LLAMA_ARG_N_GPU_LAYERS", "auto"},
                                               {"LLAMA_ARG_CONT_BATCHING", "true"}});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(c.config.ctx_size, 2048);  // the command line wins
  EXPECT_EQ(c.config.parallel, 3);
  EXPECT_EQ(c.config.model, "/e.gguf");
  EXPECT_EQ(c.config.api_key, "secret");
  EXPECT_FALSE(c.config.jinja);
  EXPECT_TRUE(c.config.metrics);
  EXPECT_EQ(c.config.n_gpu_layers, -1);
  auto bad = parse_env({}, {{"LLAMA_ARG_HF_REPO", "ggml-org/models"}});
  EXPECT_FALSE(bad.run);
  EXPECT_NE(bad.message.find("LLAMA_ARG_HF_REPO"), std::string::npos) << bad.message;
  EXPECT_NE(bad.message.find("--model"), std::string::npos) << bad.message;
  auto shift_off = parse_env({}, {{"LLAMA_ARG_CONTEXT_SHIFT", "0"}});
  EXPECT_TRUE(shift_off.run) << shift_off.message;
  auto jinja_bad = parse_env({}, {{"LLAMA_ARG_JINJA", "maybe"}});
  EXPECT_FALSE(jinja_bad.run);
  EXPECT_NE(jinja_bad.message.find("LLAMA_ARG_JINJA"), std::string::npos);
}

TEST(LlamaFlags, RefusedFlagsSayWhy) {
  struct Case {
    std::vector<std::string> args;
    const char* mentions;
  };
  const Case cases[] = {
      {{"--hf-repo", "ggml-org/models"}, "--model"},
      {{"-hf", "x"}, "never downloads"},
      {{"--context-shift"}, "exceed_context_size_error"},
      {{"--lora", "a.gguf"}, "LoRA"},
      {{"--cache-reuse", "256"}, "cache rows"},
      {{"--cache-ram", "-1"}, "--ram-quota"},
      {{"-c", "0"}, "--ctx-size"},
      {{"-ub", "32"}, "--batch-size"},
      {{"--split-mode", "diagonal"}, "--split-mode"},
      {{"-fa", "maybe"}, "--flash-attn"},
      {{"--reasoning-format", "x"}, "--reasoning-format"},
      {{"-ngl", "many"}, "-ngl"},
      {{"--jinja=1"}, "takes no value"},
      {{"-m"}, "needs a value"},
      {{"--chat-template-file", "/no/such/file"}, "--chat-template-file"},
      {{"--temp", "-1"}, "--temp"},
      {{"--seed", "-5"}, "--seed"},
      {{"-a", " , "}, "--model-alias"},
      {{"--model-draft", "d.gguf"}, "speculative"},
      {{"--no-cont-batching"}, "continuously"},
  };
  for (const auto& c : cases) {
    auto o = parse_env(c.args, {});
    EXPECT_FALSE(o.run) << c.args[0];
    EXPECT_EQ(o.exit_code, 2) << c.args[0];
    EXPECT_NE(o.message.find(c.mentions), std::string::npos) << c.args[0] << " → " << o.message;
  }
}

TEST(LlamaFlags, ChatTemplateFileIsRead) {
  const std::string f = write_toml("{{ messages }}");
  auto c = parse_env({"--chat-template-file", f}, {});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(c.config.chat_template, "{{ messages }}");
  EXPECT_EQ(engine_options(c.config).model.chat_template, "{{ messages }}");
  std::remove(f.c_str());
  auto both = parse_env({"--chat-template", "chatml", "--chat-template-file", "/x"}, {});
  EXPECT_FALSE(both.run);
}

TEST(LlamaFlags, HelpListsThem) {
  auto h = parse_env({"--help-llama"}, {});
  EXPECT_FALSE(h.run);
  EXPECT_EQ(h.exit_code, 0);
  for (const char* f : {"-ngl", "--n-gpu-layers", "LLAMA_ARG_N_GPU_LAYERS", "--alias", "--cache-ram", "refused"})
    EXPECT_NE(h.message.find(f), std::string::npos) << f;
}

TEST(ParseConfig, HttpLimitsAndSeveralHosts) {
  auto c = parse({"--host", "127.0.0.1", "--host", "::1", "--max-header-bytes", "32K", "--max-header-fields", "50",
                  "--header-timeout", "3s", "--body-timeout", "1m", "--idle-timeout", "500ms", "--keep-alive-timeout",
                  "2", "--request-timeout", "0", "--max-connections", "100"});
  ASSERT_TRUE(c.run) << c.message;
  EXPECT_EQ(c.config.hosts, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(c.config.max_header_bytes, 32u * 1024);
  EXPECT_EQ(c.config.max_header_fields, 50);
  EXPECT_EQ(c.config.header_timeout_ms, 3000);
  EXPECT_EQ(c.config.body_timeout_ms, 60'000);
  EXPECT_EQ(c.config.idle_timeout_ms, 500);
  EXPECT_EQ(c.config.keep_alive_timeout_ms, 2000);
  EXPECT_EQ(c.config.request_timeout_ms, 0);
  EXPECT_EQ(c.config.max_connections, 100);
  const std::string f = write_toml("host = [\"127.0.0.1\", \"127.0.0.2\"]\nheader_timeout = \"250ms\"\n");
  auto t = parse({"--config", f});
  ASSERT_TRUE(t.run) << t.message;
  EXPECT_EQ(t.config.hosts, (std::vector<std::string>{"127.0.0.1", "127.0.0.2"}));
  EXPECT_EQ(t.config.header_timeout_ms, 250);
  std::remove(f.c_str());
}

TEST(ParseDuration, UnitsAndErrors) {
  EXPECT_EQ(parse_duration_ms("10").value(), 10'000);
  EXPECT_EQ(parse_duration_ms("1.5s").value(), 1500);
  EXPECT_EQ(parse_duration_ms("250ms").value(), 250);
  EXPECT_EQ(parse_duration_ms("2m").value(), 120'000);
  for (const char* bad : {"", "s", "-1", "10 s", "1x", "abc"}) EXPECT_FALSE(parse_duration_ms(bad).ok()) << bad;
}

}  // namespace
}  // namespace kvc::server
