#include "server/save_error_log.h"

#include <utility>

namespace kvc::server {

SaveErrorLog::SaveErrorLog(Sink sink, Clock::duration interval) : sink_(std::move(sink)), interval_(interval) {}

void SaveErrorLog::report(const Key& key, const Status& error, Clock::time_point now) {
  std::string line;
  {
    std::lock_guard lock(mu_);
    if (reported_any_ && now - last_ < interval_) {
      ++suppressed_;
      return;
    }
    line = "save failed (row " + key.hex().substr(0, 16) + "…, the request itself is unaffected): " + error.to_string();
    if (suppressed_ > 0) line += " (" + std::to_string(suppressed_) + " more failed saves since the last report)";
    reported_any_ = true;
    last_ = now;
    suppressed_ = 0;
  }
  sink_(line);
}

}  // namespace kvc::server
