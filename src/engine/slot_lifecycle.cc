// One slot's life on the scheduler thread, from admission to release: admission
// (resume a parked sequence, or restore a cache row and truncate it to the usable
// prefix), progress reports, sampling and stop conditions, saves (snapshot on this
// thread, write on the cache's writer pool), finishing, parking and eviction.
// The loop across slots (queue, placement, batching) is scheduler.cc.
#include <time.h>

#include <algorithm>

#include "engine/scheduler.h"

namespace kvc::engine {
namespace {

// The first ~200 bytes of the prompt, cut at a UTF-8 boundary (TLV prompt text, for humans).
std::string prompt_excerpt(const std::string& prompt) {
  if (prompt.size() <= 200) return prompt;
  std::size_t end = 200;
  while (end > 0 && (static_cast<unsigned char>(prompt[end]) & 0xC0) == 0x80) --end;
  return prompt.substr(0, end);
}

// CPU time of the calling thread: what a save costs the scheduler thread itself,
// apart from the time it was descheduled (the wall time includes that).
std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

void Scheduler::admit(Slot& slot, std::unique_ptr<Job> job, std::size_t resume_len) {
  llama_memory_t mem = llama_get_memory(env_.ctx);
  if (resume_len > 0) {
    // Continue on the parked sequence: keep its first resume_len cells, and the
    // boundary logits within them.
    std::vector<std::uint32_t> kept = std::move(slot.tokens);
    BoundaryLogits kept_logits = std::move(slot.boundaries);
    set_parked_entry(slot, false);
    slot.reset();
    if (resume_len < kept.size() && !llama_memory_seq_rm(mem, slot.seq, static_cast<llama_pos>(resume_len), -1)) {
      llama_memory_seq_rm(mem, slot.seq, -1, -1);
      resume_len = 0;
    } else {
      kept.resize(resume_len);
      kept_logits.truncate(resume_len);
      slot.boundaries = std::move(kept_logits);
    }
    if (job->start.file) {
      job->start.file.reset();
      job->start.lease.release();
    }
  } else {
    slot.reset();
  }
  slot.job = std::move(job);
  Job& j = *slot.job;
  slot.prompt_text = j.request.prompt;
  slot.sampler = std::move(j.sampler);
  slot.text.emplace(j.request.sampling.stop);
  slot.t_prefill_start = Clock::now();
  RequestReport& r = slot.result.report;
  r.prompt_tokens = j.prompt.size();
  r.path = j.start.path;
  r.miss_reason = j.start.miss_reason;

  if (resume_len > 0) {
    r.path = LookupPath::kResume;
    r.miss_reason = MissReason::kNone;
    r.tier = "sequence";
    r.restore_ms = 0;
    r.cached_tokens = resume_len;
    slot.prefill_pos = resume_len;
  } else if (j.start.file) {
    const auto t0 = Clock::now();
    const bool ok = restore(slot, j);
    r.restore_ms = j.start.load_ms + ms_between(t0, Clock::now());
    if (ok) {
      r.tier = j.start.tier;
      r.restored_key = j.start.lease.row().key;
      slot.boundaries.take_from_row(j.start.file->meta(), j.start.usable);
    } else {
      r.path = LookupPath::kMiss;
      r.miss_reason = MissReason::kRestoreFailed;
    }
    j.start.file.reset();
    j.start.lease.release();
  }
  if (resume_len == 0 && j.skipped_lookup) r.miss_reason = MissReason::kNoRow;  // the parked sequence could not be kept
  slot.tokens.assign(j.prompt.begin(), j.prompt.begin() + static_cast<std::ptrdiff_t>(slot.prefill_pos));

  const std::size_t len = j.prompt.size();
  if (slot.prefill_pos == len) {
    if (const float* logits = slot.boundaries.at(len)) {
      // The first token comes from stored logits: no decode (engine.md §1 step 4).
      r.logits_from_cache = resume_len == 0;  // from a cache row, not a parked sequence
      set_cold_boundary(slot);
      report_progress(slot);
      start_generating(slot, logits);
      return;
    }
    // Nothing left to prefill but no logits: re-decode the last token. Recurrent
    // and hybrid memories cannot drop their last cell (seq_rm of a partial range
    // fails): the token would be applied twice, so start cold instead.
    if (llama_memory_seq_rm(mem, slot.seq, static_cast<llama_pos>(len - 1), -1)) {
      slot.tokens.pop_back();
      slot.prefill_pos = len - 1;
      slot.boundaries.truncate(len - 1);
      r.cached_tokens = slot.prefill_pos;
    } else {
      llama_memory_seq_rm(mem, slot.seq, -1, -1);
      slot.tokens.clear();
      slot.prefill_pos = 0;
      slot.boundaries.clear();
      r.path = LookupPath::kMiss;
      r.miss_reason = MissReason::kPolicy;
      r.tier.clear();
      r.cached_tokens = 0;
      r.restored_key.reset();
    }
  }
  set_cold_boundary(slot);
  slot.phase = SlotPhase::kPrefill;
  report_progress(slot);  // the first event: what the cache gave, before any decode
}

void Scheduler::report_progress(Slot& slot) const {
  if (!slot.job->request.on_progress) return;
  slot.job->request.on_progress(PromptProgress{slot.job->prompt.size(), slot.result.report.cached_tokens,
                                               slot.prefill_pos, ms_between(slot.t_prefill_start, Clock::now())});
}

// The aligned cold-save length of the slot's prompt, when longer than what it starts from.
void Scheduler::set_cold_boundary(Slot& slot) const {
  const std::size_t len = slot.job->prompt.size();
  const SavePolicy& policy = env_.cache->policy();
  slot.cold_boundary = 0;
  if (policy.allows_cold(len)) {
    if (auto b = policy.aligned_length(len); b && *b > slot.prefill_pos) slot.cold_boundary = *b;
  }
}

// Restores the loaded row into slot.seq and truncates it to the usable prefix.
// Any failure quarantines the row (when the payload was at fault), clears the
// sequence, and leaves a cold start.
bool Scheduler::restore(Slot& slot, Job& j) {
  llama_memory_t mem = llama_get_memory(env_.ctx);
  const auto payload = j.start.file->payload();
  const Key key = j.start.lease.row().key;
  const std::size_t read = llama_state_seq_set_data(env_.ctx, reinterpret_cast<const std::uint8_t*>(payload.data()),
                                                    payload.size(), slot.seq);
  const llama_pos pos_max = llama_memory_seq_pos_max(mem, slot.seq);
  const llama_pos pos_min = llama_memory_seq_pos_min(mem, slot.seq);
  // A plain KV cache holds every position from 0. A recurrent state reports only
  // its last position (pos_min == pos_max); sliding-window caches drop the oldest.
  const bool positions_ok = pos_max == static_cast<llama_pos>(j.start.row_length) - 1 &&
                            (env_.allow_truncation ? pos_min == 0 : pos_min >= 0 && pos_min <= pos_max);
  if (read != payload.size() || !positions_ok) {
    env_.cache->quarantine(key, "llama_state_seq_set_data consumed " + std::to_string(read) + " of " +
                                    std::to_string(payload.size()) + " bytes; positions " + std::to_string(pos_min) +
                                    ".." + std::to_string(pos_max) + " for a row of " +
                                    std::to_string(j.start.row_length) + " tokens");
    llama_memory_seq_rm(mem, slot.seq, -1, -1);
    slot.prefill_pos = 0;
    return false;
  }
  if (j.start.usable < j.start.row_length &&
      !llama_memory_seq_rm(mem, slot.seq, static_cast<llama_pos>(j.start.usable), -1)) {
    llama_memory_seq_rm(mem, slot.seq, -1, -1);
    slot.prefill_pos = 0;
    return false;
  }
  slot.prefill_pos = j.start.usable;
  slot.result.report.cached_tokens = j.start.usable;
  return true;
}

void Scheduler::start_generating(Slot& slot, const float* logits) {
  if (slot.job->request.sampling.max_tokens == 0 || logits == nullptr) {
    slot.finish_reason = FinishReason::kLength;
    finish(slot, logits, true);
    return;
  }
  slot.phase = SlotPhase::kGenerate;
  // The prompt's end is a turn boundary: its logits go into later saves (TLV 0x0B),
  // so re-sending this prompt needs no decode.
  slot.boundaries.record(slot.tokens.size(), logits);
  on_sampled(slot, sample_from_logits(slot.sampler.get(), logits, env_.n_vocab, scratch_));
  // Backend sampling takes over from the second token: the first came from the
  // prompt's logits (computed, or stored in a row) on the CPU, through the same
  // chain and random state, so the tokens are those of CPU sampling.
  if (slot.phase == SlotPhase::kGenerate) slot.sampler->bind_backend(env_.ctx, slot.seq);
}

// A token was sampled: it becomes the slot's pending token (decoded next batch,
// also when finishing, so the finish save covers the whole reply).
void Scheduler::on_sampled(Slot& slot, llama_token token) {
  Job& j = *slot.job;
  RequestReport& r = slot.result.report;
  if (slot.result.tokens.empty()) r.time_to_first_token_ms = ms_between(j.t_start, Clock::now());
  slot.result.tokens.push_back(token);
  slot.pending = token;
  ++slot.since_checkpoint;

  const TokenProbs* probs = nullptr;
  if (const auto& p = slot.sampler->last_probs(); p && (j.request.sampling.n_probs > 0 || j.request.sampling.probs)) {
    slot.result.probs.push_back(*p);
    probs = &slot.result.probs.back();
  }

  std::optional<FinishReason> reason;
  if (llama_vocab_is_eog(env_.vocab, token)) {
    reason = FinishReason::kEndOfGeneration;
  } else if (slot.text->append(slot.sampler->text_of(token))) {
    reason = FinishReason::kStop;
  }
  if (j.request.on_token) {
    const TokenEvent ev{token, slot.text->take_emittable(false), probs};
    if (!j.request.on_token(ev) && !reason) reason = FinishReason::kCancelled;
  } else if (j.request.on_text) {
    const std::string_view out = slot.text->take_emittable(false);
    if (!out.empty() && !j.request.on_text(out) && !reason) reason = FinishReason::kCancelled;
  }
  const int max_tokens = j.request.sampling.max_tokens;
  if (!reason && max_tokens >= 0 && slot.result.tokens.size() >= static_cast<std::size_t>(max_tokens))
    reason = FinishReason::kLength;
  // The pending token needs one cell; after it the sequence must still fit.
  if (!reason && slot.tokens.size() + 1 >= static_cast<std::size_t>(env_.n_ctx_seq)) reason = FinishReason::kLength;
  if (reason) {
    slot.finish_reason = *reason;
    slot.phase = SlotPhase::kFinishing;
  }
}

void Scheduler::finish(Slot& slot, const float* logits, bool save_finish) {
  Job& j = *slot.job;
  RequestReport& r = slot.result.report;
  if (slot.finish_reason != FinishReason::kCancelled) {
    if (j.request.on_token) {
      const std::string_view rest = slot.text->take_emittable(true);
      if (!rest.empty()) j.request.on_token(TokenEvent{-1, rest, nullptr});
    } else if (j.request.on_text) {
      const std::string_view rest = slot.text->take_emittable(true);
      if (!rest.empty()) j.request.on_text(rest);
    }
  }
  if (slot.sampler) slot.sampler->unbind_backend();  // no more decodes sample for this request
  slot.result.seed = slot.sampler ? slot.sampler->seed() : 0;
  if (save_finish) r.finish_key = save(slot, SaveReason::kFinish, logits, false);
  r.generated_tokens = slot.result.tokens.size();
  r.finish_reason = slot.finish_reason;
  r.total_ms = ms_between(j.t_start, Clock::now());
  slot.result.text = slot.text->text();
  if (slot.finish_reason == FinishReason::kStop) slot.result.stop_word = slot.text->stop_word();
  j.done.set_value(std::move(slot.result));
  // A completed request keeps its sequence for a sticky session (a cancelled one
  // too: its cells and token list agree); shutdown (save_finish false) does not.
  if (save_finish && env_.sticky_sessions && !slot.tokens.empty()) {
    park(slot, logits, r.finish_key);
  } else {
    release(slot);
  }
}

std::optional<Key> Scheduler::save(Slot& slot, SaveReason reason, const float* logits, bool sync,
                                   Clock::time_point deadline) {
  const SavePolicy& policy = env_.cache->policy();
  if (!env_.cache_enabled || !policy.saves_enabled || slot.tokens.empty() ||
      slot.tokens.size() < std::max<std::size_t>(env_.cache->min_save_tokens(), 1))
    return std::nullopt;
  const auto t0 = Clock::now();
  const std::uint64_t cpu0 = thread_cpu_ns();
  std::optional<Key> key = save_blocking(slot, reason, logits, sync, deadline);
  const auto blocked_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  stats_.saves.fetch_add(1, std::memory_order_relaxed);
  stats_.save_blocked_ns.fetch_add(blocked_ns, std::memory_order_relaxed);
  stats_.save_blocked_cpu_ns.fetch_add(thread_cpu_ns() - cpu0, std::memory_order_relaxed);
  std::uint64_t max = stats_.save_blocked_max_ns.load(std::memory_order_relaxed);
  while (blocked_ns > max && !stats_.save_blocked_max_ns.compare_exchange_weak(max, blocked_ns, std::memory_order_relaxed)) {
  }
  if (slot.job) {
    slot.result.report.save_blocked_ms += static_cast<double>(blocked_ns) / 1e6;
    ++slot.result.report.saves;
  }
  return key;
}

// The part of a save the scheduler thread waits for: the reservation, the state
// snapshot (into a pooled buffer) and the hand-over to the writer pool (for a
// synchronous save, the whole write).
std::optional<Key> Scheduler::save_blocking(Slot& slot, SaveReason reason, const float* logits, bool sync,
                                            Clock::time_point deadline) {
  // The key first (derived once, here): a duplicate — the row exists, or another
  // writer holds the key — takes no snapshot (counted by the cache).
  Result<SaveTicket> ticket = env_.cache->reserve_save(env_.ns, slot.tokens);
  if (!ticket.ok()) {
    stats_.saves_skipped.fetch_add(1, std::memory_order_relaxed);
    if (ticket.status().code() == Code::kAlreadyPresent) return derive_key(env_.ns, slot.tokens);
    return std::nullopt;
  }
  const Key key = ticket->key();
  StateSnapshotter::Snapshot snap = snapshotter_.take(env_.ctx, slot.seq, slot.tokens.size());
  if (snap.dry_run) stats_.state_size_dry_runs.fetch_add(1, std::memory_order_relaxed);
  if (snap.bytes.empty()) return std::nullopt;  // the ticket's destructor cancels the reservation

  SaveRequest req;
  req.ns = env_.ns;
  req.fingerprint_mode = env_.fingerprint_mode;
  req.tokens = slot.tokens;
  req.reason = reason;
  req.payload = std::move(snap.bytes);
  if (logits != nullptr) req.next_token_logits.assign(logits, logits + env_.n_vocab);
  req.position_logits = slot.boundaries.for_save(slot.tokens.size());
  req.prompt_text = prompt_excerpt(slot.prompt_text);
  req.quant_bits = env_.quant_bits;
  req.context_size = static_cast<std::uint32_t>(env_.n_ctx_seq);

  Result<Key> saved = Status(Code::kDropped, "not saved");
  if (sync) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    saved = env_.cache->save(std::move(*ticket), std::move(req), std::max(left, std::chrono::milliseconds(1)));
  } else {
    saved = env_.cache->save_async(std::move(*ticket), std::move(req));
  }
  if (saved.ok()) return key;
  return std::nullopt;
}

void Scheduler::release(Slot& slot) {
  llama_memory_seq_rm(llama_get_memory(env_.ctx), slot.seq, -1, -1);
  slot.reset();
}

// Keeps the finished sequence: cells stay in the KV cache, `tokens` (prompt +
// reply, decoded in full) stay with them, keyed like the finish save.
void Scheduler::park(Slot& slot, const float* logits, const std::optional<Key>& key) {
  std::vector<std::uint32_t> tokens = std::move(slot.tokens);
  std::string prompt_text = std::move(slot.prompt_text);
  BoundaryLogits boundaries = std::move(slot.boundaries);
  slot.reset();
  slot.tokens = std::move(tokens);
  slot.prompt_text = std::move(prompt_text);
  slot.boundaries = std::move(boundaries);
  slot.phase = SlotPhase::kParked;
  slot.parked_key = key ? *key : derive_key(env_.ns, slot.tokens);  // the finish save's key when it has one
  slot.boundaries.record(slot.tokens.size(), logits);  // the end of the parked tokens
  slot.parked_order = ++park_counter_;
  set_parked_entry(slot, true);
}

// Before a parked sequence is given away (or the process stops): a save of its
// state. An evict save takes the snapshot here and leaves the write and fsync to
// the writer pool (the cells can go once the snapshot is taken), so the scheduler
// thread waits only for the snapshot; a shutdown save is synchronous within the
// deadline. When its row is already in the cache (the finish save landed) the
// cache answers kAlreadyPresent and counts a duplicate.
void Scheduler::evict(Slot& slot, SaveReason reason, Clock::time_point deadline) {
  if (Clock::now() < deadline) {
    save(slot, reason, slot.boundaries.at(slot.tokens.size()), /*sync=*/reason != SaveReason::kEvict, deadline);
  }
  set_parked_entry(slot, false);
  release(slot);
}

}  // namespace kvc::engine
