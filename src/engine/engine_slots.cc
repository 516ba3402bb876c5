// kvc::Engine: embeddings (a second context with embeddings on) and sequences as
// llama-server's slots (snapshots on the scheduler thread, KVC v1 slot files).
#include <common.h>

#include <chrono>
#include <filesystem>
#include <future>

#include "engine/engine_impl.h"
#include "engine/slot_files.h"
#include "io/env.h"

namespace kvc {

using engine::Clock;

namespace engine {

Status open_embedding_context(Engine::Impl& impl, const ModelOptions& m) {
  llama_context_params cp = llama_context_default_params();
  cp.embeddings = true;
  // One sequence, the whole input in one ubatch (non-causal models need that).
  cp.n_ctx = static_cast<std::uint32_t>(impl.n_ctx_seq);
  cp.n_batch = cp.n_ubatch = cp.n_ctx;
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = m.threads;
  cp.flash_attn_type = m.flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.no_perf = true;
  cp.pooling_type = m.pooling.empty()     ? LLAMA_POOLING_TYPE_UNSPECIFIED
                    : m.pooling == "none" ? LLAMA_POOLING_TYPE_NONE
                    : m.pooling == "mean" ? LLAMA_POOLING_TYPE_MEAN
                    : m.pooling == "cls"  ? LLAMA_POOLING_TYPE_CLS
                    : m.pooling == "last" ? LLAMA_POOLING_TYPE_LAST
                                          : LLAMA_POOLING_TYPE_RANK;
  impl.embed_ctx.reset(llama_init_from_model(impl.model.get(), cp));
  if (!impl.embed_ctx) {
    return Status(Code::kInvalidArgument, "cannot create the embeddings context for " + m.path +
                                              (last_llama_error().empty() ? "" : ": " + last_llama_error()));
  }
  return Status::Ok();
}

}  // namespace engine

bool Engine::embeddings_enabled() const { return impl_->embed_ctx != nullptr; }

bool Engine::pooled_embeddings() const {
  return impl_->embed_ctx && llama_pooling_type(impl_->embed_ctx.get()) != LLAMA_POOLING_TYPE_NONE;
}

Result<Engine::Embedding> Engine::embed(std::span<const std::int32_t> tokens, int normalize) {
  if (!impl_->embed_ctx) {
    return Status(Code::kInvalidArgument, "embeddings are off: start the server with --embeddings");
  }
  if (tokens.empty()) return Status(Code::kInvalidArgument, "the input is empty: give at least one token");
  if (tokens.size() > static_cast<std::size_t>(impl_->n_ctx_seq)) {
    return Status(Code::kInvalidArgument, "the input has " + std::to_string(tokens.size()) +
                                              " tokens; the context holds " + std::to_string(impl_->n_ctx_seq) +
                                              " (raise --ctx-size or shorten the input)");
  }
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= impl_->n_vocab)
      return Status(Code::kInvalidArgument, "input token " + std::to_string(i) + " = " + std::to_string(tokens[i]) +
                                                " is not in the vocabulary");
  }
  std::lock_guard lock(impl_->embed_mu);
  llama_context* ctx = impl_->embed_ctx.get();
  llama_memory_clear(llama_get_memory(ctx), true);
  engine::Batch batch(static_cast<int>(tokens.size()));
  for (std::size_t i = 0; i < tokens.size(); ++i) batch.add(tokens[i], static_cast<llama_pos>(i), 0, true);
  if (const int rc = llama_decode(ctx, batch.get()); rc != 0) {
    return Status(Code::kUnavailable, "llama_decode returned " + std::to_string(rc) + " for the embeddings" +
                                          (engine::last_llama_error().empty() ? "" : ": " + engine::last_llama_error()));
  }
  const int n_embd = llama_model_n_embd_out(impl_->model.get());
  Embedding out;
  out.n_tokens = tokens.size();
  if (llama_pooling_type(ctx) == LLAMA_POOLING_TYPE_NONE) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const float* e = llama_get_embeddings_ith(ctx, static_cast<std::int32_t>(i));
      if (e == nullptr) return Status(Code::kUnavailable, "llama.cpp returned no embedding for token " + std::to_string(i));
      out.vectors.emplace_back(e, e + n_embd);  // llama-server normalises pooled vectors only
    }
  } else {
    const float* e = llama_get_embeddings_seq(ctx, 0);
    if (e == nullptr) return Status(Code::kUnavailable, "llama.cpp returned no pooled embedding");
    std::vector<float> v(static_cast<std::size_t>(n_embd));
    common_embd_normalize(e, v.data(), n_embd, normalize);
    out.vectors.push_back(std::move(v));
  }
  return out;
}

