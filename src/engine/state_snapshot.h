// Serializing one sequence's KV state for a save, on the scheduler thread: the
// only part of a save that blocks decoding (engine.md §1 step 6).
//
// One llama_state_seq_get_data pass per save. llama_state_seq_get_size is a full
// dry-run serialisation (as slow as get_data itself), so it is called only until
// the size model below is known: a sequence's state is a + b·cells bytes (a
// header and per-layer row headers, then per cell its position, sequence ids and
// K/V rows; a recurrent state has b = 0). Two exact sizes at different token
// counts give a and b; later snapshots get a buffer of a + b·n plus slack. If
// get_data still reports the buffer too small (it returns 0), the exact size is
// asked for and the model relearned.
//
// The bytes go into a buffer of BufferPool::shared(): never zero-filled, and once
// the writer pool has written a save and let go of it, the next snapshot of a
// similar size reuses its already-faulted pages.
#pragma once

#include <llama.h>

#include <cstddef>
#include <cstdint>

#include "kvc/buffer.h"

namespace kvc::engine {

class StateSnapshotter {
 public:
  struct Snapshot {
    ByteBuffer bytes;              // empty: the sequence has no state, or get_data failed
    bool dry_run = false;          // llama_state_seq_get_size was called for it
  };

  // The state of `seq`, which holds `n_tokens` tokens.
  Snapshot take(llama_context* ctx, llama_seq_id seq, std::size_t n_tokens);

  // The buffer size a snapshot of n_tokens would get; 0 while the model is unknown.
  std::size_t bound(std::size_t n_tokens) const;

  std::uint64_t dry_runs() const { return dry_runs_; }

 private:
  void observe(std::size_t n_tokens, std::size_t size);

  // Two exact observations (n, size) at different n; n == 0 when absent.
  std::size_t n0_ = 0, size0_ = 0, n1_ = 0, size1_ = 0;
  std::uint64_t dry_runs_ = 0;
};

}  // namespace kvc::engine
