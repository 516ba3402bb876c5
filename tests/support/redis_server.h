// Real Redis servers for tests: a redis-server (Debian) on a free loopback port in
// a temp directory, and a Redis Cluster of N masters made with
// `redis-cli --cluster create`. Stopped (SIGTERM, then SIGKILL) when destroyed;
// the child processes also get SIGKILL if the test process dies (PR_SET_PDEATHSIG
// — so start and restart them from the test's main thread).
//
// When redis-server is not installed, start() fails with a message that says to
// run scripts/deps. Nothing here skips a test silently.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/temp_dir.h"

struct redisReply;

namespace kvc::testing {

struct RedisServerOptions {
  std::string password;           // requirepass
  std::uint64_t maxmemory = 0;    // bytes; 0 = none
  std::string maxmemory_policy;   // e.g. "allkeys-lru"
  bool cluster = false;           // cluster-enabled yes (for RedisTestCluster)
};

struct ReplyFree {
  void operator()(redisReply* r) const;
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

class RedisServer {
 public:
  // nullptr and *error set (naming the log file when redis-server failed) on failure.
  static std::unique_ptr<RedisServer> start(const RedisServerOptions& opts, std::string* error);
  ~RedisServer();  // stop()
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
  // redis://[:password@]127.0.0.1:port[/db]
  std::string url(int db = 0) const;
  bool running() const { return pid_ > 0; }

  // SIGKILL, as a crash (data kept in memory is lost; nothing is saved).
  void kill();
  // SIGTERM and wait (SIGKILL after 5 s).
  void stop();
  // Starts again on the same port and directory; false and *error on failure.
  bool restart(std::string* error);
  // SIGSTOP / SIGCONT: a server that accepts connections but never answers.
  void pause();
  void resume();

  // One command on a fresh connection (AUTH as needed); nullptr when unreachable.
  ReplyPtr command(const std::vector<std::string>& argv) const;
  // The command's reply as text (string/status/error/integer; arrays joined by
  // newlines); "(unreachable)" when it could not be sent.
  std::string text(const std::vector<std::string>& argv) const;

 private:
  RedisServer(RedisServerOptions opts, int port);
  bool spawn(std::string* error);

  RedisServerOptions opts_;
  TempDir dir_;
  int port_;
  pid_t pid_ = -1;
};

class RedisTestCluster {
 public:
  // `masters` nodes, no replicas, all 16384 slots assigned; waits for
  // cluster_state:ok on every node.
  static std::unique_ptr<RedisTestCluster> start(int masters, std::string* error);

  // "127.0.0.1:p1,127.0.0.1:p2,..."
  std::string seeds() const;
  RedisServer& node(int i) { return *nodes_[i]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  std::string node_id(int i) const;
  // The node index serving `slot` (from CLUSTER SLOTS of node 0); -1 if none.
  int owner_of_slot(int slot) const;
  // Moves `slots` slots from node `from` to node `to` with
  // `redis-cli --cluster reshard … --cluster-yes --cluster-pipeline 1` (one key per
  // MIGRATE: a slot's keys move one by one, as on a busy cluster); false and
  // *output otherwise. redis-cli takes the source's lowest slots first.
  bool reshard(int from, int to, int slots, std::string* output);
  // Waits until every node reports cluster_state:ok (up to 20 s).
  bool wait_ok(std::string* error) const;

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

// Runs a program (argv[0] looked up in PATH), returns its exit status (-1 when it
// could not run) and its stdout+stderr in *output.
int run_program(const std::vector<std::string>& argv, std::string* output);

}  // namespace kvc::testing
