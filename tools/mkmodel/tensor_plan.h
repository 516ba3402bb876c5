// The tensors of a model (llama or Mamba) and how their random values are drawn.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model_spec.h"

namespace kvc::mkmodel {

struct TensorSpec {
  std::string name;
  int64_t ne0 = 0;  // row length (the input dimension of a weight matrix)
  int64_t ne1 = 1;  // rows; 1 for the norm vectors
  bool is_norm = false;  // F32 ones (norm weights, Mamba's D); else random values
  float half_width = 0;  // random values are offset + uniform in [-half_width, half_width]
  float offset = 0;
  bool f32 = false;      // F32 whatever the model's type (Mamba's conv, A and biases)

  bool is_f32() const { return is_norm || f32; }
};

// llama: token_embd, then per layer attn_norm, attn_q, attn_k, attn_v,
// attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down, then output_norm and output.
// mamba: token_embd, then per layer attn_norm, ssm_in, ssm_conv1d (weight, bias),
// ssm_x, ssm_dt (weight, bias), ssm_a, ssm_d, ssm_out, then output_norm and output.
// gemma2: llama's layers with post_attention_norm and post_ffw_norm, no output
// (tied to token_embd).
std::vector<TensorSpec> plan_tensors(const Shape& shape, uint32_t n_vocab);

// Deterministic values for one tensor: a splitmix64 stream seeded from (seed,
// tensor name); fill() continues the stream, so filling row chunks in order gives
// the same values as filling the whole tensor at once.
class WeightStream {
 public:
  WeightStream(uint64_t seed, const TensorSpec& spec);
  void fill(std::span<float> out);

 private:
  uint64_t state_;
  float half_width_;
  float offset_;
  bool ones_;
};

}  // namespace kvc::mkmodel
