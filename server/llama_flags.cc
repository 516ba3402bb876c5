#include "server/llama_flags.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <thread>

namespace kvc::server {
namespace {

enum class Kind {
  kValue,   // takes a value, becomes kvc option `kvc` (through `convert`)
  kSet,     // no value, sets kvc option `kvc` to `value`
  kAccept,  // no value, accepted: kvc always behaves this way (`note` says how)
  kRefuse,  // refused: `note` names the kvc equivalent or why there is none
};

using Convert = std::optional<std::string> (*)(const std::string& value, std::string& error);

struct LlamaFlag {
  std::vector<std::string> names;
  std::string env;   // LLAMA_ARG_* ("" = none)
  Kind kind;
  std::string kvc;   // kvc-server option (kValue, kSet)
  std::string value; // kSet: the value; kRefuse/kAccept: unused
  std::string note;
  Convert convert = nullptr;
  bool refuse_takes_value = false;  // kRefuse: the llama flag has a value (for the message only)
};

std::optional<std::string> gpu_layers(const std::string& v, std::string& error) {
  if (v == "auto" || v == "all") return std::string("-1");
  int n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) {
    error = "'" + v + "' is not a number of layers, auto or all";
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> cache_ram(const std::string& v, std::string& error) {
  long long mib = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), mib);
  if (ec != std::errc() || p != v.data() + v.size() || mib < -1) {
    error = "'" + v + "' is not a size in MiB";
    return std::nullopt;
  }
  if (mib == -1) {
    error = "-1 (no limit) has no kvc equivalent: kvc's RAM tier needs a quota; give it in MiB, or use --ram-quota";
    return std::nullopt;
  }
  return mib == 0 ? std::string("0") : std::to_string(mib) + "M";
}

std::optional<std::string> ctx_size(const std::string& v, std::string& error) {
  if (v == "0") {
    error = "0 (the model's training context) is not supported by kvc-server: give the number of cells";
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> threads(const std::string& v, std::string& error) {
  (void)error;
  if (v == "-1") return std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  return v;
}

std::optional<std::string> http_threads(const std::string& v, std::string& error) {
  (void)error;
  return v == "-1" ? std::string("0") : v;
}

const std::vector<LlamaFlag>& flags() {
  static const std::string kDownload = "kvc-server never downloads models: give a local GGUF file with --model (-m)";
  static const std::string kSpec = "speculative decoding is not supported by kvc-server";
  static const std::string kMedia = "kvc-server serves text models only (no multimodal projector)";
  static const std::string kRouter = "kvc-server serves one model (no router mode): run one server per model";
  static const std::string kShift =
      "kvc-server never shifts the context: a shifted KV state cannot be saved or restored token-exactly; a request "
      "that does not fit gets exceed_context_size_error";
  static const std::vector<LlamaFlag> table = {
      // ---- model and context ----
      {{"-m", "--model"}, "LLAMA_ARG_MODEL", Kind::kValue, "model"},
      {{"-a", "--alias"}, "LLAMA_ARG_ALIAS", Kind::kValue, "model-alias"},
      {{"-c", "--ctx-size"}, "LLAMA_ARG_CTX_SIZE", Kind::kValue, "ctx-size", "", "", ctx_size},
      {{"-np", "--parallel"}, "LLAMA_ARG_N_PARALLEL", Kind::kValue, "parallel"},
      {{"-t", "--threads"}, "LLAMA_ARG_THREADS", Kind::kValue, "threads", "", "", threads},
      {{"-b", "--batch-size"}, "LLAMA_ARG_BATCH", Kind::kValue, "batch-size"},
      {{"-ub", "--ubatch-size"}, "LLAMA_ARG_UBATCH", Kind::kValue, "ubatch-size"},
      {{"-n", "--predict", "--n-predict"}, "LLAMA_ARG_N_PREDICT", Kind::kValue, "default-max-tokens"},
      {{"-ngl", "--gpu-layers", "--n-gpu-layers"}, "LLAMA_ARG_N_GPU_LAYERS", Kind::kValue, "n-gpu-layers", "", "",
       gpu_layers},
      {{"-mg", "--main-gpu"}, "LLAMA_ARG_MAIN_GPU", Kind::kValue, "main-gpu"},
      {{"-sm", "--split-mode"}, "LLAMA_ARG_SPLIT_MODE", Kind::kValue, "split-mode"},
      {{"-fa", "--flash-attn"}, "LLAMA_ARG_FLASH_ATTN", Kind::kValue, "flash-attn"},
      {{"-ctk", "--cache-type-k"}, "LLAMA_ARG_CACHE_TYPE_K", Kind::kValue, "cache-type-k"},
      {{"-ctv", "--cache-type-v"}, "LLAMA_ARG_CACHE_TYPE_V", Kind::kValue, "cache-type-v"},
      {{"-kvu", "--kv-unified"}, "LLAMA_ARG_KV_UNIFIED", Kind::kSet, "kv-unified", "true"},
      {{"-no-kvu", "--no-kv-unified"}, "", Kind::kSet, "kv-unified", "false"},
      {{"--embedding", "--embeddings"}, "LLAMA_ARG_EMBEDDINGS", Kind::kSet, "embeddings", "true"},
      {{"--pooling"}, "LLAMA_ARG_POOLING", Kind::kValue, "pooling"},
      {{"--cache-ram", "-cram"}, "LLAMA_ARG_CACHE_RAM", Kind::kValue, "ram-quota", "", "", cache_ram},
      {{"--slot-save-path"}, "", Kind::kValue, "slot-save-path"},
      // ---- chat ----
      {{"--jinja"}, "LLAMA_ARG_JINJA", Kind::kSet, "jinja", "true"},
      {{"--no-jinja"}, "", Kind::kSet, "jinja", "false"},
      {{"--chat-template"}, "LLAMA_ARG_CHAT_TEMPLATE", Kind::kValue, "chat-template"},
      {{"--chat-template-file"}, "LLAMA_ARG_CHAT_TEMPLATE_FILE", Kind::kValue, "chat-template-file"},
      {{"--reasoning-format"}, "", Kind::kValue, "reasoning-format"},
      {{"--no-prefill-assistant"}, "", Kind::kSet, "prefill-assistant", "false"},
      // ---- sampling defaults ----
      {{"--temp", "--temperature"}, "LLAMA_ARG_TEMPERATURE", Kind::kValue, "temp"},
      {{"-s", "--seed"}, "", Kind::kValue, "seed"},
      {{"--top-k"}, "LLAMA_ARG_TOP_K", Kind::kValue, "top-k"},
      {{"--top-p"}, "LLAMA_ARG_TOP_P", Kind::kValue, "top-p"},
      {{"--min-p"}, "LLAMA_ARG_MIN_P", Kind::kValue, "min-p"},
      {{"--repeat-penalty"}, "LLAMA_ARG_REPEAT_PENALTY", Kind::kValue, "repeat-penalty"},
      {{"--repeat-last-n"}, "", Kind::kValue, "repeat-last-n"},
      {{"--presence-penalty"}, "LLAMA_ARG_PRESENCE_PENALTY", Kind::kValue, "presence-penalty"},
      {{"--frequency-penalty"}, "LLAMA_ARG_FREQUENCY_PENALTY", Kind::kValue, "frequency-penalty"},
      // ---- server ----
      {{"--host"}, "LLAMA_ARG_HOST", Kind::kValue, "host"},
      {{"--port"}, "LLAMA_ARG_PORT", Kind::kValue, "port"},
      {{"--api-key"}, "LLAMA_API_KEY", Kind::kValue, "api-key"},
      {{"--cors-origins"}, "LLAMA_ARG_CORS_ORIGINS", Kind::kValue, "cors-origins"},
      {{"--threads-http"}, "LLAMA_ARG_THREADS_HTTP", Kind::kValue, "http-threads", "", "", http_threads},
      {{"--metrics"}, "LLAMA_ARG_ENDPOINT_METRICS", Kind::kSet, "metrics", "true"},
      {{"--slots"}, "LLAMA_ARG_ENDPOINT_SLOTS", Kind::kSet, "slots", "true"},
      {{"--no-slots"}, "", Kind::kSet, "slots", "false"},
      {{"-v", "--verbose", "--log-verbose"}, "", Kind::kSet, "verbose", "true"},
      // ---- accepted: what kvc always does ----
      {{"-cb", "--cont-batching"}, "LLAMA_ARG_CONT_BATCHING", Kind::kAccept, "", "",
       "kvc-server always batches continuously"},
      {{"--no-context-shift"}, "", Kind::kAccept, "", "", "kvc-server never shifts the context"},
      {{"--offline"}, "LLAMA_ARG_OFFLINE", Kind::kAccept, "", "", "kvc-server never downloads anything"},
      {{"--no-ui", "--no-webui"}, "", Kind::kAccept, "", "", "kvc-server has no web UI"},
      // ---- refused ----
      {{"-cnb", "--no-cont-batching"}, "", Kind::kRefuse, "", "", "kvc-server always batches continuously"},
      {{"--context-shift"}, "LLAMA_ARG_CONTEXT_SHIFT", Kind::kRefuse, "", "", kShift},
      {{"--keep"}, "", Kind::kRefuse, "", "", kShift, nullptr, true},
      {{"-hf", "-hfr", "--hf-repo"}, "LLAMA_ARG_HF_REPO", Kind::kRefuse, "", "", kDownload, nullptr, true},
      {{"-hff", "--hf-file"}, "LLAMA_ARG_HF_FILE", Kind::kRefuse, "", "", kDownload, nullptr, true},
      {{"-mu", "--model-url"}, "LLAMA_ARG_MODEL_URL", Kind::kRefuse, "", "", kDownload, nullptr, true},
      {{"-dr", "--docker-repo"}, "LLAMA_ARG_DOCKER_REPO", Kind::kRefuse, "", "", kDownload, nullptr, true},
      {{"--lora", "--lora-scaled"}, "", Kind::kRefuse, "", "",
       "kvc-server does not load LoRA adapters yet (the kvc engine does: ModelOptions::loras, mixed into the cache "
       "key)",
       nullptr, true},
      {{"-md", "--model-draft", "--spec-type", "--spec-draft-n-max", "--spec-draft-n-min", "--draft-max",
        "--draft-min"},
       "LLAMA_ARG_SPEC_TYPE", Kind::kRefuse, "", "", kSpec, nullptr, true},
      {{"-mm", "--mmproj", "-mmu", "--mmproj-url", "--media-path"}, "LLAMA_ARG_MMPROJ", Kind::kRefuse, "", "", kMedia,
       nullptr, true},
      {{"--no-mmproj"}, "", Kind::kAccept, "", "", kMedia},
      {{"--reranking", "--rerank"}, "LLAMA_ARG_RERANKING", Kind::kRefuse, "", "", "reranking is not supported by kvc-server"},
      {{"--cache-reuse"}, "LLAMA_ARG_CACHE_REUSE", Kind::kRefuse, "", "",
       "kvc reuses prompt prefixes from its cache rows (--min-tokens, --align), not by KV shifting", nullptr, true},
      {{"--no-cache-idle-slots"}, "", Kind::kRefuse, "", "",
       "kvc-server keeps finished sequences for their next turn and saves them to its cache; --saves false stops all "
       "saves"},
      {{"--swa-full"}, "LLAMA_ARG_SWA_FULL", Kind::kRefuse, "", "", "--swa-full is not supported by kvc-server"},
      {{"-gan", "--grp-attn-n", "-gaw", "--grp-attn-w"}, "LLAMA_ARG_GRP_ATTN_N", Kind::kRefuse, "", "",
       "self-extend (group attention) is not supported by kvc-server", nullptr, true},
      {{"--api-key-file"}, "LLAMA_ARG_API_KEY_FILE", Kind::kRefuse, "", "",
       "use --api-key, or api-key in a --config file (readable by the server's user only)", nullptr, true},
      {{"--ui", "--webui"}, "LLAMA_ARG_UI", Kind::kRefuse, "", "", "kvc-server has no web UI"},
      {{"--models-dir", "--models-preset", "--models-max"}, "LLAMA_ARG_MODELS_DIR", Kind::kRefuse, "", "", kRouter,
       nullptr, true},
      {{"--no-models-autoload"}, "", Kind::kRefuse, "", "", kRouter},
      {{"--sleep-idle-seconds"}, "", Kind::kRefuse, "", "", "sleeping (unloading the model when idle) is not supported by kvc-server", nullptr, true},
      {{"--tools", "--tools-runtime", "--mcp-servers-config", "--mcp-servers-json"}, "LLAMA_ARG_TOOLS", Kind::kRefuse,
       "", "", "server-side tools and MCP are not supported by kvc-server", nullptr, true},
      {{"--ui-mcp-proxy"}, "", Kind::kRefuse, "", "", "server-side tools and MCP are not supported by kvc-server"},
      {{"--props"}, "LLAMA_ARG_ENDPOINT_PROPS", Kind::kRefuse, "", "", "POST /props is not supported by kvc-server"},
      {{"--ssl-key-file", "--ssl-cert-file"}, "LLAMA_ARG_SSL_KEY_FILE", Kind::kRefuse, "", "",
       "kvc-server speaks plain HTTP: terminate TLS in a reverse proxy", nullptr, true},
      {{"--path", "--api-prefix"}, "LLAMA_ARG_STATIC_PATH", Kind::kRefuse, "", "", "kvc-server serves no static files and no API prefix",
       nullptr, true},
      {{"-to", "--timeout"}, "LLAMA_ARG_TIMEOUT", Kind::kRefuse, "", "", "kvc-server's HTTP timeouts are not configurable", nullptr, true},
      {{"-bs", "--backend-sampling"}, "LLAMA_ARG_BACKEND_SAMPLING", Kind::kSet, "backend-sampling", "true"},
      {{"-tb", "--threads-batch"}, "", Kind::kRefuse, "", "", "kvc uses --threads (-t) for prompt processing too",
       nullptr, true},
  };
  return table;
}

const LlamaFlag* find_flag(const std::string& name) {
  for (const LlamaFlag& f : flags())
    for (const std::string& n : f.names)
      if (n == name) return &f;
  return nullptr;
}

Result<std::optional<std::string>> converted(const LlamaFlag& f, const std::string& shown, const std::string& value) {
  if (f.convert == nullptr) return std::optional<std::string>(value);
  std::string error;
  auto v = f.convert(value, error);
  if (!v) return Status(Code::kInvalidArgument, shown + ": " + error);
  return v;
}

}  // namespace

Result<std::vector<std::string>> translate_llama_args(std::span<const std::string> args) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string name = a, inline_value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0) {
      if (const auto eq = a.find('='); eq != std::string::npos) {
        name = a.substr(0, eq);
        inline_value = a.substr(eq + 1);
        has_inline = true;
      }
    }
    const LlamaFlag* f = find_flag(name);
    if (f == nullptr && a.rfind("--", 0) == 0) {  // llama.cpp reads "--a_b" as "--a-b"
      std::string dashed = name;
      std::replace(dashed.begin(), dashed.end(), '_', '-');
      f = find_flag(dashed);
    }
    if (f == nullptr) {  // one of kvc-server's own options (or an unknown one CLI11 reports)
      out.push_back(a);
      continue;
    }
    switch (f->kind) {
      case Kind::kValue: {
        std::string value = inline_value;
        if (!has_inline) {
          if (i + 1 >= args.size()) return Status(Code::kInvalidArgument, name + ": needs a value");
          value = args[++i];
        }
        const std::string shown = name == "--" + f->kvc ? name : name + " (kvc-server --" + f->kvc + ")";
        auto v = converted(*f, shown, value);
        if (!v.ok()) return v.status();
        if ((*v)->empty()) {
          // "--name=" reads as a missing value to CLI11: the option's own check names it.
          out.push_back("--" + f->kvc);
          out.push_back("");
        } else {
          out.push_back("--" + f->kvc + "=" + **v);
        }
        break;
      }
      case Kind::kSet:
        if (has_inline) return Status(Code::kInvalidArgument, name + ": takes no value");
        out.push_back("--" + f->kvc + "=" + f->value);
        break;
      case Kind::kAccept:
        if (has_inline) return Status(Code::kInvalidArgument, name + ": takes no value");
        break;
      case Kind::kRefuse:
        return Status(Code::kInvalidArgument, name + " (a llama-server flag) is not supported: " + f->note);
    }
  }
  return out;
}

