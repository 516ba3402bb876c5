#include "tiers/remote_options.h"

namespace kvc::tiers {
namespace {

Status bad(const std::string& flag, const std::string& value, const std::string& why) {
  return Status(Code::kInvalidArgument, flag + " '" + value + "': " + why);
}

}  // namespace

Status RemoteOptions::validate() const {
  if (url.empty() == cluster_seeds.empty())
    return Status(Code::kInvalidArgument,
                  url.empty() ? "remote tier: set --redis redis://host:port or --redis-cluster host:port[,...]"
                              : "remote tier: --redis and --redis-cluster are exclusive; set one");
  if (prefix.empty()) return bad("--redis-prefix", prefix, "must not be empty (default 'kvc:')");
  for (char c : prefix) {
    if (c == '{' || c == '}')
      return bad("--redis-prefix", prefix, "must not contain '{' or '}' (the row's key is the cluster hash tag)");
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return bad("--redis-prefix", prefix, "must not contain spaces or control characters");
  }
  if (prefix.size() > 256) return bad("--redis-prefix", prefix.substr(0, 32) + "...", "longer than 256 bytes");
  if (timeout.count() <= 0 || timeout.count() > 600'000)
    return bad("--redis-timeout-ms", std::to_string(timeout.count()), "must be 1-600000 ms");
  if (stall_per_mib.count() < 0 || stall_per_mib.count() > 1000)
    return bad("remote stall allowance", std::to_string(stall_per_mib.count()) + " ms/MiB", "must be 0-1000 ms per MiB");
  if (ttl_seconds > 100ull * 365 * 24 * 3600)
    return bad("--redis-ttl", std::to_string(ttl_seconds), "more than 100 years; use 0 for no expiry");
  // Redis refuses a bulk argument above proto-max-bulk-len (512 MB by default).
  if (chunk_bytes < 4096 || chunk_bytes > (512u << 20))
    return bad("remote chunk size", std::to_string(chunk_bytes), "must be 4096 bytes to 512 MiB (remote.md: 64 MiB)");
  if (stream_maxlen == 0) return bad("remote stream length", "0", "must be at least 1");
  if (max_connections_per_node < 1 || max_connections_per_node > 1024)
    return bad("remote connections per node", std::to_string(max_connections_per_node), "must be 1-1024");
  if (reconnect_min.count() <= 0 || reconnect_max < reconnect_min)
    return bad("remote reconnect backoff",
               std::to_string(reconnect_min.count()) + "-" + std::to_string(reconnect_max.count()) + " ms",
               "needs 0 < min <= max");
  if (tail_block.count() <= 0 || tail_block.count() > 60'000)
    return bad("remote stream block time", std::to_string(tail_block.count()) + " ms", "must be 1-60000 ms");
  return Status::Ok();
}

}  // namespace kvc::tiers
