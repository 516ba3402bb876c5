#include "tensor_plan.h"

#include <cmath>

namespace kvc::mkmodel {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return h;
}

// Half-width of a uniform distribution with standard deviation `std`.
float uniform_half_width(double std) { return static_cast<float>(std * std::sqrt(3.0)); }

}  // namespace

// Mamba-1 (llama.cpp's llama_model_mamba). Values keep the selective scan stable:
// A = -[1, 16] (a decaying state), dt = softplus(bias + x·W) around 0.01–0.1,
// D = 1, and the output projection scaled down like llama's residual matrices.
static std::vector<TensorSpec> plan_mamba_tensors(const Shape& shape, uint32_t n_vocab) {
  const int64_t n_embd = shape.n_embd;
  const int64_t d_inner = shape.ssm_d_inner();
  const int64_t d_conv = shape.ssm_d_conv;
  const int64_t d_state = shape.ssm_d_state;
  const int64_t dt_rank = shape.ssm_dt_rank;
  const double in_embd = 1.0 / std::sqrt(static_cast<double>(n_embd));
  const double in_inner = 1.0 / std::sqrt(static_cast<double>(d_inner));
  const double residual = 1.0 / std::sqrt(2.0 * shape.n_layer);

  std::vector<TensorSpec> t;
  auto matrix = [&](std::string name, int64_t ne0, int64_t ne1, double std) {
    t.push_back({std::move(name), ne0, ne1, false, uniform_half_width(std)});
  };
  auto f32 = [&](std::string name, int64_t ne0, int64_t ne1, float half_width, float offset) {
    t.push_back({std::move(name), ne0, ne1, false, half_width, offset, true});
  };
  auto ones = [&](std::string name, int64_t n) { t.push_back({std::move(name), n, 1, true, 0.0f}); };

  matrix("token_embd.weight", n_embd, n_vocab, 1.0);
  for (uint32_t i = 0; i < shape.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    ones(b + "attn_norm.weight", n_embd);
    matrix(b + "ssm_in.weight", n_embd, 2 * d_inner, in_embd);
    f32(b + "ssm_conv1d.weight", d_conv, d_inner, uniform_half_width(1.0 / std::sqrt(static_cast<double>(d_conv))), 0);
    f32(b + "ssm_conv1d.bias", d_inner, 1, 0.1f, 0);
    matrix(b + "ssm_x.weight", d_inner, dt_rank + 2 * d_state, in_inner);
    matrix(b + "ssm_dt.weight", dt_rank, d_inner, 1.0 / std::sqrt(static_cast<double>(dt_rank)));
    f32(b + "ssm_dt.bias", d_inner, 1, 1.0f, -3.5f);
    f32(b + "ssm_a", d_state, d_inner, 7.5f, -8.5f);
    ones(b + "ssm_d", d_inner);
    matrix(b + "ssm_out.weight", d_inner, n_embd, in_inner * residual);
  }
  ones("output_norm.weight", n_embd);
  matrix("output.weight", n_embd, n_vocab, 2.0 * in_embd);
  return t;
}

// Gemma-2 (llama.cpp's llama_model_gemma2): llama's attention and FFN with a norm
// after each, the output tied to token_embd. Inputs are scaled by sqrt(n_embd), so
// the embeddings get llama's output scale (logits with a standard deviation of ~2).
static std::vector<TensorSpec> plan_gemma2_tensors(const Shape& shape, uint32_t n_vocab) {
  const int64_t n_embd = shape.n_embd;
  const int64_t n_ff = shape.n_ff;
  const int64_t n_embd_kv = shape.n_embd_kv();
  const double in_embd = 1.0 / std::sqrt(static_cast<double>(n_embd));
  const double in_ff = 1.0 / std::sqrt(static_cast<double>(n_ff));
  const double residual = 1.0 / std::sqrt(2.0 * shape.n_layer);

  std::vector<TensorSpec> t;
  auto matrix = [&](std::string name, int64_t ne0, int64_t ne1, double std) {
    t.push_back({std::move(name), ne0, ne1, false, uniform_half_width(std)});
  };
  auto norm = [&](std::string name) { t.push_back({std::move(name), n_embd, 1, true, 0.0f}); };

  matrix("token_embd.weight", n_embd, n_vocab, 2.0 * in_embd);
  for (uint32_t i = 0; i < shape.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    norm(b + "attn_norm.weight");
    matrix(b + "attn_q.weight", n_embd, n_embd, in_embd);
    matrix(b + "attn_k.weight", n_embd, n_embd_kv, in_embd);
    matrix(b + "attn_v.weight", n_embd, n_embd_kv, in_embd);
    matrix(b + "attn_output.weight", n_embd, n_embd, in_embd * residual);
    norm(b + "post_attention_norm.weight");
    norm(b + "ffn_norm.weight");
    matrix(b + "ffn_gate.weight", n_embd, n_ff, in_embd);
    matrix(b + "ffn_up.weight", n_embd, n_ff, in_embd);
    matrix(b + "ffn_down.weight", n_ff, n_embd, in_ff * residual);
    norm(b + "post_ffw_norm.weight");
  }
  norm("output_norm.weight");
  return t;
}

