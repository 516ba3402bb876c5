// One connection: reads requests (head, admission, body), dispatches them, writes
// the responses in order, and watches the peer while a request runs.
#include "server/http_session.h"

#include <boost/asio/write.hpp>

namespace kvc::server {
namespace {

constexpr std::size_t kReadAhead = 16384;            // pipelined bytes buffered beyond a head limit
constexpr std::size_t kLingerBytes = 16u << 20;  // discarded after a refusal, at most

std::string code_for(int status) {
  switch (status) {
    case 408: return "request_timeout";
    case 413: return "body_too_large";
    case 417: return "expectation_failed";
    case 431: return "header_too_large";
    case 501: return "not_implemented";
    case 505: return "http_version_not_supported";
    default: return "bad_request";
  }
}

}  // namespace

Session::Session(tcp::socket socket, HttpServer::State* state)
    : socket_(std::move(socket)), state_(state), timer_(socket_.get_executor()), probe_timer_(socket_.get_executor()) {}

Session::~Session() {
  state_->unmark_idle(*this);
  if (registered_) state_->remove(registry_);
}

void Session::start(bool refuse) {
  net::dispatch(socket_.get_executor(), [self = shared_from_this(), refuse] {
    self->registry_ = self->state_->add(self);
    self->registered_ = true;
    self->phase_start_ = self->last_activity_ = Clock::now();
    if (refuse) {
      self->refuse(503, "too many open connections (--max-connections " +
                            std::to_string(self->state_->options.max_connections) + "); retry later",
                   "too_many_connections");
      return;
    }
    self->process();
  });
}

void Session::close_if_idle() {
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == Phase::kIdle && self->in_.empty()) self->close();
  });
}

void Session::close_unless_busy() {
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == Phase::kIdle || self->phase_ == Phase::kHead || self->phase_ == Phase::kBody) self->close();
  });
}

void Session::close_now() {
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    self->cancel_exchange(Exchange::CancelReason::kShutdown);
    self->close();
  });
}

void Session::read() {
  if (reading_ || phase_ == Phase::kClosed || peer_eof_) return;
  if (phase_ == Phase::kHandling && in_.size() > state_->options.limits.max_header_bytes + kReadAhead) return;
  reading_ = true;
  socket_.async_read_some(net::buffer(chunk_), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
    self->on_read(ec, n);
  });
}

void Session::on_read(boost::system::error_code ec, std::size_t n) {
  reading_ = false;
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kLinger) {
    lingered_ += n;
    if (ec) return close();
    // Past the discard limit the client is left to stall (not reset: a reset can
    // destroy the answer before it reads it) until the linger time is over.
    if (lingered_ <= kLingerBytes) read();
    return;
  }
  if (ec) {
    peer_eof_ = true;
    if (phase_ == Phase::kHandling && ec == net::error::eof) return peer_closed();
    cancel_exchange(Exchange::CancelReason::kClientGone);
    return close();
  }
  last_activity_ = Clock::now();
  in_.append(chunk_.data(), n);
  if (phase_ == Phase::kHandling) return read();  // the next pipelined request waits for this response
  process();
}

void Session::process() {
  for (;;) {
    switch (phase_) {
      case Phase::kIdle:
        if (in_.empty()) {
          if (peer_eof_) return close();
          set_idle(true);
          arm();
          return read();
        }
        set_idle(false);
        phase_ = Phase::kHead;
        phase_start_ = Clock::now();
        path_.clear();
        parser_ = std::make_unique<RequestParser>(state_->options.limits);
        extra_fields_.clear();
        continue;
      case Phase::kHead: {
        std::size_t used = 0;
        const auto step = parser_->parse_head(in_, used);
        if (step == RequestParser::Step::kNeedMore) {
          if (peer_eof_) return close();
          arm();
          return read();
        }
        if (step == RequestParser::Step::kError) {
          return refuse(parser_->error().status, parser_->error().message, code_for(parser_->error().status));
        }
        in_.erase(0, used);
        return on_head();
      }
      case Phase::kBody: {
        std::size_t used = 0;
        const auto step = parser_->parse_body(in_, used);
        in_.erase(0, used);
        if (step == RequestParser::Step::kError) {
          return refuse(parser_->error().status, parser_->error().message, code_for(parser_->error().status));
        }
        if (step == RequestParser::Step::kBody) return dispatch();
        if (in_.size() >= kReadAhead) return refuse(400, "a chunk header or trailer of the body is too long", "bad_request");
        if (peer_eof_) return close();
        arm();
        return read();
      }
      default: return;
    }
  }
}

