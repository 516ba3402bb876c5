// The scheduler thread: owns the llama context, admits jobs into slots (restoring
// their start state), and runs continuous batching — each iteration builds one
// llama_batch with one token per generating slot and prefill chunks of the slots
// still prefilling (never more than n_batch tokens), decodes it, takes the save
// snapshots due, and samples for the slots whose logits were requested.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "engine/slot.h"
#include "engine/state_snapshot.h"
#include "kvc/cache.h"
#include "kvc/engine.h"

namespace kvc::engine {

// What the scheduler works with; owned by the engine, outlives the scheduler.
struct SchedulerEnv {
  llama_model* model = nullptr;
  llama_context* ctx = nullptr;
  const llama_vocab* vocab = nullptr;
  int n_vocab = 0;
  int n_batch = 0;
  int n_ctx_seq = 0;
  Cache* cache = nullptr;
  KeyNamespace ns;
  format::FingerprintMode fingerprint_mode = format::FingerprintMode::kSafe;
  std::uint8_t quant_bits = 0;
  std::chrono::milliseconds shutdown_deadline{10'000};
  // Sticky sessions (EngineOptions::sticky_sessions, off with kv_unified) and the
  // deadline of the synchronous evict save of a parked sequence.
  bool sticky_sessions = true;
  std::chrono::milliseconds evict_deadline{2'000};
  // Whether a sequence may be truncated with llama_memory_seq_rm (plain KV only).
  bool allow_truncation = true;
  // EngineOptions::cache_enabled: off, no lookups (the engine's side) and no saves.
  bool cache_enabled = true;
};

// What the scheduler thread spent on saves (Engine::stats()).
struct SchedulerStats {
  std::atomic<std::uint64_t> saves{0};
  std::atomic<std::uint64_t> save_blocked_ns{0};
  std::atomic<std::uint64_t> save_blocked_max_ns{0};
  std::atomic<std::uint64_t> save_blocked_cpu_ns{0};
  std::atomic<std::uint64_t> state_size_dry_runs{0};
  std::atomic<std::uint64_t> saves_skipped{0};  // reserve_save refused: no snapshot taken
};

class Scheduler {
 public:
  Scheduler(SchedulerEnv env, int n_seq);
  ~Scheduler();  // shutdown()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job; its promise is fulfilled by the scheduler thread. After
  // shutdown the promise is fulfilled at once with kCancelled.
  void submit(std::unique_ptr<Job> job);
  // Stops: queued jobs fail with kCancelled, live slots are saved synchronously
  // (reason shutdown, within env.shutdown_deadline) and complete as cancelled.
  void shutdown();

  // Whether a parked sequence has key `parent` and its tokens are a prefix of
  // `prompt` (any thread; the caller may then skip the cache lookup).
  bool parked_prefix_of(const Key& parent, std::span<const std::uint32_t> prompt);

  // Runs `task` on the scheduler thread before the next batch (slot files,
  // /slots). False, and the task is not run, after shutdown().
  bool post(std::function<void()> task);

  // Sequences as llama-server's slots (slot_files.cc). Scheduler thread only:
  // call them from a posted task. A busy sequence is kUnavailable.
  struct SlotSnapshot {
    std::vector<std::uint32_t> tokens;
    std::vector<std::byte> payload;  // llama_state_seq_get_data
    std::vector<float> logits;       // after the last token; empty when unknown
    std::string prompt_text;
  };
  Result<SlotSnapshot> snapshot_slot(int slot);
  // Restores `payload` (describing `tokens`) into sequence `slot` and parks it.
  Status load_slot(int slot, std::vector<std::uint32_t> tokens, std::span<const std::byte> payload,
                   std::vector<float> logits);
  // Clears sequence `slot`; returns how many tokens it held.
  Result<std::size_t> clear_slot(int slot);
  std::vector<SlotInfo> slot_infos() const;

  // llama_decode calls so far, and the sequences in their batches summed (any thread).
  std::uint64_t n_decode() const { return n_decode_.load(std::memory_order_relaxed); }
  std::uint64_t busy_in_decodes() const { return busy_in_decode_.load(std::memory_order_relaxed); }
  const SchedulerStats& stats() const { return stats_; }

 private:
  // The loop across slots (scheduler.cc).
  void run();
  // Puts admitted jobs on sequences: a parked sequence they continue, else a free
  // one, else the least recently parked one (evicted first).
  void place(std::deque<std::unique_ptr<Job>>& incoming);
  // Tokens of parked `slot` the job can keep (0: none).
  std::size_t parked_match(const Slot& slot, const Job& job) const;
  bool build_batch(Batch& batch);
  void after_decode();
  void fail_batch(const std::string& why);
  // Cancelled requests (CompletionRequest::cancel): queued ones are moved out of
  // `queue` (the caller holds mu_ and fails them), running ones are stopped.
  static void take_cancelled(std::deque<std::unique_ptr<Job>>& queue, std::vector<std::unique_ptr<Job>>& out);
  void stop_cancelled();
  void set_parked_entry(const Slot& slot, bool parked);

  // One slot's life, from admission to release (slot_lifecycle.cc).
  // resume_len: the job continues on parked `slot`, keeping this many of its tokens.
  void admit(Slot& slot, std::unique_ptr<Job> job, std::size_t resume_len = 0);
  // Restores the job's loaded row into the slot's sequence (false: a cold start).
  bool restore(Slot& slot, Job& job);
  void set_cold_boundary(Slot& slot) const;
  // CompletionRequest::on_progress, if set: the prompt's state now (after the
  // cache lookup, and after each decoded batch of its prefill).
  void report_progress(Slot& slot) const;
  void start_generating(Slot& slot, const float* logits);
  void on_sampled(Slot& slot, llama_token token);
  void finish(Slot& slot, const float* logits, bool save_finish);
  // A save of the slot's sequence when the policy allows it; counts the time the
  // scheduler thread is blocked by it (stats, the request's report).
  std::optional<Key> save(Slot& slot, SaveReason reason, const float* logits, bool sync,
                          Clock::time_point deadline = {});
  std::optional<Key> save_blocking(Slot& slot, SaveReason reason, const float* logits, bool sync,
                                   Clock::time_point deadline);
  void release(Slot& slot);
  // `key`: the key of slot.tokens when known (the finish save's).
  void park(Slot& slot, const float* logits, const std::optional<Key>& key);
  // Synchronous save of a parked sequence (evict or shutdown reason), then clears it.
  void evict(Slot& slot, SaveReason reason, Clock::time_point deadline);

  SchedulerEnv env_;
  SchedulerStats stats_;
  StateSnapshotter snapshotter_;  // scheduler thread only
  std::vector<Slot> slots_;
  std::vector<llama_token_data> scratch_;
  std::size_t rr_ = 0;  // round-robin start among prefilling slots

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  std::vector<std::function<void()>> posted_;
  // Per sequence: key and tokens when parked (a copy for parked_prefix_of).
  struct ParkedEntry {
    Key key;
    std::shared_ptr<const std::vector<std::uint32_t>> tokens;
  };
  std::vector<ParkedEntry> parked_;
  std::uint64_t park_counter_ = 0;  // scheduler thread only
  bool stopping_ = false;
  std::atomic<std::uint64_t> n_decode_{0}, busy_in_decode_{0};
  std::thread thread_;
};

}  // namespace kvc::engine
