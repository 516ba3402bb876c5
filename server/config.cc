#include "server/config.h"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

namespace kvc::server {
namespace {

using Setter = std::function<Status(ServerConfig&, const std::string& option, const std::string& value)>;

struct OptionDef {
  std::string name;  // flag without "--"; the TOML key is the same with '-' or '_'
  std::string help;
  Setter set;
  std::string type = "TEXT";  // shown in --help
};

Status bad(const std::string& option, const std::string& value, const std::string& want) {
  return Status(Code::kInvalidArgument, option + ": '" + value + "' is not " + want);
}

template <class T>
Setter integer(T ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& opt, const std::string& v) -> Status {
    long long x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size() || x < std::numeric_limits<T>::min() ||
        x > std::numeric_limits<T>::max()) {
      return bad(opt, v, "an integer");
    }
    c.*field = static_cast<T>(x);
    return Status::Ok();
  };
}

Setter size(std::uint64_t ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& opt, const std::string& v) -> Status {
    auto r = parse_size(v);
    if (!r.ok()) return Status(Code::kInvalidArgument, opt + ": " + r.status().message());
    c.*field = r.value();
    return Status::Ok();
  };
}

Setter text(std::string ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string&, const std::string& v) -> Status {
    c.*field = v;
    return Status::Ok();
  };
}

Setter boolean(bool ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& opt, const std::string& v) -> Status {
    if (v == "true" || v == "1" || v == "on" || v == "yes") {
      c.*field = true;
    } else if (v == "false" || v == "0" || v == "off" || v == "no") {
      c.*field = false;
    } else {
      return bad(opt, v, "a boolean (true or false)");
    }
    return Status::Ok();
  };
}

// An octal number ("600", "0640" or "0o640"); validate() checks it is a usable mode.
Setter octal_mode(unsigned ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& opt, const std::string& v) -> Status {
    std::string_view digits(v);
    if (digits.starts_with("0o") || digits.starts_with("0O")) digits.remove_prefix(2);
    unsigned x = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), x, 8);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size()) {
      return bad(opt, v, "an octal permission mode like 0600");
    }
    c.*field = x;
    return Status::Ok();
  };
}

// --save-tier was replaced by the hierarchy: say so, and what to use instead.
Setter removed_save_tier() {
  return [](ServerConfig&, const std::string& opt, const std::string&) -> Status {
    return Status(Code::kInvalidArgument,
                  opt + " was removed: saves now land in the fastest tier that takes them (RAM first) and are "
                        "written through to the slower tiers. Use --tier-policy TIER=write-through|on-evict to "
                        "choose how rows reach a tier, --tier-min-tokens TIER=N to choose which rows it keeps, "
                        "and --ram-quota 0 to skip RAM");
  };
}

// "a=x,b=y" → {a: x, b: y} for the known tier names; the error names the option.
Result<std::map<std::string, std::string>> tier_map(const std::string& spec, const std::string& option) {
  std::map<std::string, std::string> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      return Status(Code::kInvalidArgument, option + ": '" + item + "' is not TIER=VALUE");
    const std::string tier = item.substr(0, eq);
    if (tier != "ram" && tier != "ram_file" && tier != "disk" && tier != "remote")
      return Status(Code::kInvalidArgument, option + ": '" + tier + "' is not a tier (ram, ram_file, disk, remote)");
    out[tier] = item.substr(eq + 1);
  }
  return out;
}

