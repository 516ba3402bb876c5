// The scheduler's loop across slots: the queue, placement of jobs on sequences,
// cancellation, and continuous batching (build a batch, decode, hand results to
// the slots). One slot's own life, from admission to release, is slot_lifecycle.cc.
#include "engine/scheduler.h"

#include <algorithm>
#include <cstring>

namespace kvc::engine {

Scheduler::Scheduler(SchedulerEnv env, int n_seq) : env_(std::move(env)) {
  slots_.reserve(static_cast<std::size_t>(n_seq));
  for (int i = 0; i < n_seq; ++i)
    slots_.emplace_back(static_cast<llama_seq_id>(i), static_cast<std::size_t>(std::max(env_.n_vocab, 0)));
  parked_.resize(static_cast<std::size_t>(n_seq));
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::submit(std::unique_ptr<Job> job) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(job));
      cv_.notify_all();
      return;
    }
  }
  job->done.set_value(Status(Code::kCancelled, "the engine is shutting down"));
}

bool Scheduler::post(std::function<void()> task) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  posted_.push_back(std::move(task));
  cv_.notify_all();
  return true;
}

void Scheduler::shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool Scheduler::parked_prefix_of(const Key& parent, std::span<const std::uint32_t> prompt) {
  std::lock_guard lock(mu_);
  for (const ParkedEntry& p : parked_) {
    if (p.tokens && p.key == parent && !p.tokens->empty() && p.tokens->size() <= prompt.size() &&
        std::equal(p.tokens->begin(), p.tokens->end(), prompt.begin()))
      return true;
  }
  return false;
}

void Scheduler::set_parked_entry(const Slot& slot, bool parked) {
  ParkedEntry e;
  if (parked) e = {slot.parked_key, std::make_shared<const std::vector<std::uint32_t>>(slot.tokens)};
  std::lock_guard lock(mu_);
  parked_[static_cast<std::size_t>(slot.seq)] = std::move(e);
}

void Scheduler::run() {
  Batch batch(env_.n_batch);
  for (;;) {
    std::deque<std::unique_ptr<Job>> incoming;
    std::vector<std::function<void()>> tasks;
    std::vector<std::unique_ptr<Job>> cancelled;
    bool stop = false;
    {
      std::unique_lock lock(mu_);
      const auto any_busy = [&] { return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.busy(); }); };
      cv_.wait(lock, [&] { return stopping_ || any_busy() || !queue_.empty() || !posted_.empty(); });
      tasks.swap(posted_);
      stop = stopping_;
      if (stop) {
        incoming.swap(queue_);
      } else {
        take_cancelled(queue_, cancelled);
        // A parked sequence is available too: resumed, or evicted for the job.
        std::size_t avail = 0;
        for (const Slot& s : slots_) avail += s.busy() ? 0 : 1;
        while (avail > 0 && !queue_.empty()) {
          incoming.push_back(std::move(queue_.front()));
          queue_.pop_front();
          --avail;
        }
      }
    }
    for (auto& task : tasks) task();
    if (stop) {
      for (auto& job : incoming) job->done.set_value(Status(Code::kCancelled, "the engine is shutting down"));
      const Clock::time_point deadline = Clock::now() + env_.shutdown_deadline;
      for (Slot& s : slots_) {
        if (!s.busy()) continue;
        if (Clock::now() < deadline) save(s, SaveReason::kShutdown, nullptr, /*sync=*/true, deadline);
        s.finish_reason = FinishReason::kCancelled;
        finish(s, nullptr, /*save_finish=*/false);
      }
      // Parked sequences after the live ones: their finish save usually landed
      // already (the shutdown save is then a counted duplicate).
      for (Slot& s : slots_) {
        if (s.phase == SlotPhase::kParked) evict(s, SaveReason::kShutdown, deadline);
      }
      return;
    }
    for (auto& job : cancelled) job->done.set_value(Status(Code::kCancelled, "the request was cancelled"));
    stop_cancelled();
    place(incoming);
    if (!build_batch(batch)) continue;
    const int rc = llama_decode(env_.ctx, batch.get());
    if (rc != 0) {
      const std::string detail = last_llama_error();
      fail_batch("llama_decode returned " + std::to_string(rc) + (detail.empty() ? "" : ": " + detail));
      continue;
    }
    n_decode_.fetch_add(1, std::memory_order_relaxed);
    busy_in_decode_.fetch_add(static_cast<std::uint64_t>(std::count_if(slots_.begin(), slots_.end(),
                                                                         [](const Slot& sl) { return sl.busy(); })),
                              std::memory_order_relaxed);
    after_decode();
  }
}

