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
#include <fstream>
#include <map>
#include <sstream>

#include "server/llama_flags.h"

namespace kvc::server {
namespace {

using Setter = std::function<Status(ServerConfig&, const std::string& option, const std::string& value)>;

struct OptionDef {
  std::string name;  // flag without "--"; the TOML key is the same with '-' or '_'
  std::string help;
  Setter set;
  std::string type = "TEXT";  // shown in --help
  bool repeat = false;        // may be given more than once (TOML: a string or an array of strings)
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

Setter real(float ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& opt, const std::string& v) -> Status {
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || errno != 0 || !std::isfinite(x)) return bad(opt, v, "a number");
    c.*field = static_cast<float>(x);
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

Setter duration(std::int64_t ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string& opt, const std::string& v) -> Status {
    auto r = parse_duration_ms(v);
    if (!r.ok()) return Status(Code::kInvalidArgument, opt + ": " + r.status().message());
    c.*field = r.value();
    return Status::Ok();
  };
}

// A repeatable option: the values arrive joined by '\n' (one per flag, or a TOML array).
Setter text_list(std::vector<std::string> ServerConfig::*field) {
  return [field](ServerConfig& c, const std::string&, const std::string& v) -> Status {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t nl; (nl = v.find('\n', start)) != std::string::npos; start = nl + 1) out.push_back(v.substr(start, nl - start));
    out.push_back(v.substr(start));
    c.*field = std::move(out);
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
      {"host", "Address to listen on; repeat for several listeners [127.0.0.1]", text_list(&C::hosts), "ADDR", true},
      {"port", "Port to listen on [8080]", integer(&C::port), "N"},
      {"api-key", "Require 'Authorization: Bearer KEY' on every endpoint except /health", text(&C::api_key)},
      {"max-body-bytes", "Largest request body; larger ones get 413 [1M]", size(&C::max_body_bytes), "BYTES"},
      {"max-tokens-limit", "Largest max_tokens a request may ask for [4096]", integer(&C::max_tokens_limit), "N"},
      {"default-max-tokens", "max_tokens of a request that gives none [256]", integer(&C::default_max_tokens), "N"},
      {"queue-size", "Requests that may wait for a sequence; more get 503 [64]", integer(&C::queue_size), "N"},
      {"shutdown-deadline-ms", "Deadline of the shutdown saves on SIGTERM/SIGINT [10000]",
       integer(&C::shutdown_deadline_ms), "N"},
      // HTTP limits: what one connection may cost (durations: 10s, 500ms, 2m, or seconds).
      {"max-header-bytes", "Largest request head (request line + header fields); larger get 431 [64K]",
       size(&C::max_header_bytes), "BYTES"},
      {"max-header-fields", "Most header fields in a request; more get 431 [100]", integer(&C::max_header_fields), "N"},
      {"header-timeout", "A request head must arrive within this, from its first byte; else 408 [10s]",
       duration(&C::header_timeout_ms), "TIME"},
      {"body-timeout", "A request body must arrive within this, from the end of the head; else 408 [60s]",
       duration(&C::body_timeout_ms), "TIME"},
      {"idle-timeout", "Longest silence while a request is read or a response written [5s]",
       duration(&C::idle_timeout_ms), "TIME"},
      {"keep-alive-timeout", "An idle connection between requests is closed after this [5s]",
       duration(&C::keep_alive_timeout_ms), "TIME"},
      {"request-timeout", "A request still running after this is cancelled (503 request_timeout); 0 = none [600s]",
       duration(&C::request_timeout_ms), "TIME"},
      {"max-connections", "Open connections; beyond, the oldest idle one is closed, else 503 [4096]",
       integer(&C::max_connections), "N"},
      {"http-threads", "HTTP I/O threads (generation runs on the engine's thread) ; 0 = min(2, cores) [0]",
       integer(&C::http_threads), "N"},
  };
  return defs;
}

// ---- llama-server compatibility (issue 11): the options its flags map onto ----
const std::vector<OptionDef>& compat_option_defs() {
  using C = ServerConfig;
  static const std::vector<OptionDef> defs = {
      {"ubatch-size", "Physical batch; kvc decodes with ubatch = batch, so it must equal --batch-size [0 = same]",
       integer(&C::ubatch_size), "N"},
      {"n-gpu-layers", "Layers offloaded to the GPU, -1 = all (-ngl; needs scripts/llama-build --cuda) [0]",
       integer(&C::n_gpu_layers), "N"},
      {"main-gpu", "GPU of --split-mode none/row (-mg) [0]", integer(&C::main_gpu), "N"},
      {"split-mode", "How to split the model across GPUs: none, layer or row (-sm) [layer]", text(&C::split_mode)},
      {"flash-attn", "Flash attention: on, off or auto (= on) (-fa) [on]", text(&C::flash_attn)},
      {"cache-type-k", "KV cache type of K, a ggml type (-ctk) [f16]", text(&C::cache_type_k)},
      {"cache-type-v", "KV cache type of V, a ggml type (-ctv) [f16]", text(&C::cache_type_v)},
      {"kv-unified", "One KV buffer shared by all sequences (-kvu; turns sticky sessions off) [false]",
       boolean(&C::kv_unified), "BOOL"},
      {"embeddings", "Serve /v1/embeddings (--embedding) [false]", boolean(&C::embeddings), "BOOL"},
      {"pooling", "Embedding pooling: none, mean, cls, last or rank [the model's]", text(&C::pooling)},
      {"slot-save-path", "Directory of /slots?action=save|restore files (KVC format) [none: refused]",
       text(&C::slot_save_path), "PATH"},
      {"jinja", "Render chat templates with llama.cpp's Jinja engine (needed for tools) [true]", boolean(&C::jinja),
       "BOOL"},
      {"chat-template", "Chat template: Jinja text, or with --jinja false a built-in name (chatml, llama3, …) "
                        "[the model's]",
       text(&C::chat_template)},
      {"chat-template-file", "File holding the chat template", text(&C::chat_template_file), "PATH"},
      {"reasoning-format", "Where thinking goes: auto, deepseek, deepseek-legacy or none [auto]",
       text(&C::reasoning_format)},
      {"cors-origins", "CORS: the Access-Control-Allow-Origin policy: * (the request's Origin is echoed), "
                       "localhost (only localhost origins are echoed) or a fixed origin [*]",
       text(&C::cors_origins), "ORIGINS"},
      {"prefill-assistant", "Continue a trailing assistant message [true]", boolean(&C::prefill_assistant), "BOOL"},
      {"temp", "Default temperature [0.8]", real(&C::temp), "F"},
      {"seed", "Default seed; -1 = a random seed per request [-1]", integer(&C::seed), "N"},
      {"top-k", "Default top_k [40]", integer(&C::top_k), "N"},
      {"top-p", "Default top_p [0.95]", real(&C::top_p), "F"},
      {"min-p", "Default min_p [0.05]", real(&C::min_p), "F"},
      {"repeat-penalty", "Default repeat_penalty [1.0]", real(&C::repeat_penalty), "F"},
      {"repeat-last-n", "Default repeat_last_n; -1 = the context [64]", integer(&C::repeat_last_n), "N"},
      {"presence-penalty", "Default presence_penalty [0]", real(&C::presence_penalty), "F"},
      {"frequency-penalty", "Default frequency_penalty [0]", real(&C::frequency_penalty), "F"},
      {"backend-sampling", "Sample generated tokens in the decode graph (llama.cpp's backend sampling; a "
                           "request's backend_sampling overrides it; not with a grammar) [false]",
       boolean(&C::backend_sampling), "BOOL"},
      {"metrics", "llama-server's --metrics; kvc-server serves /metrics regardless [false]", boolean(&C::metrics),
       "BOOL"},
      {"slots", "Serve GET /slots (llama-server's --slots / --no-slots) [true]", boolean(&C::slots), "BOOL"},
      {"verbose", "Log llama.cpp's messages too, and answer with llama-server's \"__verbose\" object unless a request sets \"verbose\": false [false]", boolean(&C::verbose), "BOOL"},
  };
  return defs;
}

// Every option: kvc's own, then the compatibility block.
std::vector<const OptionDef*> all_option_defs() {
  std::vector<const OptionDef*> out;
  for (const auto& d : option_defs()) out.push_back(&d);
  for (const auto& d : compat_option_defs()) out.push_back(&d);
  return out;
}

const OptionDef* find_def(std::string key) {
  for (char& ch : key) {
    if (ch == '_') ch = '-';
  }
  for (const OptionDef* d : all_option_defs()) {
    if (d->name == key) return d;
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
    if (const toml::array* arr = node.as_array(); arr != nullptr && def->repeat) {
      for (const auto& item : *arr) {
        if (!item.is_string()) {
          return Status(Code::kInvalidArgument, "--config " + path + ": option '" + key + "' must be a string or an array of strings");
        }
        value += (value.empty() ? "" : "\n") + *item.value<std::string>();
      }
    } else if (auto s = node.value<std::string>(); s && node.is_string()) {
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

Result<std::int64_t> parse_duration_ms(std::string_view text) {
  const std::string t(text);
  std::size_t i = 0;
  while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
  const std::string num = t.substr(0, i), unit = t.substr(i);
  char* end = nullptr;
  errno = 0;
  const double v = num.empty() ? -1 : std::strtod(num.c_str(), &end);
  const std::string want = "'" + t + "' is not a duration (e.g. 10s, 500ms, 2m; a plain number is seconds)";
  if (num.empty() || errno != 0 || end != num.c_str() + num.size() || !std::isfinite(v) || v < 0) {
    return Status(Code::kInvalidArgument, want);
  }
  double ms = 0;
  if (unit.empty() || unit == "s") ms = v * 1000;
  else if (unit == "ms") ms = v;
  else if (unit == "m") ms = v * 60'000;
  else if (unit == "h") ms = v * 3'600'000;
  else return Status(Code::kInvalidArgument, want);
  if (ms > 1e12) return Status(Code::kInvalidArgument, "'" + t + "' is too long");
  return static_cast<std::int64_t>(std::llround(ms));
}

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

// ---- llama-server compatibility (issue 11) ----
namespace {
Status validate_compat(const ServerConfig& c) {
  auto err = [](const std::string& m) { return Status(Code::kInvalidArgument, m); };
  if (c.ubatch_size != 0 && c.ubatch_size != c.batch_size)
    return err("--ubatch-size (-ub): kvc decodes with ubatch = batch; give the same value as --batch-size (" +
               std::to_string(c.batch_size) + ")");
  if (c.n_gpu_layers < -1) return err("--n-gpu-layers (-ngl): must be -1 (all) or >= 0");
  if (c.main_gpu < 0) return err("--main-gpu (-mg): must be >= 0");
  if (c.split_mode != "none" && c.split_mode != "layer" && c.split_mode != "row")
    return err("--split-mode (-sm): '" + c.split_mode + "' is not none, layer or row");
  if (c.flash_attn != "on" && c.flash_attn != "off" && c.flash_attn != "auto")
    return err("--flash-attn (-fa): '" + c.flash_attn + "' is not on, off or auto");
  if (!c.pooling.empty() && c.pooling != "none" && c.pooling != "mean" && c.pooling != "cls" && c.pooling != "last" &&
      c.pooling != "rank")
    return err("--pooling: '" + c.pooling + "' is not none, mean, cls, last or rank");
  if (!c.chat_template.empty() && !c.chat_template_file.empty())
    return err("--chat-template and --chat-template-file: give one of them");
  static const char* kFormats[] = {"auto", "deepseek", "deepseek-legacy", "none"};
  if (std::find(std::begin(kFormats), std::end(kFormats), c.reasoning_format) == std::end(kFormats))
    return err("--reasoning-format: '" + c.reasoning_format + "' is not auto, deepseek, deepseek-legacy or none");
  if (!std::isfinite(c.temp) || c.temp < 0) return err("--temp: must be >= 0");
  if (c.seed < -1 || c.seed > 0xFFFFFFFFll) return err("--seed: must be -1 (random) or in 0..4294967295");
  if (c.top_k < 0) return err("--top-k: must be >= 0");
  if (!(c.top_p >= 0 && c.top_p <= 1)) return err("--top-p: must be between 0 and 1");
  if (!(c.min_p >= 0 && c.min_p <= 1)) return err("--min-p: must be between 0 and 1");
  if (!(c.repeat_penalty > 0)) return err("--repeat-penalty: must be > 0");
  if (c.cors_origins.empty()) return err("--cors-origins: give *, localhost or an origin (scheme://host[:port])");
  if (c.repeat_last_n < -1) return err("--repeat-last-n: must be -1 (the context) or >= 0");
  if (model_aliases(c, "x").empty()) return err("--model-alias (-a): no name in '" + c.model_alias + "'");
  return Status::Ok();
}
}  // namespace

std::vector<std::string> model_aliases(const ServerConfig& c, const std::string& model_file_name) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : c.model_alias + ",") {
    if (ch != ',') {
      cur += ch;
      continue;
    }
    const auto b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(cur.substr(b, e - b + 1));
    cur.clear();
  }
  if (c.model_alias.empty()) out.push_back(model_file_name);
  return out;
}

SamplingParams default_sampling(const ServerConfig& c) {
  SamplingParams s;
  s.temperature = c.temp;
  s.seed = c.seed < 0 ? SamplingParams::kRandomSeed : static_cast<std::uint32_t>(c.seed);
  s.top_k = c.top_k;
  s.top_p = c.top_p;
  s.min_p = c.min_p;
  s.repeat_penalty = c.repeat_penalty;
  s.repeat_last_n = c.repeat_last_n;
  s.presence_penalty = c.presence_penalty;
  s.frequency_penalty = c.frequency_penalty;
  s.backend_sampling = c.backend_sampling;
  s.max_tokens = c.default_max_tokens;
  return s;
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
  if (c.hosts.empty()) return err("--host: give at least one address");
  for (const auto& h : c.hosts) {
    if (h.empty()) return err("--host: must not be empty");
  }
  if (!c.ram_file_dir.empty() && c.ram_file_quota == 0) return err("--ram-file-quota: required with --ram-file-dir");
  if (c.ram_file_dir.empty() && c.ram_file_quota != 0) return err("--ram-file-dir: required with --ram-file-quota");
  if (c.disk_dir != "none" && c.disk_quota == 0) return err("--disk-quota: must be > 0 (or --disk-dir none)");
  if (Status st = validate_file_mode(c.file_mode); !st.ok()) return err("--file-mode: " + st.message());
  if (c.max_body_bytes < 64) return err("--max-body-bytes: must be at least 64");
  if (c.max_tokens_limit < 1) return err("--max-tokens-limit: must be at least 1");
  if (c.default_max_tokens != -1 && (c.default_max_tokens < 1 || c.default_max_tokens > c.max_tokens_limit)) {
    return err("--default-max-tokens (-n, --n-predict): must be -1 (until the context is full) or in "
               "1..--max-tokens-limit (" + std::to_string(c.max_tokens_limit) + ")");
  }
  if (c.queue_size < 0) return err("--queue-size: must be >= 0");
  if (c.http_threads < 0 || c.http_threads > 64) return err("--http-threads: must be in 0..64");
  if (c.max_header_bytes < 1024 || c.max_header_bytes > (16u << 20)) return err("--max-header-bytes: must be in 1K..16M");
  if (c.max_header_fields < 1 || c.max_header_fields > 10'000) return err("--max-header-fields: must be in 1..10000");
  if (c.header_timeout_ms < 1) return err("--header-timeout: must be > 0");
  if (c.body_timeout_ms < 1) return err("--body-timeout: must be > 0");
  if (c.idle_timeout_ms < 1) return err("--idle-timeout: must be > 0");
  if (c.keep_alive_timeout_ms < 1) return err("--keep-alive-timeout: must be > 0");
  if (c.max_connections < 1 || c.max_connections > 1'000'000) return err("--max-connections: must be in 1..1000000");
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
  if (Status st = validate_compat(c); !st.ok()) return st;
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
  // llama-server compatibility (issue 11)
  o.model.n_gpu_layers = c.n_gpu_layers;
  o.model.main_gpu = c.main_gpu;
  o.model.split_mode = c.split_mode;
  o.model.flash_attn = c.flash_attn != "off";
  o.model.type_k = c.cache_type_k;
  o.model.type_v = c.cache_type_v;
  o.model.kv_unified = c.kv_unified;
  o.model.embeddings = c.embeddings;
  o.model.pooling = c.pooling;
  o.model.jinja = c.jinja;
  o.model.chat_template = c.chat_template;
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
  return parse_config(argc, argv, [](const char* name) { return static_cast<const char*>(std::getenv(name)); });
}

ConfigOutcome parse_config(int argc, const char* const* argv, const std::function<const char*(const char*)>& env) {
  ConfigOutcome out;
  // llama-server's spellings (issue 11): LLAMA_ARG_* variables act as flags given
  // before the command line; the command line's llama flags become kvc's own.
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  for (const std::string& a : args) {
    if (a == "--help-llama") {
      out.message = llama_flags_help();
      return out;
    }
  }
  auto from_env = llama_env_args(env);
  auto translated = translate_llama_args(args);
  if (!from_env.ok() || !translated.ok()) {
    out.exit_code = 2;
    out.message = (!from_env.ok() ? from_env.status() : translated.status()).message();
    return out;
  }
  std::vector<std::string> all{argc > 0 ? argv[0] : "kvc-server"};
  for (const std::string& e : *from_env) {
    // "--name=value": dropped when the command line gives --name too (it wins, also
    // for a repeatable option such as --host, whose values would otherwise add up).
    const std::string name = e.substr(0, e.find('='));
    bool overridden = false;
    for (const std::string& a : *translated) overridden = overridden || a == name || a.rfind(name + "=", 0) == 0;
    if (!overridden) all.push_back(e);
  }
  all.insert(all.end(), translated->begin(), translated->end());
  std::vector<const char*> cargv;
  for (const std::string& a : all) cargv.push_back(a.c_str());
  argc = static_cast<int>(cargv.size());
  argv = cargv.data();
  CLI::App app{"kvc-server: an OpenAI-compatible llama.cpp server whose prompts stay warm (kvc cache).\n"
               "Options may also come from a TOML file (--config; keys are the option names without '--');\n"
               "flags override the file. Sizes accept suffixes K, M, G, T (powers of 1024)."};
  app.set_help_flag("-h,--help", "Print this help and exit");
  std::string config_file;
  app.add_option("--config", config_file, "TOML file of options (flags override it)")->type_name("FILE");
  app.add_flag("--help-llama")->description(
      "List the llama-server flags (and LLAMA_ARG_* variables) kvc-server takes, and how");
  std::map<std::string, std::string> given;
  std::map<std::string, std::vector<std::string>> given_list;
  for (const OptionDef* d : all_option_defs()) {
    if (d->repeat) {
      app.add_option("--" + d->name, given_list[d->name], d->help)->type_name(d->type)->allow_extra_args(false);
    } else {
      // An option may repeat (a LLAMA_ARG_* variable, then the command line): the last wins.
      app.add_option("--" + d->name, given[d->name], d->help)
          ->type_name(d->type)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }
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
  for (const OptionDef* d : all_option_defs()) {
    if (app.count("--" + d->name) == 0) continue;
    std::string value = given[d->name];
    if (d->repeat) {
      value.clear();
      for (const auto& v : given_list[d->name]) value += (value.empty() ? "" : "\n") + v;
    }
    if (Status st = d->set(c, "--" + d->name, value); !st.ok()) {
      out.exit_code = 2;
      out.message = st.message();
      return out;
    }
  }
  if (!c.chat_template_file.empty() && c.chat_template.empty()) {
    std::ifstream in(c.chat_template_file, std::ios::binary);
    std::ostringstream text;
    if (!in || !(text << in.rdbuf())) {
      out.exit_code = 2;
      out.message = "--chat-template-file: cannot read " + c.chat_template_file;
      return out;
    }
    c.chat_template = text.str();
    c.chat_template_file.clear();
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
