#include "tiers/redis_connection.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>

// hiredis 0.14 declares its sds functions without extern "C" (hiredis.h includes
// sds.h outside its own extern "C" block), so C++ code cannot link to them through
// that header; these are the library's C symbols (sdsIncrLen takes an int before
// hiredis 1.0, an ssize_t since).
namespace hiredis_sds {
#if HIREDIS_MAJOR >= 1
using incr_t = ssize_t;
#else
using incr_t = int;
#endif
extern "C" {
char* sdsMakeRoomFor(char* s, size_t addlen);
void sdsIncrLen(char* s, incr_t incr);
void sdsclear(char* s);
}
}  // namespace hiredis_sds

namespace kvc::tiers {
namespace {

constexpr std::size_t kReadChunk = 256 * 1024;
// After an exchange that received more than this, the reader's buffer (which
// hiredis keeps at its largest size until the next read) is released, so that an
// idle pooled connection does not hold a 64 MiB chunk's worth of memory.
constexpr std::size_t kShrinkAbove = 1 << 20;

std::chrono::milliseconds remaining(Deadline deadline) {
  if (deadline == kNoDeadline) return std::chrono::milliseconds::max();
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return std::chrono::milliseconds(0);
  // Round up: a deadline 0.3 ms away still deserves a poll.
  return std::chrono::ceil<std::chrono::milliseconds>(left);
}

}  // namespace

RedisConnection::RedisConnection(RedisEndpoint ep, redisContext* ctx, std::chrono::milliseconds stall)
    : ep_(std::move(ep)), ctx_(ctx), stall_(stall) {}

RedisConnection::~RedisConnection() { redisFree(ctx_); }

Result<std::unique_ptr<RedisConnection>> RedisConnection::open(const RedisEndpoint& ep, const std::string& address,
                                                               const RedisConnectOptions& opts, Deadline deadline) {
  const std::string who = "redis " + ep.to_string();
  const auto budget = std::min(opts.timeout, remaining(deadline));
  if (budget.count() <= 0) return Status(Code::kTimeout, who + ": no time left to connect (deadline passed)");
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(budget.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((budget.count() % 1000) * 1000);
  redisContext* ctx = redisConnectWithTimeout(address.c_str(), ep.port, tv);
  if (ctx == nullptr) return Status(Code::kUnavailable, who + ": cannot allocate a connection");
  if (ctx->err != 0) {
    std::string err = ctx->errstr;
    redisFree(ctx);
    const bool timeout = err.find("timed out") != std::string::npos;
    return Status(timeout ? Code::kTimeout : Code::kUnavailable,
                  who + ": connect failed: " + err + (timeout ? " (after " + std::to_string(budget.count()) + " ms)" : ""));
  }
  // From here on this class does all socket I/O, non-blocking, bounded by poll.
  const int flags = ::fcntl(ctx->fd, F_GETFL);
  if (flags < 0 || ::fcntl(ctx->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    const int e = errno;
    redisFree(ctx);
    return Status(Code::kUnavailable, who + ": fcntl(O_NONBLOCK): " + std::strerror(e));
  }
  ::fcntl(ctx->fd, F_SETFD, FD_CLOEXEC);
  redisEnableKeepAlive(ctx);
  std::unique_ptr<RedisConnection> conn(new RedisConnection(ep, ctx, opts.timeout));

  std::vector<RedisCommand> login;
  if (!opts.login.password.empty()) {
    RedisCommand auth({"AUTH"});
    if (!opts.login.username.empty()) auth.arg(opts.login.username);
    auth.arg(opts.login.password);
    login.push_back(std::move(auth));
  }
  if (opts.login.db != 0) login.push_back(RedisCommand({"SELECT", std::to_string(opts.login.db)}));
  if (!login.empty()) {
    auto replies = conn->exec(login, std::min(deadline, Clock::now() + opts.timeout));
    if (!replies.ok()) return Status(replies.status().code(), replies.status().message() + " (during AUTH/SELECT)");
    for (std::size_t i = 0; i < login.size(); ++i) {
      const redisReply* r = (*replies)[i].get();
      if (!reply_is_ok(r)) {
        const bool auth = i == 0 && !opts.login.password.empty();
        return Status(Code::kUnavailable,
                      who + ": " + (auth ? "AUTH" : "SELECT " + std::to_string(opts.login.db)) + " refused: " +
                          std::string(reply_str(r)) +
                          (auth ? " (check the password in --redis / the cluster password)" : ""));
      }
    }
  }
  return conn;
}

Status RedisConnection::fail(Code code, std::string message, bool timeout) {
  broken_ = true;
  timed_out_ = timeout;
  return Status(code, "redis " + ep_.to_string() + ": " + message);
}

Status RedisConnection::wait_ready(short events, Deadline deadline, const char* doing) {
  for (;;) {
    const auto left = remaining(deadline);
    const auto stall = stall_ + extra_stall_;
    const auto wait = std::min(left, stall);
    if (left.count() == 0) return fail(Code::kTimeout, std::string("deadline passed while ") + doing, true);
    pollfd p{ctx_->fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(wait.count(), INT_MAX)));
    if (n > 0) return Status::Ok();  // readable/writable, or an error the next call reports
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(Code::kIoError, std::string("poll: ") + std::strerror(errno));
    if (wait == stall && left > stall)
      return fail(Code::kTimeout,
                  std::string("no progress for ") + std::to_string(stall.count()) + " ms while " + doing, true);
    return fail(Code::kTimeout, std::string("deadline passed while ") + doing, true);
  }
}

Status RedisConnection::send(std::span<const RedisCommand> cmds, Deadline deadline) {
  if (broken_) return Status(Code::kUnavailable, "redis " + ep_.to_string() + ": connection already broken");
  std::vector<iovec> iov;
  for (const auto& c : cmds) c.encode(iov);
  std::size_t at = 0;  // first iovec not fully written
  while (at < iov.size()) {
    msghdr msg{};
    msg.msg_iov = iov.data() + at;
    msg.msg_iovlen = std::min<std::size_t>(iov.size() - at, IOV_MAX);
    const ssize_t n = ::sendmsg(ctx_->fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (auto s = wait_ready(POLLOUT, deadline, "sending a command"); !s.ok()) return s;
        continue;
      }
      const int e = errno;
      return fail(Code::kUnavailable, std::string("send failed: ") + std::strerror(e));
    }
    std::size_t left = static_cast<std::size_t>(n);
    while (at < iov.size() && left >= iov[at].iov_len) left -= iov[at++].iov_len;
    if (left > 0) {
      iov[at].iov_base = static_cast<char*>(iov[at].iov_base) + left;
      iov[at].iov_len -= left;
    }
  }
  return Status::Ok();
}

// Room in the reader's buffer for the next recv. When the unparsed input starts
// a large bulk string ("$<n>\r\n"), room for all of it at once: hiredis would
// otherwise grow its buffer 1 MiB at a time (a realloc each step; quadratic
// copying where realloc cannot remap, e.g. under the sanitizers).
std::size_t RedisConnection::room_wanted() const {
  const redisReader* r = ctx_->reader;
  const std::size_t unparsed = r->len - r->pos;
  if (unparsed < 4 || r->buf[r->pos] != '$') return kReadChunk;
  const std::string_view head(r->buf + r->pos + 1, std::min<std::size_t>(unparsed - 1, 24));
  const auto crlf = head.find("\r\n");
  std::size_t n = 0;
  if (crlf == std::string_view::npos) return kReadChunk;
  auto [p, ec] = std::from_chars(head.data(), head.data() + crlf, n);
  if (ec != std::errc() || p != head.data() + crlf) return kReadChunk;  // "$-1" and the like
  const std::size_t total = 1 + crlf + 2 + n + 2;  // "$", digits, CRLF, bytes, CRLF
  return total > unparsed ? std::max(kReadChunk, total - unparsed) : kReadChunk;
}

Status RedisConnection::fill(Deadline deadline) {
  redisReader* r = ctx_->reader;
  for (;;) {
    // Straight into hiredis' buffer (no copy through a buffer of ours, as
    // redisReaderFeed would need); hiredis parses from there.
    char* grown = hiredis_sds::sdsMakeRoomFor(r->buf, room_wanted());
    if (grown == nullptr) return fail(Code::kIoError, "out of memory for a reply");
    r->buf = grown;
    const std::size_t room = std::min<std::size_t>(sdsavail(r->buf), 1u << 30);  // sdsIncrLen may take an int
    const ssize_t n = ::recv(ctx_->fd, r->buf + r->len, room, 0);
    if (n > 0) {
      received_ += static_cast<std::size_t>(n);
      hiredis_sds::sdsIncrLen(r->buf, static_cast<hiredis_sds::incr_t>(n));
      r->len += static_cast<std::size_t>(n);
      return Status::Ok();
    }
    if (n == 0) return fail(Code::kUnavailable, "the server closed the connection");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto s = wait_ready(POLLIN, deadline, "waiting for a reply"); !s.ok()) return s;
      continue;
    }
    const int e = errno;
    return fail(Code::kUnavailable, std::string("receive failed: ") + std::strerror(e));
  }
}

