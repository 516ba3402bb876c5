// Where a Redis node is and how to log in: parsed from a `redis://` URL (single
// node) or a list of cluster seed nodes. Pure parsing, no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kvc/status.h"

namespace kvc::tiers {

struct RedisEndpoint {
  std::string host;  // a name or an IP address (IPv6 without brackets)
  int port = 6379;
  // "host:port", or "[v6]:port".
  std::string to_string() const;
  friend bool operator==(const RedisEndpoint&, const RedisEndpoint&) = default;
  friend auto operator<=>(const RedisEndpoint&, const RedisEndpoint&) = default;
};

// Login sent on every new connection: AUTH (when password is set) then SELECT
// (when db != 0).
struct RedisLogin {
  std::string username;  // empty: AUTH password (the default user)
  std::string password;
  int db = 0;
};

struct RedisUrl {
  RedisEndpoint endpoint;
  RedisLogin login;
};

// `redis://[[user]:password@]host[:port][/db]`; host may be `[v6addr]`; user and
// password may be %-encoded. Port 1–65535 (default 6379), db 0–999999 (default 0).
// kInvalidArgument naming the URL and what is wrong (the password is never echoed).
Result<RedisUrl> parse_redis_url(std::string_view url);

// One `host:port` (or `[v6]:port`); the port is required.
Result<RedisEndpoint> parse_host_port(std::string_view s);

// `host:port[,host:port...]`, spaces around entries ignored, at least one entry,
// duplicates removed (first occurrence kept).
Result<std::vector<RedisEndpoint>> parse_cluster_seeds(std::string_view seeds);

}  // namespace kvc::tiers
