// FaultEnv: an Env that forwards to another and injects failures, for tests.
//
// Arm faults with inject(): each names an operation kind, which matching call to
// fail (the Nth since the fault was armed, or every one), an optional path
// substring, and the errno to report (mapped exactly like PosixEnv, so ENOSPC reads
// as kNoSpace). kShortAppend writes part of an append for real and then fails.
// Every call is counted per operation and recorded in a trace, so a test can run an
// operation once to learn its steps and then fail step k for k = 1..steps with
// fail_step(). Thread-safe.
#pragma once

#include <array>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/env.h"

namespace kvc::io {

enum class FaultOp : std::uint8_t {
  kOpenExclusive,  // Env::new_exclusive_file
  kAppend,         // WritableFile::append
  kShortAppend,    // an append that writes part of its bytes, then fails (counted as kAppend)
  kSync,           // WritableFile::sync
  kClose,          // WritableFile::close (explicit calls only)
  kLink,
  kRename,
  kRemove,
  kSyncDir,
  kRead,           // ReadableFile::read_at
  kWriteInPlace,
  kListDir,
  kCreateDirs,
  kOpenReadable,
  kFileSize,
  kCount,
};
std::string_view fault_op_name(FaultOp op);  // "open_exclusive", "append", …

struct Fault {
  FaultOp op = FaultOp::kAppend;
  // Fail the nth matching call after arming (1 = the next one); 0 = every matching call.
  std::uint64_t nth = 1;
  // Only calls whose path (either path, for link and rename) contains this; empty = any.
  std::string path_contains;
  // The errno reported; 0 = the default (ENOSPC for kShortAppend, EIO otherwise).
  int error = 0;
  // kShortAppend: bytes written for real before failing; nullopt = half the request.
  std::optional<std::uint64_t> short_bytes;
  // Perform the real operation first, then report the failure (a "crash" after the
  // effect: e.g. a link that happened but whose success was never seen).
  bool after_effect = false;
};

// One call seen by the FaultEnv.
struct FaultCall {
  FaultOp op;
  std::string path;
  bool failed = false;
};

class FaultEnv final : public Env {
 public:
  explicit FaultEnv(Env* base);
  ~FaultEnv() override;

  // Arms a fault. Faults fire independently; the first armed that matches wins.
  void inject(Fault fault);
  // Fails the kth call of any kind (1-based, counted from now) with `error` (EIO default).
  void fail_step(std::uint64_t k, int error = 0, bool after_effect = false);
  // Disarms every fault (counts and trace are kept).
  void clear_faults();
  // Zeroes counts and trace.
  void reset_counts();

  std::uint64_t calls(FaultOp op) const;  // kShortAppend is never counted: see kAppend
  std::uint64_t total_calls() const;      // every counted call ("steps")
  std::uint64_t failures() const;         // injected failures so far
  std::vector<FaultCall> trace() const;

  // ---- Env ----
  Result<std::unique_ptr<WritableFile>> new_exclusive_file(const std::string& path, unsigned mode) override;
  Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path) override;
  Status write_in_place(const std::string& path, std::uint64_t offset, std::span<const std::byte> data) override;
  Status link(const std::string& from, const std::string& to) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status sync_dir(const std::string& dir) override;
  Status create_dirs(const std::string& dir) override;
  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override;
  Result<std::uint64_t> file_size(const std::string& path) override;
  Result<PathKind> path_kind(const std::string& path) override { return base_->path_kind(path); }
  Status remove_empty_dir(const std::string& path) override { return base_->remove_empty_dir(path); }

  // What a call should do; internal, used by the file wrappers too.
  struct Decision {
    bool fail = false;
    bool short_write = false;
    bool after_effect = false;
    int error = 0;
    std::optional<std::uint64_t> short_bytes;
  };
  Decision enter(FaultOp op, const std::string& path, const std::string& path2 = {});

 private:
  struct Armed {
    Fault fault;
    bool step_fault = false;  // fail_step: matches any op, counted over all calls
    std::uint64_t seen = 0;
    bool spent = false;
  };

  Env* base_;
  mutable std::mutex mu_;
  std::vector<Armed> faults_;
  std::array<std::uint64_t, static_cast<std::size_t>(FaultOp::kCount)> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t failures_ = 0;
  std::vector<FaultCall> trace_;
};

}  // namespace kvc::io
