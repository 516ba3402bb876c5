// Engine::Impl, shared by the files that implement kvc::Engine (engine.cc:
// opening and completions; engine_text.cc: vocabulary and chats;
// engine_slots.cc: embeddings and slot files).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "engine/chat.h"
#include "engine/llama_handles.h"
#include "engine/scheduler.h"
#include "kvc/engine.h"

namespace kvc {

struct Engine::Impl {
  EngineOptions options;
  engine::ModelPtr model;
  engine::ContextPtr ctx;
  std::vector<llama_adapter_lora*> loras;  // freed with the model
  const llama_vocab* vocab = nullptr;
  int n_vocab = 0;
  int n_ctx_seq = 0;
  KeyNamespace ns;
  bool allow_truncation = true;
  std::uint8_t quant_bits = 0;
  std::unique_ptr<engine::ChatTemplates> chat;
  // Embeddings: their own context (embeddings on, one sequence), used under embed_mu.
  engine::ContextPtr embed_ctx;
  std::mutex embed_mu;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<engine::Scheduler> scheduler;  // last: stops first
  std::once_flag shutdown_once;
};

namespace engine {
// Creates impl.embed_ctx for ModelOptions::embeddings (engine_slots.cc).
Status open_embedding_context(Engine::Impl& impl, const ModelOptions& m);
}  // namespace engine

}  // namespace kvc
