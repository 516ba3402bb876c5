// RedisClient: a single Redis node or a Redis Cluster behind one interface —
// commands are routed by the slot of a key — plus the background thread that
// reconnects nodes that are down (with backoff) and refreshes the cluster slot map.
// Thread-safe: many threads call exec() at once.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tiers/redis_cluster.h"
#include "tiers/remote_options.h"

namespace kvc::tiers {

class RedisClient {
 public:
  // Parses the URL or the seeds and starts the background thread. Does not fail
  // when Redis is unreachable (calls then fail fast until it is back); fails with
  // kInvalidArgument on a bad URL/seed list. For a cluster it waits up to
  // 2 × timeout for a first slot map.
  static Result<std::unique_ptr<RedisClient>> open(const RemoteOptions& opts, RemoteCounters* counters);
  ~RedisClient();  // stops and joins the background thread
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  bool is_cluster() const { return cluster_ != nullptr; }
  // "redis 127.0.0.1:6379/0" or "redis cluster (seeds a:1,b:2)".
  const std::string& describe() const { return describe_; }

  // Runs commands addressing keys that share the slot of `routing_key` as one
  // pipeline (cluster: following MOVED/ASK). Replies may be error replies.
  // `extra_stall` and `sink`: see RedisConnection::exec.
  Result<std::vector<RedisReply>> exec(std::string_view routing_key, std::span<const RedisCommand> cmds,
                                       Deadline deadline, std::chrono::milliseconds extra_stall = {},
                                       const BulkSink* sink = nullptr);
  Result<RedisReply> exec(std::string_view routing_key, const RedisCommand& cmd, Deadline deadline,
                          std::chrono::milliseconds extra_stall = {}, const BulkSink* sink = nullptr);
  // The masters (single node: the node), e.g. to SCAN each.
  std::vector<std::shared_ptr<RedisNode>> masters() const;
  // A connection outside the pools to the node serving `routing_key` (for a
  // blocking read). Fails fast when that node is down.
  Result<std::unique_ptr<RedisConnection>> open_dedicated(std::string_view routing_key, Deadline deadline);
  // A reply a dedicated connection got: when it is MOVED/ASK the map is updated
  // (MOVED) and true is returned — the caller should reopen its connection.
  bool note_redirect(const RedisConnection& conn, const redisReply* reply);
  // Marks the node of a failed dedicated connection down (background reconnect).
  void note_failure(const RedisConnection& conn, const Status& why);

 private:
  RedisClient(const RemoteOptions& opts, RemoteCounters* counters);
  std::shared_ptr<RedisNode> make_node(const RedisEndpoint& ep);
  void wake();
  void background();
  std::vector<std::shared_ptr<RedisNode>> all_nodes() const;

  RedisConnectOptions connect_;
  RedisNodePolicy policy_;
  RemoteCounters* const counters_;
  std::string describe_;
  std::shared_ptr<RedisNode> single_;      // single-node mode
  std::unique_ptr<RedisCluster> cluster_;  // cluster mode

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace kvc::tiers
