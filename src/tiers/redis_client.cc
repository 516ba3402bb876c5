#include "tiers/redis_client.h"

#include <algorithm>

namespace kvc::tiers {
namespace {

// A refresh at most this often, however many MOVED replies ask for one.
constexpr std::chrono::milliseconds kMinRefreshInterval{100};
// How often the background thread looks around when nothing wakes it.
constexpr std::chrono::milliseconds kIdleTick{1000};

}  // namespace

RedisClient::RedisClient(const RemoteOptions& opts, RemoteCounters* counters) : counters_(counters) {
  connect_.timeout = opts.timeout;
  policy_.max_connections = opts.max_connections_per_node;
  policy_.reconnect_min = opts.reconnect_min;
  policy_.reconnect_max = opts.reconnect_max;
}

Result<std::unique_ptr<RedisClient>> RedisClient::open(const RemoteOptions& opts, RemoteCounters* counters) {
  if (auto s = opts.validate(); !s.ok()) return s;
  std::unique_ptr<RedisClient> c(new RedisClient(opts, counters));
  if (!opts.url.empty()) {
    auto url = parse_redis_url(opts.url);
    if (!url.ok()) return url.status();
    c->connect_.login = url->login;
    c->describe_ = "redis " + url->endpoint.to_string() + "/" + std::to_string(url->login.db);
    c->single_ = c->make_node(url->endpoint);
    if (c->single_->down()) (void)c->single_->maintain();  // a host name: resolve and connect now
  } else {
    auto seeds = parse_cluster_seeds(opts.cluster_seeds);
    if (!seeds.ok()) return seeds.status();
    c->connect_.login.username = opts.cluster_username;
    c->connect_.login.password = opts.cluster_password;
    std::string list;
    for (const auto& s : *seeds) {
      if (!list.empty()) list += ',';
      list += s.to_string();
    }
    c->describe_ = "redis cluster (seeds " + list + ")";
    RedisClient* self = c.get();
    c->cluster_ = std::make_unique<RedisCluster>(
        std::move(seeds).value(), [self](const RedisEndpoint& ep) { return self->make_node(ep); }, counters,
        [self] { self->wake(); });
    // A first map now, so that the first requests can be routed; failing here is
    // not fatal (the background thread keeps trying). Seeds given by name are
    // resolved first.
    for (const auto& node : c->cluster_->nodes())
      if (node->down()) (void)node->maintain();
    (void)c->cluster_->refresh(Clock::now() + 2 * opts.timeout);
  }
  c->thread_ = std::thread([self = c.get()] { self->background(); });
  return c;
}

RedisClient::~RedisClient() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<RedisNode> RedisClient::make_node(const RedisEndpoint& ep) {
  return std::make_shared<RedisNode>(ep, connect_, policy_, counters_, [this] { wake(); });
}

void RedisClient::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

std::vector<std::shared_ptr<RedisNode>> RedisClient::all_nodes() const {
  if (single_) return {single_};
  return cluster_->nodes();
}

std::vector<std::shared_ptr<RedisNode>> RedisClient::masters() const {
  if (single_) return {single_};
  return cluster_->masters();
}

void RedisClient::background() {
  Clock::time_point last_refresh{};
  std::chrono::milliseconds refresh_backoff = policy_.reconnect_min;
  std::unique_lock lock(mu_);
  while (!stop_) {
    woken_ = false;
    lock.unlock();
    Clock::time_point next = Clock::now() + kIdleTick;
    bool any_down = false;
    for (const auto& node : all_nodes()) {
      const auto t = node->maintain();
      any_down = any_down || t != Clock::time_point::max();
      next = std::min(next, t);
    }
    if (cluster_) {
      // Refresh when asked (MOVED, unserved slot, CLUSTERDOWN), while there is no
      // map, and while a node is down (a replica may have been promoted).
      const bool wanted = cluster_->take_refresh_request() || !cluster_->has_map() || any_down;
      if (wanted) {
        const auto due = last_refresh + std::max(kMinRefreshInterval, cluster_->has_map() ? kMinRefreshInterval
                                                                                            : refresh_backoff);
        const auto now = Clock::now();
        if (now >= due) {
          last_refresh = now;
          const Status s = cluster_->refresh(now + 2 * connect_.timeout);
          refresh_backoff = s.ok() ? policy_.reconnect_min : std::min(refresh_backoff * 2, policy_.reconnect_max);
          if (!s.ok() || any_down) next = std::min(next, Clock::now() + refresh_backoff);
        } else {
          next = std::min(next, due);
          cluster_->request_refresh();  // keep the request for when it is due
        }
      }
    }
    lock.lock();
    if (stop_) break;
    if (!woken_) cv_.wait_until(lock, next, [this] { return stop_ || woken_; });
  }
}

Result<std::vector<RedisReply>> RedisClient::exec(std::string_view routing_key, std::span<const RedisCommand> cmds,
                                                  Deadline deadline, std::chrono::milliseconds extra_stall,
                                                  const BulkSink* sink) {
  if (single_) {
    auto r = single_->exec(cmds, deadline, extra_stall, sink);
    if (r.ok()) {
      for (const auto& reply : *r)
        if (parse_redirect(reply.get()))
          return Status(Code::kInvalidArgument, describe_ + " answered " + std::string(reply_str(reply.get())) +
                                                    ": it is a cluster node; use --redis-cluster");
    }
    return r;
  }
  return cluster_->exec(key_slot(routing_key), cmds, deadline, extra_stall, sink);
}

Result<RedisReply> RedisClient::exec(std::string_view routing_key, const RedisCommand& cmd, Deadline deadline,
                                     std::chrono::milliseconds extra_stall, const BulkSink* sink) {
  auto r = exec(routing_key, std::span<const RedisCommand>(&cmd, 1), deadline, extra_stall, sink);
  if (!r.ok()) return r.status();
  return std::move(r->front());
}

Result<std::unique_ptr<RedisConnection>> RedisClient::open_dedicated(std::string_view routing_key,
                                                                     Deadline deadline) {
  if (single_) return single_->open_dedicated(deadline);
  auto node = cluster_->node_for_slot(key_slot(routing_key));
  if (!node.ok()) return node.status();
  return (*node)->open_dedicated(deadline);
}

bool RedisClient::note_redirect(const RedisConnection& conn, const redisReply* reply) {
  auto r = parse_redirect(reply);
  if (!r || !cluster_) return false;
  if (r->target.host.empty()) r->target.host = conn.endpoint().host;
  if (r->kind == Redirect::Kind::kMoved) {
    cluster_->apply_moved(*r);
  } else {
    RemoteCounters::add(counters_->ask);
  }
  return true;
}

void RedisClient::note_failure(const RedisConnection& conn, const Status& why) {
  if (why.code() == Code::kTimeout) return;
  for (const auto& node : all_nodes())
    if (node->endpoint() == conn.endpoint()) node->mark_down(why.message());
}

}  // namespace kvc::tiers
