// Memory-pressure scheduler (cache.md §7): samples a pressure source every
// interval and, when used/total ≥ high, evicts enough bytes from the chosen tiers
// to bring the ratio down to low: target = max(used − low·total, min_evict_bytes).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "kvc/cache.h"
#include "kvc/options.h"

namespace kvc {

using MemoryReading = PressureOptions::Reading;

class PressureSource {
 public:
  virtual ~PressureSource() = default;
  virtual std::string_view name() const = 0;
  // nullopt when the source cannot be read (no GPU, unreadable file, callback declined).
  virtual std::optional<MemoryReading> read() = 0;
};

// System memory: used = MemTotal − MemAvailable from /proc/meminfo (or `path`).
std::unique_ptr<PressureSource> make_meminfo_source(std::string path = "/proc/meminfo");
// NVIDIA GPU memory through NVML loaded at run time (libnvidia-ml.so.1), summed
// over devices. Reports unavailable (read() → nullopt) when there is no driver or GPU.
std::unique_ptr<PressureSource> make_nvidia_source();
std::unique_ptr<PressureSource> make_callback_source(std::function<std::optional<MemoryReading>()> fn);

// Validates 0 ≤ low < high ≤ 1, interval > 0; the error names the setting.
Status validate_pressure_options(const PressureOptions& o);

class PressureScheduler {
 public:
  // `evict(bytes)` frees up to `bytes` from the configured tiers and returns what it freed.
  PressureScheduler(PressureOptions options, std::unique_ptr<PressureSource> source,
                    std::function<std::uint64_t(std::uint64_t)> evict);
  ~PressureScheduler();  // stops the thread if started

  void start();  // background sampling every options.interval
  // One sample-and-act step (what the thread does each interval); returns bytes evicted.
  std::uint64_t tick();
  PressureStatus status() const;

 private:
  PressureOptions options_;
  std::unique_ptr<PressureSource> source_;
  std::function<std::uint64_t(std::uint64_t)> evict_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  PressureStatus status_;
  std::thread thread_;
};

}  // namespace kvc
