// Redis Cluster routing (https://redis.io/docs/reference/cluster-spec/): key hash
// slots, the slot map from CLUSTER SLOTS, MOVED and ASK redirects, and refreshing
// the map when it changes. No Debian library speaks Redis Cluster for C/C++, so
// this small part is ours; connections and the protocol are hiredis' (RedisNode).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "tiers/redis_node.h"

namespace kvc::tiers {

inline constexpr int kClusterSlots = 16384;

// CRC16-CCITT as Redis Cluster uses it (XMODEM: polynomial 0x1021, initial value
// 0, no reflection, no final xor); crc16_xmodem("123456789") == 0x31C3.
std::uint16_t crc16_xmodem(std::string_view data);

// The slot of a key: CRC16 mod 16384 of the hash tag — the bytes between the
// first '{' and the first '}' after it, when there is at least one — else of the
// whole key. "{}x" and "x{" hash as a whole; "{a}{b}" hashes "a".
int key_slot(std::string_view key);

// One entry of CLUSTER SLOTS: slots [first, last] served by `master`.
struct SlotRange {
  int first = 0;
  int last = 0;
  RedisEndpoint master;
};
// Parses a CLUSTER SLOTS reply. A master whose address is empty or "?" (the
// node does not know its own address) is `queried`, the node that answered.
// kIoError naming what is malformed.
Result<std::vector<SlotRange>> parse_cluster_slots(const redisReply* reply, const RedisEndpoint& queried);

// "-MOVED <slot> <host>:<port>" or "-ASK <slot> <host>:<port>".
struct Redirect {
  enum class Kind { kMoved, kAsk } kind = Kind::kMoved;
  int slot = 0;
  RedisEndpoint target;
};
// The redirect an error reply carries; nullopt for any other reply.
std::optional<Redirect> parse_redirect(const redisReply* reply);

// The slot map of one cluster and the nodes it names. Thread-safe.
class RedisCluster {
 public:
  using NodeFactory = std::function<std::shared_ptr<RedisNode>(const RedisEndpoint&)>;
  // `want_refresh` is called when the map looks stale (a MOVED, an unserved slot,
  // a node down, CLUSTERDOWN), for the owner's background thread to refresh().
  RedisCluster(std::vector<RedisEndpoint> seeds, NodeFactory make_node, RemoteCounters* counters,
               std::function<void()> want_refresh);

  // Asks a known master, then each seed, for CLUSTER SLOTS and installs the map.
  // kUnavailable naming every node tried when none answers.
  Status refresh(Deadline deadline);
  // Whether a refresh was asked for since the last one, and clears the request.
  bool take_refresh_request() { return refresh_requested_.exchange(false); }
  void request_refresh() { refresh_requested_ = true; }

  // Runs commands that all address keys of `slot` as one pipeline to the slot's
  // master, following redirects per command: MOVED updates the slot's entry at
  // once (and asks for a whole-map refresh), ASK re-sends that command once to the
  // named node preceded by ASKING (the map is left alone), TRYAGAIN retries after
  // a short pause. At most 16 redirect rounds, then kUnavailable. Command order
  // holds within one node; commands that must be ordered across a migration must
  // be sent in separate calls.
  // `sink` (indexed by position in `cmds`) as in RedisConnection::exec.
  Result<std::vector<RedisReply>> exec(int slot, std::span<const RedisCommand> cmds, Deadline deadline,
                                       std::chrono::milliseconds extra_stall = {}, const BulkSink* sink = nullptr);

  // The master serving `slot`; kUnavailable when the map has no entry.
  Result<std::shared_ptr<RedisNode>> node_for_slot(int slot);
  // Applies a MOVED seen outside exec (e.g. by a dedicated connection).
  void apply_moved(const Redirect& r);
  // Distinct masters of the current map.
  std::vector<std::shared_ptr<RedisNode>> masters() const;
  // Every node known (map and seeds), for the reconnect loop.
  std::vector<std::shared_ptr<RedisNode>> nodes() const;
  bool has_map() const;

 private:
  std::shared_ptr<RedisNode> node_locked(const RedisEndpoint& ep);

  const std::vector<RedisEndpoint> seeds_;
  const NodeFactory make_node_;
  RemoteCounters* const counters_;
  const std::function<void()> want_refresh_;
  std::atomic<bool> refresh_requested_{false};

  mutable std::mutex mu_;
  std::map<RedisEndpoint, std::shared_ptr<RedisNode>> nodes_;
  std::vector<std::shared_ptr<RedisNode>> slots_;  // kClusterSlots entries, null = unserved
};

}  // namespace kvc::tiers
