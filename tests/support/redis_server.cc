#include "support/redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace kvc::testing {
namespace {

using namespace std::chrono_literals;

bool in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':'))
    if (!d.empty() && ::access((d + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

bool port_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

// A free loopback port whose cluster bus port (+10000) is free too.
int free_port() {
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    const int port = ntohs(a.sin_port);
    if (port > 1024 && port + 10000 < 65536 && port_free(port + 10000)) return port;
  }
  return 0;
}

std::string tail_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

// fork + exec with the child killed when this thread dies; stdout/stderr to `out_fd` (or /dev/null).
pid_t spawn_child(const std::vector<std::string>& argv, int out_fd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls until exec.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  const int devnull = ::open("/dev/null", O_RDWR);
  ::dup2(devnull, 0);
  ::dup2(out_fd >= 0 ? out_fd : devnull, 1);
  ::dup2(out_fd >= 0 ? out_fd : devnull, 2);
  ::execvp(args[0], args.data());
  ::_exit(127);
}

}  // namespace

void ReplyFree::operator()(redisReply* r) const { freeReplyObject(r); }

int run_program(const std::vector<std::string>& argv, std::string* output) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  const pid_t pid = spawn_child(argv, fds[1]);
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    return -1;
  }
  char buf[4096];
  ssize_t n;
  output->clear();
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) output->append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

RedisServer::RedisServer(RedisServerOptions opts, int port) : opts_(std::move(opts)), dir_("kvc-redis"), port_(port) {}

RedisServer::~RedisServer() { stop(); }

std::unique_ptr<RedisServer> RedisServer::start(const RedisServerOptions& opts, std::string* error) {
  if (!in_path("redis-server") || !in_path("redis-cli")) {
    *error = "redis-server or redis-cli is not installed (not in PATH): run scripts/deps, which installs the "
             "Debian package redis-server";
    return nullptr;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {  // a port taken in between: try another
    const int port = free_port();
    if (port == 0) {
      *error = "no free loopback port";
      return nullptr;
    }
    std::unique_ptr<RedisServer> s(new RedisServer(opts, port));
    if (s->spawn(error)) return s;
  }
  return nullptr;
}

std::string RedisServer::url(int db) const {
  std::string u = "redis://";
  if (!opts_.password.empty()) u += ":" + opts_.password + "@";
  u += host_port();
  if (db != 0) u += "/" + std::to_string(db);
  return u;
}

bool RedisServer::spawn(std::string* error) {
  const std::string log = dir_.file("redis.log");
  std::vector<std::string> argv = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                   "--dir", dir_.path(), "--save", "", "--appendonly", "no", "--daemonize", "no",
                                   "--logfile", log, "--protected-mode", "no"};
  if (!opts_.password.empty()) argv.insert(argv.end(), {"--requirepass", opts_.password});
  if (opts_.maxmemory != 0) argv.insert(argv.end(), {"--maxmemory", std::to_string(opts_.maxmemory)});
  if (!opts_.maxmemory_policy.empty()) argv.insert(argv.end(), {"--maxmemory-policy", opts_.maxmemory_policy});
  if (opts_.cluster)
    argv.insert(argv.end(), {"--cluster-enabled", "yes", "--cluster-config-file", dir_.file("nodes.conf"),
                             "--cluster-node-timeout", "3000"});
  pid_ = spawn_child(argv, -1);
  if (pid_ < 0) {
    *error = "fork failed";
    return false;
  }
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *error = "redis-server on port " + std::to_string(port_) + " exited at start; " + log + ":\n" + tail_of(log);
      return false;
    }
    if (auto r = command({"PING"}); r && r->type == REDIS_REPLY_STATUS) return true;
    std::this_thread::sleep_for(20ms);
  }
  *error = "redis-server on port " + std::to_string(port_) + " did not answer PING within 10 s; " + log + ":\n" +
           tail_of(log);
  kill();
  return false;
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  kill();
}

bool RedisServer::restart(std::string* error) {
  stop();
  return spawn(error);
}

void RedisServer::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

ReplyPtr RedisServer::command(const std::vector<std::string>& argv) const {
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, tv);
  if (!opts_.password.empty()) {
    ReplyPtr auth(static_cast<redisReply*>(redisCommand(c, "AUTH %s", opts_.password.c_str())));
  }
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data())));
  redisFree(c);
  return r;
}

std::string RedisServer::text(const std::vector<std::string>& argv) const {
  ReplyPtr r = command(argv);
  if (!r) return "(unreachable)";
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  if (r->type == REDIS_REPLY_NIL) return "(nil)";
  if (r->type == REDIS_REPLY_ARRAY) {
    std::string out;
    for (std::size_t i = 0; i < r->elements; ++i)
      out += (i ? "\n" : "") + std::string(r->element[i]->str ? r->element[i]->str : "", r->element[i]->len);
    return out;
  }
  return std::string(r->str != nullptr ? r->str : "", r->len);
}

}  // namespace kvc::testing
