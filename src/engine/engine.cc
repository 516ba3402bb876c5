// kvc::Engine: opening the model, context and cache; admission of requests
// (validation, tokenizing, the sampler, the lookup on the caller's thread). The
// decoding itself is the Scheduler's; the vocabulary and chats are in
// engine_text.cc, embeddings and slot files in engine_slots.cc.
#include "kvc/engine.h"

#include <ggml.h>

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "engine/engine_impl.h"
#include "engine/llama_handles.h"
#include "engine/lookup.h"
#include "engine/model_identity.h"
#include "engine/sampling.h"
#include "engine/scheduler.h"
#include "kvc/llama_build.h"

#include <build-info.h>

namespace kvc {

using engine::Clock;

std::string_view lookup_path_name(LookupPath p) {
  switch (p) {
    case LookupPath::kExact: return "exact";
    case LookupPath::kResume: return "resume";
    case LookupPath::kLongestPrefix: return "longest_prefix";
    case LookupPath::kAnyPrefix: return "any_prefix";
    case LookupPath::kMiss: return "miss";
  }
  return "unknown";
}

std::string_view miss_reason_name(MissReason r) {
  switch (r) {
    case MissReason::kNone: return "none";
    case MissReason::kNoRow: return "no_row";
    case MissReason::kNamespaceMismatch: return "namespace_mismatch";
    case MissReason::kRowBusy: return "row_busy";
    case MissReason::kLoadFailed: return "load_failed";
    case MissReason::kRestoreFailed: return "restore_failed";
    case MissReason::kParentNotPrefix: return "parent_not_prefix";
    case MissReason::kPolicy: return "policy";
  }
  return "unknown";
}

std::string_view finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kEndOfGeneration: return "eos";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

namespace {

Result<ggml_type> parse_cache_type(const std::string& name, const char* setting) {
  for (int i = 0; i < GGML_TYPE_COUNT; ++i) {
    const char* n = ggml_type_name(static_cast<ggml_type>(i));
    if (n != nullptr && name == n) return static_cast<ggml_type>(i);
  }
  return Status(Code::kInvalidArgument, std::string(setting) + " = '" + name + "' is not a ggml type (f16, q8_0, …)");
}

Status validate(const ModelOptions& m) {
  auto bad = [](const std::string& what) { return Status(Code::kInvalidArgument, "model." + what); };
  if (m.path.empty()) return bad("path is empty: give a GGUF model file");
  if (m.n_seq < 1) return bad("n_seq = " + std::to_string(m.n_seq) + ": must be at least 1");
  if (m.n_batch < m.n_seq) return bad("n_batch = " + std::to_string(m.n_batch) + ": must be at least n_seq");
  if (m.n_ctx < 16 * m.n_seq) return bad("n_ctx = " + std::to_string(m.n_ctx) + ": too small for n_seq");
  if (m.threads < 1) return bad("threads = " + std::to_string(m.threads) + ": must be at least 1");
  if (m.n_gpu_layers < -1) return bad("n_gpu_layers = " + std::to_string(m.n_gpu_layers) + ": must be -1 (all) or >= 0");
  if (m.main_gpu < 0) return bad("main_gpu = " + std::to_string(m.main_gpu) + ": must be >= 0");
  if (m.split_mode != "none" && m.split_mode != "layer" && m.split_mode != "row")
    return bad("split_mode = '" + m.split_mode + "': must be none, layer or row");
  if (!m.pooling.empty() && m.pooling != "none" && m.pooling != "mean" && m.pooling != "cls" && m.pooling != "last" &&
      m.pooling != "rank")
    return bad("pooling = '" + m.pooling + "': must be none, mean, cls, last or rank");
  return Status::Ok();
}

std::string meta_string(const llama_model* model, const char* key) {
  char buf[256];
  const int n = llama_model_meta_val_str(model, key, buf, sizeof buf);
  if (n < 0) return {};
  if (static_cast<std::size_t>(n) < sizeof buf) return std::string(buf, static_cast<std::size_t>(n));
  std::string big(static_cast<std::size_t>(n) + 1, '\0');
  llama_model_meta_val_str(model, key, big.data(), big.size());
  big.resize(static_cast<std::size_t>(n));
  return big;
}

}  // namespace

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() { shutdown(); }

Result<std::unique_ptr<Engine>> Engine::open(EngineOptions options) {
  const ModelOptions& m = options.model;
  if (Status st = validate(m); !st.ok()) return st;
  auto type_k = parse_cache_type(m.type_k, "model.type_k");
  if (!type_k.ok()) return type_k.status();
  auto type_v = parse_cache_type(m.type_v, "model.type_v");
  if (!type_v.ok()) return type_v.status();
  if (Status st = options.cache.policy.validate(); !st.ok()) return st;

  engine::init_llama_backend();
  auto impl = std::make_unique<Impl>();
  auto fp = engine::effective_fingerprint(m);
  if (!fp.ok()) return fp.status();

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = m.n_gpu_layers;  // -1: all of them
  mp.main_gpu = m.main_gpu;
  mp.split_mode = m.split_mode == "none" ? LLAMA_SPLIT_MODE_NONE
                  : m.split_mode == "row" ? LLAMA_SPLIT_MODE_ROW
                                          : LLAMA_SPLIT_MODE_LAYER;
  impl->model.reset(llama_model_load_from_file(m.path.c_str(), mp));
  if (!impl->model) {
    return Status(Code::kInvalidArgument,
                  "cannot load model " + m.path + (engine::last_llama_error().empty() ? "" : ": " + engine::last_llama_error()));
  }
  for (const LoraSpec& l : m.loras) {
    llama_adapter_lora* a = llama_adapter_lora_init(impl->model.get(), l.path.c_str());
    if (a == nullptr) return Status(Code::kInvalidArgument, "cannot load LoRA adapter " + l.path + " for " + m.path);
    impl->loras.push_back(a);
  }

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<std::uint32_t>(m.n_ctx);
  cp.n_batch = static_cast<std::uint32_t>(m.n_batch);
  cp.n_ubatch = static_cast<std::uint32_t>(m.n_batch);
  cp.n_seq_max = static_cast<std::uint32_t>(m.n_seq);
  cp.n_threads = m.threads;
  cp.n_threads_batch = m.threads;
  cp.kv_unified = m.kv_unified;
  cp.flash_attn_type = m.flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.type_k = *type_k;
  cp.type_v = *type_v;
  cp.no_perf = true;
  impl->ctx.reset(llama_init_from_model(impl->model.get(), cp));
  if (!impl->ctx) {
    return Status(Code::kInvalidArgument, "cannot create a llama.cpp context for " + m.path +
                                              (engine::last_llama_error().empty() ? "" : ": " + engine::last_llama_error()));
  }
  if (!impl->loras.empty()) {
    std::vector<float> scales;
    for (const LoraSpec& l : m.loras) scales.push_back(l.scale);
    if (llama_set_adapters_lora(impl->ctx.get(), impl->loras.data(), impl->loras.size(), scales.data()) != 0)
      return Status(Code::kInvalidArgument, "cannot apply the LoRA adapters to " + m.path);
  }

  llama_model* model = impl->model.get();
  impl->vocab = llama_model_get_vocab(model);
  impl->n_vocab = llama_vocab_n_tokens(impl->vocab);
  impl->n_ctx_seq = static_cast<int>(llama_n_ctx_seq(impl->ctx.get()));
  impl->allow_truncation =
      !llama_model_is_recurrent(model) && !llama_model_is_hybrid(model) && llama_model_n_swa(model) == 0;

  engine::ContextParams p;
  p.architecture = meta_string(model, "general.architecture");
  p.n_ctx = llama_n_ctx(impl->ctx.get());
  p.n_ctx_seq = static_cast<std::uint32_t>(impl->n_ctx_seq);
  p.n_seq_max = llama_n_seq_max(impl->ctx.get());
  p.kv_unified = cp.kv_unified;
  p.swa_full = cp.swa_full;
  p.type_k = ggml_type_name(cp.type_k);
  p.type_v = ggml_type_name(cp.type_v);
  p.flash_attn = m.flash_attn;
  p.rope_type = static_cast<std::int32_t>(llama_model_rope_type(model));
  p.rope_scaling_type = static_cast<std::int32_t>(cp.rope_scaling_type);
  p.rope_freq_base = cp.rope_freq_base;
  p.rope_freq_scale = cp.rope_freq_scale;
  p.rope_freq_scale_train = llama_model_rope_freq_scale_train(model);
  p.yarn_ext_factor = cp.yarn_ext_factor;
  p.yarn_attn_factor = cp.yarn_attn_factor;
  p.yarn_beta_fast = cp.yarn_beta_fast;
  p.yarn_beta_slow = cp.yarn_beta_slow;
  p.yarn_orig_ctx = cp.yarn_orig_ctx;
  p.state_seq_version = LLAMA_STATE_SEQ_VERSION;
  p.llama_commit = KVC_LLAMA_COMMIT;
  impl->ns = KeyNamespace{*fp, engine::quant_byte_for_model(model), engine::context_hash(p)};

  auto chat = engine::ChatTemplates::open(model, m.chat_template, m.jinja);
  if (!chat.ok()) return chat.status();
  impl->chat = std::move(chat.value());
  if (m.embeddings) {
    if (Status st = engine::open_embedding_context(*impl, m); !st.ok()) return st;
  }
  impl->quant_bits = engine::quant_bits_for(engine::ftype_quant_name(static_cast<int>(llama_model_ftype(model))));

  auto cache = Cache::open(options.cache);
  if (!cache.ok()) return cache.status();
  impl->cache = std::move(cache.value());

  engine::SchedulerEnv env;
  env.model = model;
  env.ctx = impl->ctx.get();
  env.vocab = impl->vocab;
  env.n_vocab = impl->n_vocab;
  env.n_batch = m.n_batch;
  env.n_ctx_seq = impl->n_ctx_seq;
  env.cache = impl->cache.get();
  env.ns = impl->ns;
  env.fingerprint_mode = m.fingerprint_mode;
  env.quant_bits = impl->quant_bits;
  env.shutdown_deadline = options.shutdown_deadline;
  env.sticky_sessions = options.sticky_sessions && !m.kv_unified;
  env.evict_deadline = options.evict_deadline;
  env.allow_truncation = impl->allow_truncation;
  env.cache_enabled = options.cache_enabled;
  impl->options = std::move(options);
  impl->scheduler = std::make_unique<engine::Scheduler>(std::move(env), impl->options.model.n_seq);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Result<CompletionResult> Engine::complete(CompletionRequest request) {
  const auto t_start = Clock::now();
  std::vector<std::int32_t> ids;
  if (request.prompt_tokens) {
    ids = *request.prompt_tokens;
  } else {
    auto t = tokenize(request.prompt, request.add_bos);
    if (!t.ok()) return t.status();
    ids = std::move(t.value());
  }
  if (ids.empty()) return Status(Code::kInvalidArgument, "the prompt is empty: give at least one token");
  if (ids.size() >= static_cast<std::size_t>(impl_->n_ctx_seq)) {
    return Status(Code::kInvalidArgument, "the prompt has " + std::to_string(ids.size()) +
                                              " tokens; the context holds " + std::to_string(impl_->n_ctx_seq) +
                                              " per sequence (raise model.n_ctx or shorten the prompt)");
  }
  std::vector<std::uint32_t> prompt;
  prompt.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= impl_->n_vocab) {
      return Status(Code::kInvalidArgument, "prompt token " + std::to_string(i) + " = " + std::to_string(ids[i]) +
                                                " is not in the vocabulary (0.." + std::to_string(impl_->n_vocab - 1) + ")");
    }
    prompt.push_back(static_cast<std::uint32_t>(ids[i]));
  }
  // Sticky sessions: a parent_key naming a parked sequence that prefixes the
  // prompt needs no lookup (no wait for its finish save, no load). If that
  // sequence is evicted before admission the job bounces and is looked up.
  for (int attempt = 0;; ++attempt) {
    if (request.cancel && request.cancel->load()) return Status(Code::kCancelled, "the request was cancelled");
    auto job = std::make_unique<engine::Job>();
    job->t_start = t_start;
    job->bounced = std::make_shared<bool>(false);
    // The sampler first: a grammar or logit_bias the model cannot take is the
    // caller's error, found before any row is loaded.
    auto sampler = engine::Sampler::create(impl_->model.get(), request.sampling, prompt, impl_->n_ctx_seq);
    if (!sampler.ok()) return sampler.status();
    job->sampler = std::move(sampler.value());
    job->skipped_lookup = attempt == 0 && request.parent_key && request.use_cache &&
                          impl_->scheduler->parked_prefix_of(*request.parent_key, prompt);
    if (!request.use_cache || !impl_->options.cache_enabled) {
      job->start.miss_reason = MissReason::kPolicy;  // no lookup at all
    } else if (!job->skipped_lookup) {
      engine::LookupOptions lo{.allow_truncation = impl_->allow_truncation,
                               .parent_key = request.parent_key,
                               .use_any_prefix = impl_->options.any_prefix_lookup};
      job->start = engine::find_start_state(*impl_->cache, impl_->ns, prompt, lo);
    }
    job->lookup_ms = engine::ms_between(t_start, Clock::now());
    const auto bounced = job->bounced;
    if (job->skipped_lookup) {
      job->prompt = prompt;
      job->request = request;  // kept for a bounce
    } else {
      job->prompt = std::move(prompt);
      job->request = std::move(request);
    }
    auto done = job->done.get_future();
    impl_->scheduler->submit(std::move(job));
    auto result = done.get();
    if (!*bounced) return result;
  }
}

