// kvc-server configuration: command-line flags and an optional TOML file
// (--config FILE). Flags override the file; the file overrides the defaults. Every
// error names the option (and the file) it came from.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/engine.h"
#include "kvc/status.h"

namespace kvc::server {

struct ServerConfig {
  // model
  std::string model;  // "" = the generated demo model (created if missing)
  // Names in /v1/models, comma-separated (the first is the one responses carry);
  // default: the file name. Any "model" in a request is served (llama-server's way).
  std::string model_alias;
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
  std::vector<std::string> hosts = {"127.0.0.1"};  // --host, repeatable: one listener each
  int port = 8080;
  std::string api_key;
  std::uint64_t max_body_bytes = 1ull << 20;
  int max_tokens_limit = 4096;
  int default_max_tokens = 256;
  int queue_size = 64;
  int shutdown_deadline_ms = 10'000;

  // ---- llama-server compatibility (issue 11): its flags map onto these ----
  // (server/llama_flags.cc rewrites -m -c -np -t -b -a -n -ngl … and LLAMA_ARG_*.)
  int ubatch_size = 0;           // 0: = batch_size (kvc decodes with ubatch = batch)
  int n_gpu_layers = 0;          // -1: all (needs a GPU build: scripts/llama-build --cuda)
  int main_gpu = 0;
  std::string split_mode = "layer";
  std::string flash_attn = "on";  // on, off or auto (auto = on)
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  bool kv_unified = false;
  bool embeddings = false;       // /v1/embeddings (a second context with embeddings on)
  std::string pooling;           // "" = the model's
  std::string slot_save_path;    // /slots?action=save|restore (empty: refused like llama-server)
  bool jinja = true;
  std::string chat_template;       // a Jinja template text (or with --jinja false a built-in name)
  std::string chat_template_file;  // read into chat_template at start
  std::string reasoning_format = "auto";
  bool prefill_assistant = true;   // a trailing assistant message is continued
  // Sampling defaults of requests that name none (llama-server's).
  float temp = 0.8f;
  std::int64_t seed = -1;        // -1: a random seed per request
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  bool backend_sampling = false;  // llama.cpp's backend sampling by default (a request's backend_sampling wins)
  bool metrics = false;          // llama-server's --metrics (kvc serves /metrics regardless)
  bool slots = true;             // GET /slots (llama-server's --slots / --no-slots)
  bool verbose = false;          // also: responses carry llama-server's "__verbose" object
  std::string cors_origins = "*";  // "*", "localhost" or one origin (llama-server's --cors-origins)
  // HTTP limits (docs/api-server.md "Limits"): what one connection may cost.
  // Durations are in milliseconds here; the flags take "10s", "500ms", "2m" or
  // plain seconds.
  std::uint64_t max_header_bytes = 64 * 1024;  // request line + header fields → 431
  int max_header_fields = 100;                 // → 431
  std::int64_t header_timeout_ms = 10'000;     // first byte → end of the head (total) → 408
  std::int64_t body_timeout_ms = 60'000;       // end of the head → end of the body (total) → 408
  std::int64_t idle_timeout_ms = 5'000;        // longest silence while reading a request or writing
  std::int64_t keep_alive_timeout_ms = 5'000;  // an idle connection between requests is closed
  std::int64_t request_timeout_ms = 600'000;   // a request still running is cancelled (503); 0: none
  int max_connections = 4096;                  // beyond: the oldest idle one is closed, else 503
  int http_threads = 0;                        // I/O threads; 0 = min(2, cores)
};

// Outcome of reading flags and file: run with `config`, or exit with `exit_code`
// after printing `message` (help text on stdout when exit_code is 0, else an error).
struct ConfigOutcome {
  bool run = false;
  int exit_code = 0;
  std::string message;
  ServerConfig config;
};

// Flags (llama-server's spellings included, server/llama_flags.h), the TOML
// file and LLAMA_ARG_* variables: defaults < file < environment < command line.
ConfigOutcome parse_config(int argc, const char* const* argv);
// The same with an injected environment (tests).
ConfigOutcome parse_config(int argc, const char* const* argv, const std::function<const char*(const char*)>& env);

// ---- llama-server compatibility (issue 11) ----
// The served model's names: --model-alias split at commas (empty parts
// dropped), else {model_file_name}.
std::vector<std::string> model_aliases(const ServerConfig& c, const std::string& model_file_name);
// The sampling a request gets when it names nothing (--temp, --seed, …).
SamplingParams default_sampling(const ServerConfig& c);

// "10s", "500ms", "2m", "1.5" (seconds) → milliseconds. Errors name the text.
Result<std::int64_t> parse_duration_ms(std::string_view text);

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
