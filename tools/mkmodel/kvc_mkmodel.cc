// kvc-mkmodel: writes a llama (or Mamba, Gemma-2) GGUF with deterministic random weights, for tests
// and benchmarks of the engine without downloading a real model.
#include <CLI/CLI.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>

#include "model_spec.h"
#include "model_writer.h"

namespace {

std::string shapes_help() {
  std::string out = "Model shape:";
  for (const kvc::mkmodel::Shape& s : kvc::mkmodel::shapes()) {
    out += "\n  ";
    out += s.name;
    out += ": ";
    out += s.summary;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  namespace mk = kvc::mkmodel;
  CLI::App app(
      "kvc-mkmodel: write a llama (or Mamba, Gemma-2) GGUF with deterministic random weights.\n"
      "The same arguments always give a byte-identical file. The tokenizer (and so the\n"
      "vocab size) is copied from a vocab-only GGUF: every tokenizer.* key. The weights\n"
      "are small random values: activations stay finite and greedy decoding gives\n"
      "varied tokens, but the model knows no language. Norm weights are F32 ones;\n"
      "all matrices (embeddings and output included) are of --type (Mamba's conv,\n"
      "A, D and bias tensors are F32).\n"
      "Example: kvc-mkmodel --shape tiny --type q8_0 --seed 7 --out /tmp/tiny-q8.gguf",
      "kvc-mkmodel");
  std::string shape_name = "tiny";
  std::string type_name = "f16";
  std::string seed_text = "1";
  std::string vocab = mk::default_vocab_path();
  std::string out;
  bool quiet = false;
  app.add_option("--shape", shape_name, shapes_help())->capture_default_str();
  app.add_option("--type", type_name, "Weight type of the matrices: f16 or q8_0 (Q8_0 via ggml's quantizer)")
      ->capture_default_str();
  app.add_option("--seed", seed_text, "Seed of the weights: a decimal number, 0 to 2^64-1")->capture_default_str();
  app.add_option("--vocab", vocab,
                 "Vocab-only GGUF to copy the tokenizer from. Default: $KVC_MKMODEL_VOCAB, else the\n"
                 "llama-spm vocab (32 000 tokens) installed by scripts/llama-build")
      ->capture_default_str();
  app.add_option("--out", out, "Output GGUF file (written to a temporary name, then renamed)")->required();
  app.add_flag("-q,--quiet", quiet, "Print nothing on success");
  CLI11_PARSE(app, argc, argv);

  uint64_t seed = 0;
  const char* seed_end = seed_text.data() + seed_text.size();
  if (auto [ptr, ec] = std::from_chars(seed_text.data(), seed_end, seed); ec != std::errc() || ptr != seed_end) {
    std::fprintf(stderr, "kvc-mkmodel: --seed must be a decimal number from 0 to 2^64-1, got '%s'\n", seed_text.c_str());
    return 2;
  }
  kvc::Result<mk::Shape> shape = mk::find_shape(shape_name);
  if (!shape) {
    std::fprintf(stderr, "kvc-mkmodel: %s\n", shape.status().message().c_str());
    return 2;
  }
  kvc::Result<mk::WeightType> type = mk::parse_weight_type(type_name);
  if (!type) {
    std::fprintf(stderr, "kvc-mkmodel: %s\n", type.status().message().c_str());
    return 2;
  }

  const auto start = std::chrono::steady_clock::now();
  mk::ModelRequest request{.shape = *shape, .type = *type, .seed = seed, .vocab_path = vocab, .out_path = out};
  kvc::Result<mk::ModelInfo> info = mk::write_model(request);
  if (!info) {
    std::fprintf(stderr, "kvc-mkmodel: %s\n", info.status().message().c_str());
    return 1;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!quiet) {
    std::printf("%s: %s %s seed %llu, %u tokens, %.1fM parameters, %llu bytes, %.2f s\n", out.c_str(),
                std::string(shape->name).c_str(), std::string(mk::weight_type_name(*type)).c_str(),
                static_cast<unsigned long long>(seed), info->n_vocab, static_cast<double>(info->n_params) / 1e6,
                static_cast<unsigned long long>(info->file_bytes), secs);
  }
  return 0;
}
