#include "model_writer.h"

#include <ggml.h>
#include <gguf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "tensor_plan.h"

namespace kvc::mkmodel {
namespace {

// llama_ftype values (llama.h) for general.file_type.
constexpr uint32_t kFtypeMostlyF16 = 1;
constexpr uint32_t kFtypeMostlyQ8_0 = 7;

struct GgufFree {
  void operator()(gguf_context* c) const { gguf_free(c); }
};
struct GgmlFree {
  void operator()(ggml_context* c) const { ggml_free(c); }
};
struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufFree>;
using GgmlPtr = std::unique_ptr<ggml_context, GgmlFree>;

Status io_error(const std::string& what, const std::string& path) {
  return Status(Code::kIoError, what + " " + path + ": " + std::strerror(errno));
}

// The tokenizer.* keys of the vocab GGUF, in their original order, plus the vocab size.
struct Tokenizer {
  GgufPtr keys;
  uint32_t n_vocab = 0;
};

Result<Tokenizer> load_tokenizer(const std::string& path) {
  if (path.empty()) {
    return Status(Code::kInvalidArgument,
                  "no vocab GGUF given and no default known (pass --vocab, or set KVC_MKMODEL_VOCAB)");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status(Code::kNotFound, "vocab GGUF " + path + " is not a readable file");
  }
  gguf_init_params params{.no_alloc = true, .ctx = nullptr};
  GgufPtr vocab(gguf_init_from_file(path.c_str(), params));
  if (!vocab) return Status(Code::kCorrupt, "vocab " + path + " is not a valid GGUF file");

  GgufPtr keys(gguf_init_empty());
  gguf_set_kv(keys.get(), vocab.get());
  for (int64_t i = gguf_get_n_kv(keys.get()) - 1; i >= 0; --i) {
    const std::string key = gguf_get_key(keys.get(), i);
    if (!key.starts_with("tokenizer.")) gguf_remove_key(keys.get(), key.c_str());
  }
  const int64_t model = gguf_find_key(keys.get(), "tokenizer.ggml.model");
  const int64_t tokens = gguf_find_key(keys.get(), "tokenizer.ggml.tokens");
  if (model < 0 || tokens < 0 || gguf_get_kv_type(keys.get(), tokens) != GGUF_TYPE_ARRAY ||
      gguf_get_arr_type(keys.get(), tokens) != GGUF_TYPE_STRING) {
    return Status(Code::kInvalidArgument,
                  "vocab " + path + " has no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens missing)");
  }
  const size_t n = gguf_get_arr_n(keys.get(), tokens);
  if (n == 0 || n > (1u << 24)) {
    return Status(Code::kInvalidArgument, "vocab " + path + " has " + std::to_string(n) + " tokens");
  }
  return Tokenizer{std::move(keys), static_cast<uint32_t>(n)};
}

void set_metadata(gguf_context* g, const ModelRequest& r, uint32_t n_vocab) {
  const Shape& s = r.shape;
  const std::string name = "kvc-mkmodel " + std::string(s.name) + " " +
                           std::string(weight_type_name(r.type)) + " seed " + std::to_string(r.seed);
  const std::string arch(arch_name(s.arch));
  auto key = [&arch](const char* k) { return arch + "." + k; };
  gguf_set_val_str(g, "general.architecture", arch.c_str());
  gguf_set_val_str(g, "general.name", name.c_str());
  gguf_set_val_str(g, "general.description", "random weights for tests and benchmarks; not a language model");
  gguf_set_val_u32(g, "general.file_type", r.type == WeightType::kF16 ? kFtypeMostlyF16 : kFtypeMostlyQ8_0);
  gguf_set_val_u32(g, "general.quantization_version", GGML_QNT_VERSION);
  gguf_set_val_u32(g, key("vocab_size").c_str(), n_vocab);
  gguf_set_val_u32(g, key("context_length").c_str(), s.n_ctx_train);
  gguf_set_val_u32(g, key("embedding_length").c_str(), s.n_embd);
  gguf_set_val_u32(g, key("block_count").c_str(), s.n_layer);
  gguf_set_val_u32(g, key("feed_forward_length").c_str(), s.n_ff);
  gguf_set_val_u32(g, key("attention.head_count").c_str(), s.n_head);
  gguf_set_val_u32(g, key("attention.head_count_kv").c_str(), s.n_head_kv);
  if (s.arch != Arch::kMamba) {  // (this key order keeps llama files byte-identical to earlier versions)
    gguf_set_val_u32(g, key("rope.dimension_count").c_str(), s.head_dim());
    gguf_set_val_f32(g, key("rope.freq_base").c_str(), 10000.0f);
  }
  if (s.arch == Arch::kGemma2) gguf_set_val_u32(g, key("attention.sliding_window").c_str(), s.n_swa);
  gguf_set_val_f32(g, key("attention.layer_norm_rms_epsilon").c_str(), 1e-5f);
  if (s.arch == Arch::kMamba) {
    gguf_set_val_u32(g, key("ssm.conv_kernel").c_str(), s.ssm_d_conv);
    gguf_set_val_u32(g, key("ssm.inner_size").c_str(), s.ssm_d_inner());
    gguf_set_val_u32(g, key("ssm.state_size").c_str(), s.ssm_d_state);
    gguf_set_val_u32(g, key("ssm.time_step_rank").c_str(), s.ssm_dt_rank);
  }
}

// Streams the tensor data after the metadata, converting chunk by chunk.
class DataWriter {
 public:
  DataWriter(FILE* f, std::string path, size_t alignment)
      : f_(f), path_(std::move(path)), alignment_(alignment) {}

