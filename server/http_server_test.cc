// The HTTP server on loopback, driven with raw sockets: pipelining, half-close,
// refusals that close the connection unread, deadlines, the connection limit and
// cancellation of an exchange whose client went away.
#include "server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <thread>

namespace kvc::server {
namespace {

using namespace std::chrono_literals;

// A blocking loopback client.
class Client {
 public:
  explicit Client(int port, const char* host = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, host, &a.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  void send(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }
  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }
  // Reads until the peer closes, `until` appears, or `wait` passes with no byte.
  std::string read(std::chrono::milliseconds wait = 3000ms, const std::string& until = "") {
    std::string out;
    char buf[65536];
    for (;;) {
      if (!until.empty() && out.find(until) != std::string::npos) return out;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return out;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        return out;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerOptions o = {}) {
    o.hosts = hosts_;
    o.port = 0;
    router_.add("GET", {"/echo"}, [](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
      ex->respond(HttpResponse::text(200, "echo " + req.param("i").value_or(""), "text/plain"));
    });
    router_.add("POST", {"/echo"}, [](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
      ex->respond(HttpResponse::text(200, "body " + req.body, "text/plain"));
    }, {.run_on = RunOn::kWorker});
    router_.add("GET", {"/slow"}, [](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
      std::this_thread::sleep_for(300ms);
      ex->respond(HttpResponse::text(200, "slow done", "text/plain"));
    }, {.run_on = RunOn::kWorker});
    router_.add("POST", {"/private"}, [this](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
      ++private_runs_;
      ex->respond(HttpResponse::text(200, "private", "text/plain"));
    });
    router_.add("GET", {"/secret"}, [this](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
      ++secret_runs_;
      ex->respond(HttpResponse::text(200, "secret", "text/plain"));
    });
    // Waits for its cancellation (at most 10 s) and records why.
    router_.add("GET", {"/wait"}, [this](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
      const auto flag = ex->cancel_flag();
      const auto until = std::chrono::steady_clock::now() + 10s;
      while (!flag->load() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
      {
        std::lock_guard lock(mu_);
        reason_ = ex->cancel_reason();
        waited_ = true;
      }
      cv_.notify_all();
      ex->respond(HttpResponse::text(503, "cancelled", "text/plain"));
    }, {.run_on = RunOn::kWorker});
    // A stream of 64 KiB chunks until cancelled.
    router_.add("GET", {"/flood"}, [this](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
      ex->start_stream(HttpResponse::text(200, "", "text/plain"));
      const auto flag = ex->cancel_flag();
      for (int i = 0; i < 100'000 && !flag->load(); ++i) {
        ex->write(std::string(65536, 'z'));
        std::this_thread::sleep_for(100us);
      }
      {
        std::lock_guard lock(mu_);
        reason_ = ex->cancel_reason();
        waited_ = true;
      }
      cv_.notify_all();
      ex->end_stream();
    }, {.run_on = RunOn::kWorker});
    server_ = std::make_unique<HttpServer>(
        o, router_,
        [](const HttpRequest& head, const Router::Match&) -> std::optional<HttpResponse> {
          if (head.path == "/private" && head.header("Authorization") != "Bearer k") {
            return HttpResponse::text(401, "no key", "text/plain");
          }
          return std::nullopt;
        },
        [](int status, const std::string& message, const std::string& code) {
          return HttpResponse::text(status, code + ": " + message, "text/plain");
        },
        nullptr);
    ASSERT_TRUE(server_->start().ok());
    port_ = server_->port();
  }
  void TearDown() override {
    if (server_) {
      server_->drain(1s);
      server_->stop();
    }
  }
  // Waits until the /wait or /flood handler saw its cancellation; its reason.
  std::optional<Exchange::CancelReason> cancelled_within(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, d, [&] { return waited_; })) return std::nullopt;
    return reason_;
  }