Status RedisConnection::recv_into(std::span<std::byte> dest, Deadline deadline) {
  while (!dest.empty()) {
    const ssize_t n = ::recv(ctx_->fd, dest.data(), dest.size(), 0);
    if (n > 0) {
      dest = dest.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return fail(Code::kUnavailable, "the server closed the connection");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto s = wait_ready(POLLIN, deadline, "receiving a value"); !s.ok()) return s;
      continue;
    }
    const int e = errno;
    return fail(Code::kUnavailable, std::string("receive failed: ") + std::strerror(e));
  }
  return Status::Ok();
}

void RedisConnection::consume(std::size_t n) {
  redisReader* r = ctx_->reader;
  r->pos += n;
  if (r->pos == r->len) {  // keep hiredis' invariant len == sdslen(buf)
    hiredis_sds::sdsclear(r->buf);
    r->pos = r->len = 0;
  }
}

RedisConnection::BulkHeader RedisConnection::peek_bulk_header() const {
  const redisReader* r = ctx_->reader;
  const std::size_t unparsed = r->len - r->pos;
  if (unparsed == 0) return {BulkHeader::kNeedMore};
  if (r->buf[r->pos] != '$') return {BulkHeader::kOther};
  const std::string_view head(r->buf + r->pos, std::min<std::size_t>(unparsed, 24));
  const auto crlf = head.find("\r\n");
  if (crlf == std::string_view::npos) return {unparsed < 24 ? BulkHeader::kNeedMore : BulkHeader::kOther};
  std::size_t n = 0;
  auto [p, ec] = std::from_chars(head.data() + 1, head.data() + crlf, n);
  if (ec != std::errc() || p != head.data() + crlf) return {BulkHeader::kOther};  // "$-1" (nil) and the like
  return {BulkHeader::kBulk, crlf + 2, n};
}