const std::vector<OptionDef>& option_defs() {
  using C = ServerConfig;
  static const std::vector<OptionDef> defs = {
      {"model", "GGUF model file (default: the demo model tinyllama-1.1b q8_0 in $KVC_CACHE_DIR/models, generated "
                "with kvc-mkmodel if missing)", text(&C::model), "PATH"},
      {"model-alias", "Model name in /v1/models and accepted in requests (default: the model's file name)",
       text(&C::model_alias)},
      {"parallel", "Parallel sequences (requests decoded together) [4]", integer(&C::parallel), "N"},
      {"threads", "llama.cpp threads [1]", integer(&C::threads), "N"},
      {"ctx-size", "Total context cells, shared by the --parallel sequences [8192]", integer(&C::ctx_size), "N"},
      {"batch-size", "Max tokens per llama_decode [512]", integer(&C::batch_size), "N"},
      {"ram-quota", "Quota of the in-process RAM tier; 0 disables it [2G]", size(&C::ram_quota), "BYTES"},
      {"ram-file-dir", "Directory of the ram_file tier (e.g. on /dev/shm); empty disables it", text(&C::ram_file_dir), "PATH"},
      {"ram-file-quota", "Quota of the ram_file tier (required with --ram-file-dir)", size(&C::ram_file_quota), "BYTES"},
      {"disk-dir", "Directory of the disk tier; \"none\" disables it [$KVC_CACHE_DIR/server-rows]", text(&C::disk_dir), "PATH"},
      {"disk-quota", "Quota of the disk tier [20G]", size(&C::disk_quota), "BYTES"},
      {"save-tier", "Removed: saves land in the fastest tier that takes them (see --tier-policy)", removed_save_tier()},
      {"tier-policy", "How rows reach each tier below the fastest: TIER=write-through|on-evict, comma-separated "
                      "(TIER: ram_file, disk, remote) [write-through]", text(&C::tier_policy), "SPEC"},
      {"tier-min-tokens", "Shortest row each tier keeps: TIER=N, comma-separated [ram=1, others --min-tokens]",
       text(&C::tier_min_tokens), "SPEC"},
      {"redis", "Remote tier on one Redis node: redis://[:password@]host:port[/db]", text(&C::redis_url), "URL"},
      {"redis-cluster", "Remote tier on a Redis Cluster: seed nodes host:port[,host:port...]", text(&C::redis_cluster),
       "NODES"},
      {"redis-prefix", "Key prefix of the remote tier, shared by the fleet [kvc:]", text(&C::redis_prefix)},
      {"redis-ttl", "Seconds a remote row lives; 0 = no TTL [0]", integer(&C::redis_ttl_s), "SECONDS"},
      {"redis-timeout-ms", "Connect and per-command timeout of the remote tier [50]", integer(&C::redis_timeout_ms), "N"},
      {"redis-quota", "Quota of the remote tier, as this server counts it [64G]", size(&C::redis_quota), "BYTES"},
      {"file-mode", "Permission bits of row files, octal; the owner must keep read and write [0600]",
       octal_mode(&C::file_mode), "MODE"},
      {"min-tokens", "Save policy: smallest prompt saved, in tokens [512]", integer(&C::min_tokens), "N"},
      {"align", "Save policy: saved prefixes are multiples of this many tokens [2048]", integer(&C::align), "N"},
      {"trim", "Save policy: tokens trimmed off the end before aligning [32]", integer(&C::trim), "N"},
      {"continued-interval", "Save policy: generated tokens between continued saves [2048]",
       integer(&C::continued_interval), "N"},
      {"resume-wait-ms", "How long a parent_key lookup waits for an in-flight save [500]", integer(&C::resume_wait_ms), "N"},
      {"saves", "Save KV states at all (true or false) [true]", boolean(&C::saves), "BOOL"},
      {"host", "Address to listen on [127.0.0.1]", text(&C::host)},
      {"port", "Port to listen on [8080]", integer(&C::port), "N"},
      {"api-key", "Require 'Authorization: Bearer KEY' on every endpoint except /health", text(&C::api_key)},
      {"max-body-bytes", "Largest request body; larger ones get 413 [1M]", size(&C::max_body_bytes), "BYTES"},
      {"max-tokens-limit", "Largest max_tokens a request may ask for [4096]", integer(&C::max_tokens_limit), "N"},
      {"default-max-tokens", "max_tokens of a request that gives none [256]", integer(&C::default_max_tokens), "N"},
      {"queue-size", "Requests that may wait for a sequence; more get 503 [64]", integer(&C::queue_size), "N"},
      {"http-threads", "HTTP worker threads; 0 = parallel + queue-size + 4 [0]", integer(&C::http_threads), "N"},
      {"shutdown-deadline-ms", "Deadline of the shutdown saves on SIGTERM/SIGINT [10000]",
       integer(&C::shutdown_deadline_ms), "N"},
  };
  return defs;
}

