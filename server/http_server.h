// kvc-server's HTTP/1.1 server: event-driven (Boost.Asio/Beast), a few I/O
// threads serve every connection; handlers that may block run on a worker pool.
//
// Per connection: requests are read one after another (keep-alive, pipelining:
// one response per request, in order). A request head must arrive within
// header_timeout, its body within body_timeout, with no gap longer than
// idle_timeout; the head is bounded by HttpLimits (431), routed (404/405) and
// checked (HeadCheck: the API key, the media type) before any body byte is read;
// a refused request is answered and its connection closed, its body never parsed.
// At most max_connections are open: the oldest idle keep-alive connection is
// closed to make room, and when none is idle the newcomer gets 503.
//
// Cancellation: while a request is handled the connection keeps reading. When the
// client closes it (or half-closes it and turns out to be gone, or a write fails,
// or request_timeout passes, or it reads too slowly) the exchange is cancelled:
// its flag is set and its on_cancel callbacks run, within milliseconds, whether or
// not anything is being written.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kvc/status.h"
#include "server/http_message.h"
#include "server/http_request_parser.h"
#include "server/http_router.h"

namespace kvc::server {

struct HttpServerOptions {
  std::vector<std::string> hosts = {"127.0.0.1"};  // addresses or names; one listener each
  int port = 8080;                                  // 0: any free port (tests)
  HttpLimits limits;
  std::chrono::milliseconds header_timeout{10'000};     // first byte of a request → end of its head
  std::chrono::milliseconds body_timeout{60'000};       // end of the head → end of the body
  std::chrono::milliseconds idle_timeout{5'000};        // longest gap while reading a request or writing
  std::chrono::milliseconds keep_alive_timeout{5'000};  // idle connection between requests
  std::chrono::milliseconds request_timeout{0};         // dispatch → response end; 0: none
  std::size_t max_connections = 4096;
  int io_threads = 1;
  int worker_threads = 4;                      // the pool of RunOn::kWorker handlers
  std::size_t max_stream_buffer = 8u << 20;    // bytes queued for a slow reader before it is cut off
  // Header fields the response to a request carries besides its own (e.g. CORS'
  // Access-Control-*, which depend on the request's Origin), unless the response
  // sets a field of the same name itself. Called once per request head.
  std::function<HttpFields(const HttpRequest& head)> response_fields;
};

// The response side of one request. Every method may be called from any thread;
// they are serialised on the connection's I/O strand. Once the connection is gone
// they do nothing.
class Exchange {
 public:
  enum class CancelReason { kNone, kClientGone, kDeadline, kSlowReader, kShutdown };

  virtual ~Exchange() = default;
  // The whole response (once).
  virtual void respond(HttpResponse response) = 0;
  // A streamed response: the head (Transfer-Encoding: chunked), chunks, the end.
  virtual void start_stream(HttpResponse head) = 0;
  virtual void write(std::string chunk) = 0;
  virtual void end_stream() = 0;
  // A chunk the client ignores (an SSE comment), written when the peer half-closes
  // during a stream to learn whether it is still there.
  virtual void set_probe(std::string chunk) = 0;
  // Runs `fn` on the connection's strand.
  virtual void post(std::function<void()> fn) = 0;

  // Set once the exchange is cancelled (never reset); shareable with the engine.
  virtual std::shared_ptr<const std::atomic<bool>> cancel_flag() const = 0;
  virtual CancelReason cancel_reason() const = 0;
  // `fn` runs once when the exchange is cancelled (at once if it already is), on
  // an I/O thread: keep it short.
  virtual void on_cancel(std::function<void()> fn) = 0;
};

// Called with every request head after routing, before its body is read; a
// response refuses the request (the connection is then closed).
using HeadCheck = std::function<std::optional<HttpResponse>(const HttpRequest& head, const Router::Match& match)>;
// The error responses the server sends itself (malformed requests, limits,
// timeouts, 404/405): `code` is a short machine-readable name ("header_too_large").
using ErrorResponse = std::function<HttpResponse(int status, const std::string& message, const std::string& code)>;
// Called after each response is written (or failed): the request's path ("" when
// the head was unreadable) and the status.
using ResponseObserver = std::function<void(const std::string& path, int status)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, const Router& router, HeadCheck head_check, ErrorResponse error_response,
             ResponseObserver observer);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every host (error names the address and the flag); nothing is
  // accepted yet.
  Status listen();
  // Starts accepting and serving on the I/O threads.
  void serve();
  // listen(), then serve().
  Status start();
  // "127.0.0.1:8080" per listener, after start().
  std::vector<std::string> addresses() const;
  int port() const;  // the bound port of the first listener

  // Draining: listeners close, connections without a request in flight close,
  // later responses close their connections, requests still arriving get 503.
  void stop_accepting();
  // stop_accepting(), then waits up to `deadline` for the requests in flight to
  // be answered, and closes what is left (their exchanges are cancelled).
  void drain(std::chrono::milliseconds deadline);
  // Stops the I/O threads and the worker pool (joins them).
  void stop();

  std::size_t open_connections() const;

  struct State;  // shared with the connections (http_session.h)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace kvc::server
