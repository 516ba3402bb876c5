#include "tiers/redis_endpoint.h"

#include <charconv>

namespace kvc::tiers {
namespace {

Status bad(std::string_view what, std::string_view shown, std::string_view why) {
  return Status(Code::kInvalidArgument, std::string(what) + " '" + std::string(shown) + "': " + std::string(why));
}

bool parse_int(std::string_view s, long lo, long hi, long* out) {
  if (s.empty()) return false;
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_digit(in[i + 1]), lo = hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

bool valid_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

// host[:port] or [v6][:port]; `what` and `shown` name the input in errors.
Result<RedisEndpoint> parse_authority(std::string_view s, bool port_required, std::string_view what,
                                      std::string_view shown) {
  RedisEndpoint ep;
  std::string_view port;
  bool has_port = false;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) return bad(what, shown, "an IPv6 address opened with '[' is not closed");
    ep.host = std::string(s.substr(1, close - 1));
    if (ep.host.empty()) return bad(what, shown, "the host is empty");
    for (char c : ep.host)
      if (hex_digit(c) < 0 && c != ':' && c != '.') return bad(what, shown, "not an IPv6 address inside '[...]'");
    const auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad(what, shown, "expected ':port' after ']'");
      port = rest.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = s.rfind(':');
    std::string_view host = s;
    if (colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return bad(what, shown, "the host is empty");
    for (char c : host)
      if (!valid_host_char(c))
        return bad(what, shown,
                   "the host has a character that is not a letter, digit, '-', '.' or '_' "
                   "(write an IPv6 address as [addr]:port)");
    ep.host = std::string(host);
  }
  if (has_port) {
    long p = 0;
    if (!parse_int(port, 1, 65535, &p)) return bad(what, shown, "the port must be a number from 1 to 65535");
    ep.port = static_cast<int>(p);
  } else if (port_required) {
    return bad(what, shown, "expected host:port (the port is required)");
  }
  return ep;
}

}  // namespace

std::string RedisEndpoint::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<RedisUrl> parse_redis_url(std::string_view url) {
  constexpr std::string_view kWhat = "--redis URL";
  constexpr std::string_view kScheme = "redis://";
  // The URL with any password masked, for error messages.
  std::string shown(url);
  if (const auto at = shown.rfind('@'); at != std::string::npos && shown.compare(0, kScheme.size(), kScheme) == 0) {
    const auto colon = shown.find(':', kScheme.size());
    if (colon != std::string::npos && colon < at) shown.replace(colon + 1, at - colon - 1, "***");
  }
  if (url.substr(0, kScheme.size()) != kScheme) {
    if (url.substr(0, 9) == "rediss://")
      return bad(kWhat, shown, "TLS (rediss://) is not supported; use redis:// on a trusted network");
    if (url.substr(0, 7) == "unix://") return bad(kWhat, shown, "unix sockets are not supported; use redis://host:port");
    return bad(kWhat, shown, "expected redis://[:password@]host:port[/db]");
  }
  std::string_view rest = url.substr(kScheme.size());
  RedisUrl out;
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    const std::string_view user = colon == std::string_view::npos ? std::string_view() : userinfo.substr(0, colon);
    const std::string_view pass = colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1);
    if (!percent_decode(user, &out.login.username) || !percent_decode(pass, &out.login.password))
      return bad(kWhat, shown, "a '%' in the user or password is not followed by two hex digits");
    if (out.login.password.empty()) return bad(kWhat, shown, "the password before '@' is empty");
  }
  std::string_view authority = rest;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      long v = 0;
      if (!parse_int(db, 0, 999999, &v)) return bad(kWhat, shown, "the database after '/' must be a number (0-999999)");
      out.login.db = static_cast<int>(v);
    }
  }
  if (authority.find('?') != std::string_view::npos || authority.find('#') != std::string_view::npos)
    return bad(kWhat, shown, "query parameters are not supported");
  auto ep = parse_authority(authority, false, kWhat, shown);
  if (!ep.ok()) return ep.status();
  out.endpoint = std::move(ep).value();
  return out;
}

Result<RedisEndpoint> parse_host_port(std::string_view s) { return parse_authority(s, true, "redis node", s); }

Result<std::vector<RedisEndpoint>> parse_cluster_seeds(std::string_view seeds) {
  std::vector<RedisEndpoint> out;
  std::size_t start = 0;
  while (start <= seeds.size()) {
    auto comma = seeds.find(',', start);
    if (comma == std::string_view::npos) comma = seeds.size();
    std::string_view item = seeds.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty())
      return bad("--redis-cluster", seeds, "an empty entry; expected host:port[,host:port...]");
    auto ep = parse_authority(item, true, "--redis-cluster seed", item);
    if (!ep.ok()) return ep.status();
    bool dup = false;
    for (const auto& e : out) dup = dup || e == *ep;
    if (!dup) out.push_back(std::move(ep).value());
    start = comma + 1;
  }
  return out;
}

}  // namespace kvc::tiers