const OptionDef* find_def(std::string key) {
  for (char& ch : key) {
    if (ch == '_') ch = '-';
  }
  for (const auto& d : option_defs()) {
    if (d.name == key) return &d;
  }
  return nullptr;
}

Status apply_toml(ServerConfig& c, const std::string& path) {
  toml::table tbl;
  try {
    tbl = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << "--config " << path << ": " << e.description() << " (line " << e.source().begin.line << ")";
    return Status(Code::kInvalidArgument, os.str());
  }
  for (const auto& [k, node] : tbl) {
    const std::string key(k.str());
    const OptionDef* def = find_def(key);
    if (def == nullptr || def->name == "config") {
      return Status(Code::kInvalidArgument, "--config " + path + ": unknown option '" + key + "' (see --help)");
    }
    std::string value;
    if (auto s = node.value<std::string>(); s && node.is_string()) {
      value = *s;
    } else if (node.is_integer()) {
      value = std::to_string(*node.value<std::int64_t>());
    } else if (node.is_boolean()) {
      value = *node.value<bool>() ? "true" : "false";
    } else {
      return Status(Code::kInvalidArgument,
                    "--config " + path + ": option '" + key + "' must be a string, an integer or a boolean");
    }
    if (Status st = def->set(c, "--config " + path + ": " + key, value); !st.ok()) return st;
  }
  return Status::Ok();
}

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  const std::string t(text);
  if (t.empty()) return Status(Code::kInvalidArgument, "'' is not a size (e.g. 4096, 512M, 20G)");
  std::size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  std::string num = t.substr(0, i), unit = t.substr(i);
  char* end = nullptr;
  errno = 0;
  const double v = num.empty() ? -1 : std::strtod(num.c_str(), &end);
  if (num.empty() || errno != 0 || end != num.c_str() + num.size() || !std::isfinite(v) || v < 0) {
    return Status(Code::kInvalidArgument, "'" + t + "' is not a size (e.g. 4096, 512M, 20G)");
  }
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (unit.size() >= 2 && unit.substr(unit.size() - 2) == "IB") unit.resize(unit.size() - 2);
  else if (unit.size() >= 2 && unit.back() == 'B') unit.pop_back();
  double mult = 1;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "K") mult = 1024.0;
  else if (unit == "M") mult = 1024.0 * 1024;
  else if (unit == "G") mult = 1024.0 * 1024 * 1024;
  else if (unit == "T") mult = 1024.0 * 1024 * 1024 * 1024;
  else return Status(Code::kInvalidArgument, "'" + t + "' has an unknown size suffix (use K, M, G or T)");
  const double bytes = v * mult;
  if (bytes > 1.8e19) return Status(Code::kInvalidArgument, "'" + t + "' is too large");
  if (unit.empty() && num.find('.') != std::string::npos) {
    return Status(Code::kInvalidArgument, "'" + t + "' is not a whole number of bytes");
  }
  return static_cast<std::uint64_t>(std::llround(bytes));
}

std::string kvc_cache_dir() {
  if (const char* d = std::getenv("KVC_CACHE_DIR"); d != nullptr && *d != '\0') return d;
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : "/tmp") + "/.cache/kvc";
}

