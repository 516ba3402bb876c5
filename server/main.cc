// kvc-server: an OpenAI-compatible llama.cpp server whose prompts stay warm
// (docs/api-server.md). SIGTERM/SIGINT stop accepting, cancel or finish in-flight
// requests, run the engine's shutdown saves within the deadline, and exit 0.
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
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
  httplib::Server svr;
  kvc::server::install_middleware(svr, app);
  kvc::server::add_info_routes(svr, app);
  kvc::server::add_completion_routes(svr, app);
  kvc::server::add_admin_routes(svr, app);
  if (!svr.bind_to_port(cfg.host, cfg.port)) {
    log_line("error: cannot listen on " + cfg.host + ":" + std::to_string(cfg.port) + " (--host, --port)");
    return 1;
  }

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
      app.queue.close();
      svr.stop();
      eng.shutdown();
      return;
    }
  });
  log_line("model " + app.model_name + ", " + std::to_string(cfg.parallel) + " sequences of " +
           std::to_string(eng.n_ctx_per_sequence()) + " tokens");
  log_line("listening on http://" + cfg.host + ":" + std::to_string(cfg.port));
  const bool ok = svr.listen_after_bind();
  done = true;
  signals.join();
  app.queue.close();
  eng.shutdown();
  log_line("stopped");
  return ok ? 0 : 1;
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
