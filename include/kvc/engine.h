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
#include "kvc/chat.h"
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
  FingerprintMode fingerprint_mode = FingerprintMode::kSafe;
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
  // Offloading, passed to llama.cpp's llama_model_params (used only when ggml was
  // built with a GPU backend, scripts/llama-build --cuda; the CPU build ignores
  // them). n_gpu_layers: layers on the GPU, -1 = all; split_mode: "none", "layer"
  // or "row"; main_gpu: the device of split_mode none/row.
  int n_gpu_layers = 0;
  int main_gpu = 0;
  std::string split_mode = "layer";
  // Chat templates (Engine::apply_chat): "" = the GGUF's tokenizer.chat_template
  // (ChatML when it has none); else a Jinja template text, or with jinja = false
  // the name of one of llama.cpp's built-in templates ("chatml", "llama3", …).
  std::string chat_template;
  // Render templates with llama.cpp's Jinja engine (tools, tool_choice, and
  // reasoning need it); false: llama.cpp's built-in template list only.
  bool jinja = true;
  // Embeddings (Engine::embed): a second llama.cpp context on the same model
  // with embeddings on, one sequence, `pooling` ("" = the model's own; none,
  // mean, cls, last, rank). Off: embed() is an error.
  bool embeddings = false;
  std::string pooling;
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

struct LogitBias {
  std::int32_t token = 0;
  float bias = 0;  // -infinity bans the token
};

// Sampling and stopping. The defaults are llama-server's (common_params_sampling)
// except temperature: the engine is greedy unless told otherwise (kvc-server
// sets llama-server's 0.8, or --temp). The chain is assembled by llama.cpp's
// common library in `samplers` order (logit bias and the model's suppressed
// tokens first, then the listed samplers, dist last); a grammar rejects a
// sampled token that does not fit and resamples from the constrained logits.
struct SamplingParams {
  float temperature = 0.0f;  // <= 0: greedy
  int top_k = 40;            // <= 0: off
  float top_p = 0.95f;       // 1: off
  float min_p = 0.05f;       // 0: off
  float typical_p = 1.0f;    // 1: off
  float top_n_sigma = -1.0f;  // < 0: off
  float xtc_probability = 0.0f;
  float xtc_threshold = 0.1f;
  float dynatemp_range = 0.0f;
  float dynatemp_exponent = 1.0f;
  int repeat_last_n = 64;    // penalties look at this many last tokens (prompt included); -1: the context
  float repeat_penalty = 1.0f;     // 1: off
  float frequency_penalty = 0.0f;  // 0: off
  float presence_penalty = 0.0f;   // 0: off
  float dry_multiplier = 0.0f;     // 0: off
  float dry_base = 1.75f;
  int dry_allowed_length = 2;
  int dry_penalty_last_n = 64;     // -1: the context
  std::vector<std::string> dry_sequence_breakers = {"\n", ":", "\"", "*"};
  float adaptive_target = -1.0f;  // the "adaptive_p" sampler (listed in `samplers`); < 0 off
  float adaptive_decay = 0.9f;
  int mirostat = 0;  // 0 off, 1, 2
  float mirostat_tau = 5.0f;
  float mirostat_eta = 0.1f;
  int min_keep = 0;
  // The chain's order, by llama.cpp sampler names ("penalties", "dry",
  // "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature");
  // empty: llama.cpp's default order.
  std::vector<std::string> samplers;
  std::vector<LogitBias> logit_bias;
  bool ignore_eos = false;  // end-of-generation tokens banned (and never end the reply)
  GrammarConstraint grammar;
  // kRandomSeed: a fresh random seed per request (llama.cpp's LLAMA_DEFAULT_SEED).
  static constexpr std::uint32_t kRandomSeed = 0xFFFFFFFFu;
  std::uint32_t seed = kRandomSeed;
  // > 0: report for each generated token its probability and the n_probs most
  // probable alternatives (CompletionResult::probs, on_token), from the raw
  // logits' softmax, or with post_sampling_probs after the sampling chain.
  int n_probs = 0;
  bool probs = false;  // report the sampled token's probability even with n_probs = 0
  bool post_sampling_probs = false;
  // llama.cpp's backend sampling: the chain runs in the decode graph for the
  // generated tokens (the prompt's own logits stay on the CPU, for the cache
  // row). Not with a grammar, nor with probabilities of the raw logits (as in
  // llama-server); a chain the backend cannot take samples on the CPU.
  bool backend_sampling = false;
  int max_tokens = 128;  // -1: until the context is full
  std::vector<std::string> stop;  // stop strings (not included in the output)
};

// The probability report of one generated token (SamplingParams::n_probs).
struct TokenProbability {
  std::int32_t token = 0;
  std::string piece;  // its text (special tokens rendered)
  float prob = 0;     // probability (a log is taken by the caller when it wants logprobs)
};
struct TokenProbs {
  std::int32_t token = 0;
  std::string piece;
  float prob = 0;                        // of the sampled token
  std::vector<TokenProbability> top;     // most probable first, at most n_probs
};

// One sampled token, as on_token sees it.
struct TokenEvent {
  std::int32_t token = 0;
  std::string_view text;  // the text that became safe to emit with this token (may be empty)
  const TokenProbs* probs = nullptr;  // set when SamplingParams::n_probs > 0
};

