#include "server/metrics.h"

#include <algorithm>
#include <cstdio>

namespace kvc::server {
namespace {

std::string num(double v, int digits = 17) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

void Histogram::observe(double seconds) {
  std::lock_guard lock(mu_);
  ++count_;
  sum_ += seconds;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      ++buckets_[i];
      break;
    }
  }
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  std::lock_guard lock(mu_);
  header(out, name, help, "histogram");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i];
    out += name + "_bucket{le=\"" + num(kBounds[i], 6) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + num(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

void ServerMetrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
}

void ServerMetrics::count_tokens(std::uint64_t prompt, std::uint64_t cached, std::uint64_t generated) {
  std::lock_guard lock(mu_);
  prompt_tokens_ += prompt;
  cached_tokens_ += cached;
  generated_tokens_ += generated;
}

std::string ServerMetrics::render(int running, int waiting) const {
  std::string out;
  {
    std::lock_guard lock(mu_);
    header(out, "kvc_server_requests_total", "HTTP requests answered, by endpoint and status code", "counter");
    for (const auto& [k, v] : requests_) {
      out += "kvc_server_requests_total{endpoint=\"" + k.first + "\",code=\"" + std::to_string(k.second) + "\"} " +
             std::to_string(v) + "\n";
    }
    header(out, "kvc_server_prompt_tokens_total", "Prompt tokens of completed generation requests", "counter");
    out += "kvc_server_prompt_tokens_total " + std::to_string(prompt_tokens_) + "\n";
    header(out, "kvc_server_cached_tokens_total", "Prompt tokens restored from the cache", "counter");
    out += "kvc_server_cached_tokens_total " + std::to_string(cached_tokens_) + "\n";
    header(out, "kvc_server_generated_tokens_total", "Tokens generated", "counter");
    out += "kvc_server_generated_tokens_total " + std::to_string(generated_tokens_) + "\n";
  }
  header(out, "kvc_server_requests_running", "Generation requests holding a sequence", "gauge");
  out += "kvc_server_requests_running " + std::to_string(running) + "\n";
  header(out, "kvc_server_requests_waiting", "Generation requests waiting for a sequence", "gauge");
  out += "kvc_server_requests_waiting " + std::to_string(waiting) + "\n";
  ttft_.render(out, "kvc_server_time_to_first_token_seconds", "Time from request to first generated token");
  restore_.render(out, "kvc_server_restore_seconds", "Time to restore a cached KV state (hits only)");
  duration_.render(out, "kvc_server_request_duration_seconds", "Time of whole generation requests");
  return out;
}

void ServerMetrics::count_llama(std::uint64_t prompt_decoded, std::uint64_t prompt_cached, double prompt_seconds,
                                std::uint64_t predicted, double predicted_seconds, std::uint64_t tokens_in_sequence) {
  std::lock_guard lock(mu_);
  llama_prompt_tokens_ += prompt_decoded;
  llama_prompt_cached_ += prompt_cached;
  llama_prompt_seconds_ += prompt_seconds;
  llama_predicted_ += predicted;
  llama_predicted_seconds_ += predicted_seconds;
  llama_tokens_max_ = std::max(llama_tokens_max_, tokens_in_sequence);
}

std::string ServerMetrics::render_llama(int processing, int deferred, const DecodeStats& decode) const {
  std::string out;
  auto metric = [&](const std::string& name, const char* type, const std::string& help, double v) {
    header(out, "llamacpp:" + name, help, type);
    out += "llamacpp:" + name + " " + num(v) + "\n";
  };
  std::lock_guard lock(mu_);
  metric("prompt_tokens_total", "counter", "Number of prompt tokens processed.", static_cast<double>(llama_prompt_tokens_));
  metric("prompt_tokens_cached_total", "counter", "Number of prompt tokens reused from the cache (no decode).",
         static_cast<double>(llama_prompt_cached_));
  metric("prompt_seconds_total", "counter", "Prompt process time", llama_prompt_seconds_);
  metric("tokens_predicted_total", "counter", "Number of generation tokens processed.", static_cast<double>(llama_predicted_));
  metric("tokens_predicted_seconds_total", "counter", "Predict process time", llama_predicted_seconds_);
  metric("n_decode_total", "counter", "Total number of llama_decode() calls", static_cast<double>(decode.n_decode_total));
  metric("n_tokens_max", "counter", "Largest observed n_tokens.", static_cast<double>(llama_tokens_max_));
  metric("spec_decode_num_draft_tokens_total", "counter", "Number of draft tokens (kvc: no speculative decoding).", 0);
  metric("spec_decode_num_accepted_tokens_total", "counter", "Number of accepted draft tokens (kvc: none).", 0);
  metric("spec_decode_num_drafts_total", "counter", "Number of drafts (kvc: none).", 0);
  metric("prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.",
         llama_prompt_seconds_ > 0 ? static_cast<double>(llama_prompt_tokens_) / llama_prompt_seconds_ : 0.0);
  metric("predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.",
         llama_predicted_seconds_ > 0 ? static_cast<double>(llama_predicted_) / llama_predicted_seconds_ : 0.0);
  metric("requests_processing", "gauge", "Number of requests processing.", processing);
  metric("requests_deferred", "gauge", "Number of requests deferred.", deferred);
  metric("n_busy_slots_per_decode", "gauge", "Average number of busy slots per llama_decode() call",
         decode.n_decode_total > 0 ? static_cast<double>(decode.busy_slots_total) / static_cast<double>(decode.n_decode_total)
                                   : 0.0);
  return out;
}

}  // namespace kvc::server
