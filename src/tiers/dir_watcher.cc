#include "tiers/dir_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "io/env.h"

namespace kvc::tiers {

Result<std::unique_ptr<DirWatcher>> DirWatcher::start(const std::string& dir, Handler handler) {
  const int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0) {
    Status s = io::status_from_errno("inotify_init", dir, errno);
    return Status(Code::kUnavailable, s.message());
  }
  constexpr std::uint32_t kMask =
      IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR | IN_EXCL_UNLINK;
  if (::inotify_add_watch(in, dir.c_str(), kMask) < 0) {
    Status s = io::status_from_errno("inotify_add_watch", dir, errno);
    ::close(in);
    return Status(Code::kUnavailable, s.message());
  }
  const int stop = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop < 0) {
    Status s = io::status_from_errno("eventfd", dir, errno);
    ::close(in);
    return Status(Code::kUnavailable, s.message());
  }
  std::unique_ptr<DirWatcher> w(new DirWatcher(in, stop, std::move(handler)));
  w->thread_ = std::thread([p = w.get()] { p->run(); });
  return w;
}

DirWatcher::DirWatcher(int inotify_fd, int stop_fd, Handler handler)
    : inotify_fd_(inotify_fd), stop_fd_(stop_fd), handler_(std::move(handler)) {}

DirWatcher::~DirWatcher() {
  stop();
  ::close(inotify_fd_);
  ::close(stop_fd_);
}

void DirWatcher::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  while (::write(stop_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
  thread_.join();
}

void DirWatcher::run() {
  alignas(struct inotify_event) char buf[64 * 1024];
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // cannot wait any more: stop watching (rescan still works)
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    for (;;) {
      const ssize_t len = ::read(inotify_fd_, buf, sizeof buf);
      if (len < 0) {
        if (errno == EINTR) continue;
        break;  // EAGAIN: drained
      }
      if (len == 0) break;
      for (ssize_t off = 0; off < len;) {
        const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
        off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
        if (ev->mask & IN_Q_OVERFLOW) {
          handler_(Event::kOverflow, std::string());
          continue;
        }
        if (ev->mask & IN_IGNORED) return;  // the directory went away
        if (ev->len == 0 || (ev->mask & IN_ISDIR)) continue;
        const std::string name(ev->name, ::strnlen(ev->name, ev->len));
        if (ev->mask & (IN_CREATE | IN_MOVED_TO)) handler_(Event::kAdded, name);
        else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) handler_(Event::kRemoved, name);
      }
    }
  }
}

}  // namespace kvc::tiers
