// The figures of issue 12's table that engine_bench measures on the model
// (engine_bench --figures, run by scripts/bench --all), each against a baseline
// measured in the same run:
//
//   snapshot  the engine's save snapshot (StateSnapshotter, size model known)
//             against one llama_state_seq_get_data into a ready, pre-faulted buffer;
//   P9        a miss with the cache on (lookups, no hit, a cold save at the aligned
//             boundary, the finish save) against the same engine options with the
//             cache off (EngineOptions::cache_enabled = false), interleaved with a
//             second cache-off request (the A/A pair: the noise floor);
//   and the JSON (engine_figures.json) that bench/figures_table.py turns into the
//   one table, with P1, P2, P3 and P8 taken from engine_bench's sections a)–c).
#pragma once

#include <llama.h>

#include <cstddef>
#include <string>
#include <vector>

#include "engine_bench_util.h"

namespace engine_bench {

struct SnapshotFigures {
  std::size_t state_bytes = 0;
  std::size_t tokens = 0;
  double engine_ms = 0;    // StateSnapshotter::take, median (allocation included)
  double ready_ms = 0;     // get_data into a reused, pre-faulted buffer, median
  double get_size_ms = 0;  // llama_state_seq_get_size alone (the dry run avoided), median
};

// `ctx` holds `payload` (a restored state of n_tokens tokens) in sequence 0; the
// state is truncated and restored again while the size model is learned.
SnapshotFigures measure_snapshot(llama_context* ctx, const std::vector<std::byte>& payload, std::size_t n_tokens,
                                 int reps);

struct MissPathFigures {
  int prompt_tokens = 0;
  int reps = 0;
  // Per repetition: cache on, cache off, and cache off again (the A/A noise floor).
  // cpu_*: the whole process's CPU from the request's start until the writer pool
  // is idle (the cold save's write included).
  std::vector<double> ttft_on, ttft_off, total_on, total_off, cpu_on, cpu_off;
  std::vector<double> ttft_aa, total_aa, cpu_aa;
  double lookup_ms = 0;           // exact + any-prefix + stride walk of a missing prompt (median)
  double save_blocked_ms = 0;     // per cache-on request (cold + finish save snapshots), median, wall
  double save_blocked_cpu_ms = 0; // the same, CPU time of the scheduler thread (without preemption)
  std::size_t saves_per_request = 0;
  bool all_missed = true;         // every cache-on request was a miss with a cold save
  std::string load_before, load_after;
};

MissPathFigures measure_miss_path(const Config& c, const fs::path& work);

// Everything bench/figures_table.py needs, as one JSON object.
struct FiguresJson {
  std::string load_start, load_end, machine, model;
  int threads = 0;
  // P1 (the largest prompt size of section a)
  int p1_tokens = 0;
  double cold_ttft_ms = 0, warm_ttft_ms = 0, warm_restore_ms = 0;
  std::size_t warm_prefilled = 0;
  bool warm_logits_from_cache = false;
  // P2, P3 (same prompt size, section b)
  std::size_t state_bytes = 0;
  double kvc_restore_ms = 0, kvc_load_ms = 0, kvc_set_ms = 0, llama_load_file_ms = 0, set_data_floor_ms = 0;
  double kvc_ram_restore_ms = 0;  // a RAM-tier hit: checkout + load + set_data
  // save (section b and the cold run of section a)
  SnapshotFigures snapshot;
  double kvc_save_ms = 0, llama_save_sync_ms = 0;
  std::uint64_t cold_saves = 0;
  double cold_save_blocked_ms = 0, cold_save_blocked_max_ms = 0, cold_save_blocked_cpu_ms = 0;
  std::uint64_t cold_dry_runs = 0;
  // P8 (section c, full lookup)
  std::size_t chat_prompt_tokens = 0, chat_cached = 0, chat_reusable = 0, chat_cached_after_first = 0;
  int chat_turns = 0;
  // P9
  MissPathFigures miss;
};

void write_figures_json(const fs::path& file, const FiguresJson& f);

}  // namespace engine_bench
