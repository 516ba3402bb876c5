// RedisConnection: one TCP connection to one Redis node. hiredis connects and
// parses replies (its redisReader); this class does the socket I/O itself so that
//  - every wait is bounded: a command fails with kTimeout when the socket makes no
//    progress for `stall` (default: the connect timeout) or the caller's deadline
//    passes, whichever is first — a large value may take longer than `stall` in
//    total, but never stalls longer;
//  - writes use sendmsg(MSG_NOSIGNAL): a peer that closed never raises SIGPIPE,
//    even in a program that did not ignore it (hiredis itself writes with write(2));
//  - a large argument is written from the caller's memory (writev), not copied
//    into hiredis' output buffer;
//  - a bulk-string reply can be received straight into the caller's memory
//    (BulkSink), not through hiredis' buffer and reply object.
// Not thread-safe: one exchange at a time (RedisNode pools connections).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvc/status.h"
#include "tiers/redis_command.h"
#include "tiers/redis_endpoint.h"
#include "tiers/redis_reply.h"

struct redisContext;

namespace kvc::tiers {

using Clock = std::chrono::steady_clock;
// An absolute time after which a call gives up; kNoDeadline: no caller deadline
// (the stall limit still applies).
using Deadline = Clock::time_point;
inline constexpr Deadline kNoDeadline = Deadline::max();

// Where a bulk-string reply goes instead of into a hiredis reply (and then a copy
// of it): called with the command's index in the exchange and the bulk's length
// once its header has arrived; returns exactly `length` bytes to receive the bulk
// into, or an empty span to take it as an ordinary reply. A bulk received this
// way comes back as an empty RedisReply (get() == nullptr): "delivered".
using BulkSink = std::function<std::span<std::byte>(std::size_t index, std::size_t length)>;

struct RedisConnectOptions {
  RedisLogin login;
  std::chrono::milliseconds timeout{50};  // connect timeout and stall limit
};

class RedisConnection {
 public:
  // Connects to `address` (an IP address or a name; `ep` is what messages show)
  // within min(timeout, deadline), then AUTH and SELECT as `opts.login` says.
  // kTimeout, kUnavailable (refused, unreachable, AUTH/SELECT rejected) with a
  // message naming the node.
  static Result<std::unique_ptr<RedisConnection>> open(const RedisEndpoint& ep, const std::string& address,
                                                       const RedisConnectOptions& opts, Deadline deadline);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends the commands in one pipeline, then reads one reply per command. An error
  // reply (-ERR, -MOVED, -OOM …) is a reply, not a failure. On failure (kTimeout;
  // kUnavailable when the peer closed or reset; kIoError on a protocol error) the
  // connection is broken() and must be dropped: replies may still be in flight.
  // `extra_stall` is added to the stall limit for this exchange: a command that
  // moves a large value may keep Redis busy (copying it) before the first byte.
  // `sink`, when given, receives bulk-string replies it accepts (see BulkSink).
  Result<std::vector<RedisReply>> exec(std::span<const RedisCommand> cmds, Deadline deadline,
                                       std::chrono::milliseconds extra_stall = {}, const BulkSink* sink = nullptr);
  Result<RedisReply> exec(const RedisCommand& cmd, Deadline deadline, std::chrono::milliseconds extra_stall = {});

  bool broken() const { return broken_; }
  // Whether the last failure was a timeout (the node may be slow, not down).
  bool timed_out() const { return timed_out_; }
  const RedisEndpoint& endpoint() const { return ep_; }
  // The longest wait for the socket to make progress (XREAD BLOCK needs more).
  void set_stall(std::chrono::milliseconds stall) { stall_ = stall; }
  std::chrono::milliseconds stall() const { return stall_; }

 private:
  RedisConnection(RedisEndpoint ep, redisContext* ctx, std::chrono::milliseconds stall);
  struct BulkHeader {
    enum State { kNeedMore, kOther, kBulk } state;
    std::size_t header_size = 0;  // "$<n>\r\n"
    std::size_t length = 0;
  };
  Status send(std::span<const RedisCommand> cmds, Deadline deadline);
  Result<RedisReply> read_reply(Deadline deadline, const BulkSink* sink, std::size_t index);
  // One recv into hiredis' reader buffer.
  Status fill(Deadline deadline);
  // recv until `dest` is full.
  Status recv_into(std::span<std::byte> dest, Deadline deadline);
  // Drops n parsed bytes from the front of the reader's buffer.
  void consume(std::size_t n);
  // The unparsed input, when it starts a reply: a bulk string's header?
  BulkHeader peek_bulk_header() const;
  // Waits until fd is ready for `events`; kTimeout when stall or deadline come first.
  Status wait_ready(short events, Deadline deadline, const char* doing);
  Status fail(Code code, std::string message, bool timeout = false);
  std::size_t room_wanted() const;

  RedisEndpoint ep_;
  redisContext* ctx_;
  std::chrono::milliseconds stall_;
  std::chrono::milliseconds extra_stall_{0};  // for the exchange in progress
  std::size_t received_ = 0;                   // bytes received in the exchange in progress
  bool broken_ = false;
  bool timed_out_ = false;
};

}  // namespace kvc::tiers