namespace {

Status check_slot(int slot, int n) {
  if (slot < 0 || slot >= n)
    return Status(Code::kInvalidArgument, "slot " + std::to_string(slot) + " does not exist (0.." + std::to_string(n - 1) + ")");
  return Status::Ok();
}

// Runs `f` on the scheduler thread and waits for its result.
template <class T, class F>
Result<T> on_scheduler(engine::Scheduler& s, F f) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  if (!s.post([promise, f = std::move(f)]() mutable { promise->set_value(f()); }))
    return Status(Code::kCancelled, "the engine is shutting down");
  return future.get();
}

}  // namespace

Result<SlotFileReport> Engine::save_slot(int slot, const std::string& dir, const std::string& filename) {
  const auto t0 = Clock::now();
  if (Status st = check_slot(slot, impl_->options.model.n_seq); !st.ok()) return st;
  if (Status st = engine::check_slot_filename(filename); !st.ok()) return st;
  if (dir.empty()) return Status(Code::kInvalidArgument, "slot files need a directory (--slot-save-path)");
  auto snap = on_scheduler<engine::Scheduler::SlotSnapshot>(*impl_->scheduler,
                                                            [this, slot] { return impl_->scheduler->snapshot_slot(slot); });
  if (!snap.ok()) return snap.status();
  engine::SlotFileContents c;
  c.ns = impl_->ns;
  c.fingerprint_mode = impl_->options.model.fingerprint_mode;
  c.tokens = std::move(snap->tokens);
  c.payload = std::move(snap->payload);
  c.logits = std::move(snap->logits);
  c.prompt_text = snap->prompt_text.substr(0, 200);
  c.quant_bits = impl_->quant_bits;
  c.context_size = static_cast<std::uint32_t>(impl_->n_ctx_seq);
  c.file_mode = impl_->options.cache.file_mode;
  if (Status st = io::posix_env()->create_dirs(dir); !st.ok()) return st;
  auto written = engine::write_slot_file((std::filesystem::path(dir) / filename).string(), c);
  if (!written.ok()) return written.status();
  return SlotFileReport{slot, filename, c.tokens.size(), *written, engine::ms_between(t0, Clock::now())};
}

Result<SlotFileReport> Engine::restore_slot(int slot, const std::string& dir, const std::string& filename) {
  const auto t0 = Clock::now();
  if (Status st = check_slot(slot, impl_->options.model.n_seq); !st.ok()) return st;
  if (Status st = engine::check_slot_filename(filename); !st.ok()) return st;
  if (dir.empty()) return Status(Code::kInvalidArgument, "slot files need a directory (--slot-save-path)");
  const std::string path = (std::filesystem::path(dir) / filename).string();
  auto c = engine::read_slot_file(path);
  if (!c.ok()) return c.status();
  if (!(c->ns == impl_->ns)) {
    return Status(Code::kInvalidArgument, path + " was saved with another model or context (its key namespace differs: "
                                          "fingerprint, quant or context parameters)");
  }
  const std::size_t n_tokens = c->tokens.size();
  const std::size_t n_bytes = c->n_bytes;
  auto shared = std::make_shared<engine::SlotFileContents>(std::move(c.value()));
  auto loaded = on_scheduler<bool>(*impl_->scheduler, [this, slot, shared]() -> Result<bool> {
    Status st = impl_->scheduler->load_slot(slot, std::move(shared->tokens), shared->payload, std::move(shared->logits));
    if (!st.ok()) return st;
    return true;
  });
  if (!loaded.ok()) return loaded.status();
  return SlotFileReport{slot, filename, n_tokens, n_bytes, engine::ms_between(t0, Clock::now())};
}

Result<SlotFileReport> Engine::erase_slot(int slot) {
  const auto t0 = Clock::now();
  if (Status st = check_slot(slot, impl_->options.model.n_seq); !st.ok()) return st;
  auto n = on_scheduler<std::size_t>(*impl_->scheduler, [this, slot] { return impl_->scheduler->clear_slot(slot); });
  if (!n.ok()) return n.status();
  return SlotFileReport{slot, "", *n, 0, engine::ms_between(t0, Clock::now())};
}

Engine::DecodeStats Engine::decode_stats() const {
  return DecodeStats{impl_->scheduler->n_decode(), impl_->scheduler->busy_in_decodes()};
}

std::vector<SlotInfo> Engine::slots() const {
  auto r = on_scheduler<std::vector<SlotInfo>>(*impl_->scheduler,
                                               [this]() -> Result<std::vector<SlotInfo>> { return impl_->scheduler->slot_infos(); });
  return r.ok() ? *r : std::vector<SlotInfo>{};
}

}  // namespace kvc