Status validate(const ServerConfig& c) {
  auto err = [](const std::string& m) { return Status(Code::kInvalidArgument, m); };
  if (c.parallel < 1 || c.parallel > 256) return err("--parallel: " + std::to_string(c.parallel) + " is not in 1..256");
  if (c.threads < 1 || c.threads > 1024) return err("--threads: " + std::to_string(c.threads) + " is not in 1..1024");
  if (c.ctx_size < 16 * c.parallel) {
    return err("--ctx-size: " + std::to_string(c.ctx_size) + " leaves fewer than 16 cells per sequence (--parallel " +
               std::to_string(c.parallel) + ")");
  }
  if (c.batch_size < 1) return err("--batch-size: must be at least 1");
  if (c.port < 1 || c.port > 65535) return err("--port: " + std::to_string(c.port) + " is not in 1..65535");
  if (c.host.empty()) return err("--host: must not be empty");
  if (!c.ram_file_dir.empty() && c.ram_file_quota == 0) return err("--ram-file-quota: required with --ram-file-dir");
  if (c.ram_file_dir.empty() && c.ram_file_quota != 0) return err("--ram-file-dir: required with --ram-file-quota");
  if (c.disk_dir != "none" && c.disk_quota == 0) return err("--disk-quota: must be > 0 (or --disk-dir none)");
  if (Status st = validate_file_mode(c.file_mode); !st.ok()) return err("--file-mode: " + st.message());
  if (c.max_body_bytes < 64) return err("--max-body-bytes: must be at least 64");
  if (c.max_tokens_limit < 1) return err("--max-tokens-limit: must be at least 1");
  if (c.default_max_tokens < 1 || c.default_max_tokens > c.max_tokens_limit) {
    return err("--default-max-tokens: must be in 1..--max-tokens-limit (" + std::to_string(c.max_tokens_limit) + ")");
  }
  if (c.queue_size < 0) return err("--queue-size: must be >= 0");
  if (c.http_threads < 0) return err("--http-threads: must be >= 0");
  if (c.shutdown_deadline_ms < 0) return err("--shutdown-deadline-ms: must be >= 0");
  if (c.resume_wait_ms < 0) return err("--resume-wait-ms: must be >= 0");
  const auto names = tier_names(c);
  if (names.empty()) return err("--ram-quota/--ram-file-dir/--disk-dir/--redis: configure at least one tier");
  if (!c.redis_url.empty() && !c.redis_cluster.empty()) return err("--redis and --redis-cluster: give one of them");
  if (c.redis_ttl_s < 0) return err("--redis-ttl: must be >= 0");
  if (c.redis_timeout_ms < 1 || c.redis_timeout_ms > 60'000) return err("--redis-timeout-ms: must be in 1..60000");
  if (c.redis_prefix.empty()) return err("--redis-prefix: must not be empty");
  auto policies = tier_map(c.tier_policy, "--tier-policy");
  if (!policies.ok()) return policies.status();
  for (const auto& [tier, v] : *policies) {
    if (v != "write-through" && v != "on-evict") return err("--tier-policy: " + tier + "=" + v + ": use write-through or on-evict");
    if (std::find(names.begin(), names.end(), tier) == names.end()) return err("--tier-policy: tier " + tier + " is not configured");
  }
  auto mins = tier_map(c.tier_min_tokens, "--tier-min-tokens");
  if (!mins.ok()) return mins.status();
  for (const auto& [tier, v] : *mins) {
    long long n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < 1) return err("--tier-min-tokens: " + tier + "=" + v + ": not a count >= 1");
    if (std::find(names.begin(), names.end(), tier) == names.end()) return err("--tier-min-tokens: tier " + tier + " is not configured");
  }
  SavePolicy p = engine_options(c).cache.policy;
  if (Status st = p.validate(); !st.ok()) {
    return err("policy (--min-tokens, --align, --trim, --continued-interval): " + st.message());
  }
  return Status::Ok();
}

std::vector<std::string> tier_names(const ServerConfig& c) {
  std::vector<std::string> out;
  if (c.ram_quota > 0) out.emplace_back("ram");
  if (!c.ram_file_dir.empty()) out.emplace_back("ram_file");
  if (c.disk_dir != "none") out.emplace_back("disk");
  if (!c.redis_url.empty() || !c.redis_cluster.empty()) out.emplace_back("remote");
  return out;
}