std::vector<TensorSpec> plan_tensors(const Shape& shape, uint32_t n_vocab) {
  if (shape.arch == Arch::kMamba) return plan_mamba_tensors(shape, n_vocab);
  if (shape.arch == Arch::kGemma2) return plan_gemma2_tensors(shape, n_vocab);
  const int64_t n_embd = shape.n_embd;
  const int64_t n_ff = shape.n_ff;
  const int64_t n_embd_kv = shape.n_embd_kv();
  // Inputs of every matrix are RMS-normalised (about unit scale), so a standard
  // deviation of 1/sqrt(fan_in) keeps outputs at unit scale. The two matrices that
  // write into the residual stream are scaled down by sqrt(2 * n_layer) so the
  // stream stays O(1) through all layers, and the embeddings dominate neither
  // too much nor too little: logits depend on the context, and stay finite.
  const double in_embd = 1.0 / std::sqrt(static_cast<double>(n_embd));
  const double in_ff = 1.0 / std::sqrt(static_cast<double>(n_ff));
  const double residual = 1.0 / std::sqrt(2.0 * shape.n_layer);

  std::vector<TensorSpec> t;
  auto matrix = [&](std::string name, int64_t ne0, int64_t ne1, double std) {
    t.push_back({std::move(name), ne0, ne1, false, uniform_half_width(std)});
  };
  auto norm = [&](std::string name) { t.push_back({std::move(name), n_embd, 1, true, 0.0f}); };

  matrix("token_embd.weight", n_embd, n_vocab, 1.0);
  for (uint32_t i = 0; i < shape.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    norm(b + "attn_norm.weight");
    matrix(b + "attn_q.weight", n_embd, n_embd, in_embd);
    matrix(b + "attn_k.weight", n_embd, n_embd_kv, in_embd);
    matrix(b + "attn_v.weight", n_embd, n_embd_kv, in_embd);
    matrix(b + "attn_output.weight", n_embd, n_embd, in_embd * residual);
    norm(b + "ffn_norm.weight");
    matrix(b + "ffn_gate.weight", n_embd, n_ff, in_embd);
    matrix(b + "ffn_up.weight", n_embd, n_ff, in_embd);
    matrix(b + "ffn_down.weight", n_ff, n_embd, in_ff * residual);
  }
  norm("output_norm.weight");
  // Logits with a standard deviation of about 2: peaked enough that greedy
  // decoding is not a coin toss between near-equal values.
  matrix("output.weight", n_embd, n_vocab, 2.0 * in_embd);
  return t;
}

WeightStream::WeightStream(uint64_t seed, const TensorSpec& spec)
    : state_(seed ^ fnv1a(spec.name)), half_width_(spec.half_width), offset_(spec.offset), ones_(spec.is_norm) {
  splitmix64(state_);  // decorrelate nearby seeds
}

void WeightStream::fill(std::span<float> out) {
  if (ones_) {
    for (float& v : out) v = 1.0f;
    return;
  }
  constexpr float kInv24 = 1.0f / 16777216.0f;  // 2^-24
  for (float& v : out) {
    // 24 random bits -> [0, 1) exactly representable -> [-1, 1) -> scaled.
    const float u = static_cast<float>(splitmix64(state_) >> 40) * kInv24;
    v = offset_ + (2.0f * u - 1.0f) * half_width_;
  }
}

}  // namespace kvc::mkmodel
