// PathOnlyEnv: a user Env written against the path-based methods only, as one
// written before Env::open_dir existed. It forwards to posix_env(), does not
// override open_dir (so Env's default Directory is used), and records the opens it
// sees. Thread-safe, like every Env.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <mutex>
#include <string>
#include <vector>

#include "kvc/env.h"

namespace kvc::testing {

class PathOnlyEnv final : public io::Env {
 public:
  Result<std::unique_ptr<io::WritableFile>> new_exclusive_file(const std::string& path, unsigned mode) override {
    return base_->new_exclusive_file(path, mode);
  }
  Result<std::unique_ptr<io::ReadableFile>> open_readable(const std::string& path) override {
    {
      std::lock_guard lock(mu_);
      opened_.push_back(path);
    }
    opens.fetch_add(1);
    return base_->open_readable(path);
  }
  Status write_in_place(const std::string& path, std::uint64_t offset, std::span<const std::byte> data) override {
    return base_->write_in_place(path, offset, data);
  }
  Status link(const std::string& from, const std::string& to) override { return base_->link(from, to); }
  Status rename(const std::string& from, const std::string& to) override { return base_->rename(from, to); }
  Status remove(const std::string& path) override { return base_->remove(path); }
  Status sync_dir(const std::string& dir) override { return base_->sync_dir(dir); }
  Status create_dirs(const std::string& dir) override { return base_->create_dirs(dir); }
  Result<std::vector<io::DirEntry>> list_dir(const std::string& dir) override { return base_->list_dir(dir); }
  Result<std::uint64_t> file_size(const std::string& path) override { return base_->file_size(path); }
  Result<PathKind> path_kind(const std::string& path) override { return base_->path_kind(path); }
  Status remove_empty_dir(const std::string& path) override { return base_->remove_empty_dir(path); }

  // The paths open_readable was called with, in call order.
  std::vector<std::string> opened() const {
    std::lock_guard lock(mu_);
    return opened_;
  }
  std::atomic<int> opens{0};

 private:
  io::Env* base_ = io::posix_env();
  mutable std::mutex mu_;
  std::vector<std::string> opened_;
};

}  // namespace kvc::testing
