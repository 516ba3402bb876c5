// RedisNode: one Redis node as the client sees it — a small pool of connections
// (hiredis contexts are not thread-safe: each exchange holds one connection) and
// the node's health.
//
// Health: a connect failure, a reset or closed connection, a protocol error, or
// three timeouts in a row mark the node down. While down, every call fails at
// once with kUnavailable (counted in fast_failures) — no connect per request. The
// client's background thread calls maintain(): the first reconnect attempt is
// immediate, then the wait doubles from reconnect_min up to reconnect_max. A
// successful reconnect (connect, AUTH/SELECT, PING) brings the node back up.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tiers/redis_connection.h"
#include "tiers/remote_counters.h"

namespace kvc::tiers {

struct RedisNodePolicy {
  int max_connections = 8;
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{2'000};
  int timeouts_before_down = 3;
};

class RedisNode {
 public:
  // `wake` is called (without locks held) when the node goes down, so the
  // maintenance thread can schedule its reconnect. A node named by a host name
  // starts down: maintain() resolves it (and again on every reconnect), so request
  // threads only ever connect to an address and never wait for DNS.
  RedisNode(RedisEndpoint ep, RedisConnectOptions opts, RedisNodePolicy policy, RemoteCounters* counters,
            std::function<void()> wake);
  ~RedisNode();
  RedisNode(const RedisNode&) = delete;
  RedisNode& operator=(const RedisNode&) = delete;

  const RedisEndpoint& endpoint() const { return ep_; }

  // One exchange on a pooled connection (see RedisConnection::exec). kUnavailable
  // at once when the node is down; kTimeout when no connection frees up in time.
  Result<std::vector<RedisReply>> exec(std::span<const RedisCommand> cmds, Deadline deadline,
                                       std::chrono::milliseconds extra_stall = {}, const BulkSink* sink = nullptr);
  // A connection outside the pool (e.g. for a blocking XREAD); the caller owns it.
  // Fails fast while the node is down.
  Result<std::unique_ptr<RedisConnection>> open_dedicated(Deadline deadline);

  bool down() const;
  // Why the node went down (empty while up).
  std::string down_reason() const;
  // Marks the node down (e.g. a dedicated connection failed).
  void mark_down(const std::string& reason);
  // Background: when down and due, tries one reconnect. Returns when it next wants
  // to be called (time_point::max() while up).
  Clock::time_point maintain();

 private:
  struct Pooled {
    std::unique_ptr<RedisConnection> conn;
    std::uint64_t generation;
  };
  Result<Pooled> acquire(Deadline deadline);
  Status down_status() const;  // requires mu_
  void mark_down_locked(const std::string& reason, std::vector<std::unique_ptr<RedisConnection>>* drop);

  const RedisEndpoint ep_;
  const RedisConnectOptions opts_;
  const RedisNodePolicy policy_;
  RemoteCounters* const counters_;
  const std::function<void()> wake_;

  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::string address_;  // numeric address to connect to
  std::vector<std::unique_ptr<RedisConnection>> idle_;
  int open_ = 0;  // connections out of the pool plus idle ones
  std::uint64_t generation_ = 0;  // bumped when the node goes down: older connections are dropped
  bool down_ = false;
  std::string down_reason_;
  int timeouts_in_row_ = 0;
  std::chrono::milliseconds backoff_{0};
  Clock::time_point next_attempt_ = Clock::time_point::max();
};

}  // namespace kvc::tiers
