// RAII for llama.cpp objects, and the one-time backend initialisation with
// logging routed through kvc (errors kept, the load-time noise dropped).
//
// This header includes llama.h: only src/engine/ sees it.
#pragma once

#include <llama.h>

#include <memory>
#include <string>

namespace kvc::engine {

struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// A llama_batch with room for `capacity` tokens of one sequence id each.
class Batch {
 public:
  explicit Batch(int capacity) : batch_(llama_batch_init(capacity, 0, 1)), capacity_(capacity) {}
  ~Batch() { llama_batch_free(batch_); }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  void clear() { batch_.n_tokens = 0; }
  int size() const { return batch_.n_tokens; }
  int capacity() const { return capacity_; }
  // Appends one token; returns its index in the batch (for llama_get_logits_ith).
  int add(llama_token token, llama_pos pos, llama_seq_id seq, bool logits) {
    const int i = batch_.n_tokens++;
    batch_.token[i] = token;
    batch_.pos[i] = pos;
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = seq;
    batch_.logits[i] = logits ? 1 : 0;
    return i;
  }
  const llama_batch& get() const { return batch_; }

 private:
  llama_batch batch_;
  int capacity_;
};

// Installs the log filter and calls llama_backend_init() exactly once per process
// (llama_log_set must come first, or every load prints hundreds of lines).
// Messages at ERROR level (and CONT records continuing them) go to stderr; with
// KVC_LLAMA_LOG=1 everything does. The same holds for llama.cpp's common library.
void init_llama_backend();

// The last ERROR-level text llama.cpp logged on this process (for error messages), or "".
std::string last_llama_error();

}  // namespace kvc::engine
