// Internal to the HTTP server (http_server.cc, http_session.cc): the state the
// listeners and connections share, and one connection (Session).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <array>
#include <condition_variable>
#include <deque>
#include <list>
#include <thread>

#include "server/http_server.h"

namespace kvc::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

class Session;

struct HttpServer::State {
  State(HttpServerOptions o, const Router& r, HeadCheck h, ErrorResponse e, ResponseObserver obs)
      : options(std::move(o)), router(r), head_check(std::move(h)), error_response(std::move(e)),
        observer(std::move(obs)) {}

  HttpServerOptions options;
  const Router& router;
  HeadCheck head_check;
  ErrorResponse error_response;
  ResponseObserver observer;

  // Connections, and the idle ones oldest first (for the connection limit).
  // Declared before ioc: sessions destroyed with it unregister here.
  std::mutex mu;
  std::condition_variable cv;  // signalled when a connection ends
  std::list<std::weak_ptr<Session>> sessions;
  std::list<std::weak_ptr<Session>> idle;

  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<std::thread> io_threads;
  std::unique_ptr<net::thread_pool> workers;
  std::atomic<bool> draining{false};
  bool stopped = false;


  std::list<std::weak_ptr<Session>>::iterator add(const std::shared_ptr<Session>& s);
  void remove(std::list<std::weak_ptr<Session>>::iterator it);
  void mark_idle(const std::shared_ptr<Session>& s);
  void unmark_idle(Session& s);
  std::size_t count();
  // Closes the oldest idle connection (taken off the idle list at once, so the
  // next call picks another); false when none is idle.
  bool close_oldest_idle();
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::State* state);
  ~Session();

  // Starts serving (on the strand). `refuse`: answer 503 (connection limit) and close.
  void start(bool refuse);
  // Closes the connection if it is between requests (posted by the server).
  void close_if_idle();
  // Draining: closes the connection unless a request is being handled.
  void close_unless_busy();
  // Closes the connection and cancels its exchange, whatever it is doing.
  void close_now();

 private:
  friend class SessionExchange;
  friend struct HttpServer::State;
  // kHandling: a request is being answered (or refused); kLinger: after a refusal,
  // the send side is shut and what the client still sends is discarded, so the
  // answer is not lost to a reset.
  enum class Phase { kIdle, kHead, kBody, kHandling, kLinger, kClosed };

  void read();
  void on_read(boost::system::error_code ec, std::size_t n);
  void process();
  void on_head();
  void dispatch();
  void refuse(int status, const std::string& message, const std::string& code);
  void refuse_with(HttpResponse response);

  // Response writing (strand only); `from` is the exchange that answers.
  void send_response(const void* from, HttpResponse r);
  void send_stream_head(const void* from, HttpResponse head);
  void send_chunk(const void* from, std::string chunk);
  void send_stream_end(const void* from);
  std::string head_bytes(const HttpResponse& r, bool chunked);
  void queue(std::string bytes);
  void write();
  void on_write(boost::system::error_code ec, std::size_t n);
  void finish_exchange();

  // Deadlines: one timer, armed at the earliest deadline of the current phase.
  Clock::time_point deadline() const;
  void arm();
  void on_timer(boost::system::error_code ec);
  // The peer half-closed during a request: probe, and poll for its reset.
  void peer_closed();
  void probe_peer();
  void poll_peer();
  bool peer_reset() const;

  void cancel_exchange(Exchange::CancelReason why);
  void set_idle(bool idle);
  void linger();
  void close();

  tcp::socket socket_;
  HttpServer::State* state_;  // outlives every session (they die with its io_context)
  net::steady_timer timer_;
  net::steady_timer probe_timer_;
  std::list<std::weak_ptr<Session>>::iterator registry_;
  bool registered_ = false;
  bool idle_ = false;  // strand: between requests
  // Guarded by State::mu: the entry in State::idle, when listed.
  std::list<std::weak_ptr<Session>>::iterator idle_it_;
  bool listed_idle_ = false;

  Phase phase_ = Phase::kIdle;
  std::array<char, 16384> chunk_{};
  std::string in_;  // bytes read and not yet parsed (the next pipelined requests)
  bool reading_ = false;
  bool peer_eof_ = false;
  std::size_t lingered_ = 0;
  unsigned polls_ = 0;
  std::unique_ptr<RequestParser> parser_;
  const Route* route_ = nullptr;
  std::string path_;
  HttpFields extra_fields_;  // HttpServerOptions::response_fields of the current request
  int version_ = 11;
  bool keep_alive_ = true;

  std::shared_ptr<class SessionExchange> exchange_;
  bool response_started_ = false;  // the head of the final response is queued
  bool streaming_ = false;
  bool finishing_ = false;  // the response is complete once the queue drains
  bool close_after_ = false;
  int status_ = 0;
  std::string probe_;

  std::deque<std::string> out_;
  std::vector<std::string> writing_;
  bool write_pending_ = false;
  std::size_t queued_bytes_ = 0;

  Clock::time_point phase_start_{};
  Clock::time_point last_activity_{};
  Clock::time_point write_start_{};
  Clock::time_point armed_at_ = Clock::time_point::max();
};

// The exchange of the request a session is handling. Holds the session weakly:
// a handler finishing after the connection closed writes nothing.
class SessionExchange final : public Exchange, public std::enable_shared_from_this<SessionExchange> {
 public:
  SessionExchange(const std::shared_ptr<Session>& s, net::any_io_executor strand)
      : session_(s), strand_(std::move(strand)), flag_(std::make_shared<std::atomic<bool>>(false)) {}

  void respond(HttpResponse r) override {
    run([r = std::move(r)](Session& s, const void* me) mutable { s.send_response(me, std::move(r)); });
  }
  void start_stream(HttpResponse head) override {
    run([h = std::move(head)](Session& s, const void* me) mutable { s.send_stream_head(me, std::move(h)); });
  }
  void write(std::string chunk) override {
    run([c = std::move(chunk)](Session& s, const void* me) mutable { s.send_chunk(me, std::move(c)); });
  }
  void end_stream() override {
    run([](Session& s, const void* me) { s.send_stream_end(me); });
  }
  void set_probe(std::string chunk) override {
    run([c = std::move(chunk)](Session& s, const void* me) mutable {
      if (s.exchange_.get() == me) s.probe_ = std::move(c);
    });
  }
  void post(std::function<void()> fn) override { net::post(strand_, std::move(fn)); }

  std::shared_ptr<const std::atomic<bool>> cancel_flag() const override { return flag_; }
  CancelReason cancel_reason() const override {
    std::lock_guard lock(mu_);
    return reason_;
  }
  void on_cancel(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      if (!flag_->load()) {
        callbacks_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }
  void cancel(CancelReason why) {
    std::vector<std::function<void()>> run_now;
    {
      std::lock_guard lock(mu_);
      if (flag_->load()) return;
      reason_ = why;
      flag_->store(true);
      run_now.swap(callbacks_);
    }
    for (auto& fn : run_now) fn();
  }

 private:
  template <class F>
  void run(F f) {
    net::dispatch(strand_, [w = session_, self = shared_from_this(), f = std::move(f)]() mutable {
      if (auto s = w.lock()) f(*s, static_cast<const void*>(self.get()));
    });
  }

  std::weak_ptr<Session> session_;
  net::any_io_executor strand_;
  std::shared_ptr<std::atomic<bool>> flag_;
  mutable std::mutex mu_;
  CancelReason reason_ = CancelReason::kNone;
  std::vector<std::function<void()>> callbacks_;
};

}  // namespace kvc::server