void Scheduler::take_cancelled(std::deque<std::unique_ptr<Job>>& queue, std::vector<std::unique_ptr<Job>>& out) {
  for (auto it = queue.begin(); it != queue.end();) {
    if ((*it)->cancelled()) {
      out.push_back(std::move(*it));
      it = queue.erase(it);
    } else {
      ++it;
    }
  }
}

// A prefilling sequence is cleared (its prompt is incomplete: nothing to keep); a
// generating one decodes its pending token and finishes as cancelled (finish save,
// park), the path an on_text returning false takes.
void Scheduler::stop_cancelled() {
  for (Slot& s : slots_) {
    if (!s.busy() || !s.job->cancelled()) continue;
    s.finish_reason = FinishReason::kCancelled;
    if (s.phase == SlotPhase::kPrefill) {
      finish(s, nullptr, /*save_finish=*/false);
    } else if (s.phase == SlotPhase::kGenerate) {
      s.phase = SlotPhase::kFinishing;
    }
  }
}

void Scheduler::place(std::deque<std::unique_ptr<Job>>& incoming) {
  std::vector<Slot*> target(incoming.size(), nullptr);
  std::vector<std::size_t> resume(incoming.size(), 0);
  std::vector<bool> claimed(slots_.size(), false);
  // 1. Jobs that continue a parked sequence (the longest match). A loaded cache
  //    row wins when it covers more of the prompt, or as much when the parked
  //    sequence would have to be truncated (its session then stays intact).
  for (std::size_t i = 0; i < incoming.size(); ++i) {
    const Job& j = *incoming[i];
    std::size_t best = 0;
    for (std::size_t k = 0; k < slots_.size(); ++k) {
      if (claimed[k] || slots_[k].phase != SlotPhase::kParked) continue;
      const std::size_t u = parked_match(slots_[k], j);
      const bool beats_row =
          !j.start.file || u > j.start.usable || (u == j.start.usable && u == slots_[k].tokens.size());
      if (u > best && beats_row) {
        best = u;
        target[i] = &slots_[k];
      }
    }
    if (target[i] != nullptr) {
      claimed[static_cast<std::size_t>(target[i]->seq)] = true;
      resume[i] = best;
    }
  }
  // 2. The others: a free sequence, else the least recently parked one.
  for (std::size_t i = 0; i < incoming.size(); ++i) {
    if (target[i] != nullptr) continue;
    Job& j = *incoming[i];
    if (j.skipped_lookup) {  // its parked sequence is gone: the caller looks up and resubmits
      *j.bounced = true;
      j.done.set_value(Status(Code::kUnavailable, "parked sequence evicted; look up again"));
      incoming[i].reset();
      continue;
    }
    Slot* pick = nullptr;
    for (std::size_t k = 0; k < slots_.size() && pick == nullptr; ++k)
      if (!claimed[k] && slots_[k].phase == SlotPhase::kFree) pick = &slots_[k];
    for (std::size_t k = 0; k < slots_.size() && pick == nullptr; ++k) {
      if (claimed[k] || slots_[k].phase != SlotPhase::kParked) continue;
      for (std::size_t m = k; m < slots_.size(); ++m)
        if (!claimed[m] && slots_[m].phase == SlotPhase::kParked && slots_[m].parked_order < slots_[k].parked_order)
          k = m;
      pick = &slots_[k];
    }
    if (pick == nullptr) continue;  // cannot happen: run() takes no more jobs than available sequences
    if (pick->phase == SlotPhase::kParked) evict(*pick, SaveReason::kEvict, Clock::now() + env_.evict_deadline);
    claimed[static_cast<std::size_t>(pick->seq)] = true;
    target[i] = pick;
  }
  for (std::size_t i = 0; i < incoming.size(); ++i)
    if (incoming[i] && target[i] != nullptr) admit(*target[i], std::move(incoming[i]), resume[i]);
}

std::size_t Scheduler::parked_match(const Slot& slot, const Job& job) const {
  if (!job.request.use_cache) return 0;  // cache_prompt: false
  const auto& t = slot.tokens;
  const auto& p = job.prompt;
  const std::size_t n = std::min(t.size(), p.size());
  const std::size_t lcp =
      static_cast<std::size_t>(std::mismatch(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(n), p.begin()).first -
                               t.begin());
  // Truncating a parked session keeps at least policy.min_tokens of it (a short
  // shared prefix is not worth the session's tail).
  const std::size_t floor =
      static_cast<std::size_t>(std::max<std::int64_t>(env_.cache->policy().min_tokens, 1));
  if (lcp == 0) return 0;
  if (lcp < t.size() && !(env_.allow_truncation && lcp >= floor)) return 0;
  // The whole prompt kept: sampling needs the logits after its last token (the
  // parked end, or a turn boundary recorded there), or a re-decode of that token
  // (a truncation).
  if (lcp == p.size() && slot.boundaries.at(lcp) == nullptr && !env_.allow_truncation) return 0;
  return lcp;
}

