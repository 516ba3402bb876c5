// kvc::io::Env — the one seam through which kvc touches the filesystem
// (CacheOptions::env). The default is posix_env(); a user may inject their own,
// e.g. to count or throttle I/O, or to wrap posix_env() and inject faults (kvc's
// own tests do, with FaultEnv). Every method of an implementation must be
// thread-safe. Errors are Status values whose message names the path and the OS
// error; ENOSPC/EDQUOT map to kNoSpace, ENOENT to kNotFound, EEXIST to kExists,
// EACCES/EPERM to kPermissionDenied, anything else to kIoError: the cache counts
// and reports by those codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/status.h"

namespace kvc::io {

// A file opened for writing (created exclusively).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Writes all buffers, in order, with as few syscalls as possible (pwritev loop
  // that resumes after short writes). Data is never copied into a bigger buffer.
  virtual Status append(std::span<const std::span<const std::byte>> buffers) = 0;
  virtual Status sync() = 0;   // fdatasync
  virtual Status close() = 0;  // idempotent; the destructor closes without reporting
};

// A file opened for reading.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  virtual std::uint64_t size() const = 0;  // size at open (fstat)
  // Reads up to out.size() bytes at offset; returns the count (short only at EOF).
  virtual Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) = 0;
};

struct DirEntry {
  std::string name;  // file name only
  bool is_regular = false;  // a regular file (never a symlink), from the entry's type
};

class Env {
 public:
  virtual ~Env() = default;

  // O_CREAT|O_EXCL|O_WRONLY|O_CLOEXEC with `mode`. kExists if the path exists.
  virtual Result<std::unique_ptr<WritableFile>> new_exclusive_file(const std::string& path, unsigned mode) = 0;
  // Opens a regular file for reading. Never follows a symlink in the last component
  // and never blocks on a FIFO or device: those are errors (kInvalidArgument / ELOOP).
  virtual Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path) = 0;
  // Overwrites bytes of an existing regular file in place (never creates it, never
  // follows a symlink in the last component): kNotFound if absent.
  virtual Status write_in_place(const std::string& path, std::uint64_t offset, std::span<const std::byte> data) = 0;
  // link(2): kExists when `to` exists.
  virtual Status link(const std::string& from, const std::string& to) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // kNotFound when absent.
  virtual Status remove(const std::string& path) = 0;
  virtual Status sync_dir(const std::string& dir) = 0;
  // Creates the directory and its parents (mode 0700 for new ones); ok if it exists.
  virtual Status create_dirs(const std::string& dir) = 0;
  virtual Result<std::vector<DirEntry>> list_dir(const std::string& dir) = 0;
  // Size of a regular file; kNotFound when absent.
  virtual Result<std::uint64_t> file_size(const std::string& path) = 0;
  // What is at `path` (lstat: a symlink is kOther); kNotFound when nothing.
  enum class PathKind { kRegular, kDirectory, kOther };
  virtual Result<PathKind> path_kind(const std::string& path) = 0;
  // rmdir(2): kNotFound when absent, kExists when not empty.
  virtual Status remove_empty_dir(const std::string& path) = 0;

  // Convenience built on the above: the whole file, or its first `max_bytes`.
  Result<std::vector<std::byte>> read_file(const std::string& path, std::uint64_t max_bytes = UINT64_MAX);
};

// The process-wide POSIX Env (never destroyed).
Env* posix_env();

}  // namespace kvc::io
