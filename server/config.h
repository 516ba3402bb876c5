// kvc-server configuration: command-line flags and an optional TOML file
// (--config FILE). Flags override the file; the file overrides the defaults. Every
// error names the option (and the file) it came from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/engine.h"
#include "kvc/status.h"

namespace kvc::server {

struct ServerConfig {
  // model
  std::string model;  // "" = the generated demo model (created if missing)
  std::string model_alias;  // name in /v1/models and accepted in "model"; default: file name
  int parallel = 4;
  int threads = 1;
  int ctx_size = 8192;  // total cells, shared by the --parallel sequences
  int batch_size = 512;
  // tiers (fastest first; a quota of 0 or an empty directory disables a tier)
  std::uint64_t ram_quota = 2ull << 30;
  std::string ram_file_dir;
  std::uint64_t ram_file_quota = 0;
  std::string disk_dir;  // default: ${KVC_CACHE_DIR:-~/.cache/kvc}/server-rows
  std::uint64_t disk_quota = 20ull << 30;
  // The hierarchy (fastest first: ram, ram_file, disk, remote). Saves land in the
  // fastest tier that takes them and are written through to the tiers below.
  std::string tier_policy;      // "TIER=write-through|on-evict,…" (default write-through)
  std::string tier_min_tokens;  // "TIER=N,…" (default: ram 1, the others --min-tokens)
  // remote tier (Redis); off unless --redis or --redis-cluster is given
  std::string redis_url;        // redis://[:password@]host:port[/db]
  std::string redis_cluster;    // host:port[,host:port…] seed nodes of a Redis Cluster
  std::string redis_prefix = "kvc:";
  std::int64_t redis_ttl_s = 0;  // 0 = no TTL
  int redis_timeout_ms = 50;
  std::uint64_t redis_quota = 64ull << 30;
  unsigned file_mode = 0600;  // permission bits of row files (owner read+write required)
  // save policy
  std::int64_t min_tokens = 512;
  std::int64_t align = 2048;
  std::int64_t trim = 32;
  std::int64_t continued_interval = 2048;
  std::int64_t resume_wait_ms = 500;
  bool saves = true;
  // HTTP
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  std::uint64_t max_body_bytes = 1ull << 20;
  int max_tokens_limit = 4096;
  int default_max_tokens = 256;
  int queue_size = 64;
  int http_threads = 0;  // 0 = parallel + queue_size + 4
  int shutdown_deadline_ms = 10'000;
};

// Outcome of reading flags and file: run with `config`, or exit with `exit_code`
// after printing `message` (help text on stdout when exit_code is 0, else an error).
struct ConfigOutcome {
  bool run = false;
  int exit_code = 0;
  std::string message;
  ServerConfig config;
};

ConfigOutcome parse_config(int argc, const char* const* argv);

// "512M", "20G", "1.5K", "4096" → bytes (K/M/G/T are powers of 1024; an optional
// trailing "B"/"iB" is accepted). Errors name the text.
Result<std::uint64_t> parse_size(std::string_view text);

// Checks ranges and combinations; the error names the option.
Status validate(const ServerConfig& c);

// ${KVC_CACHE_DIR:-~/.cache/kvc}
std::string kvc_cache_dir();

// The engine options a config describes (tiers in order ram, ram_file, disk, remote).
EngineOptions engine_options(const ServerConfig& c);

// Tier names of engine_options(c).cache.tiers, in order.
std::vector<std::string> tier_names(const ServerConfig& c);

}  // namespace kvc::server
