// Finding a starting state for a prompt (engine.md §1 step 2): exact → resume
// (parent_key) → any-token prefix → stride walk. Runs on the caller's thread (it
// may wait for an in-flight parent save and reads the row from its tier), so the
// scheduler thread never blocks on I/O. Knows nothing of llama.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kvc/cache.h"
#include "kvc/engine.h"

namespace kvc::engine {

struct LookupOptions {
  // Whether a row longer than the common prefix may be truncated (plain KV only).
  bool allow_truncation = true;
  std::optional<Key> parent_key;
  // Off only in tests, to reach the stride walk (the any-prefix index holds every
  // row the walk can find).
  bool use_any_prefix = true;
};

// The outcome of a lookup and load. `file` is set when a row was found and loaded
// (verified CRC and key); `lease` then pins the row until the restore is done.
struct StartState {
  LookupPath path = LookupPath::kMiss;
  MissReason miss_reason = MissReason::kNone;
  std::string tier;
  Lease lease;
  std::optional<LoadedRow> file;
  std::size_t usable = 0;      // tokens of the row that match the prompt (the common prefix)
  std::size_t row_length = 0;  // tokens in the row
  double load_ms = 0;
};

// Looks up `prompt` in `ns` and loads the best row. Any-token prefix rows sharing
// fewer tokens than the shortest row any tier keeps (Cache::min_save_tokens, at
// least 1) are not used, nor stride-walk rows below policy.min_tokens. Counts one miss
// (Cache::note_miss) when every path missed; a load failure leaves a cold start
// with kLoadFailed (the cache removed a corrupt row itself).
StartState find_start_state(Cache& cache, const KeyNamespace& ns, std::span<const std::uint32_t> prompt,
                            const LookupOptions& options);

}  // namespace kvc::engine
