// kvc-server: an OpenAI-compatible llama.cpp server whose prompts stay warm
// (docs/api-server.md). SIGTERM/SIGINT stop accepting, cancel or finish in-flight
// requests, run the engine's shutdown saves within the deadline, and exit 0.
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <ctime>
#include <thread>
#include <utility>

#include "kvc/engine.h"
#include "server/app.h"
#include "server/config.h"
#include "server/demo_model.h"
#include "server/save_error_log.h"

namespace {

using kvc::server::ServerConfig;

void log_line(const std::string& s) {
  char ts[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
  std::fprintf(stderr, "%s kvc-server: %s\n", ts, s.c_str());
}

// Raises the soft RLIMIT_NOFILE to what `connections` need (its hard limit at
// most); returns the connections that fit, logging when that is fewer.
std::size_t fit_descriptors(std::size_t connections) {
  constexpr std::size_t kSpare = 256;  // model, rows, cache directories, pipes
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return connections;
  const rlim_t want = static_cast<rlim_t>(connections + kSpare);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    const std::size_t fit = rl.rlim_cur > kSpare * 2 ? static_cast<std::size_t>(rl.rlim_cur) - kSpare : 64;
    log_line("warning: the descriptor limit (ulimit -n " + std::to_string(rl.rlim_cur) + ") allows " +
             std::to_string(fit) + " connections, not --max-connections " + std::to_string(connections) +
             "; raise ulimit -n");
    return fit;
  }
  return connections;
}

int run(ServerConfig cfg) {
  if (cfg.model.empty()) {
    auto m = kvc::server::ensure_demo_model();
    if (!m.ok()) {
      log_line("error: " + m.status().message());
      return 1;
    }
    cfg.model = m.value();
  }
  log_line("loading " + cfg.model);
  if (cfg.verbose) ::setenv("KVC_LLAMA_LOG", "1", 1);  // --verbose: llama.cpp's own log lines too
  // Declared before the engine: its writer threads report into it until they stop.
  kvc::server::SaveErrorLog save_errors(log_line);
  kvc::EngineOptions options = kvc::server::engine_options(cfg);
  options.cache.on_save_error = [&save_errors](const kvc::Key& key, const kvc::Status& error) {
    save_errors.report(key, error);
  };
  auto engine = kvc::Engine::open(std::move(options));
  if (!engine.ok()) {
    log_line("error: " + engine.status().to_string());
    return 1;
  }
  kvc::Engine& eng = *engine.value();
  for (const auto& t : eng.cache().tier_stats()) {
    log_line("tier " + t.name + ": dir " + (t.location.empty() ? "-" : t.location) + ", rows " +
             std::to_string(t.rows) + ", bytes " + std::to_string(t.used_bytes) + ", quota " +
             std::to_string(t.quota_bytes));
  }
  kvc::server::App app(cfg, eng);
  kvc::server::Router router;
  kvc::server::add_info_routes(router, app);
  kvc::server::add_completion_routes(router, app);
  kvc::server::add_admin_routes(router, app);
  kvc::server::add_llama_routes(router, app);
  kvc::server::HttpServerOptions http = kvc::server::http_options(cfg);
  http.max_connections = fit_descriptors(http.max_connections);
  kvc::server::HttpServer server(
      http, router,
      [&app](const kvc::server::HttpRequest& head, const kvc::server::Router::Match& match) {
        return kvc::server::check_head(app, head, match);
      },
      kvc::server::http_error,
      [&app, &router](const std::string& path, int status) {
        app.metrics.count_request(kvc::server::endpoint_label(router, path), status);
      });
  if (kvc::Status st = server.listen(); !st.ok()) {
    log_line("error: " + st.message());
    return 1;
  }

  // The signal thread only wakes this one, which stops everything in order.
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::atomic<bool> done{false};
  std::thread signals([&] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    const timespec tick{0, 200'000'000};
    while (!done.load()) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig != SIGINT && sig != SIGTERM) continue;
      log_line(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
               ": stopping (in-flight requests are finished or cancelled, then shutdown saves)");
      std::lock_guard lock(mu);
      stop = true;
      cv.notify_all();
      return;
    }
  });
  log_line("model " + app.model_name + ", " + std::to_string(cfg.parallel) + " sequences of " +
           std::to_string(eng.n_ctx_per_sequence()) + " tokens");
  for (const std::string& a : server.addresses()) log_line("listening on http://" + a);
  server.serve();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return stop; });
  }
  // Queued requests get 503, listeners and idle connections close; running
  // requests end as cancelled when the engine shuts down (after its shutdown
  // saves), their responses are written, then the rest is closed.
  app.queue.close();
  server.stop_accepting();
  eng.shutdown();
  server.drain(std::chrono::seconds(2));
  server.stop();
  done = true;
  signals.join();
  log_line("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken by a dedicated thread (sigtimedwait): block them everywhere.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  kvc::server::ConfigOutcome c = kvc::server::parse_config(argc, argv);
  if (!c.run) {
    if (c.exit_code == 0) {
      std::fputs(c.message.c_str(), stdout);
    } else {
      std::fprintf(stderr, "kvc-server: %s\n", c.message.c_str());
    }
    return c.exit_code;
  }
  return run(std::move(c.config));
}