std::string llama_build_info() { return ::llama_build_info(); }

const KeyNamespace& Engine::key_namespace() const { return impl_->ns; }

std::string Engine::model_name() const { return std::filesystem::path(impl_->options.model.path).filename().string(); }

int Engine::n_ctx_per_sequence() const { return impl_->n_ctx_seq; }

int Engine::n_ctx_train() const { return llama_model_n_ctx_train(impl_->model.get()); }

int Engine::n_vocab() const { return impl_->n_vocab; }

int Engine::n_sequences() const { return impl_->options.model.n_seq; }

std::string Engine::model_meta(const std::string& key) const { return meta_string(impl_->model.get(), key.c_str()); }

Cache& Engine::cache() { return *impl_->cache; }

EngineStats Engine::stats() const {
  const engine::SchedulerStats& s = impl_->scheduler->stats();
  EngineStats out;
  out.saves = s.saves.load(std::memory_order_relaxed);
  out.save_blocked_ns = s.save_blocked_ns.load(std::memory_order_relaxed);
  out.save_blocked_max_ns = s.save_blocked_max_ns.load(std::memory_order_relaxed);
  out.save_blocked_cpu_ns = s.save_blocked_cpu_ns.load(std::memory_order_relaxed);
  out.state_size_dry_runs = s.state_size_dry_runs.load(std::memory_order_relaxed);
  out.saves_without_snapshot = s.saves_skipped.load(std::memory_order_relaxed);
  return out;
}

void Engine::shutdown() {
  if (!impl_) return;
  std::call_once(impl_->shutdown_once, [this] {
    impl_->scheduler->shutdown();
    impl_->cache->flush();
  });
}

}  // namespace kvc
