#include "cache/pressure.h"

#include <dlfcn.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace kvc {
namespace {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class MeminfoSource final : public PressureSource {
 public:
  explicit MeminfoSource(std::string path) : path_(std::move(path)) {}
  std::string_view name() const override { return "meminfo"; }
  std::optional<MemoryReading> read() override {
    std::ifstream in(path_);
    if (!in) return std::nullopt;
    std::uint64_t total_kb = 0, avail_kb = 0;
    bool have_total = false, have_avail = false;
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string key;
      std::uint64_t value = 0;
      ls >> key >> value;
      if (key == "MemTotal:") total_kb = value, have_total = true;
      if (key == "MemAvailable:") avail_kb = value, have_avail = true;
    }
    if (!have_total || !have_avail || total_kb == 0 || avail_kb > total_kb) return std::nullopt;
    return MemoryReading{(total_kb - avail_kb) * 1024, total_kb * 1024};
  }

 private:
  std::string path_;
};

// The few NVML entry points we need, resolved with dlsym so kvc has no link-time
// dependency on the NVIDIA driver.
class NvidiaSource final : public PressureSource {
 public:
  NvidiaSource() {
    lib_ = ::dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib_ == nullptr) return;
    init_ = reinterpret_cast<int (*)()>(::dlsym(lib_, "nvmlInit_v2"));
    count_ = reinterpret_cast<int (*)(unsigned*)>(::dlsym(lib_, "nvmlDeviceGetCount_v2"));
    handle_ = reinterpret_cast<int (*)(unsigned, void**)>(::dlsym(lib_, "nvmlDeviceGetHandleByIndex_v2"));
    meminfo_ = reinterpret_cast<int (*)(void*, Memory*)>(::dlsym(lib_, "nvmlDeviceGetMemoryInfo"));
    shutdown_ = reinterpret_cast<int (*)()>(::dlsym(lib_, "nvmlShutdown"));
    ok_ = init_ && count_ && handle_ && meminfo_ && init_() == 0;
  }
  ~NvidiaSource() override {
    if (ok_ && shutdown_) shutdown_();
    if (lib_) ::dlclose(lib_);
  }
  std::string_view name() const override { return "nvidia"; }
  std::optional<MemoryReading> read() override {
    if (!ok_) return std::nullopt;
    unsigned n = 0;
    if (count_(&n) != 0 || n == 0) return std::nullopt;
    MemoryReading r;
    for (unsigned i = 0; i < n; ++i) {
      void* dev = nullptr;
      Memory m{};
      if (handle_(i, &dev) != 0 || meminfo_(dev, &m) != 0) return std::nullopt;
      r.used_bytes += m.used;
      r.total_bytes += m.total;
    }
    if (r.total_bytes == 0) return std::nullopt;
    return r;
  }

 private:
  struct Memory {  // nvmlMemory_t
    unsigned long long total, free, used;
  };
  void* lib_ = nullptr;
  bool ok_ = false;
  int (*init_)() = nullptr;
  int (*count_)(unsigned*) = nullptr;
  int (*handle_)(unsigned, void**) = nullptr;
  int (*meminfo_)(void*, Memory*) = nullptr;
  int (*shutdown_)() = nullptr;
};

class CallbackSource final : public PressureSource {
 public:
  explicit CallbackSource(std::function<std::optional<MemoryReading>()> fn) : fn_(std::move(fn)) {}
  std::string_view name() const override { return "callback"; }
  std::optional<MemoryReading> read() override { return fn_ ? fn_() : std::nullopt; }

 private:
  std::function<std::optional<MemoryReading>()> fn_;
};

}  // namespace

std::unique_ptr<PressureSource> make_meminfo_source(std::string path) {
  return std::make_unique<MeminfoSource>(std::move(path));
}
std::unique_ptr<PressureSource> make_nvidia_source() { return std::make_unique<NvidiaSource>(); }
std::unique_ptr<PressureSource> make_callback_source(std::function<std::optional<MemoryReading>()> fn) {
  return std::make_unique<CallbackSource>(std::move(fn));
}

Status validate_pressure_options(const PressureOptions& o) {
  auto bad = [](const std::string& what) { return Status(Code::kInvalidArgument, "pressure: " + what); };
  if (!(o.low >= 0.0) || !(o.high <= 1.0) || !(o.low < o.high))
    return bad("need 0 <= low < high <= 1, got low = " + std::to_string(o.low) + ", high = " + std::to_string(o.high));
  if (o.interval.count() <= 0) return bad("interval_ms must be > 0, got " + std::to_string(o.interval.count()));
  if (o.source == PressureOptions::Source::kCallback && !o.callback)
    return bad("source = callback needs a callback function");
  return Status::Ok();
}

PressureScheduler::PressureScheduler(PressureOptions options, std::unique_ptr<PressureSource> source,
                                     std::function<std::uint64_t(std::uint64_t)> evict)
    : options_(std::move(options)), source_(std::move(source)), evict_(std::move(evict)) {
  status_.enabled = options_.enabled;
  status_.source = std::string(source_->name());
}

PressureScheduler::~PressureScheduler() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PressureScheduler::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (cv_.wait_for(lock, options_.interval, [&] { return stop_; })) break;
      lock.unlock();
      tick();
      lock.lock();
    }
  });
}

std::uint64_t PressureScheduler::tick() {
  auto reading = source_->read();
  const auto now = unix_ms();
  if (!reading || reading->total_bytes == 0) {
    std::lock_guard lock(mu_);
    status_.source_available = false;
    status_.last_sample_unix_ms = now;
    return 0;
  }
  const double total = static_cast<double>(reading->total_bytes);
  const double ratio = static_cast<double>(reading->used_bytes) / total;
  {
    std::lock_guard lock(mu_);
    status_.source_available = true;
    status_.last_ratio = ratio;
    status_.last_sample_unix_ms = now;
  }
  if (ratio < options_.high) return 0;
  const double excess = static_cast<double>(reading->used_bytes) - options_.low * total;
  std::uint64_t target = excess > 0 ? static_cast<std::uint64_t>(std::ceil(excess)) : 0;
  if (target < options_.min_evict_bytes) target = options_.min_evict_bytes;
  const std::uint64_t freed = evict_(target);
  std::lock_guard lock(mu_);
  status_.last_evicted_bytes = freed;
  status_.last_eviction_unix_ms = now;
  return freed;
}

PressureStatus PressureScheduler::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

}  // namespace kvc