  std::vector<std::string> hosts_ = {"127.0.0.1"};
  Router router_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::atomic<int> private_runs_{0}, secret_runs_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool waited_ = false;
  Exchange::CancelReason reason_ = Exchange::CancelReason::kNone;
};

TEST_F(HttpServerTest, PipelinedRequestsGetOneResponseEachInOrder) {
  start();
  Client c(port_);
  std::string batch;
  for (int i = 0; i < 10; ++i) batch += "GET /echo?i=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 3; ++i) batch += "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\np" + std::to_string(i);
  c.send(batch);
  const std::string out = c.read(3000ms, "body p2");
  EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 13u) << out;
  std::size_t at = 0;
  for (int i = 0; i < 10; ++i) {
    const std::size_t p = out.find("echo " + std::to_string(i), at);
    ASSERT_NE(p, std::string::npos) << i;
    at = p;
  }
  EXPECT_NE(out.find("body p0", at), std::string::npos);
}

TEST_F(HttpServerTest, HalfClosedClientIsAnswered) {
  start();
  Client c(port_);
  c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  c.shutdown_write();
  const std::string out = c.read(5000ms);
  EXPECT_NE(out.find("slow done"), std::string::npos) << out;
  EXPECT_TRUE(c.closed());
  // Pipelined then half-closed: every request is answered, then the connection closes.
  Client d(port_);
  d.send("GET /echo?i=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?i=2 HTTP/1.1\r\nHost: x\r\n\r\n");
  d.shutdown_write();
  const std::string two = d.read(3000ms);
  EXPECT_NE(two.find("echo 1"), std::string::npos) << two;
  EXPECT_NE(two.find("echo 2"), std::string::npos) << two;
}

TEST_F(HttpServerTest, ARefusedRequestsBodyIsNeverParsed) {
  HttpServerOptions o;
  o.limits.max_body_bytes = 65536;
  start(o);
  const std::string smuggled = "GET /secret HTTP/1.1\r\nHost: x\r\n\r\n";
  Client c(port_);
  c.send("POST /private HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n\r\n" +
         smuggled);
  std::string out = c.read(3000ms);
  EXPECT_NE(out.find("HTTP/1.1 401"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(secret_runs_.load(), 0);
  // Over the body limit, chunked with Connection: close: 413, closed, nothing run.
  Client d(port_);
  std::string body;
  for (int i = 0; i < 40; ++i) body += "1000\r\n" + std::string(4096, 'a') + "\r\n";
  d.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body +
         "0\r\n\r\n" + smuggled);
  out = d.read(3000ms);
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos) << out.substr(0, 200);
  EXPECT_EQ(count(out, "HTTP/1.1 "), 1u);
  EXPECT_EQ(secret_runs_.load(), 0);
  EXPECT_EQ(private_runs_.load(), 0);
}

TEST_F(HttpServerTest, SmugglingAttemptsAre400AndClose) {
  start();
  const std::string tail = "GET /secret HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<std::string> attempts = {
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
      "GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
      "GET /echo HTTP/1.1\nHost: x\n\n",
  };
  for (const auto& a : attempts) {
    Client c(port_);
    c.send(a + tail);
    const std::string out = c.read(3000ms);
    EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << a << " → " << out;
    EXPECT_EQ(count(out, "HTTP/1.1 "), 1u) << out;
    EXPECT_TRUE(c.closed()) << a;
  }
  EXPECT_EQ(secret_runs_.load(), 0);
}

TEST_F(HttpServerTest, ExpectContinueOnlyAfterTheChecks) {
  start();
  Client c(port_);
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n");
  std::string out = c.read(3000ms);
  EXPECT_EQ(out.find("100 Continue"), std::string::npos) << out;
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos) << out;
  Client d(port_);
  d.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  out = d.read(3000ms, "\r\n\r\n");
  EXPECT_EQ(out, "HTTP/1.1 100 Continue\r\n\r\n");
  d.send("abc");
  out = d.read(3000ms, "body abc");
  EXPECT_NE(out.find("body abc"), std::string::npos) << out;
}

