// Tells the operator about failed saves (a full disk, an I/O error, the quota)
// without flooding the log: the first failure is reported at once, then at most one
// line per interval, carrying how many more failed in between. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "kvc/key.h"
#include "kvc/status.h"

namespace kvc::server {

class SaveErrorLog {
 public:
  using Clock = std::chrono::steady_clock;
  using Sink = std::function<void(const std::string& line)>;

  explicit SaveErrorLog(Sink sink, Clock::duration interval = std::chrono::seconds(10));

  // One failed save (CacheOptions::on_save_error).
  void report(const Key& key, const Status& error, Clock::time_point now = Clock::now());

 private:
  std::mutex mu_;
  Sink sink_;
  Clock::duration interval_;
  bool reported_any_ = false;
  Clock::time_point last_{};
  std::uint64_t suppressed_ = 0;  // failures since the last line
};

}  // namespace kvc::server