// Prompt processing progress (CompletionRequest::on_progress).
struct PromptProgress {
  std::size_t total = 0;      // prompt tokens
  std::size_t cached = 0;     // reused from a row or a parked sequence
  std::size_t processed = 0;  // of total, including the cached ones
  double elapsed_ms = 0;      // since the prefill started
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
  // false: start cold — no cache lookup, no parked sequence (llama-server's
  // cache_prompt: false). Saves still happen per the policy.
  bool use_cache = true;
  // Called with each piece of text as it is generated; return false to cancel.
  // Runs on the engine's scheduler thread: keep it short, never call the Engine
  // from it. Text that could still become a stop string or an incomplete UTF-8
  // sequence is held back until it cannot.
  std::function<bool(std::string_view piece)> on_text;
  // Called once per generated token instead of on_text when set (same thread and
  // rules): the token, the text it released, its probabilities. A final call
  // with token -1 releases the held-back rest at the end.
  std::function<bool(const TokenEvent&)> on_token;
  // Called once when the request is on a sequence and its cached prefix is known
  // (before any decode: processed == cached), then after each prefill chunk
  // (scheduler thread; keep it short).
  std::function<void(const PromptProgress&)> on_progress;
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
  // One per generated token when SamplingParams::n_probs > 0, else empty.
  std::vector<TokenProbs> probs;
  // The sampler's seed (a drawn one when the request asked for kRandomSeed).
  std::uint32_t seed = 0;
  // The stop string that ended the reply (finish reason kStop), else "".
  std::string stop_word;
  RequestReport report;
};

// A token and its text (Engine::token_pieces).
struct TokenPiece {
  std::int32_t id = 0;
  std::string piece;  // may be an incomplete UTF-8 sequence
};

// A saved sequence (Engine::save_slot/restore_slot/erase_slot).
struct SlotFileReport {
  int slot = 0;
  std::string filename;
  std::size_t n_tokens = 0;  // tokens saved, restored or erased
  std::size_t n_bytes = 0;   // bytes written or read (0 for erase)
  double ms = 0;
};

// What a sequence is doing (Engine::slots), for llama-server's GET /slots.
struct SlotInfo {
  int id = 0;
  bool processing = false;  // serving a request
  bool parked = false;      // holds a finished request's cells (sticky session)
  std::size_t n_tokens = 0; // tokens in its KV cells
};

// llama.cpp's build as llama-server reports it ("b<build number>-<commit>"),
// the base of system_fingerprint.
std::string llama_build_info();

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

  // parse_special: special-token texts ("<s>") become their tokens.
  Result<std::vector<std::int32_t>> tokenize(std::string_view text, bool add_bos, bool parse_special = true) const;
  // Each token with its text (special tokens rendered), for /tokenize with_pieces.
  std::vector<TokenPiece> token_pieces(std::span<const std::int32_t> tokens) const;
  // Token ids out of the vocabulary are an error naming the first one.
  // render_special: special tokens are written as their text ("<s>"), as
  // llama-server's "prompt" fields show them; otherwise they are left out.
  Result<std::string> detokenize(std::span<const std::int32_t> tokens, bool render_special = false) const;

  // Renders a chat through the model's template (or ModelOptions::chat_template)
  // with llama.cpp's common chat engine: messages, tools, tool_choice, a
  // response schema. Errors (kInvalidArgument) name the offending field.
  Result<ChatPrompt> apply_chat(const ChatRequest& request) const;
  // A parser of generated text for a ChatPrompt (tool calls, reasoning).
  ChatOutputParser chat_parser(const ChatPrompt& prompt) const;
  // The chat template's source ("" when none) and capabilities, for /props.
  ChatTemplateInfo chat_template_info() const;

  // Embeddings (ModelOptions::embeddings): one vector per input when the
  // context pools, else one per token. normalize: -1 none, 0 max-abs (int16
  // range), 1 taxicab, 2 euclidean (llama-server's default), >2 p-norm.
  // kInvalidArgument when embeddings are off (check embeddings_enabled()), for an empty input or
  // one longer than the context.
  struct Embedding {
    std::vector<std::vector<float>> vectors;
    std::size_t n_tokens = 0;
  };
  Result<Embedding> embed(std::span<const std::int32_t> tokens, int normalize = 2);
  bool embeddings_enabled() const;
  bool pooled_embeddings() const;  // false: pooling none (one vector per token)

  // Sequences as slots (llama-server's /slots). save_slot writes sequence
  // `slot`'s tokens and KV state as a KVC v1 file `filename` (a plain name, no
  // directories) in `dir` — the same format as the cache's rows, so `kvc inspect`
  // reads it; restore_slot loads such a file (its key namespace must match this
  // model and context) into sequence `slot`, which is then parked: the next
  // request whose prompt starts with its tokens continues there; erase_slot
  // clears the sequence. A busy sequence is kUnavailable.
  Result<SlotFileReport> save_slot(int slot, const std::string& dir, const std::string& filename);
  Result<SlotFileReport> restore_slot(int slot, const std::string& dir, const std::string& filename);
  Result<SlotFileReport> erase_slot(int slot);
  std::vector<SlotInfo> slots() const;

  // llama_decode calls so far and the busy sequences in them summed (llama-server's
  // n_decode_total and n_busy_slots_per_decode).
  struct DecodeStats {
    std::uint64_t n_decode_total = 0;
    std::uint64_t busy_slots_total = 0;
  };
  DecodeStats decode_stats() const;

  const KeyNamespace& key_namespace() const;
  std::string model_name() const;  // file name of the model
  int n_ctx_per_sequence() const;
  int n_ctx_train() const;
  int n_vocab() const;
  int n_sequences() const;
  // Text of a GGUF metadata key ("" when absent), e.g. "general.name".
  std::string model_meta(const std::string& key) const;
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
