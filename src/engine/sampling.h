// Token sampling with llama.cpp's common library, and the generated-text stream
// (stop strings, UTF-8 hold-back, the on_text callback).
//
// The sampler chain is common_sampler's (common_sampler_init: logit bias and the
// model's suppressed tokens, penalties, DRY, top-n-sigma, top-k, typical, top-p,
// min-p, XTC, temperature, dist or mirostat — llama-server's exact chain). The
// grammar is kept beside it and applied the way common_sampler_sample applies
// it (rejection: sample, check the token against the grammar, resample from the
// constrained candidates if it does not fit), but on a logits array rather than a
// llama_context slot: the first token of a warm request is sampled from logits
// stored in a cache row, with no decode, through the same code. With backend
// sampling (no grammar) the tokens after the first are sampled in the decode
// graph by the same chain (bind_backend, sample_decoded).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/llama_handles.h"
#include "kvc/engine.h"

struct common_sampler;

namespace kvc::engine {

class Sampler {
 public:
  // Builds the chain and the grammar for `p`. The tail of `prompt` is accepted
  // into the chain (penalties and DRY see the prompt, as in llama-server).
  // kInvalidArgument names the bad setting (a grammar that does not parse, a
  // logit_bias token out of the vocabulary, an unknown sampler name, …).
  // n_ctx: the per-sequence context (repeat_last_n = -1 means all of it).
  static Result<std::unique_ptr<Sampler>> create(const llama_model* model, const SamplingParams& p,
                                                 std::span<const std::uint32_t> prompt, int n_ctx);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Samples from `n_vocab` logits and accepts the token. With n_probs > 0 or
  // probs the token's probabilities are in last_probs() afterwards. Not once
  // the chain is bound to the backend (bind_backend).
  llama_token sample(const float* logits, int n_vocab, std::vector<llama_token_data>& scratch);

  // Backend sampling (SamplingParams::backend_sampling, when it applies):
  // attaches the chain to `seq` of `ctx` (llama_set_sampler), so later decodes
  // sample in the graph and leave no raw logits for `seq`. False when the
  // request cannot use it or llama.cpp cannot offload the chain: sample() stays
  // the way. The binding is undone by unbind_backend() or the destructor (on
  // the thread that decodes `ctx`).
  bool bind_backend(llama_context* ctx, llama_seq_id seq);
  void unbind_backend();
  bool bound() const { return bound_ctx_ != nullptr; }
  // With bound(): the token the decode sampled at output `idx` (finishing the
  // chain on the CPU when llama.cpp offloaded only part of it), accepted, its
  // probabilities from the sampled candidates.
  llama_token sample_decoded(int idx);

  // The text a generated token adds to the reply: special tokens render as
  // nothing, except the grammar's preserved tokens (tool-call markers), which
  // the chat parser must see (llama-server's accept_special_token).
  std::string text_of(llama_token token) const;

  const std::optional<TokenProbs>& last_probs() const { return last_probs_; }
  std::uint32_t seed() const { return seed_; }

 private:
  Sampler() = default;
  void fill(const float* logits, int n_vocab, std::vector<llama_token_data>& scratch);
  void report(llama_token token, const llama_token_data_array& cand, const float* logits, int n_vocab);

  struct ChainFree {
    void operator()(common_sampler* s) const;
  };
  const llama_vocab* vocab_ = nullptr;
  std::unique_ptr<common_sampler, ChainFree> chain_;
  SamplerPtr grammar_;  // null without a grammar
  std::vector<llama_token> preserved_;  // sorted
  llama_token_data_array cur_{};
  int n_probs_ = 0;
  bool report_probs_ = false;
  bool post_sampling_probs_ = false;
  bool backend_wanted_ = false;
  llama_context* bound_ctx_ = nullptr;
  llama_seq_id bound_seq_ = -1;
  std::uint32_t seed_ = 0;
  std::optional<TokenProbs> last_probs_;
};

// The text of one token (special tokens rendered).
std::string token_piece(const llama_vocab* vocab, llama_token token);

// Samples from `n_vocab` logits (from llama_get_logits_ith or from a cached row:
// one code path, so both give the same token) and accepts the token.
llama_token sample_from_logits(Sampler* sampler, const float* logits, int n_vocab,
                               std::vector<llama_token_data>& scratch);

// The text of a reply as it grows: finds stop strings (the text before the first
// one is the result, the stop string is not included) and hands the callback only
// text that can no longer turn into a stop string or an incomplete UTF-8 sequence.
class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop) : stop_(std::move(stop)) {
    for (const auto& s : stop_) max_stop_ = std::max(max_stop_, s.size());
  }
  // Appends a piece. Returns true when a stop string now occurs (the text is cut).
  bool append(std::string_view piece);
  // Text that is safe to emit now (call after append); `final` releases the rest.
  std::string_view take_emittable(bool final);
  const std::string& text() const { return text_; }
  bool stopped() const { return stopped_; }
  const std::string& stop_word() const { return stop_word_; }  // the stop string found, "" before

 private:
  std::vector<std::string> stop_;
  std::size_t max_stop_ = 0;
  std::string text_;
  std::size_t emitted_ = 0;
  bool stopped_ = false;
  std::string stop_word_;
};

}  // namespace kvc::engine
