// RedisTestCluster (declared in redis_server.h): N redis-server masters in cluster
// mode, joined by `redis-cli --cluster create`.
#include <hiredis/hiredis.h>

#include <chrono>
#include <thread>

#include "support/redis_server.h"

namespace kvc::testing {

using namespace std::chrono_literals;

std::unique_ptr<RedisTestCluster> RedisTestCluster::start(int masters, std::string* error) {
  std::unique_ptr<RedisTestCluster> c(new RedisTestCluster());
  RedisServerOptions o;
  o.cluster = true;
  for (int i = 0; i < masters; ++i) {
    auto s = RedisServer::start(o, error);
    if (!s) return nullptr;
    c->nodes_.push_back(std::move(s));
  }
  std::vector<std::string> argv = {"redis-cli", "--cluster", "create"};
  for (const auto& n : c->nodes_) argv.push_back(n->host_port());
  argv.insert(argv.end(), {"--cluster-replicas", "0", "--cluster-yes"});
  std::string out;
  if (run_program(argv, &out) != 0) {
    *error = "redis-cli --cluster create failed:\n" + out;
    return nullptr;
  }
  if (!c->wait_ok(error)) return nullptr;
  return c;
}

std::string RedisTestCluster::seeds() const {
  std::string s;
  for (const auto& n : nodes_) {
    if (!s.empty()) s += ',';
    s += n->host_port();
  }
  return s;
}

std::string RedisTestCluster::node_id(int i) const { return nodes_[i]->text({"CLUSTER", "MYID"}); }

int RedisTestCluster::owner_of_slot(int slot) const {
  for (std::size_t from = 0; from < nodes_.size(); ++from) {
    ReplyPtr r = nodes_[from]->command({"CLUSTER", "SLOTS"});
    if (!r || r->type != REDIS_REPLY_ARRAY) continue;
    for (std::size_t i = 0; i < r->elements; ++i) {
      const redisReply* e = r->element[i];
      if (e->elements < 3 || slot < e->element[0]->integer || slot > e->element[1]->integer) continue;
      const long long port = e->element[2]->element[1]->integer;
      for (std::size_t n = 0; n < nodes_.size(); ++n)
        if (nodes_[n]->port() == port) return static_cast<int>(n);
    }
    return -1;
  }
  return -1;
}

bool RedisTestCluster::reshard(int from, int to, int slots, std::string* output) {
  const std::vector<std::string> argv = {"redis-cli",        "--cluster",    "reshard",       nodes_[0]->host_port(),
                                         "--cluster-from",   node_id(from),  "--cluster-to",  node_id(to),
                                         "--cluster-slots",  std::to_string(slots), "--cluster-yes",
                                         "--cluster-pipeline", "1"};
  return run_program(argv, output) == 0;
}

bool RedisTestCluster::wait_ok(std::string* error) const {
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    bool all = true;
    for (const auto& n : nodes_) {
      const std::string info = n->text({"CLUSTER", "INFO"});
      all = all && info.find("cluster_state:ok") != std::string::npos;
    }
    if (all) return true;
    std::this_thread::sleep_for(50ms);
  }
  *error = "the cluster did not reach cluster_state:ok within 20 s";
  return false;
}

}  // namespace kvc::testing
