// Shared by the engine tests: tiny random-weight models written with kvc-mkmodel
// (path in $KVC_MKMODEL, set by ctest), engine options sized for 2 cores, random
// prompts, and a plain llama.cpp reference that prefills in the engine's chunks.
#pragma once

#include <gtest/gtest.h>
#include <llama.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/llama_handles.h"
#include "kvc/engine.h"
#include "support/temp_dir.h"

namespace kvc::engine::testing {

// A tiny f16 model of a kvc-mkmodel shape ("tiny": llama; "tiny-mamba": a
// recurrent Mamba-1) with the given weight seed, generated once per process; ""
// when kvc-mkmodel is not available (tests then skip).
inline std::string tiny_model_of(const std::string& shape, int seed = 1) {
  static kvc::testing::TempDir dir("kvc-engine-models");
  static std::map<std::string, std::string> made;
  const std::string name = shape + "-f16-" + std::to_string(seed);
  if (auto it = made.find(name); it != made.end()) return it->second;
  const char* mk = std::getenv("KVC_MKMODEL");
  if (mk == nullptr || *mk == '\0') return {};
  // Fingerprint memo of these throwaway files stays out of ~/.cache.
  ::setenv("KVC_CACHE_DIR", dir.path().c_str(), 0);
  const std::string out = dir.file(name + ".gguf");
  const std::string cmd = std::string(mk) + " --shape " + shape + " --type f16 --quiet --seed " + std::to_string(seed) +
                          " --out " + out;
  if (std::system(cmd.c_str()) != 0) return {};
  return made[name] = out;
}

inline std::string tiny_model(int seed = 1) { return tiny_model_of("tiny", seed); }

#define KVC_REQUIRE_MODEL(path)                                                         \
  const std::string path = ::kvc::engine::testing::tiny_model();                       \
  if (path.empty()) GTEST_SKIP() << "KVC_MKMODEL is not set (run through ctest)"

inline constexpr int kBatch = 64;

// Threads per llama context: $KVC_TEST_THREADS, default 1 (ggml's spinning
// thread pool slows down badly when the 2 cores are shared with other work).
inline int test_threads() {
  const char* v = std::getenv("KVC_TEST_THREADS");
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : 1;
}

inline EngineOptions test_options(const std::string& model, const std::string& cache_dir, int n_seq = 1) {
  EngineOptions o;
  o.model.path = model;
  o.model.n_ctx = 1024 * n_seq;
  o.model.n_batch = kBatch;
  o.model.n_seq = n_seq;
  o.model.threads = test_threads();
  o.cache.tiers = {{TierKind::kDisk, cache_dir, 1ull << 30}};
  o.cache.watch_directories = false;
  SavePolicy& p = o.cache.policy;
  p.min_tokens = 16;
  p.cold_min_tokens = 16;
  p.boundary_trim_tokens = 0;
  p.boundary_align_tokens = 64;
  p.continued_interval = 1 << 20;
  p.session_resume_wait_ms = 10'000;
  return o;
}

// BOS then random ordinary token ids.
inline std::vector<std::int32_t> random_prompt(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int32_t> id(100, 31000);
  std::vector<std::int32_t> t{1};
  while (t.size() < n) t.push_back(id(rng));
  return t;
}

inline CompletionRequest greedy(std::vector<std::int32_t> prompt, int max_tokens = 8) {
  CompletionRequest r;
  r.prompt_tokens = std::move(prompt);
  r.sampling.max_tokens = max_tokens;
  return r;
}

// llama.cpp directly, with the engine's context parameters for n_seq = 1.
class Reference {
 public:
  explicit Reference(const std::string& model_path, int n_ctx = 1024) {
    init_llama_backend();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    model_.reset(llama_model_load_from_file(model_path.c_str(), mp));
    n_ctx_ = n_ctx;
    n_vocab_ = llama_vocab_n_tokens(llama_model_get_vocab(model_.get()));
  }
  ContextPtr context() const {
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = static_cast<std::uint32_t>(n_ctx_);
    cp.n_batch = cp.n_ubatch = kBatch;
    cp.n_seq_max = 1;
    cp.kv_unified = false;
    cp.n_threads = cp.n_threads_batch = test_threads();
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
    cp.no_perf = true;
    return ContextPtr(llama_init_from_model(model_.get(), cp));
  }
  // Decodes tokens[from, to) on seq 0 in kBatch chunks (split at `split` too);
  // returns the logits after the last one.
  std::vector<float> decode(llama_context* ctx, const std::vector<std::int32_t>& tokens, std::size_t from,
                            std::size_t to, std::size_t split = 0) const {
    Batch b(kBatch);
    std::vector<float> out;
    for (std::size_t start = from; start < to;) {
      std::size_t end = std::min(to, start + kBatch);
      if (split > start && split < end) end = split;
      b.clear();
      for (std::size_t i = start; i < end; ++i) b.add(tokens[i], static_cast<llama_pos>(i), 0, i + 1 == end);
      EXPECT_EQ(llama_decode(ctx, b.get()), 0);
      const float* l = llama_get_logits_ith(ctx, -1);
      out.assign(l, l + n_vocab_);
      start = end;
    }
    return out;
  }
  int n_vocab() const { return n_vocab_; }
  llama_model* model() const { return model_.get(); }

 private:
  ModelPtr model_;
  int n_ctx_ = 0;
  int n_vocab_ = 0;
};

inline std::vector<std::byte> seq_state(llama_context* ctx) {
  std::vector<std::byte> s(llama_state_seq_get_size(ctx, 0));
  EXPECT_EQ(llama_state_seq_get_data(ctx, reinterpret_cast<std::uint8_t*>(s.data()), s.size(), 0), s.size());
  return s;
}

inline bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

inline std::unique_ptr<Engine> open_engine(const EngineOptions& o) {
  auto e = Engine::open(o);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? std::move(e.value()) : nullptr;
}

inline CompletionResult run(Engine& e, CompletionRequest r) {
  auto res = e.complete(std::move(r));
  EXPECT_TRUE(res.ok()) << res.status().to_string();
  return res.ok() ? std::move(res.value()) : CompletionResult{};
}

// Greedy output of `prompt` on a fresh engine with no cache rows and no saves.
inline std::vector<std::int32_t> cold_reference(const std::string& model, const std::vector<std::int32_t>& prompt,
                                                int max_tokens = 8) {
  kvc::testing::TempDir dir("kvc-engine-ref");
  auto o = test_options(model, dir.path());
  o.cache.policy.saves_enabled = false;
  o.sticky_sessions = false;
  auto e = open_engine(o);
  auto r = run(*e, greedy(prompt, max_tokens));
  EXPECT_EQ(r.report.path, LookupPath::kMiss);
  return r.tokens;
}

// Re-saves `key`'s row without any logits (as erllama, or a shutdown save of a
// live sequence, writes it), after removing every row.
inline void resave_without_logits(Engine& e, const Key& key) {
  SaveRequest req;
  {
    auto lease = e.cache().checkout(key);
    ASSERT_TRUE(lease.ok()) << lease.status().to_string();
    auto file = e.cache().load(*lease);
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    req.ns = e.key_namespace();
    req.tokens = file->meta().tokens;
    req.reason = SaveReason::kShutdown;
    req.payload = ByteBuffer::copy_of(file->payload());
  }
  for (const auto& row : e.cache().rows()) ASSERT_TRUE(e.cache().remove(row.info.key).ok());
  ASSERT_TRUE(e.cache().save(std::move(req), std::chrono::seconds(30)).ok());
}

}  // namespace kvc::engine::testing
