// Configuration of a kvc Cache. Cache::open validates everything and names the
// offending setting in its error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/key.h"
#include "kvc/status.h"

namespace kvc {
namespace io {
class Env;  // kvc/env.h
}  // namespace io

// Save-policy gates and aligned length (cache.md §5). Signed so that a bad
// configuration value is reported, not wrapped.
struct SavePolicy {
  bool saves_enabled = true;  // "disable saves" is this switch, not a magic value
  std::int64_t min_tokens = 512;
  std::int64_t cold_min_tokens = 512;
  std::int64_t cold_max_tokens = 30000;
  std::int64_t continued_interval = 2048;
  std::int64_t boundary_trim_tokens = 32;
  std::int64_t boundary_align_tokens = 2048;
  std::int64_t session_resume_wait_ms = 500;

  // min ≥ 0, cold_min ≥ min, cold_max ≥ cold_min, interval > 0, trim ≥ 0, align > 0,
  // resume wait ≥ 0. The error names the setting and its value.
  Status validate() const;
  // a = len − trim; a < align → none; else ⌊a/align⌋·align (and never below min_tokens).
  std::optional<std::size_t> aligned_length(std::size_t len) const;
  // Whether a cold save of a prompt of `prompt_len` tokens is allowed at all.
  bool allows_cold(std::size_t prompt_len) const;
  // Whether `generated` tokens since the last checkpoint call for a continued save.
  bool continued_due(std::size_t generated_since_last) const;
};

// The tiers of the hierarchy, fastest first (cache.md §3).
enum class TierKind : std::uint8_t { kRam, kRamFile, kDisk, kRemote };
// "ram", "ram_file", "disk", "remote" ("unknown" for other values).
constexpr std::string_view tier_kind_name(TierKind k) {
  switch (k) {
    case TierKind::kRam: return "ram";
    case TierKind::kRamFile: return "ram_file";
    case TierKind::kDisk: return "disk";
    case TierKind::kRemote: return "remote";
  }
  return "unknown";
}

// How a row reaches a tier below the one it landed in.
enum class TierPolicy : std::uint8_t {
  kWriteThrough,  // written asynchronously after every save that landed above
  kOnEvict,       // written only when the row is evicted from the tier above
};

// The remote tier: Redis or Redis Cluster (remote.md).
struct RemoteOptions {
  std::string url;                         // redis://[:password@]host:port[/db]
  std::vector<std::string> cluster_seeds;  // host:port of Redis Cluster nodes (instead of url)
  std::string prefix = "kvc:";             // key prefix shared by the fleet
  std::chrono::seconds ttl{0};             // 0 = rows never expire
  std::chrono::milliseconds timeout{50};   // connect and per command
  std::uint64_t chunk_bytes = 64ull << 20; // values larger than this are chunked
  std::size_t stream_max_len = 100'000;    // approximate length of the publication stream
};

struct TierOptions {
  TierKind kind = TierKind::kDisk;
  std::string dir;                 // ram_file and disk; created if missing
  std::uint64_t quota_bytes = 0;   // required, > 0
  TierPolicy policy = TierPolicy::kWriteThrough;  // ignored for the first (fastest) tier
  // Rows shorter than this never enter the tier. Unset: 1 for ram, the save
  // policy's min_tokens (512) for the persistent tiers.
  std::optional<std::int64_t> min_tokens;
  RemoteOptions remote;            // kRemote only
};

struct WriterPoolOptions {
  int threads = 2;
  std::size_t queue_capacity = 64;         // jobs queued beyond this are dropped and counted
  std::uint64_t queue_bytes = 1ull << 30;  // bytes held by queued jobs; one job may exceed it alone
  // flush() and the destructor wait this long for queued jobs, then drop (count) the rest.
  std::chrono::milliseconds drain_deadline{30'000};
};

// Memory-pressure scheduler (cache.md §7). Off by default.
struct PressureOptions {
  enum class Source { kMeminfo, kNvidia, kCallback };
  struct Reading {
    std::uint64_t used_bytes = 0;
    std::uint64_t total_bytes = 0;
  };
  bool enabled = false;
  Source source = Source::kMeminfo;
  std::function<std::optional<Reading>()> callback;  // for kCallback
  std::string meminfo_path = "/proc/meminfo";
  std::chrono::milliseconds interval{5000};
  double high = 0.85;
  double low = 0.75;
  std::uint64_t min_evict_bytes = 1 << 20;
  std::vector<TierKind> tiers = {TierKind::kRam, TierKind::kRamFile};
};

// A row-file permission mode: permission bits only, and the owner keeps read and
// write (loads read the file, hit counts are written in place). kInvalidArgument
// naming the problem otherwise.
Status validate_file_mode(unsigned mode);

struct CacheOptions {
  // The hierarchy, fastest first, at most one of each kind, in the order ram,
  // ram_file, disk, remote. A save lands in the fastest tier that takes it (its
  // min_tokens and quota) and is written through to the tiers below.
  std::vector<TierOptions> tiers;
  SavePolicy policy;
  WriterPoolOptions writers;
  PressureOptions pressure;
  std::chrono::milliseconds reservation_ttl{60'000};
  std::chrono::milliseconds sweep_interval{1'000};
  unsigned file_mode = 0600;          // mode of created files
  bool watch_directories = true;      // pick up rows published by sibling processes
  std::string hostname;               // TLV 0x05; default: gethostname()
  io::Env* env = nullptr;             // default: the POSIX Env
  // Called once for every save that was admitted (reserved) and then failed — an
  // I/O error, no space, the quota, a lost reservation — with the error, so an
  // operator can be told (the counters only count). Runs on the saving thread or a
  // writer thread; must be thread-safe, quick, and must not call into the Cache.
  std::function<void(const Key& key, const Status& error)> on_save_error;
};

}  // namespace kvc
