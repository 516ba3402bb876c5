// Configuration of the remote tier (remote.md): where Redis is, how keys are
// named, how long values live, how long a command may take. kvc-server maps its
// --redis* flags onto this struct; RemoteStore::open validates it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "kvc/status.h"

namespace kvc::tiers {

struct RemoteOptions {
  // Exactly one of the two: a single node, `redis://[user:password@]host[:port][/db]`
  // (`redis://:password@host:port/db` for a password alone; port 6379 by default),
  // or a Redis Cluster, seed nodes `host:port[,host:port...]`.
  std::string url;
  std::string cluster_seeds;
  // AUTH for cluster nodes (a single node takes it from the URL).
  std::string cluster_username;
  std::string cluster_password;

  // Key prefix `P` of remote.md (`P{K}:row`, `P{K}:c:N`, `P:pub`). Must not contain
  // `{` or `}` (the hash tag must be the key), nor spaces or control characters.
  std::string prefix = "kvc:";
  // Expiry of every key written (seconds); 0 = keys never expire.
  std::uint64_t ttl_seconds = 0;
  // Connect timeout, and the longest a command may wait for the socket to make
  // progress (a stall). A caller's own deadline, when earlier, wins.
  std::chrono::milliseconds timeout{50};
  // Added to the stall limit of a command per MiB it moves: Redis may spend tens of
  // ms copying a 64 MiB value before the first byte of the reply.
  std::chrono::milliseconds stall_per_mib{1};
  // Bytes this process lets the remote tier hold (the cache enforces it; the store
  // reports what it believes is stored). 0 = no limit.
  std::uint64_t quota_bytes = 0;
  // Files larger than this are stored as chunks of this size under a manifest.
  // remote.md fixes 64 MiB for a fleet; smaller values are for tests.
  std::uint32_t chunk_bytes = 64u << 20;
  // Approximate length the publication stream is trimmed to (XADD MAXLEN ~).
  std::uint64_t stream_maxlen = 10'000;
  // Hostname recorded in each publication; empty = gethostname().
  std::string host;

  // Connection pool and reconnect schedule (per node).
  int max_connections_per_node = 8;
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{2'000};
  // How long one XREAD of the stream tail blocks in Redis.
  std::chrono::milliseconds tail_block{100};

  // Checks every field; the error names the option (as a kvc-server flag) and the
  // value, and says what is accepted.
  Status validate() const;
  // `P:pub`.
  std::string stream_key() const { return prefix + ":pub"; }
};

}  // namespace kvc::tiers