void Session::on_head() {
  const HttpRequest& req = parser_->request();
  path_ = req.path;
  version_ = req.version;
  keep_alive_ = parser_->keep_alive();
  if (state_->options.response_fields) extra_fields_ = state_->options.response_fields(req);
  if (state_->draining) return refuse(503, "the server is shutting down", "shutting_down");
  const Router::Match match = state_->router.match(req.method, req.path);
  if (state_->head_check) {
    if (auto refusal = state_->head_check(req, match)) return refuse_with(std::move(*refusal));
  }
  if (match.route == nullptr) {
    if (!match.path_known) return refuse(404, "no endpoint " + req.method + " " + req.path, "not_found");
    HttpResponse r = state_->error_response(405, "method " + req.method + " is not allowed on " + req.path +
                                                     " (allowed: " + match.allow + ")", "method_not_allowed");
    r.set("Allow", match.allow);
    return refuse_with(std::move(r));
  }
  route_ = match.route;
  if (!parser_->has_body()) return dispatch();
  const std::uint64_t limit = state_->options.limits.max_body_bytes;
  if (parser_->content_length() && *parser_->content_length() > limit) {
    return refuse(413, "the request body (" + std::to_string(*parser_->content_length()) +
                           " bytes) exceeds the limit of " + std::to_string(limit) + " bytes (--max-body-bytes)",
                  "body_too_large");
  }
  phase_ = Phase::kBody;
  phase_start_ = Clock::now();
  if (parser_->expects_continue() && version_ == 11) {
    queue("HTTP/1.1 100 Continue\r\n\r\n");
    write();
  }
  process();
}

void Session::dispatch() {
  phase_ = Phase::kHandling;
  phase_start_ = Clock::now();
  response_started_ = streaming_ = finishing_ = false;
  status_ = 0;
  probe_.clear();
  exchange_ = std::make_shared<SessionExchange>(shared_from_this(), socket_.get_executor());
  auto request = std::make_shared<HttpRequest>(std::move(parser_->request()));
  parser_.reset();
  arm();
  const Route* route = route_;
  std::shared_ptr<Exchange> ex = exchange_;
  auto call = [route, request, ex, errors = &state_->error_response] {
    try {
      route->handler(*request, ex);
    } catch (const std::exception& e) {
      ex->respond((*errors)(500, std::string("internal error: ") + e.what(), "internal_error"));
    }
  };
  if (route->options.run_on == RunOn::kIoThread) {
    call();
  } else {
    net::post(*state_->workers, std::move(call));
  }
  if (phase_ != Phase::kHandling) return;
  if (peer_eof_) return peer_closed();  // a pipelined request of a client that half-closed
  read();
}

void Session::refuse(int status, const std::string& message, const std::string& code) {
  refuse_with(state_->error_response(status, message, code));
}

void Session::refuse_with(HttpResponse response) {
  set_idle(false);
  cancel_exchange(Exchange::CancelReason::kClientGone);
  exchange_.reset();
  parser_.reset();
  phase_ = Phase::kHandling;
  phase_start_ = Clock::now();
  keep_alive_ = false;
  close_after_ = true;
  streaming_ = false;
  response_started_ = finishing_ = true;
  status_ = response.status;
  queue(head_bytes(response, false));
  queue(std::move(response.body));
  write();
}

}  // namespace kvc::server
