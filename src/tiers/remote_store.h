// RemoteStore: KVC files in Redis or Redis Cluster, in the layout of remote.md,
// shared by every process of a fleet. This is the data half of the remote tier:
// the cache above decides what to put, get and remove, and enforces the quota.
//
//   P{K}:row   the whole file (≤ chunk size), or a manifest of a chunked file
//   P{K}:c:N   chunk N of a file larger than the chunk size (64 MiB)
//   P:pub      a stream of publications: key, namespace, tokens, bytes, host
//
// Degradation: every call is bounded by the caller's deadline and by the stall
// limit (options.timeout, 50 ms by default, per wait for the socket); a Redis that
// is down, slow, refusing or full turns into an error status (kUnavailable,
// kTimeout, kNoSpace) that the caller treats as a miss or a dropped
// write-through. Nothing here blocks past a deadline, throws, or raises SIGPIPE.
// Failures are counted (errors, timeouts, fast_failures). All methods are
// thread-safe and run concurrently.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>

#include "format/kvc_file.h"
#include "tiers/redis_client.h"
#include "tiers/remote_counters.h"
#include "tiers/remote_layout.h"
#include "tiers/remote_options.h"
#include "tiers/remote_scan.h"

namespace kvc::tiers {

class RemoteTail;

// A file fetched and fully verified (format.md §2.4 parse: structure, payload
// CRC32C, key): `file` and `payload` stay valid while `owner` lives.
struct RemoteFile {
  std::shared_ptr<const void> owner;
  std::span<const std::byte> file;
  format::KvcMeta meta;
  std::span<const std::byte> payload;
};

class RemoteStore {
 public:
  // Called for every row learnt from a scan or a publication (also this process's
  // own publications). Runs on the scanning or the tail thread; must be
  // thread-safe and quick. No store lock is held while it runs.
  using RowFn = std::function<void(const RemoteRow&)>;

  // Validates the options (kInvalidArgument naming the flag) and starts the
  // client. Succeeds while Redis is unreachable: calls fail fast until it is back.
  static Result<std::unique_ptr<RemoteStore>> open(const RemoteOptions& opts);
  ~RemoteStore();  // stops discovery and the client's threads

  // Publishes a KVC file given as its prefix (everything before the payload, e.g.
  // format::build_prefix) and payload, which are sent from the caller's memory
  // (never joined into one buffer). Steps (remote.md): the chunks, then P{K}:row
  // (the commit point), each with the TTL when one is set; then the publication
  // (a failed XADD is counted in errors but the put, committed, returns ok: scans
  // still find the row).
  // kAlreadyPresent (nothing written) when P{K}:row exists. kInvalidArgument when
  // the prefix does not parse or is not the prefix of `key`. kNoSpace when Redis
  // is at maxmemory (OOM), kUnavailable/kTimeout when unreachable; on failure the
  // chunks this call wrote are deleted (best effort) and :row is not written.
  Status put(const Key& key, std::span<const std::byte> prefix, std::span<const std::byte> payload,
             Deadline deadline = kNoDeadline);

  // Fetches P{K}:row (and the chunks, pipelined), rebuilds the file and verifies it
  // completely before returning it.
  //   kNotFound  the row is not in Redis (expired, evicted, deleted): it vanished —
  //              drop it from the local picture (the store drops it from its own).
  //   kCorrupt   the value was corrupt, truncated (a chunk missing or short),
  //              foreign (neither KVC nor KVCM), or the file of another key: its
  //              keys were deleted (row first) and counted in corrupt_rejected.
  //   kTimeout / kUnavailable / kNoSpace   transient: Redis could not answer; the
  //              row may still be there.
  Result<RemoteFile> get(const Key& key, Deadline deadline);

  // Deletes a row: DEL P{K}:row first (uncommits), then its chunks. Ok when absent.
  Status remove(const Key& key, Deadline deadline = kNoDeadline);

  // Scans every master for P{*}:row, reads only each row's prefix, reports valid
  // rows (and adds them to the picture), deletes corrupt or foreign ones.
  Result<RemoteScanReport> scan(const RowFn& on_row, Deadline deadline = kNoDeadline);
  // The id of the newest publication ("0-0" for an empty stream).
  Result<std::string> stream_last_id(Deadline deadline);
  // Background discovery: notes the stream's newest id, scans (as scan()), then
  // tails the stream from that id (XREAD BLOCK on a connection of its own),
  // reporting each publication. Reconnects on its own; when entries were trimmed
  // before it read them, or the stream was reset, it scans again. Idempotent.
  void start_discovery(RowFn on_row);
  void stop_discovery();  // joins; on_row is not running after it returns
  // The last stream id the tail has read ("" before it has).
  std::string last_stream_id() const;

  // ---- what this process believes is in Redis (its "picture") ----
  // Rows and bytes known from scans, publications and this store's puts, less rows
  // removed, found vanished or rejected. Rows that expire or are evicted silently
  // stay counted until a get finds them gone. The cache enforces the quota with
  // these (quota_bytes() == options.quota_bytes, 0 = none).
  std::uint64_t used_bytes() const;
  std::size_t known_rows() const;
  bool knows(const Key& key) const;
  std::uint64_t quota_bytes() const { return opts_.quota_bytes; }

  RemoteCounterValues counters() const { return counters_.read(); }
  const RemoteOptions& options() const { return opts_; }
  const RemoteKeys& keys() const { return keys_; }
  std::string describe() const { return client_->describe(); }

 private:
  explicit RemoteStore(RemoteOptions opts);
  Status count_failure(Status s);
  // The stall allowance for a command moving `bytes` (options.stall_per_mib).
  std::chrono::milliseconds allowance(std::uint64_t bytes) const { return opts_.stall_per_mib * (bytes >> 20); }
  // Deletes a rejected value's keys (row first), counts it, and builds the kCorrupt status.
  Status reject(const Key& key, std::uint32_t chunk_count, const std::string& why, Deadline deadline);
  Result<RemoteFile> assemble_chunks(const Key& key, std::span<const std::byte> manifest, Deadline deadline);
  Status write_chunks(const Key& key, std::span<const std::byte> prefix, std::span<const std::byte> payload,
                      Deadline deadline);
  Status delete_chunks(const Key& key, std::uint32_t count, Deadline deadline);
  void picture_add(const Key& key, std::uint64_t bytes);
  void picture_drop(const Key& key);

  const RemoteOptions opts_;
  const RemoteKeys keys_;
  RemoteCounters counters_;
  std::unique_ptr<RedisClient> client_;

  mutable std::mutex picture_mu_;
  std::unordered_map<Key, std::uint64_t> picture_;
  std::uint64_t picture_bytes_ = 0;

  mutable std::mutex tail_mu_;
  std::unique_ptr<RemoteTail> tail_;
};

}  // namespace kvc::tiers
