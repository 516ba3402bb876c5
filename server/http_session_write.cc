// A connection's writing side: responses and streams in order, the deadlines of
// every phase, the watch on a peer that half-closed, and closing.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/write.hpp>

#include "server/http_session.h"

namespace kvc::server {
namespace {

constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr auto kPeerPoll = std::chrono::milliseconds(10);
constexpr unsigned kProbeEvery = 10;  // polls between probes: 100 ms

std::string clean(std::string_view v) {  // no CR/LF from a handler reaches the wire
  std::string out(v);
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

std::string hex(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

}  // namespace

void Session::send_response(const void* from, HttpResponse r) {
  if (from != exchange_.get() || response_started_ || phase_ != Phase::kHandling) return;
  response_started_ = finishing_ = true;
  status_ = r.status;
  if (r.close) close_after_ = true;
  queue(head_bytes(r, false));
  queue(std::move(r.body));
  write();
}

void Session::send_stream_head(const void* from, HttpResponse head) {
  if (from != exchange_.get() || response_started_ || phase_ != Phase::kHandling) return;
  response_started_ = streaming_ = true;
  status_ = head.status;
  if (version_ == 10) close_after_ = true;  // no chunked encoding in HTTP/1.0: the close ends the body
  queue(head_bytes(head, version_ != 10));
  write();
}

void Session::send_chunk(const void* from, std::string chunk) {
  if (from != exchange_.get() || !streaming_ || finishing_ || chunk.empty()) return;
  if (queued_bytes_ + chunk.size() > state_->options.max_stream_buffer) {
    cancel_exchange(Exchange::CancelReason::kSlowReader);  // the client reads slower than text is made
    return close();
  }
  if (version_ == 10) {
    queue(std::move(chunk));
  } else {
    queue(hex(chunk.size()) + "\r\n");
    queue(std::move(chunk));
    queue("\r\n");
  }
  write();
}

void Session::send_stream_end(const void* from) {
  if (from != exchange_.get() || !streaming_ || finishing_) return;
  finishing_ = true;
  if (version_ != 10) queue("0\r\n\r\n");
  write();
  if (!write_pending_) finish_exchange();
}

std::string Session::head_bytes(const HttpResponse& r, bool chunked) {
  if (!keep_alive_ || state_->draining) close_after_ = true;
  std::string h = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason_phrase(r.status)) + "\r\n";
  for (const auto& [k, v] : r.headers) {
    if (iequals(k, "Content-Length") || iequals(k, "Transfer-Encoding") || iequals(k, "Connection")) continue;
    h += clean(k) + ": " + clean(v) + "\r\n";
  }
  for (const auto& [k, v] : extra_fields_) {
    bool own = false;
    for (const auto& f : r.headers) own = own || iequals(f.first, k);
    if (!own) h += clean(k) + ": " + clean(v) + "\r\n";
  }
  if (chunked) {
    h += "Transfer-Encoding: chunked\r\n";
  } else if (!streaming_) {
    h += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  }
  if (close_after_) {
    h += "Connection: close\r\n";
  } else {
    if (version_ == 10) h += "Connection: keep-alive\r\n";
    // Half the real idle timeout: clients that honour the hint (undici, the
    // OpenAI SDK's fetch) stop reusing an idle connection well before the server
    // closes it, so a request never races the close.
    const auto hint = std::max<long long>(1, state_->options.keep_alive_timeout.count() / 2000);
    h += "Keep-Alive: timeout=" + std::to_string(hint) + "\r\n";
  }
  h += "\r\n";
  return h;
}

void Session::queue(std::string bytes) {
  if (bytes.empty()) return;
  queued_bytes_ += bytes.size();
  out_.push_back(std::move(bytes));
}

void Session::write() {
  if (write_pending_ || out_.empty() || phase_ == Phase::kClosed) return;
  writing_.clear();
  while (!out_.empty()) {
    writing_.push_back(std::move(out_.front()));
    out_.pop_front();
  }
  std::vector<net::const_buffer> buffers;
  buffers.reserve(writing_.size());
  for (const auto& s : writing_) buffers.emplace_back(s.data(), s.size());
  write_pending_ = true;
  write_start_ = Clock::now();
  arm();
  net::async_write(socket_, buffers, [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
    self->on_write(ec, n);
  });
}

void Session::on_write(boost::system::error_code ec, std::size_t n) {
  write_pending_ = false;
  queued_bytes_ -= std::min(queued_bytes_, n);
  writing_.clear();
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    cancel_exchange(Exchange::CancelReason::kClientGone);
    return close();
  }
  last_activity_ = Clock::now();
  if (!out_.empty()) return write();
  if (finishing_ && phase_ == Phase::kHandling) finish_exchange();
}

void Session::finish_exchange() {
  if (state_->observer) state_->observer(path_, status_);
  exchange_.reset();
  route_ = nullptr;
  response_started_ = streaming_ = finishing_ = false;
  probe_timer_.cancel();
  if (close_after_) return linger();
  if (state_->draining) return close();  // the answer is written: no next request
  phase_ = Phase::kIdle;
  phase_start_ = last_activity_ = Clock::now();
  process();
}

Clock::time_point Session::deadline() const {
  const HttpServerOptions& o = state_->options;
  Clock::time_point d = Clock::time_point::max();
  switch (phase_) {
    case Phase::kIdle: d = phase_start_ + o.keep_alive_timeout; break;
    case Phase::kHead: d = std::min(phase_start_ + o.header_timeout, last_activity_ + o.idle_timeout); break;
    case Phase::kBody: d = std::min(phase_start_ + o.body_timeout, last_activity_ + o.idle_timeout); break;
    case Phase::kHandling:
      if (o.request_timeout.count() > 0 && exchange_ && !exchange_->cancel_flag()->load())
        d = phase_start_ + o.request_timeout;
      break;
    case Phase::kLinger: d = phase_start_ + kLingerTime; break;
    case Phase::kClosed: return d;
  }
  if (write_pending_) d = std::min(d, write_start_ + o.idle_timeout);
  return d;
}

void Session::arm() {
  const Clock::time_point d = deadline();
  if (d == Clock::time_point::max() || d >= armed_at_) return;  // the pending wait comes first
  armed_at_ = d;
  timer_.expires_at(d);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec != net::error::operation_aborted) self->on_timer(ec);
  });
}

