#include "model_spec.h"

#include <array>

namespace kvc::mkmodel {
namespace {

constexpr std::array kShapes = {
    Shape{.name = "tiny",
          .arch = Arch::kLlama,
          .n_layer = 2,
          .n_embd = 128,
          .n_head = 4,
          .n_head_kv = 2,
          .n_ff = 256,
          .n_ctx_train = 16384,
          .summary = "2 layers, n_embd 128, 4 heads (2 KV), n_ff 256: for tests"},
    Shape{.name = "tinyllama-1.1b",
          .arch = Arch::kLlama,
          .n_layer = 22,
          .n_embd = 2048,
          .n_head = 32,
          .n_head_kv = 4,
          .n_ff = 5632,
          .n_ctx_train = 16384,
          .summary = "22 layers, n_embd 2048, 32 heads (4 KV), n_ff 5632: TinyLlama 1.1B"},
    Shape{.name = "tiny-mamba",
          .arch = Arch::kMamba,
          .n_layer = 2,
          .n_embd = 128,
          .n_head = 0,
          .n_head_kv = 0,
          .n_ff = 0,
          .n_ctx_train = 16384,
          .summary = "Mamba-1 (recurrent), 2 layers, n_embd 128, d_inner 256, d_state 16, d_conv 4: for tests",
          .ssm_d_conv = 4,
          .ssm_d_state = 16,
          .ssm_dt_rank = 32},
    Shape{.name = "tiny-gemma2",
          .arch = Arch::kGemma2,
          .n_layer = 2,
          .n_embd = 128,
          .n_head = 4,
          .n_head_kv = 2,
          .n_ff = 256,
          .n_ctx_train = 16384,
          .summary = "Gemma-2 (sliding window of 32 on every other layer), 2 layers, n_embd 128, 4 heads (2 KV): for tests",
          .n_swa = 32},
};

}  // namespace

std::span<const Shape> shapes() { return kShapes; }

std::string_view arch_name(Arch arch) {
  switch (arch) {
    case Arch::kLlama: return "llama";
    case Arch::kMamba: return "mamba";
    case Arch::kGemma2: return "gemma2";
  }
  return "?";
}

std::string shape_names() {
  std::string out;
  for (const Shape& s : kShapes) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out;
}

Result<Shape> find_shape(std::string_view name) {
  for (const Shape& s : kShapes) {
    if (s.name == name) return s;
  }
  return Status(Code::kInvalidArgument,
                "unknown shape '" + std::string(name) + "' (known: " + shape_names() + ")");
}

Result<WeightType> parse_weight_type(std::string_view name) {
  if (name == "f16" || name == "F16") return WeightType::kF16;
  if (name == "q8_0" || name == "Q8_0") return WeightType::kQ8_0;
  return Status(Code::kInvalidArgument, "unknown type '" + std::string(name) + "' (known: f16, q8_0)");
}

std::string_view weight_type_name(WeightType type) {
  switch (type) {
    case WeightType::kF16:
      return "f16";
    case WeightType::kQ8_0:
      return "q8_0";
  }
  return "?";
}

}  // namespace kvc::mkmodel
