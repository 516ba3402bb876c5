// Model identity for cache keys (format.md §1.2–1.3): fingerprints of the GGUF
// file in the three modes, the LoRA effective fingerprint, the quant byte, and
// the context-parameters hash. Everything here but quant_byte_for_model and
// context_params_from is free of llama.cpp objects and is unit-tested directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/kvc_file.h"
#include "kvc/engine.h"
#include "kvc/key.h"
#include "kvc/status.h"

struct llama_model;
struct llama_context_params;

namespace kvc::engine {

// SHA-256 of a whole file, remembered per (path, device, inode, size, mtime,
// ctime): in process, and in ${KVC_CACHE_DIR:-~/.cache/kvc}/fingerprints.tsv
// across processes (best effort). A file rewritten or replaced in any way —
// even with the same size and its old mtime restored — is hashed again.
Result<Digest> file_sha256(const std::string& path);

// SHA-256 over the GGUF header + metadata + tensor-info section (the bytes before
// the data section) and the data of the first and last tensor (by offset). Fast
// on multi-GB files; catches accidents, not tampering. Memoised like file_sha256.
Result<Digest> gguf_chunked_sha256(const std::string& path);

// The base fingerprint of `options.path` in `options.fingerprint_mode`
// (kFastUnsafe: options.fingerprint, required), mixed with the SHA-256 of each
// LoRA adapter file (format.md §1.3).
Result<Digest> effective_fingerprint(const ModelOptions& options);

// format.md §1.1 name of a llama_ftype value ("q8_0", …), "" when it has none.
std::string_view ftype_quant_name(int ftype);
// Quant byte of a loaded model: llama_model_ftype → name → quant_byte; 255 when unknown.
std::uint8_t quant_byte_for_model(const llama_model* model);
// Informational bits per weight of a quant name (16 for f16, 8 for q8_0, 0 unknown).
std::uint8_t quant_bits_for(std::string_view quant_name);

// Every context property that decides whether a saved state restores and
// continues identically (format.md §1.2 CTX).
struct ContextParams {
  std::string architecture;   // general.architecture
  std::uint32_t n_ctx = 0;      // total cells
  std::uint32_t n_ctx_seq = 0;  // cells per sequence
  std::uint32_t n_seq_max = 0;
  bool kv_unified = false;
  bool swa_full = false;
  std::string type_k;          // "f16", …
  std::string type_v;
  bool flash_attn = false;     // decides V transposition
  std::int32_t rope_type = 0;
  std::int32_t rope_scaling_type = 0;
  float rope_freq_base = 0;    // as configured (0 = from the model)
  float rope_freq_scale = 0;
  float rope_freq_scale_train = 0;
  float yarn_ext_factor = 0;
  float yarn_attn_factor = 0;
  float yarn_beta_fast = 0;
  float yarn_beta_slow = 0;
  std::uint32_t yarn_orig_ctx = 0;
  std::int32_t state_seq_version = 0;  // LLAMA_STATE_SEQ_VERSION
  std::string llama_commit;            // KVC_LLAMA_COMMIT
};

// SHA-256 of the canonical encoding: "kvc-ctx-v1", then for each field in a fixed
// order u32le(len(name)) name u32le(len(value)) value, values as decimal text
// (floats as their exact bit pattern in hex). Never all zero.
Digest context_hash(const ContextParams& p);
std::string context_params_text(const ContextParams& p);  // the same fields, for humans

}  // namespace kvc::engine
