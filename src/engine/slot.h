// A request on its way through the engine (Job) and the sequence serving it (Slot).
// Slots belong to the scheduler thread; nothing here is shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/boundary_logits.h"
#include "engine/llama_handles.h"
#include "engine/lookup.h"
#include "engine/sampling.h"
#include "kvc/engine.h"

namespace kvc::engine {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// An admitted request: validated prompt, the start state found (and loaded) on the
// caller's thread, and the promise the caller waits on.
struct Job {
  CompletionRequest request;
  std::vector<std::uint32_t> prompt;
  StartState start;
  Clock::time_point t_start;
  double lookup_ms = 0;  // lookup + load, on the caller's thread
  std::promise<Result<CompletionResult>> done;
  // Built on the caller's thread (a grammar that does not parse is the caller's
  // 400), handed to the slot at admission.
  std::unique_ptr<Sampler> sampler;
  // Sticky sessions: the caller skipped the cache lookup because parent_key named
  // a parked sequence whose tokens prefix the prompt. If that sequence is gone by
  // admission (evicted meanwhile), the scheduler sets *bounced and fulfils `done`
  // with an error; the caller then looks up (the evict save is in the cache) and
  // submits again.
  bool skipped_lookup = false;
  std::shared_ptr<bool> bounced;

  // CompletionRequest::cancel is set.
  bool cancelled() const { return request.cancel && request.cancel->load(std::memory_order_relaxed); }
};

// kParked: a finished request's sequence kept for a sticky session — its cells
// and `tokens` stay (prompt + reply, what the finish save describes), no job.
enum class SlotPhase { kFree, kPrefill, kGenerate, kFinishing, kParked };

struct Slot {
  Slot(llama_seq_id id, std::size_t n_vocab) : seq(id), boundaries(n_vocab) {}

  llama_seq_id seq;
  SlotPhase phase = SlotPhase::kFree;
  std::unique_ptr<Job> job;

  // The sequence in the KV cache: every token decoded into `seq`, in order.
  std::vector<std::uint32_t> tokens;
  std::size_t prefill_pos = 0;    // next prompt index to decode
  std::size_t cold_boundary = 0;  // aligned cold-save length (0: none)
  std::optional<llama_token> pending;  // sampled, not yet decoded
  std::unique_ptr<Sampler> sampler;
  std::optional<TextStream> text;
  std::size_t since_checkpoint = 0;  // generated tokens since the last continued save
  FinishReason finish_reason = FinishReason::kStop;
  CompletionResult result;
  Clock::time_point t_prefill_start;
  std::string prompt_text;  // the request's prompt text (TLV excerpt of saves); kept while parked

  // Logits known at turn boundaries of `tokens` (the prompt end, carried ones;
  // while parked also the end of `tokens`): saved as TLV 0x0B, used instead of a
  // decode when a prompt ends at one of them.
  BoundaryLogits boundaries;

  // While parked: the key of `tokens` and the park order (least recently parked
  // is evicted first).
  Key parked_key{};
  std::uint64_t parked_order = 0;

  // Set while building a batch: index of this slot's logits row in it (-1: none),
  // and the prompt range or pending token it decodes.
  int logits_at = -1;
  std::size_t chunk_end = 0;

  // Serving a request (a parked sequence is not busy: it can be resumed or evicted).
  bool busy() const { return phase != SlotPhase::kFree && phase != SlotPhase::kParked; }
  void reset() {
    phase = SlotPhase::kFree;
    job.reset();
    tokens.clear();
    prefill_pos = cold_boundary = since_checkpoint = chunk_end = 0;
    pending.reset();
    sampler.reset();
    text.reset();
    finish_reason = FinishReason::kStop;
    result = {};
    logits_at = -1;
    prompt_text.clear();
    boundaries.clear();
    parked_key = Key{};
    parked_order = 0;
  }
};

}  // namespace kvc::engine
