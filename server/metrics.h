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

  // ---- llama-server's metrics (issue 11) ----
  // One finished request: prompt tokens decoded and reused, generated tokens,
  // and the seconds of each phase (its timings).
  void count_llama(std::uint64_t prompt_decoded, std::uint64_t prompt_cached, double prompt_seconds,
                   std::uint64_t predicted, double predicted_seconds, std::uint64_t tokens_in_sequence);
  struct DecodeStats {
    std::uint64_t n_decode_total = 0;      // llama_decode calls (Engine::decode_stats)
    std::uint64_t busy_slots_total = 0;    // sequences in those batches, summed
  };
  // llama-server's exposition (prefix llamacpp:, its names, types and help).
  std::string render_llama(int processing, int deferred, const DecodeStats& decode) const;

 private:
  std::uint64_t llama_prompt_tokens_ = 0, llama_prompt_cached_ = 0, llama_predicted_ = 0, llama_tokens_max_ = 0;
  double llama_prompt_seconds_ = 0, llama_predicted_seconds_ = 0;

  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::uint64_t prompt_tokens_ = 0, cached_tokens_ = 0, generated_tokens_ = 0;
  Histogram ttft_, restore_, duration_;
};

}  // namespace kvc::server
