// kvc::Engine — warm llama.cpp prompts (engine.md). One llama.cpp model and
// context serving N parallel sequences with continuous batching; every request
// looks for a saved KV state (exact, resume, longest prefix), restores it under a
// lease, prefills the rest, generates, and saves per the policy.
//
// Thread-safety: complete() may be called from many threads at once; requests are
// scheduled onto the sequences and decoded together in shared batches.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/cache.h"
#include "kvc/key.h"
#include "kvc/options.h"
#include "kvc/status.h"

namespace kvc {

struct LoraSpec {
  std::string path;    // GGUF LoRA adapter
  float scale = 1.0f;
};

struct ModelOptions {
  std::string path;                          // GGUF model file
  format::FingerprintMode fingerprint_mode = format::FingerprintMode::kSafe;
  std::optional<Digest> fingerprint;         // required for kFastUnsafe, ignored otherwise
  std::vector<LoraSpec> loras;
  int n_ctx = 8192;                          // total cells (shared by the sequences unless kv_unified)
  int n_batch = 512;                         // max tokens per llama_decode
  int n_seq = 1;                             // parallel sequences (slots)
  // n_threads and n_threads_batch. ggml's worker threads spin while they wait: on
  // cores shared with other busy processes 1 thread can be far faster than 2.
  int threads = 2;
  bool kv_unified = false;
  bool flash_attn = true;
  std::string type_k = "f16";
  std::string type_v = "f16";
};

struct EngineOptions {
  ModelOptions model;
  CacheOptions cache;
  // Deadline of the synchronous shutdown saves.
  std::chrono::milliseconds shutdown_deadline{10'000};
  // Sticky sessions (engine.md §1 step 7): a finished request's sequence is not
  // cleared but parked — its KV cells and token list (prompt + reply, what the
  // finish save describes) stay, keyed by its finish key. A later request whose
  // prompt starts with a parked token list (typically parent_key = that finish
  // key) continues on that sequence with no restore: path "resume", tier
  // "sequence", restore_ms 0, cached_tokens the reused length; a prompt that
  // diverges inside the parked tokens truncates them (plain KV models only, at
  // least policy.min_tokens kept). A cache row covering more of the prompt wins.
  // When a request needs a sequence and none is free, the least recently parked
  // one is evicted: its state snapshot is taken (reason evict; a counted
  // duplicate when its finish row already landed), the writer pool writes it, and
  // the sequence is cleared — the scheduler thread (every sequence) waits only for
  // the snapshot, and not at all once evict_deadline has passed since the request
  // needing the sequence was placed. At shutdown parked sequences get synchronous
  // shutdown saves after the live ones. Ignored (off) with model.kv_unified:
  // parked cells would take cells the live sequences need.
  bool sticky_sessions = true;
  std::chrono::milliseconds evict_deadline{2'000};
  // Whether the longest-prefix step uses the any-token prefix index (on: the
  // default, engine.md §1). Off, prefix hits come from the stride walk only
  // (Cache::longest_prefix, rows at multiples of boundary_align_tokens): for
  // benchmarks and tests that compare the two; exact and resume are unaffected.
  bool any_prefix_lookup = true;
  // Off: the engine neither looks prompts up nor saves states — plain llama.cpp
  // with kvc's scheduler, the baseline of the miss-path overhead benchmark (P9).
  // The cache is still opened (cache() works; rows stay untouched).
  bool cache_enabled = true;
};

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  int top_k = 40;
  float top_p = 0.95f;
  std::uint32_t seed = 0xC0FFEE;
  int max_tokens = 128;
  std::vector<std::string> stop;  // stop strings (not included in the output)
};

enum class LookupPath { kExact, kResume, kLongestPrefix, kAnyPrefix, kMiss };
std::string_view lookup_path_name(LookupPath p);  // "exact", "resume", "longest_prefix", "any_prefix", "miss"

// kPolicy: the engine chose not to use what it found — a row covering the whole
// prompt without logits there on a model whose memory cannot drop its last cell
// (recurrent, hybrid: the last token cannot be re-decoded), or cache_enabled off.
enum class MissReason {
  kNone, kNoRow, kNamespaceMismatch, kRowBusy, kLoadFailed, kRestoreFailed, kParentNotPrefix, kPolicy,
};
std::string_view miss_reason_name(MissReason r);  // "none", "no_row", "namespace_mismatch", …

enum class FinishReason { kStop, kLength, kEndOfGeneration, kCancelled };
std::string_view finish_reason_name(FinishReason r);  // "stop", "length", "eos", "cancelled"

// The per-request report of engine.md §3.
struct RequestReport {
  LookupPath path = LookupPath::kMiss;
  MissReason miss_reason = MissReason::kNone;  // for a miss, and for a parent_key that fell through
  std::string tier;                  // tier the restored row came from ("" on a miss; "sequence": a
                                     // parked sequence continued, sticky sessions)
  std::size_t prompt_tokens = 0;
  std::size_t cached_tokens = 0;     // prefix tokens reused (a cache row or a parked sequence)
  std::size_t prefilled_tokens = 0;  // tokens decoded to finish the prompt
  std::size_t generated_tokens = 0;
  bool logits_from_cache = false;    // first token sampled from a cache row's stored logits (no decode)
  double restore_ms = 0;
  double prefill_ms = 0;
  // The request's saves (cold, continued, finish): how many, and how long they
  // blocked the scheduler thread — the decode loop of every sequence — in all
  // (state snapshot and hand-over to the writer pool; the write runs off it).
  std::size_t saves = 0;
  double save_blocked_ms = 0;
  double time_to_first_token_ms = 0;
  double total_ms = 0;
  std::optional<Key> restored_key;   // unset when nothing was restored (miss, parked sequence)
  std::optional<Key> finish_key;     // key of the finish save (prompt + reply)
  FinishReason finish_reason = FinishReason::kStop;
};

// Totals since the engine opened (any thread may read them).
struct EngineStats {
  std::uint64_t saves = 0;                // saves the policy let through (evict/shutdown ones too)
  std::uint64_t saves_without_snapshot = 0;  // of those, refused before the snapshot: a duplicate
                                              // (the row exists or is being written) or saves dropped
  std::uint64_t save_blocked_ns = 0;      // scheduler-thread time spent in them
  std::uint64_t save_blocked_max_ns = 0;  // the longest one
  std::uint64_t save_blocked_cpu_ns = 0;  // CPU time of the scheduler thread in them (without preemption)
  std::uint64_t state_size_dry_runs = 0;  // llama_state_seq_get_size calls (only until the size model is known)
};

struct CompletionRequest {
  std::string prompt;                      // tokenized with the model's vocab (special tokens parsed)
  std::optional<std::vector<std::int32_t>> prompt_tokens;  // overrides prompt when set
  SamplingParams sampling;
  std::optional<Key> parent_key;           // finish_key of an earlier turn (resume)
  bool add_bos = true;
  // Called with each piece of text as it is generated; return false to cancel.
  // Runs on the engine's scheduler thread: keep it short, never call the Engine
  // from it. Text that could still become a stop string or an incomplete UTF-8
  // sequence is held back until it cannot.
  std::function<bool(std::string_view piece)> on_text;
  // Cancellation: any thread may set *cancel to true at any time (e.g. when the
  // client went away). A request not yet on a sequence (looking up, or queued in
  // the scheduler) then fails with kCancelled; a running one is stopped at the
  // scheduler's next iteration (one decode), whether or not it emits text: while
  // prefilling its sequence is cleared, while generating it finishes with
  // FinishReason::kCancelled like an on_text that returned false (finish save,
  // sticky park). Either way its sequence and lease are free when complete()
  // returns. Null: not cancellable (but for on_text).
  std::shared_ptr<const std::atomic<bool>> cancel;
};

struct CompletionResult {
  std::string text;
  // Generated tokens, an end-of-generation token included. All of them are in the
  // KV cache at the end, so the finish row covers prompt + every one of them.
  std::vector<std::int32_t> tokens;
  RequestReport report;
};

struct ChatMessage {
  std::string role;
  std::string content;
};

class Engine {
 public:
  // Loads the model, computes its identity (fingerprint, quant, context hash),
  // creates the context and opens the cache.
  static Result<std::unique_ptr<Engine>> open(EngineOptions options);
  ~Engine();  // runs shutdown() if it has not run
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Runs one request to completion (blocking). Many threads may call it. The
  // lookup and the read of a saved row happen on the calling thread; decoding on
  // the scheduler thread. Errors: kInvalidArgument (empty prompt, a token id out of
  // the vocabulary, a prompt that does not fit the per-sequence context),
  // kCancelled after shutdown(), kUnavailable when llama_decode fails.
  Result<CompletionResult> complete(CompletionRequest request);

  Result<std::vector<std::int32_t>> tokenize(std::string_view text, bool add_bos) const;
  std::string detokenize(std::span<const std::int32_t> tokens) const;
  // The GGUF's chat template through llama.cpp; a ChatML default when absent.
  Result<std::string> apply_chat_template(std::span<const ChatMessage> messages, bool add_assistant) const;

  const KeyNamespace& key_namespace() const;
  std::string model_name() const;  // file name of the model
  int n_ctx_per_sequence() const;
  Cache& cache();
  EngineStats stats() const;

  // Stops accepting requests, cancels or finishes in-flight ones, and runs the
  // shutdown saves within options.shutdown_deadline.
  void shutdown();

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvc
