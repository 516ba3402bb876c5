#include "tiers/redis_node.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>

namespace kvc::tiers {
namespace {

bool is_numeric(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return ::inet_pton(AF_INET, host.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

// A numeric address for `host`: itself when it already is one, else the first
// address getaddrinfo gives (which may block: only the background thread and
// start-up call this); empty when it cannot be resolved.
std::string resolve(const std::string& host) {
  if (is_numeric(host)) return host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  const void* src = res->ai_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr)
                                              : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr);
  const char* s = ::inet_ntop(res->ai_family, src, buf, sizeof(buf));
  ::freeaddrinfo(res);
  return s != nullptr ? std::string(s) : std::string();
}

}  // namespace

RedisNode::RedisNode(RedisEndpoint ep, RedisConnectOptions opts, RedisNodePolicy policy, RemoteCounters* counters,
                     std::function<void()> wake)
    : ep_(std::move(ep)), opts_(std::move(opts)), policy_(policy), counters_(counters), wake_(std::move(wake)) {
  if (is_numeric(ep_.host)) {
    address_ = ep_.host;
  } else {
    // Resolved by maintain() (start-up or the background thread), never on a request.
    std::vector<std::unique_ptr<RedisConnection>> none;
    std::lock_guard lock(mu_);
    mark_down_locked("host name '" + ep_.host + "' not resolved yet", &none);
  }
}

RedisNode::~RedisNode() = default;

bool RedisNode::down() const {
  std::lock_guard lock(mu_);
  return down_;
}

std::string RedisNode::down_reason() const {
  std::lock_guard lock(mu_);
  return down_ ? down_reason_ : std::string();
}

Status RedisNode::down_status() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(Clock::duration::zero(), next_attempt_ - Clock::now()));
  return Status(Code::kUnavailable, "redis " + ep_.to_string() + " is down (" + down_reason_ +
                                        "); reconnecting in the background, next attempt in " +
                                        std::to_string(left.count()) + " ms");
}

void RedisNode::mark_down_locked(const std::string& reason, std::vector<std::unique_ptr<RedisConnection>>* drop) {
  if (down_) return;
  down_ = true;
  down_reason_ = reason;
  backoff_ = std::chrono::milliseconds(0);
  next_attempt_ = Clock::now();  // the first reconnect attempt is immediate
  ++generation_;
  open_ -= static_cast<int>(idle_.size());
  for (auto& c : idle_) drop->push_back(std::move(c));
  idle_.clear();
}

void RedisNode::mark_down(const std::string& reason) {
  std::vector<std::unique_ptr<RedisConnection>> drop;
  {
    std::lock_guard lock(mu_);
    mark_down_locked(reason, &drop);
  }
  freed_.notify_all();
  if (wake_) wake_();
}

Result<RedisNode::Pooled> RedisNode::acquire(Deadline deadline) {
  std::unique_lock lock(mu_);
  const Deadline busy_limit = std::min(deadline, Clock::now() + opts_.timeout);
  for (;;) {
    if (down_) {
      RemoteCounters::add(counters_->fast_failures);
      return down_status();
    }
    if (!idle_.empty()) {
      Pooled p{std::move(idle_.back()), generation_};
      idle_.pop_back();
      return p;
    }
    if (open_ < policy_.max_connections) {
      ++open_;
      const std::uint64_t gen = generation_;
      const std::string addr = address_;
      lock.unlock();
      auto c = RedisConnection::open(ep_, addr, opts_, deadline);
      if (c.ok()) return Pooled{std::move(c).value(), gen};
      std::vector<std::unique_ptr<RedisConnection>> drop;
      lock.lock();
      --open_;
      // A deadline that was nearly spent is the caller's problem, not the node's.
      const bool caller_ran_out = c.status().code() == Code::kTimeout && Clock::now() >= deadline;
      if (!caller_ran_out && gen == generation_) mark_down_locked(c.status().message(), &drop);
      lock.unlock();
      freed_.notify_all();
      if (!caller_ran_out && wake_) wake_();
      return c.status();
    }
    if (freed_.wait_until(lock, busy_limit) == std::cv_status::timeout && idle_.empty() && !down_ &&
        open_ >= policy_.max_connections)
      return Status(Code::kTimeout, "redis " + ep_.to_string() + ": all " + std::to_string(policy_.max_connections) +
                                        " connections busy until the deadline");
  }
}

