#include "tiers/redis_cluster.h"

#include <array>
#include <charconv>
#include <set>
#include <thread>

namespace kvc::tiers {
namespace {

constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> t{};
  for (int i = 0; i < 256; ++i) {
    std::uint16_t c = static_cast<std::uint16_t>(i << 8);
    for (int b = 0; b < 8; ++b) c = static_cast<std::uint16_t>((c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1);
    t[i] = c;
  }
  return t;
}
constexpr auto kCrc16Table = make_crc16_table();

constexpr int kMaxRedirectRounds = 16;

bool parse_int(std::string_view s, long long* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

Status malformed(const std::string& what) {
  return Status(Code::kIoError, "CLUSTER SLOTS reply is malformed: " + what);
}

}  // namespace

std::uint16_t crc16_xmodem(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char c : data) crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

int key_slot(std::string_view key) {
  if (const auto open = key.find('{'); open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16_xmodem(key) & (kClusterSlots - 1);
}

Result<std::vector<SlotRange>> parse_cluster_slots(const redisReply* reply, const RedisEndpoint& queried) {
  if (reply_is_error(reply)) return Status(Code::kIoError, "CLUSTER SLOTS refused: " + std::string(reply_str(reply)));
  if (!reply_is_array(reply)) return malformed("not an array");
  std::vector<SlotRange> out;
  for (const redisReply* e : reply_elements(reply)) {
    const auto parts = reply_elements(e);
    if (parts.size() < 3) return malformed("an entry has fewer than 3 elements");
    const auto first = reply_integer(parts[0]), last = reply_integer(parts[1]);
    if (!first || !last || *first < 0 || *last >= kClusterSlots || *first > *last)
      return malformed("a slot range is not within 0-16383");
    const auto master = reply_elements(parts[2]);
    if (master.size() < 2 || !reply_is_string(master[0])) return malformed("a master entry has no address");
    const auto port = reply_integer(master[1]);
    if (!port || *port < 1 || *port > 65535) return malformed("a master port is not within 1-65535");
    SlotRange r;
    r.first = static_cast<int>(*first);
    r.last = static_cast<int>(*last);
    const std::string_view host = reply_str(master[0]);
    r.master.host = (host.empty() || host == "?") ? queried.host : std::string(host);
    r.master.port = static_cast<int>(*port);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<Redirect> parse_redirect(const redisReply* reply) {
  if (!reply_is_error(reply)) return std::nullopt;
  const std::string_view s = reply_str(reply);
  Redirect r;
  std::string_view rest;
  if (s.substr(0, 6) == "MOVED ") {
    r.kind = Redirect::Kind::kMoved;
    rest = s.substr(6);
  } else if (s.substr(0, 4) == "ASK ") {
    r.kind = Redirect::Kind::kAsk;
    rest = s.substr(4);
  } else {
    return std::nullopt;
  }
  const auto space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  long long slot = 0, port = 0;
  if (!parse_int(rest.substr(0, space), &slot) || slot < 0 || slot >= kClusterSlots) return std::nullopt;
  const std::string_view hostport = rest.substr(space + 1);
  const auto colon = hostport.rfind(':');
  if (colon == std::string_view::npos || !parse_int(hostport.substr(colon + 1), &port) || port < 1 || port > 65535)
    return std::nullopt;
  r.slot = static_cast<int>(slot);
  r.target.host = std::string(hostport.substr(0, colon));  // empty: the node that answered
  r.target.port = static_cast<int>(port);
  return r;
}

RedisCluster::RedisCluster(std::vector<RedisEndpoint> seeds, NodeFactory make_node, RemoteCounters* counters,
                           std::function<void()> want_refresh)
    : seeds_(std::move(seeds)),
      make_node_(std::move(make_node)),
      counters_(counters),
      want_refresh_(std::move(want_refresh)),
      slots_(kClusterSlots) {
  std::lock_guard lock(mu_);
  for (const auto& s : seeds_) node_locked(s);
}

std::shared_ptr<RedisNode> RedisCluster::node_locked(const RedisEndpoint& ep) {
  auto& n = nodes_[ep];
  if (!n) n = make_node_(ep);
  return n;
}

Status RedisCluster::refresh(Deadline deadline) {
  std::vector<std::shared_ptr<RedisNode>> candidates = masters();
  {
    std::lock_guard lock(mu_);
    for (const auto& s : seeds_) candidates.push_back(node_locked(s));
  }
  const std::vector<RedisCommand> ask{RedisCommand({"CLUSTER", "SLOTS"})};
  std::string tried;
  std::set<const RedisNode*> seen;
  for (const auto& node : candidates) {
    if (!seen.insert(node.get()).second) continue;
    auto r = node->exec(ask, deadline);
    Status why;
    if (r.ok()) {
      auto ranges = parse_cluster_slots(r->front().get(), node->endpoint());
      if (ranges.ok() && !ranges->empty()) {
        std::lock_guard lock(mu_);
        std::vector<std::shared_ptr<RedisNode>> table(kClusterSlots);
        std::map<RedisEndpoint, std::shared_ptr<RedisNode>> keep;
        for (const auto& s : seeds_) keep[s] = node_locked(s);
        for (const auto& range : *ranges) {
          auto n = node_locked(range.master);
          keep[range.master] = n;
          for (int s = range.first; s <= range.last; ++s) table[s] = n;
        }
        slots_ = std::move(table);
        nodes_ = std::move(keep);  // nodes that left the cluster are forgotten
        RemoteCounters::add(counters_->slot_map_refreshes);
        return Status::Ok();
      }
      why = ranges.ok() ? Status(Code::kUnavailable, "no slots assigned (is cluster mode enabled?)") : ranges.status();
    } else {
      why = r.status();
    }
    if (!tried.empty()) tried += "; ";
    tried += node->endpoint().to_string() + ": " + why.message();
    if (Clock::now() >= deadline) break;
  }
  return Status(Code::kUnavailable, "redis cluster: no node answered CLUSTER SLOTS (" + tried + ")");
}

Result<std::shared_ptr<RedisNode>> RedisCluster::node_for_slot(int slot) {
  {
    std::lock_guard lock(mu_);
    if (slots_[slot]) return slots_[slot];
  }
  refresh_requested_ = true;
  if (want_refresh_) want_refresh_();
  return Status(Code::kUnavailable, "redis cluster: no node serves slot " + std::to_string(slot) +
                                        " (the slot map is not known yet or the cluster is incomplete)");
}

void RedisCluster::apply_moved(const Redirect& r) {
  RemoteCounters::add(counters_->moved);
  {
    std::lock_guard lock(mu_);
    slots_[r.slot] = node_locked(r.target);
  }
  refresh_requested_ = true;
  if (want_refresh_) want_refresh_();
}

std::vector<std::shared_ptr<RedisNode>> RedisCluster::masters() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<RedisNode>> out;
  std::set<const RedisNode*> seen;
  for (const auto& n : slots_)
    if (n && seen.insert(n.get()).second) out.push_back(n);
  return out;
}

std::vector<std::shared_ptr<RedisNode>> RedisCluster::nodes() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<RedisNode>> out;
  for (const auto& [ep, n] : nodes_) out.push_back(n);
  return out;
}

bool RedisCluster::has_map() const {
  std::lock_guard lock(mu_);
  for (const auto& n : slots_)
    if (n) return true;
  return false;
}

Result<std::vector<RedisReply>> RedisCluster::exec(int slot, std::span<const RedisCommand> cmds, Deadline deadline,
                                                  std::chrono::milliseconds extra_stall, const BulkSink* sink) {
  auto first = node_for_slot(slot);
  if (!first.ok()) return first.status();
  // Where each command still has to go: its node, and whether ASKING precedes it.
  struct Route {
    std::shared_ptr<RedisNode> node;
    bool asking = false;
  };
  std::vector<RedisReply> replies(cmds.size());
  std::vector<std::optional<Route>> pending(cmds.size(), Route{*first, false});
  const RedisCommand asking_cmd({"ASKING"});
  for (int round = 0;; ++round) {
    // This round: every pending command bound for the first pending route.
    std::size_t lead = 0;
    while (lead < pending.size() && !pending[lead]) ++lead;
    if (lead == pending.size()) return replies;
    if (round >= kMaxRedirectRounds)
      return Status(Code::kUnavailable, "redis cluster: slot " + std::to_string(slot) + " still redirected after " +
                                            std::to_string(kMaxRedirectRounds) + " rounds (resharding storm?)");
    const Route route = *pending[lead];
    std::vector<std::size_t> batch_index;
    std::vector<RedisCommand> batch;
    for (std::size_t i = lead; i < pending.size(); ++i) {
      if (!pending[i] || pending[i]->node != route.node || pending[i]->asking != route.asking) continue;
      if (route.asking) batch.push_back(asking_cmd);
      batch.push_back(cmds[i]);
      batch_index.push_back(i);
    }
    // The sink sees each command's own index (ASKING has no reply worth taking).
    std::vector<std::size_t> command_of;  // batch position -> index in cmds, or npos for ASKING
    for (std::size_t i : batch_index) {
      if (route.asking) command_of.push_back(std::string::npos);
      command_of.push_back(i);
    }
    const BulkSink batch_sink = [&](std::size_t at, std::size_t length) -> std::span<std::byte> {
      if (command_of[at] == std::string::npos) return {};
      return (*sink)(command_of[at], length);
    };
    auto r = route.node->exec(batch, deadline, extra_stall, sink != nullptr ? &batch_sink : nullptr);
    if (!r.ok()) {
      if (r.status().code() != Code::kTimeout) {
        refresh_requested_ = true;  // a node that is down may have failed over
        if (want_refresh_) want_refresh_();
      }
      return r.status();
    }
    bool pause = false;
    std::size_t at = 0;
    for (std::size_t i : batch_index) {
      if (route.asking) ++at;  // ASKING's own +OK
      RedisReply& reply = (*r)[at++];
      const auto redirect = parse_redirect(reply.get());
      if (!redirect) {
        const std::string_view err = reply_is_error(reply.get()) ? reply_str(reply.get()) : std::string_view();
        if (err.substr(0, 8) == "TRYAGAIN") {
          pause = true;  // a multi-key command during a migration: same route again
          continue;
        }
        if (err.substr(0, 11) == "CLUSTERDOWN") {
          refresh_requested_ = true;
          if (want_refresh_) want_refresh_();
        }
        replies[i] = std::move(reply);
        pending[i].reset();
        continue;
      }
      RedisEndpoint target = redirect->target;
      if (target.host.empty()) target.host = route.node->endpoint().host;
      if (redirect->kind == Redirect::Kind::kMoved) {
        apply_moved(Redirect{Redirect::Kind::kMoved, redirect->slot, target});
        std::lock_guard lock(mu_);
        pending[i] = Route{node_locked(target), false};
      } else {
        RemoteCounters::add(counters_->ask);
        std::lock_guard lock(mu_);
        pending[i] = Route{node_locked(target), true};
      }
    }
    if (pause) {
      const auto until = std::min(deadline, Clock::now() + std::chrono::milliseconds(5));
      std::this_thread::sleep_until(until);
      if (Clock::now() >= deadline) return Status(Code::kTimeout, "redis cluster: TRYAGAIN until the deadline");
    }
  }
}

}  // namespace kvc::tiers