void Session::on_timer(boost::system::error_code) {
  armed_at_ = Clock::time_point::max();
  if (phase_ == Phase::kClosed) return;
  const HttpServerOptions& o = state_->options;
  const Clock::time_point now = Clock::now();
  if (now < deadline()) return arm();
  if (write_pending_ && now >= write_start_ + o.idle_timeout) {  // the client stopped reading
    cancel_exchange(Exchange::CancelReason::kSlowReader);
    return close();
  }
  const bool idle_gap = now >= last_activity_ + o.idle_timeout;
  auto why = [&](const char* what, const char* total_flag, std::chrono::milliseconds total) {
    return idle_gap ? std::string("no byte of the request ") + what + " arrived for " +
                          std::to_string(o.idle_timeout.count()) + " ms (--idle-timeout)"
                    : std::string("the request ") + what + " did not arrive within " +
                          std::to_string(total.count()) + " ms (" + total_flag + ")";
  };
  switch (phase_) {
    case Phase::kIdle:
    case Phase::kLinger: return close();
    case Phase::kHead: return refuse(408, why("head", "--header-timeout", o.header_timeout), "request_timeout");
    case Phase::kBody: return refuse(408, why("body", "--body-timeout", o.body_timeout), "request_timeout");
    case Phase::kHandling:
      cancel_exchange(Exchange::CancelReason::kDeadline);  // the handler answers (request_timeout)
      return arm();
    case Phase::kClosed: return;
  }
}

// The peer shut its sending side while its request runs: it may have half-closed
// (and still wait for the answer) or closed. Something it ignores is written — an
// interim 102 before the response, the route's probe chunk inside a stream — and
// a closed peer answers that with a reset, which poll_peer sees within 10 ms. The
// probe is repeated every 100 ms: a client that half-closed and closes later is
// noticed too.
void Session::peer_closed() {
  probe_peer();
  poll_peer();
}

void Session::probe_peer() {
  if (version_ != 11 || finishing_) return;
  if (!response_started_) {
    queue("HTTP/1.1 102 Processing\r\n\r\n");
  } else if (streaming_ && !probe_.empty()) {
    queue(hex(probe_.size()) + "\r\n" + probe_ + "\r\n");
  }
  write();
}

void Session::poll_peer() {
  if (phase_ != Phase::kHandling || !exchange_) return;
  if (peer_reset()) {
    cancel_exchange(Exchange::CancelReason::kClientGone);
    return close();
  }
  if (++polls_ % kProbeEvery == 0) probe_peer();
  probe_timer_.expires_after(kPeerPoll);
  probe_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->poll_peer();
  });
}

bool Session::peer_reset() const {
  const int fd = const_cast<tcp::socket&>(socket_).native_handle();
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return true;
  if (info.tcpi_state == TCP_CLOSE) return true;
  int err = 0;
  len = sizeof err;
  return ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0;
}

void Session::cancel_exchange(Exchange::CancelReason why) {
  if (exchange_) exchange_->cancel(why);
}

void Session::set_idle(bool idle) {
  if (idle == idle_) return;
  idle_ = idle;
  if (idle) {
    state_->mark_idle(shared_from_this());
  } else {
    state_->unmark_idle(*this);
  }
}

// After a response that closes the connection: shut the send side (the client
// sees the end of the response), discard what it still sends, then close.
void Session::linger() {
  phase_ = Phase::kLinger;
  phase_start_ = Clock::now();
  in_.clear();
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec || peer_eof_) return close();
  arm();
  read();
}

void Session::close() {
  if (phase_ == Phase::kClosed) return;
  cancel_exchange(Exchange::CancelReason::kClientGone);
  phase_ = Phase::kClosed;
  set_idle(false);
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  timer_.cancel();
  probe_timer_.cancel();
  out_.clear();
  in_.clear();
  exchange_.reset();
  if (registered_) {
    registered_ = false;
    state_->remove(registry_);
  }
}

}  // namespace kvc::server
