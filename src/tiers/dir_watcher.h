// DirWatcher: inotify on one directory, reporting entries created / moved in
// (kAdded: IN_CREATE, IN_MOVED_TO) and deleted / moved out
// (kRemoved: IN_DELETE, IN_MOVED_FROM), plus kOverflow when the kernel dropped
// events. Not IN_CLOSE_WRITE: in-place hit-count updates would look like new
// files; publication is link/rename, which IN_CREATE/IN_MOVED_TO see. Runs the
// handler on its own thread; stop (or destruction) wakes it via an eventfd and
// joins, after which the handler never runs again.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "kvc/status.h"

namespace kvc::tiers {

class DirWatcher {
 public:
  enum class Event { kAdded, kRemoved, kOverflow };
  using Handler = std::function<void(Event event, const std::string& name)>;

  // kUnavailable when inotify cannot watch `dir`.
  static Result<std::unique_ptr<DirWatcher>> start(const std::string& dir, Handler handler);
  ~DirWatcher();
  DirWatcher(const DirWatcher&) = delete;
  DirWatcher& operator=(const DirWatcher&) = delete;

  void stop();  // idempotent; must not be called from the handler

 private:
  DirWatcher(int inotify_fd, int stop_fd, Handler handler);
  void run();

  int inotify_fd_;
  int stop_fd_;
  Handler handler_;
  std::thread thread_;
};

}  // namespace kvc::tiers