  Status write(const void* data, size_t n) {
    if (n != 0 && std::fwrite(data, 1, n, f_) != n) return io_error("cannot write", path_);
    written_ += n;
    return Status::Ok();
  }
  Status pad() {
    static const char zeros[64] = {};
    size_t n = (alignment_ - written_ % alignment_) % alignment_;
    while (n > 0) {
      const size_t k = std::min(n, sizeof zeros);
      if (Status s = write(zeros, k); !s.ok()) return s;
      n -= k;
    }
    return Status::Ok();
  }
  uint64_t written() const { return written_; }

 private:
  FILE* f_;
  std::string path_;
  size_t alignment_;
  uint64_t written_ = 0;
};

Status write_tensor(DataWriter& out, const TensorSpec& spec, ggml_type type, uint64_t seed) {
  constexpr int64_t kChunkElems = 1 << 20;
  const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkElems / spec.ne0);
  WeightStream stream(seed, spec);
  std::vector<float> f32(static_cast<size_t>(std::min(rows_per_chunk, spec.ne1) * spec.ne0));
  std::vector<uint8_t> converted(ggml_row_size(type, spec.ne0) * std::min(rows_per_chunk, spec.ne1));
  for (int64_t row = 0; row < spec.ne1; row += rows_per_chunk) {
    const int64_t nrows = std::min(rows_per_chunk, spec.ne1 - row);
    const size_t n = static_cast<size_t>(nrows * spec.ne0);
    stream.fill(std::span<float>(f32.data(), n));
    const void* bytes = nullptr;
    size_t nbytes = 0;
    switch (type) {
      case GGML_TYPE_F32:
        bytes = f32.data();
        nbytes = n * sizeof(float);
        break;
      case GGML_TYPE_F16:
        ggml_fp32_to_fp16_row(f32.data(), reinterpret_cast<ggml_fp16_t*>(converted.data()), static_cast<int64_t>(n));
        bytes = converted.data();
        nbytes = n * sizeof(ggml_fp16_t);
        break;
      default:
        nbytes = ggml_quantize_chunk(type, f32.data(), converted.data(), 0, nrows, spec.ne0, nullptr);
        bytes = converted.data();
        break;
    }
    if (Status s = out.write(bytes, nbytes); !s.ok()) return s;
  }
  return out.pad();
}

}  // namespace

std::string default_vocab_path() {
  if (const char* env = std::getenv("KVC_MKMODEL_VOCAB"); env != nullptr && *env != '\0') return env;
#ifdef KVC_MKMODEL_DEFAULT_VOCAB
  return KVC_MKMODEL_DEFAULT_VOCAB;
#else
  return {};
#endif
}