TEST_F(HttpServerTest, HeadDeadlineAndKeepAlive) {
  HttpServerOptions o;
  o.header_timeout = 300ms;
  o.idle_timeout = 10s;
  o.keep_alive_timeout = 300ms;
  start(o);
  Client slow(port_);
  slow.send("GET /echo HTTP/1.1\r\n");
  for (int i = 0; i < 10; ++i) {  // a header line every 50 ms: never idle, never done
    slow.send("X-" + std::to_string(i) + ": v\r\n");
    std::this_thread::sleep_for(50ms);
  }
  const std::string out = slow.read(3000ms);
  EXPECT_NE(out.find("HTTP/1.1 408"), std::string::npos) << out;
  EXPECT_NE(out.find("--header-timeout"), std::string::npos) << out;
  EXPECT_TRUE(slow.closed());
  Client idle(port_);
  idle.send("GET /echo?i=7 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(idle.read(3000ms, "echo 7").find("echo 7"), std::string::npos);
  idle.read(3000ms);  // then nothing: closed after the keep-alive timeout
  EXPECT_TRUE(idle.closed());
}

TEST_F(HttpServerTest, TheOldestIdleConnectionMakesRoom) {
  HttpServerOptions o;
  o.max_connections = 3;
  start(o);
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<Client>(port_));
    idle.back()->send("GET /echo?i=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_NE(idle.back()->read(3000ms, "echo " + std::to_string(i)).find("echo"), std::string::npos);
  }
  Client fresh(port_);
  fresh.send("GET /echo?i=9 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(fresh.read(3000ms, "echo 9").find("echo 9"), std::string::npos);
  idle[0]->read(3000ms);
  EXPECT_TRUE(idle[0]->closed()) << "the oldest idle connection was closed";
  // All busy (heads in progress): a newcomer gets 503.
  std::vector<std::unique_ptr<Client>> busy;
  for (int i = 0; i < 3; ++i) {
    busy.push_back(std::make_unique<Client>(port_));
    busy.back()->send("GET /echo HTTP/1.1\r\n");
  }
  std::this_thread::sleep_for(200ms);
  Client late(port_);
  const std::string out = late.read(3000ms);
  EXPECT_NE(out.find("HTTP/1.1 503"), std::string::npos) << out;
  EXPECT_NE(out.find("--max-connections"), std::string::npos) << out;
}

TEST_F(HttpServerTest, AClientThatLeavesCancelsItsExchangeAtOnce) {
  start();
  {
    Client c(port_);
    c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    std::this_thread::sleep_for(50ms);
  }  // closed with nothing written yet
  const auto why = cancelled_within(5s);
  ASSERT_TRUE(why.has_value()) << "not cancelled";
  EXPECT_EQ(*why, Exchange::CancelReason::kClientGone);
}

TEST_F(HttpServerTest, AClientThatLeavesAfterAHalfCloseIsNoticed) {
  start();
  {
    Client c(port_);
    c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    c.shutdown_write();
    c.read(300ms, "102 Processing");  // the server's probe of a half-closed client
  }  // then gone for good
  const auto why = cancelled_within(5s);
  ASSERT_TRUE(why.has_value()) << "not cancelled";
  EXPECT_EQ(*why, Exchange::CancelReason::kClientGone);
}

TEST_F(HttpServerTest, RequestTimeoutCancels) {
  HttpServerOptions o;
  o.request_timeout = 200ms;
  start(o);
  Client c(port_);
  c.send("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto why = cancelled_within(5s);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, Exchange::CancelReason::kDeadline);
  EXPECT_NE(c.read(3000ms, "cancelled").find("HTTP/1.1 503"), std::string::npos);
}

TEST_F(HttpServerTest, ASlowReaderIsCutOff) {
  HttpServerOptions o;
  o.max_stream_buffer = 1u << 20;
  o.idle_timeout = 500ms;
  start(o);
  Client c(port_);
  c.send("GET /flood HTTP/1.1\r\nHost: x\r\n\r\n");  // and never read
  const auto why = cancelled_within(10s);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, Exchange::CancelReason::kSlowReader);
}

TEST_F(HttpServerTest, SeveralListenAddresses) {
  hosts_ = {"127.0.0.1", "127.0.0.2"};
  start();
  EXPECT_EQ(server_->addresses().size(), 2u);
  for (const char* h : {"127.0.0.1", "127.0.0.2"}) {
    Client c(port_, h);
    ASSERT_TRUE(c.connected()) << h;
    c.send("GET /echo?i=3 HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_NE(c.read(3000ms, "echo 3").find("echo 3"), std::string::npos) << h;
  }
}

TEST_F(HttpServerTest, UnknownPathsAndMethods) {
  start();
  Client c(port_);
  c.send("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.read().find("HTTP/1.1 404"), std::string::npos);
  Client d(port_);
  d.send("DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string out = d.read();
  EXPECT_NE(out.find("HTTP/1.1 405"), std::string::npos) << out;
  EXPECT_NE(out.find("Allow: GET, POST"), std::string::npos) << out;
}

}  // namespace
}  // namespace kvc::server
