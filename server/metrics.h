// Server-side Prometheus metrics: request counts by endpoint and status, token
// totals, and latency histograms (time to first token, restore time, request
// duration). render() appends them to the cache's own exposition.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace kvc::server {

// A fixed-bucket histogram of seconds.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1,     2.5,  5,     10,  30};
  void observe(double seconds);
  // Appends `name_bucket`, `name_sum`, `name_count` lines (HELP/TYPE included).
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mu_;
  std::array<std::uint64_t, kBounds.size()> buckets_{};  // non-cumulative
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

class ServerMetrics {
 public:
  void count_request(const std::string& endpoint, int status);
  void count_tokens(std::uint64_t prompt, std::uint64_t cached, std::uint64_t generated);
  Histogram& time_to_first_token() { return ttft_; }
  Histogram& restore_time() { return restore_; }
  Histogram& request_duration() { return duration_; }

  // The server's metrics (prefix kvc_server_), with queue gauges.
  std::string render(int running, int waiting) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::uint64_t prompt_tokens_ = 0, cached_tokens_ = 0, generated_tokens_ = 0;
  Histogram ttft_, restore_, duration_;
};

}  // namespace kvc::server