Result<ModelInfo> write_model(const ModelRequest& r) {
  const Shape& s = r.shape;
  const bool attention_ok =
      s.n_head != 0 && s.n_embd % s.n_head == 0 && s.n_head_kv != 0 && s.n_head % s.n_head_kv == 0;
  const bool ssm_ok = s.ssm_d_conv != 0 && s.ssm_d_state != 0 && s.ssm_dt_rank != 0;
  const bool ok = s.arch == Arch::kMamba ? ssm_ok : attention_ok && (s.arch != Arch::kGemma2 || s.n_swa != 0);
  if (!ok) {
    return Status(Code::kInvalidArgument, "inconsistent shape " + std::string(s.name));
  }
  if (r.out_path.empty()) return Status(Code::kInvalidArgument, "no output path given");
  const ggml_type wtype = r.type == WeightType::kF16 ? GGML_TYPE_F16 : GGML_TYPE_Q8_0;

  Result<Tokenizer> tok = load_tokenizer(r.vocab_path);
  if (!tok) return tok.status();
  const uint32_t n_vocab = tok->n_vocab;

  const std::vector<TensorSpec> plan = plan_tensors(s, n_vocab);
  for (const TensorSpec& t : plan) {
    if (!t.is_f32() && t.ne0 % ggml_blck_size(wtype) != 0) {
      return Status(Code::kInvalidArgument, "tensor " + t.name + " row length " + std::to_string(t.ne0) +
                                                " is not a multiple of the " +
                                                std::string(weight_type_name(r.type)) + " block size");
    }
  }

  GgufPtr g(gguf_init_empty());
  set_metadata(g.get(), r, n_vocab);
  gguf_set_kv(g.get(), tok->keys.get());

  ggml_init_params ip{.mem_size = ggml_tensor_overhead() * (plan.size() + 1), .mem_buffer = nullptr, .no_alloc = true};
  GgmlPtr meta_ctx(ggml_init(ip));
  if (!meta_ctx) return Status(Code::kIoError, "ggml_init failed");
  ModelInfo info;
  info.n_vocab = n_vocab;
  for (const TensorSpec& t : plan) {
    const ggml_type type = t.is_f32() ? GGML_TYPE_F32 : wtype;
    ggml_tensor* tensor = t.ne1 == 1 && t.is_f32() ? ggml_new_tensor_1d(meta_ctx.get(), type, t.ne0)
                                                  : ggml_new_tensor_2d(meta_ctx.get(), type, t.ne0, t.ne1);
    ggml_set_name(tensor, t.name.c_str());
    gguf_add_tensor(g.get(), tensor);
    info.n_params += static_cast<uint64_t>(t.ne0 * t.ne1);
  }

  std::vector<uint8_t> meta(gguf_get_meta_size(g.get()));
  gguf_get_meta_data(g.get(), meta.data());

  const std::filesystem::path out(r.out_path);
  {
    std::error_code ec;
    const std::filesystem::path dir = out.has_parent_path() ? out.parent_path() : std::filesystem::path(".");
    if (!std::filesystem::is_directory(dir, ec)) {
      return Status(Code::kNotFound, "cannot write " + r.out_path + ": directory " + dir.string() + " does not exist");
    }
    if (std::filesystem::is_directory(out, ec)) {
      return Status(Code::kInvalidArgument, "cannot write " + r.out_path + ": it is a directory");
    }
  }
  const std::string tmp = r.out_path + ".tmp." + std::to_string(::getpid());
  std::unique_ptr<FILE, FileClose> f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return io_error("cannot create", tmp);
  auto fail = [&](Status s) -> Result<ModelInfo> {
    f.reset();
    std::remove(tmp.c_str());
    return s;
  };
  DataWriter w(f.get(), tmp, gguf_get_alignment(g.get()));
  if (Status st = w.write(meta.data(), meta.size()); !st.ok()) return fail(st);
  for (size_t i = 0; i < plan.size(); ++i) {
    const uint64_t expect = meta.size() + gguf_get_tensor_offset(g.get(), static_cast<int64_t>(i));
    if (w.written() != expect) {
      return fail(Status(Code::kCorrupt, "internal error: tensor " + plan[i].name + " at offset " +
                                             std::to_string(w.written()) + ", expected " + std::to_string(expect)));
    }
    const ggml_type type = plan[i].is_f32() ? GGML_TYPE_F32 : wtype;
    if (Status st = write_tensor(w, plan[i], type, r.seed); !st.ok()) return fail(st);
  }
  if (std::fflush(f.get()) != 0) return fail(io_error("cannot write", tmp));
  if (std::fclose(f.release()) != 0) {
    Status st = io_error("cannot write", tmp);
    std::remove(tmp.c_str());
    return st;
  }
  if (std::rename(tmp.c_str(), r.out_path.c_str()) != 0) {
    Status st = io_error("cannot rename to", r.out_path);
    std::remove(tmp.c_str());
    return st;
  }
  info.file_bytes = w.written();
  return info;
}

}  // namespace kvc::mkmodel
