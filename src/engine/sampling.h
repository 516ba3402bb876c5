// Token sampling through llama.cpp's sampler chain, and the generated-text stream
// (stop strings, UTF-8 hold-back, the on_text callback).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/llama_handles.h"
#include "kvc/engine.h"

namespace kvc::engine {

// greedy when temperature <= 0; else top_k → top_p → temp → dist(seed).
SamplerPtr make_sampler(const SamplingParams& p);

// Samples from `n_vocab` logits (from llama_get_logits_ith or from a cached row:
// one code path, so both give the same token) and accepts the token.
llama_token sample_from_logits(llama_sampler* sampler, const float* logits, int n_vocab,
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

 private:
  std::vector<std::string> stop_;
  std::size_t max_stop_ = 0;
  std::string text_;
  std::size_t emitted_ = 0;
  bool stopped_ = false;
};

}  // namespace kvc::engine
