// What kvc-mkmodel can generate: model shapes and weight types.
//
// A shape fixes the llama hyper-parameters of a random-weight model; the vocab
// size always comes from the tokenizer GGUF the model copies its tokenizer from.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "kvc/status.h"

namespace kvc::mkmodel {

struct Shape {
  std::string_view name;
  uint32_t n_layer;
  uint32_t n_embd;
  uint32_t n_head;
  uint32_t n_head_kv;
  uint32_t n_ff;
  uint32_t n_ctx_train;  // llama.context_length
  std::string_view summary;

  uint32_t head_dim() const { return n_embd / n_head; }
  uint32_t n_embd_kv() const { return head_dim() * n_head_kv; }
};

// Weight type of the 2-D weight matrices (norm vectors are always F32).
enum class WeightType { kF16, kQ8_0 };

std::span<const Shape> shapes();
Result<Shape> find_shape(std::string_view name);
Result<WeightType> parse_weight_type(std::string_view name);
std::string_view weight_type_name(WeightType type);

// "tiny, tinyllama-1.1b" for messages and --help.
std::string shape_names();

}  // namespace kvc::mkmodel