Result<std::vector<std::string>> llama_env_args(const EnvLookup& env) {
  std::vector<std::string> out;
  for (const LlamaFlag& f : flags()) {
    if (f.env.empty()) continue;
    const char* raw = env(f.env.c_str());
    if (raw == nullptr) continue;
    const std::string v = raw;
    const std::string shown = f.env + "=" + v;
    switch (f.kind) {
      case Kind::kValue: {
        auto c = converted(f, shown, v);
        if (!c.ok()) return c.status();
        out.push_back("--" + f.kvc + "=" + **c);
        break;
      }
      case Kind::kSet: {
        // llama.cpp's boolean variables: true/1/on/enabled or false/0/off/disabled.
        const bool on = v == "1" || v == "true" || v == "on" || v == "enabled";
        const bool off = v == "0" || v == "false" || v == "off" || v == "disabled";
        if (!on && !off) return Status(Code::kInvalidArgument, shown + ": must be true or false");
        const bool positive = f.value == "true";
        out.push_back("--" + f.kvc + "=" + ((on == positive) ? "true" : "false"));
        break;
      }
      case Kind::kAccept: break;
      case Kind::kRefuse: {
        const bool off = v == "0" || v == "false" || v == "off" || v == "disabled" || v.empty();
        if (!off || f.refuse_takes_value)
          return Status(Code::kInvalidArgument, f.env + " (llama-server's " + f.names.back() + ") is not supported: " + f.note);
        break;
      }
    }
  }
  return out;
}

std::string llama_flags_help() {
  std::string out = "llama-server flags kvc-server takes (and LLAMA_ARG_* variables; the command line wins):\n";
  for (const LlamaFlag& f : flags()) {
    std::string names;
    for (const std::string& n : f.names) names += (names.empty() ? "" : ", ") + n;
    if (!f.env.empty()) names += " [" + f.env + "]";
    std::string what;
    switch (f.kind) {
      case Kind::kValue: what = "→ --" + f.kvc; break;
      case Kind::kSet: what = "→ --" + f.kvc + " " + f.value; break;
      case Kind::kAccept: what = "accepted: " + f.note; break;
      case Kind::kRefuse: what = "refused: " + f.note; break;
    }
    out += "  " + names + "  " + what + "\n";
  }
  return out;
}

}  // namespace kvc::server
