// A request on its way through the engine (Job) and the sequence serving it (Slot).
// Slots belong to the scheduler thread; nothing here is shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <vector>

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
};

enum class SlotPhase { kFree, kPrefill, kGenerate, kFinishing };

struct Slot {
  explicit Slot(llama_seq_id id) : seq(id) {}

  llama_seq_id seq;
  SlotPhase phase = SlotPhase::kFree;
  std::unique_ptr<Job> job;

  // The sequence in the KV cache: every token decoded into `seq`, in order.
  std::vector<std::uint32_t> tokens;
  std::size_t prefill_pos = 0;    // next prompt index to decode
  std::size_t cold_boundary = 0;  // aligned cold-save length (0: none)
  std::optional<llama_token> pending;  // sampled, not yet decoded
  SamplerPtr sampler;
  std::optional<TextStream> text;
  std::size_t since_checkpoint = 0;  // generated tokens since the last continued save
  FinishReason finish_reason = FinishReason::kStop;
  CompletionResult result;
  Clock::time_point t_prefill_start;

  // Set while building a batch: index of this slot's logits row in it (-1: none),
  // and the prompt range or pending token it decodes.
  int logits_at = -1;
  std::size_t chunk_end = 0;

  bool busy() const { return phase != SlotPhase::kFree; }
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
  }
};

}  // namespace kvc::engine