Result<RedisReply> RedisConnection::read_reply(Deadline deadline, const BulkSink* sink, std::size_t index) {
  if (broken_) return Status(Code::kUnavailable, "redis " + ep_.to_string() + ": connection already broken");
  redisReader* r = ctx_->reader;
  for (;;) {
    // A bulk string the sink takes is received straight into the sink's memory;
    // decided at a reply boundary, before hiredis starts on the reply.
    if (sink != nullptr && r->ridx == -1) {
      const BulkHeader h = peek_bulk_header();
      if (h.state == BulkHeader::kNeedMore) {
        if (auto s = fill(deadline); !s.ok()) return s;
        continue;
      }
      if (h.state == BulkHeader::kBulk && h.length > 0) {
        const std::span<std::byte> dest = (*sink)(index, h.length);
        if (dest.size() == h.length) {
          consume(h.header_size);
          const std::size_t buffered = std::min(r->len - r->pos, h.length);
          if (buffered > 0) std::memcpy(dest.data(), r->buf + r->pos, buffered);
          consume(buffered);
          if (auto s = recv_into(dest.subspan(buffered), deadline); !s.ok()) return s;
          while (r->len - r->pos < 2)
            if (auto s = fill(deadline); !s.ok()) return s;
          if (r->buf[r->pos] != '\r' || r->buf[r->pos + 1] != '\n')
            return fail(Code::kIoError, "protocol error: a bulk string not followed by CRLF");
          consume(2);
          return RedisReply();  // delivered into the sink
        }
      }
    }
    void* out = nullptr;
    if (redisReaderGetReply(r, &out) != REDIS_OK)
      return fail(Code::kIoError, std::string("protocol error: ") + r->errstr);
    if (out != nullptr) return RedisReply(static_cast<redisReply*>(out));
    if (auto s = fill(deadline); !s.ok()) return s;
  }
}

Result<std::vector<RedisReply>> RedisConnection::exec(std::span<const RedisCommand> cmds, Deadline deadline,
                                                     std::chrono::milliseconds extra_stall, const BulkSink* sink) {
  extra_stall_ = extra_stall;
  received_ = 0;
  if (auto s = send(cmds, deadline); !s.ok()) return s;
  std::vector<RedisReply> replies;
  replies.reserve(cmds.size());
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    auto r = read_reply(deadline, sink, i);
    if (!r.ok()) return r.status();
    replies.push_back(std::move(r).value());
  }
  redisReader* reader = ctx_->reader;
  if (received_ > kShrinkAbove && reader->pos == reader->len) {
    if (redisReader* fresh = redisReaderCreate()) {
      redisReaderFree(reader);
      ctx_->reader = fresh;
    }
  }
  return replies;
}

Result<RedisReply> RedisConnection::exec(const RedisCommand& cmd, Deadline deadline,
                                         std::chrono::milliseconds extra_stall) {
  auto r = exec(std::span<const RedisCommand>(&cmd, 1), deadline, extra_stall);
  if (!r.ok()) return r.status();
  return std::move(r->front());
}

}  // namespace kvc::tiers