EngineOptions engine_options(const ServerConfig& c) {
  EngineOptions o;
  o.model.path = c.model;
  o.model.n_ctx = c.ctx_size;
  o.model.n_batch = c.batch_size;
  o.model.n_seq = c.parallel;
  o.model.threads = c.threads;
  auto tier = [](TierKind kind, std::string dir, std::uint64_t quota) {
    TierOptions t;
    t.kind = kind;
    t.dir = std::move(dir);
    t.quota_bytes = quota;
    return t;
  };
  if (c.ram_quota > 0) o.cache.tiers.push_back(tier(TierKind::kRam, "", c.ram_quota));
  if (!c.ram_file_dir.empty()) o.cache.tiers.push_back(tier(TierKind::kRamFile, c.ram_file_dir, c.ram_file_quota));
  if (c.disk_dir != "none") {
    o.cache.tiers.push_back(tier(TierKind::kDisk, c.disk_dir.empty() ? kvc_cache_dir() + "/server-rows" : c.disk_dir,
                                 c.disk_quota));
  }
  if (!c.redis_url.empty() || !c.redis_cluster.empty()) {
    TierOptions r = tier(TierKind::kRemote, "", c.redis_quota);
    r.remote.url = c.redis_url;
    std::stringstream ss(c.redis_cluster);
    for (std::string node; std::getline(ss, node, ',');)
      if (!node.empty()) r.remote.cluster_seeds.push_back(node);
    r.remote.prefix = c.redis_prefix;
    r.remote.ttl = std::chrono::seconds(c.redis_ttl_s);
    r.remote.timeout = std::chrono::milliseconds(c.redis_timeout_ms);
    o.cache.tiers.push_back(std::move(r));
  }
  // Per-tier policy and min_tokens (validate() checked the specs).
  const auto policies = tier_map(c.tier_policy, "--tier-policy");
  const auto mins = tier_map(c.tier_min_tokens, "--tier-min-tokens");
  const auto names = tier_names(c);
  for (std::size_t i = 0; i < o.cache.tiers.size() && i < names.size(); ++i) {
    if (policies.ok())
      if (auto it = policies->find(names[i]); it != policies->end())
        o.cache.tiers[i].policy = it->second == "on-evict" ? TierPolicy::kOnEvict : TierPolicy::kWriteThrough;
    if (mins.ok())
      if (auto it = mins->find(names[i]); it != mins->end()) o.cache.tiers[i].min_tokens = std::stoll(it->second);
  }
  o.cache.file_mode = c.file_mode;
  SavePolicy& p = o.cache.policy;
  p.saves_enabled = c.saves;
  p.min_tokens = c.min_tokens;
  p.cold_min_tokens = c.min_tokens;
  p.cold_max_tokens = std::max(p.cold_max_tokens, c.min_tokens);
  p.boundary_align_tokens = c.align;
  p.boundary_trim_tokens = c.trim;
  p.continued_interval = c.continued_interval;
  p.session_resume_wait_ms = c.resume_wait_ms;
  o.shutdown_deadline = std::chrono::milliseconds(c.shutdown_deadline_ms);
  return o;
}

ConfigOutcome parse_config(int argc, const char* const* argv) {
  ConfigOutcome out;
  CLI::App app{"kvc-server: an OpenAI-compatible llama.cpp server whose prompts stay warm (kvc cache).\n"
               "Options may also come from a TOML file (--config; keys are the option names without '--');\n"
               "flags override the file. Sizes accept suffixes K, M, G, T (powers of 1024)."};
  app.set_help_flag("-h,--help", "Print this help and exit");
  std::string config_file;
  app.add_option("--config", config_file, "TOML file of options (flags override it)")->type_name("FILE");
  std::map<std::string, std::string> given;
  for (const auto& d : option_defs()) app.add_option("--" + d.name, given[d.name], d.help)->type_name(d.type);
  std::ostringstream so, se;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    out.exit_code = app.exit(e, so, se);
    out.message = out.exit_code == 0 ? so.str() : se.str();
    return out;
  }
  ServerConfig& c = out.config;
  if (!config_file.empty()) {
    if (Status st = apply_toml(c, config_file); !st.ok()) {
      out.exit_code = 2;
      out.message = st.message();
      return out;
    }
  }
  for (const auto& d : option_defs()) {
    if (app.count("--" + d.name) == 0) continue;
    if (Status st = d.set(c, "--" + d.name, given[d.name]); !st.ok()) {
      out.exit_code = 2;
      out.message = st.message();
      return out;
    }
  }
  if (Status st = validate(c); !st.ok()) {
    out.exit_code = 2;
    out.message = st.message();
    return out;
  }
  out.run = true;
  return out;
}

}  // namespace kvc::server