// One token per generating/finishing slot, then prefill chunks in round-robin
// order, split at the cold-save boundary so the snapshot there covers exactly it.
bool Scheduler::build_batch(Batch& batch) {
  batch.clear();
  for (Slot& s : slots_) {
    s.logits_at = -1;
    if ((s.phase == SlotPhase::kGenerate || s.phase == SlotPhase::kFinishing) && s.pending)
      s.logits_at = batch.add(*s.pending, static_cast<llama_pos>(s.tokens.size()), s.seq, true);
  }
  const std::size_t n = slots_.size();
  for (std::size_t k = 0; k < n && batch.size() < batch.capacity(); ++k) {
    Slot& s = slots_[(rr_ + k) % n];
    if (s.phase != SlotPhase::kPrefill) continue;
    const std::vector<std::uint32_t>& prompt = s.job->prompt;
    std::size_t end = std::min(prompt.size(), s.prefill_pos + static_cast<std::size_t>(batch.capacity() - batch.size()));
    if (s.cold_boundary > s.prefill_pos && s.cold_boundary < end) end = s.cold_boundary;
    for (std::size_t i = s.prefill_pos; i < end; ++i) {
      const bool want = i + 1 == end && (end == prompt.size() || end == s.cold_boundary);
      const int at = batch.add(static_cast<llama_token>(prompt[i]), static_cast<llama_pos>(i), s.seq, want);
      if (want) s.logits_at = at;
    }
    s.chunk_end = end;
  }
  rr_ = (rr_ + 1) % std::max<std::size_t>(n, 1);
  return batch.size() > 0;
}

void Scheduler::after_decode() {
  for (Slot& s : slots_) {
    // A sequence sampled in the decode graph (backend sampling) has no raw logits.
    const bool in_graph = s.sampler && s.sampler->bound();
    const float* logits = s.logits_at >= 0 && !in_graph ? llama_get_logits_ith(env_.ctx, s.logits_at) : nullptr;
    switch (s.phase) {
      case SlotPhase::kPrefill: {
        if (s.chunk_end <= s.prefill_pos) break;  // not in this batch
        const auto& prompt = s.job->prompt;
        s.tokens.insert(s.tokens.end(), prompt.begin() + static_cast<std::ptrdiff_t>(s.prefill_pos),
                        prompt.begin() + static_cast<std::ptrdiff_t>(s.chunk_end));
        s.prefill_pos = s.chunk_end;
        report_progress(s);
        if (s.prefill_pos == s.cold_boundary) save(s, SaveReason::kCold, logits, false);
        if (s.prefill_pos == prompt.size()) {
          s.result.report.prefilled_tokens = prompt.size() - s.result.report.cached_tokens;
          s.result.report.prefill_ms = ms_between(s.t_prefill_start, Clock::now());
          start_generating(s, logits);
        }
        break;
      }
      case SlotPhase::kGenerate:
      case SlotPhase::kFinishing: {
        if (!s.pending || s.logits_at < 0) break;
        s.tokens.push_back(static_cast<std::uint32_t>(*s.pending));
        s.pending.reset();
        if (s.phase == SlotPhase::kFinishing) {
          finish(s, logits, true);
          break;
        }
        if (env_.cache->policy().continued_due(s.since_checkpoint)) {
          save(s, SaveReason::kContinued, logits, false);
          s.since_checkpoint = 0;
        }
        on_sampled(s, in_graph ? s.sampler->sample_decoded(s.logits_at)
                               : sample_from_logits(s.sampler.get(), logits, env_.n_vocab, scratch_));
        break;
      }
      case SlotPhase::kFree:
      case SlotPhase::kParked: break;
    }
    s.chunk_end = 0;
  }
}

void Scheduler::fail_batch(const std::string& why) {
  llama_memory_t mem = llama_get_memory(env_.ctx);
  for (Slot& s : slots_) {
    const bool in_batch = s.logits_at >= 0 || (s.phase == SlotPhase::kPrefill && s.chunk_end > s.prefill_pos);
    if (!s.busy() || !in_batch) continue;
    llama_memory_seq_rm(mem, s.seq, -1, -1);
    s.job->done.set_value(Status(Code::kUnavailable, why));
    s.reset();
  }
}

}  // namespace kvc::engine
