#include "engine/sampling.h"

#include <algorithm>

namespace kvc::engine {

SamplerPtr make_sampler(const SamplingParams& p) {
  llama_sampler_chain_params cp = llama_sampler_chain_default_params();
  cp.no_perf = true;
  SamplerPtr chain(llama_sampler_chain_init(cp));
  if (p.temperature <= 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (p.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(p.top_k));
  if (p.top_p > 0.0f && p.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(p.seed));
  return chain;
}

llama_token sample_from_logits(llama_sampler* sampler, const float* logits, int n_vocab,
                               std::vector<llama_token_data>& scratch) {
  scratch.resize(static_cast<std::size_t>(n_vocab));
  for (int i = 0; i < n_vocab; ++i) scratch[static_cast<std::size_t>(i)] = {i, logits[i], 0.0f};
  llama_token_data_array arr{scratch.data(), scratch.size(), -1, false};
  llama_sampler_apply(sampler, &arr);
  const llama_token t = arr.data[arr.selected].id;
  llama_sampler_accept(sampler, t);
  return t;
}

bool TextStream::append(std::string_view piece) {
  if (stopped_) return true;
  const std::size_t before = text_.size();
  text_ += piece;
  // Only a stop string that ends inside the new piece can be new.
  const std::size_t from = before > max_stop_ ? before - max_stop_ : 0;
  std::size_t cut = std::string::npos;
  for (const auto& s : stop_) {
    if (s.empty()) continue;
    const std::size_t at = text_.find(s, from);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  if (cut != std::string::npos) {
    text_.resize(std::max(cut, emitted_));
    stopped_ = true;
  }
  return stopped_;
}

std::string_view TextStream::take_emittable(bool final) {
  std::size_t end = text_.size();
  if (!final && !stopped_) {
    // Hold back what could be the start of a stop string…
    end = max_stop_ > 1 && end >= max_stop_ - 1 ? end - (max_stop_ - 1) : (max_stop_ > 1 ? 0 : end);
    // …and an incomplete UTF-8 sequence at the end.
    std::size_t i = end, back = 0;
    while (i > emitted_ && back < 4 && (static_cast<unsigned char>(text_[i - 1]) & 0xC0) == 0x80) --i, ++back;
    if (i > emitted_) {
      const auto lead = static_cast<unsigned char>(text_[i - 1]);
      const std::size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (need > 1 && back + 1 < need) end = i - 1;
    }
  }
  if (end <= emitted_) return {};
  std::string_view out(text_.data() + emitted_, end - emitted_);
  emitted_ = end;
  return out;
}

}  // namespace kvc::engine