Result<std::vector<RedisReply>> RedisNode::exec(std::span<const RedisCommand> cmds, Deadline deadline,
                                               std::chrono::milliseconds extra_stall, const BulkSink* sink) {
  auto p = acquire(deadline);
  if (!p.ok()) return p.status();
  auto r = p->conn->exec(cmds, deadline, extra_stall, sink);
  Pooled pooled = std::move(p).value();
  bool went_down = false;
  std::vector<std::unique_ptr<RedisConnection>> drop;
  {
    std::lock_guard lock(mu_);
    const bool current = pooled.generation == generation_ && !down_;
    if (!pooled.conn->broken()) {
      timeouts_in_row_ = 0;
      if (current) {
        idle_.push_back(std::move(pooled.conn));
      } else {
        --open_;
        drop.push_back(std::move(pooled.conn));
      }
    } else {
      --open_;
      const bool timeout = pooled.conn->timed_out();
      drop.push_back(std::move(pooled.conn));
      // A caller's short deadline says nothing about the node; a stall does.
      const bool caller_ran_out = timeout && Clock::now() >= deadline;
      if (current && !caller_ran_out && (!timeout || ++timeouts_in_row_ >= policy_.timeouts_before_down)) {
        mark_down_locked(timeout ? std::to_string(timeouts_in_row_) + " timeouts in a row" : r.status().message(),
                         &drop);
        went_down = true;
      }
    }
  }
  freed_.notify_one();
  if (went_down && wake_) wake_();
  return r;
}

Result<std::unique_ptr<RedisConnection>> RedisNode::open_dedicated(Deadline deadline) {
  std::string addr;
  std::uint64_t gen = 0;
  {
    std::lock_guard lock(mu_);
    if (down_) {
      RemoteCounters::add(counters_->fast_failures);
      return down_status();
    }
    addr = address_;
    gen = generation_;
  }
  auto c = RedisConnection::open(ep_, addr, opts_, deadline);
  if (!c.ok() && !(c.status().code() == Code::kTimeout && Clock::now() >= deadline)) {
    std::vector<std::unique_ptr<RedisConnection>> drop;
    {
      std::lock_guard lock(mu_);
      if (gen == generation_) mark_down_locked(c.status().message(), &drop);
    }
    freed_.notify_all();
    if (wake_) wake_();
  }
  return c;
}

Clock::time_point RedisNode::maintain() {
  {
    std::lock_guard lock(mu_);
    if (!down_) return Clock::time_point::max();
    if (Clock::now() < next_attempt_) return next_attempt_;
  }
  // Outside the lock: a reconnect may take up to the connect timeout.
  Status outcome;
  std::unique_ptr<RedisConnection> conn;
  const std::string addr = resolve(ep_.host);
  if (addr.empty()) {
    outcome = Status(Code::kUnavailable, "cannot resolve the host name '" + ep_.host + "'");
  } else {
    const Deadline deadline = Clock::now() + 2 * opts_.timeout;
    auto c = RedisConnection::open(ep_, addr, opts_, deadline);
    if (c.ok()) {
      auto pong = (*c)->exec(RedisCommand({"PING"}), deadline);
      if (pong.ok() && reply_str(pong->get()) == "PONG")
        conn = std::move(c).value();
      else
        outcome = pong.ok() ? Status(Code::kUnavailable, "PING answered '" + std::string(reply_str(pong->get())) + "'")
                            : pong.status();
    } else {
      outcome = c.status();
    }
  }
  std::lock_guard lock(mu_);
  if (conn) {
    down_ = false;
    down_reason_.clear();
    timeouts_in_row_ = 0;
    address_ = addr;
    next_attempt_ = Clock::time_point::max();
    ++open_;
    idle_.push_back(std::move(conn));
    RemoteCounters::add(counters_->reconnects);
    freed_.notify_all();
    return next_attempt_;
  }
  down_reason_ = outcome.message();
  backoff_ = backoff_.count() == 0 ? policy_.reconnect_min : std::min(backoff_ * 2, policy_.reconnect_max);
  next_attempt_ = Clock::now() + backoff_;
  return next_attempt_;
}

}  // namespace kvc::tiers
