// Temp files of a file-tier save: `<hex>.kvc.<pid>-<n>-<random>.tmp`, unique across
// processes (pid, and random for pid namespaces) and threads (n), plus the
// process-wide set of temp files still being written, so a scan in this process
// never sweeps a live save's temp file.
#pragma once

#include <string>
#include <string_view>

namespace kvc::tiers {

// A fresh temp file name (no directory) for the key `hex`.
std::string temp_file_name(const std::string& hex);

// True for names ending in ".tmp".
bool is_temp_name(std::string_view name);

// Whether a scan may delete this temp file (`path` is the full path, `name` the
// file name): false while a save in this process is writing it, or when the name
// carries the pid of another live process. Unparseable names are stale.
bool temp_is_stale(const std::string& path, std::string_view name);

// Registers a temp path as being written by this process for its lifetime.
class InflightTemp {
 public:
  explicit InflightTemp(std::string path);
  ~InflightTemp();
  InflightTemp(const InflightTemp&) = delete;
  InflightTemp& operator=(const InflightTemp&) = delete;

 private:
  std::string path_;
};

}  // namespace kvc::tiers
