// What kvc-mkmodel can generate: model shapes and weight types.
//
// A shape fixes the architecture and hyper-parameters of a random-weight model;
// the vocab size always comes from the tokenizer GGUF the model copies its
// tokenizer from.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "kvc/status.h"

namespace kvc::mkmodel {

// llama: full attention (a plain KV cache). mamba: Mamba-1, a recurrent model
// (llama.cpp's recurrent memory: one state per sequence, no partial seq_rm).
// gemma2: every other layer attends to a sliding window of n_swa positions
// (llama.cpp's iSWA cache, which drops positions that left the window).
enum class Arch { kLlama, kMamba, kGemma2 };

struct Shape {
  std::string_view name;
  Arch arch;
  uint32_t n_layer;
  uint32_t n_embd;
  uint32_t n_head;
  uint32_t n_head_kv;
  uint32_t n_ff;
  uint32_t n_ctx_train;  // <arch>.context_length
  std::string_view summary;
  // Mamba only (0 for llama): conv kernel, state size, time-step rank; the inner
  // size is 2·n_embd (the only expansion factor llama.cpp supports).
  uint32_t ssm_d_conv = 0;
  uint32_t ssm_d_state = 0;
  uint32_t ssm_dt_rank = 0;
  // Gemma-2 only: the sliding window.
  uint32_t n_swa = 0;

  uint32_t head_dim() const { return n_head == 0 ? 0 : n_embd / n_head; }
  uint32_t n_embd_kv() const { return head_dim() * n_head_kv; }
  uint32_t ssm_d_inner() const { return 2 * n_embd; }
};

std::string_view arch_name(Arch arch);  // the GGUF general.architecture value

// Weight type of the 2-D weight matrices (norm vectors are always F32).
enum class WeightType { kF16, kQ8_0 };

std::span<const Shape> shapes();
Result<Shape> find_shape(std::string_view name);
Result<WeightType> parse_weight_type(std::string_view name);
std::string_view weight_type_name(WeightType type);

// "tiny, tinyllama-1.1b" for messages and --help.
std::string shape_names();

}  // namespace kvc::mkmodel
