// Writes a llama, Mamba or Gemma-2 GGUF with deterministic random weights.
//
// The same request always produces a byte-identical file (the weights come from a
// seeded generator keyed by tensor name, nothing depends on time or threads).
// Every tokenizer.* key is copied from a vocab-only GGUF, so the model tokenizes
// like the model that vocab came from. The weights are scaled so activations
// stay finite and greedy decoding gives varied tokens; they carry no meaning.
#pragma once

#include <cstdint>
#include <string>

#include "kvc/status.h"
#include "model_spec.h"

namespace kvc::mkmodel {

struct ModelRequest {
  Shape shape;
  WeightType type = WeightType::kF16;
  uint64_t seed = 1;
  std::string vocab_path;  // a GGUF with tokenizer.* keys (e.g. ggml-vocab-llama-spm.gguf)
  std::string out_path;    // written via a temporary file in the same directory, then renamed
};

struct ModelInfo {
  uint32_t n_vocab = 0;
  uint64_t n_params = 0;
  uint64_t file_bytes = 0;
};

Result<ModelInfo> write_model(const ModelRequest& request);

// The vocab used when none is given: $KVC_MKMODEL_VOCAB if set, else the
// llama-spm vocab that scripts/llama-build installed next to the llama.cpp this
// tool was built against (empty if neither is known).
std::string default_vocab_path();

}  // namespace kvc::mkmodel
