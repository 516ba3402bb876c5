// Listeners, the connection registry (limit, idle order), I/O threads, the worker
// pool, draining.
#include "server/http_server.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>

#include "server/http_session.h"

namespace kvc::server {

std::list<std::weak_ptr<Session>>::iterator HttpServer::State::add(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(mu);
  return sessions.insert(sessions.end(), s);
}

void HttpServer::State::remove(std::list<std::weak_ptr<Session>>::iterator it) {
  std::lock_guard lock(mu);
  sessions.erase(it);
  cv.notify_all();
}

void HttpServer::State::mark_idle(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(mu);
  if (s->listed_idle_) return;
  s->idle_it_ = idle.insert(idle.end(), s);
  s->listed_idle_ = true;
}

void HttpServer::State::unmark_idle(Session& s) {
  std::lock_guard lock(mu);
  if (!s.listed_idle_) return;
  idle.erase(s.idle_it_);
  s.listed_idle_ = false;
}

std::size_t HttpServer::State::count() {
  std::lock_guard lock(mu);
  return sessions.size();
}

bool HttpServer::State::close_oldest_idle() {
  std::shared_ptr<Session> victim;
  {
    std::lock_guard lock(mu);
    while (!victim && !idle.empty()) {
      victim = idle.front().lock();
      idle.pop_front();
      if (victim) victim->listed_idle_ = false;
    }
  }
  if (!victim) return false;
  victim->close_if_idle();
  return true;
}

namespace {

void accept_next(HttpServer::State* state, tcp::acceptor* acceptor);

// accept() failed for want of descriptors (EMFILE): retry a little later rather
// than spin on the pending connection.
void accept_later(HttpServer::State* state, tcp::acceptor* acceptor) {
  auto timer = std::make_shared<net::steady_timer>(acceptor->get_executor(), std::chrono::milliseconds(50));
  timer->async_wait([state, acceptor, timer](boost::system::error_code ec) {
    if (!ec && acceptor->is_open()) accept_next(state, acceptor);
  });
}

void accept_next(HttpServer::State* state, tcp::acceptor* acceptor) {
  acceptor->async_accept(net::make_strand(state->ioc), [state, acceptor](boost::system::error_code ec,
                                                                         tcp::socket socket) {
    if (!acceptor->is_open() || ec == net::error::operation_aborted) return;
    if (ec) return accept_later(state, acceptor);
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    bool refuse = false;
    if (state->count() >= state->options.max_connections) refuse = !state->close_oldest_idle();
    std::make_shared<Session>(std::move(socket), state)->start(refuse);
    accept_next(state, acceptor);
  });
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options, const Router& router, HeadCheck head_check,
                       ErrorResponse error_response, ResponseObserver observer)
    : state_(std::make_shared<State>(std::move(options), router, std::move(head_check), std::move(error_response),
                                     std::move(observer))) {}

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start() {
  if (Status st = listen(); !st.ok()) return st;
  serve();
  return Status::Ok();
}

Status HttpServer::listen() {
  State& s = *state_;
  int port = s.options.port;
  for (const std::string& host : s.options.hosts) {
    boost::system::error_code ec;
    tcp::resolver resolver(s.ioc);
    const auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      return Status(Code::kInvalidArgument, "--host " + host + ": cannot resolve it: " + ec.message());
    }
    for (const auto& r : results) {
      tcp::endpoint ep = r.endpoint();
      ep.port(static_cast<unsigned short>(port));
      bool duplicate = false;
      for (const auto& a : s.acceptors) duplicate = duplicate || a->local_endpoint() == ep;
      if (duplicate) continue;
      auto acc = std::make_unique<tcp::acceptor>(net::make_strand(s.ioc));  // closed from other threads: a strand
      const std::string where = ep.address().to_string() + ":" + std::to_string(port);
      if (acc->open(ep.protocol(), ec) ||
          acc->set_option(tcp::acceptor::reuse_address(true), ec) ||
          (ep.address().is_v6() && acc->set_option(net::ip::v6_only(true), ec)) || acc->bind(ep, ec) ||
          acc->listen(net::socket_base::max_listen_connections, ec)) {
        return Status(Code::kUnavailable, "cannot listen on " + where + " (--host, --port): " + ec.message());
      }
      port = acc->local_endpoint().port();  // a port of 0 is chosen once, shared by every host
      s.acceptors.push_back(std::move(acc));
    }
  }
  return Status::Ok();
}

void HttpServer::serve() {
  State& s = *state_;
  s.workers = std::make_unique<net::thread_pool>(static_cast<std::size_t>(std::max(1, s.options.worker_threads)));
  s.work.emplace(s.ioc.get_executor());
  for (auto& acc : s.acceptors) accept_next(&s, acc.get());
  for (int i = 0; i < std::max(1, s.options.io_threads); ++i) s.io_threads.emplace_back([&s] { s.ioc.run(); });
}

std::vector<std::string> HttpServer::addresses() const {
  std::vector<std::string> out;
  for (const auto& a : state_->acceptors) {
    boost::system::error_code ec;
    const auto ep = a->local_endpoint(ec);
    if (ec) continue;
    const std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
    out.push_back(host + ":" + std::to_string(ep.port()));
  }
  return out;
}

int HttpServer::port() const {
  if (state_->acceptors.empty()) return 0;
  boost::system::error_code ec;
  return state_->acceptors.front()->local_endpoint(ec).port();
}

std::size_t HttpServer::open_connections() const { return state_->count(); }

namespace {

template <class Fn>
void each_session(HttpServer::State& s, Fn fn) {
  std::vector<std::shared_ptr<Session>> all;
  {
    std::lock_guard lock(s.mu);
    for (const auto& w : s.sessions) {
      if (auto p = w.lock()) all.push_back(std::move(p));
    }
  }
  for (auto& p : all) fn(*p);
}

}  // namespace

void HttpServer::stop_accepting() {
  State& s = *state_;
  if (s.draining.exchange(true)) return;
  for (auto& a : s.acceptors) {
    net::post(a->get_executor(), [acc = a.get()] {
      boost::system::error_code ec;
      acc->close(ec);
    });
  }
  each_session(s, [](Session& x) { x.close_unless_busy(); });
}

void HttpServer::drain(std::chrono::milliseconds deadline) {
  State& s = *state_;
  stop_accepting();
  auto each = [&s](auto fn) { each_session(s, fn); };
  std::unique_lock lock(s.mu);
  s.cv.wait_for(lock, deadline, [&] { return s.sessions.empty(); });
  lock.unlock();
  each([](Session& x) { x.close_now(); });
  lock.lock();
  s.cv.wait_for(lock, std::chrono::seconds(1), [&] { return s.sessions.empty(); });
}

void HttpServer::stop() {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  if (s.workers) s.workers->join();  // handlers still running finish (the engine is shut down first)
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.io_threads) t.join();
  s.io_threads.clear();
}

}  // namespace kvc::server
