#include "io/fault_env.h"

#include <algorithm>

namespace kvc::io {

std::string_view fault_op_name(FaultOp op) {
  switch (op) {
    case FaultOp::kOpenExclusive: return "open_exclusive";
    case FaultOp::kAppend: return "append";
    case FaultOp::kShortAppend: return "short_append";
    case FaultOp::kSync: return "sync";
    case FaultOp::kClose: return "close";
    case FaultOp::kLink: return "link";
    case FaultOp::kRename: return "rename";
    case FaultOp::kRemove: return "remove";
    case FaultOp::kSyncDir: return "sync_dir";
    case FaultOp::kRead: return "read";
    case FaultOp::kWriteInPlace: return "write_in_place";
    case FaultOp::kListDir: return "list_dir";
    case FaultOp::kCreateDirs: return "create_dirs";
    case FaultOp::kOpenReadable: return "open_readable";
    case FaultOp::kFileSize: return "file_size";
    case FaultOp::kCount: break;
  }
  return "unknown";
}

namespace {

Status injected(FaultOp op, const std::string& path, int err) {
  Status s = status_from_errno(fault_op_name(op), path, err);
  return {s.code(), s.message() + " (injected)"};
}

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultEnv* env, std::unique_ptr<WritableFile> base, std::string path)
      : env_(env), base_(std::move(base)), path_(std::move(path)) {}

  Status append(std::span<const std::span<const std::byte>> buffers) override {
    const auto d = env_->enter(FaultOp::kAppend, path_);
    if (!d.fail) return base_->append(buffers);
    if (d.short_write) {
      std::uint64_t total = 0;
      for (const auto& b : buffers) total += b.size();
      std::uint64_t budget = std::min(d.short_bytes.value_or(total / 2), total);
      std::vector<std::span<const std::byte>> part;
      for (const auto& b : buffers) {
        if (budget == 0) break;
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(b.size(), budget));
        part.push_back(b.first(n));
        budget -= n;
      }
      if (!part.empty()) {
        Status s = base_->append(part);
        if (!s.ok()) return s;
      }
      return injected(FaultOp::kShortAppend, path_, d.error);
    }
    if (d.after_effect) {
      Status s = base_->append(buffers);
      if (!s.ok()) return s;
    }
    return injected(FaultOp::kAppend, path_, d.error);
  }

  Status sync() override {
    const auto d = env_->enter(FaultOp::kSync, path_);
    if (!d.fail) return base_->sync();
    if (d.after_effect) (void)base_->sync();
    return injected(FaultOp::kSync, path_, d.error);
  }

  Status close() override {
    const auto d = env_->enter(FaultOp::kClose, path_);
    if (!d.fail) return base_->close();
    // A failed close still releases the descriptor, as close(2) does.
    (void)base_->close();
    return injected(FaultOp::kClose, path_, d.error);
  }

 private:
  FaultEnv* env_;
  std::unique_ptr<WritableFile> base_;
  std::string path_;
};

class FaultReadableFile final : public ReadableFile {
 public:
  FaultReadableFile(FaultEnv* env, std::unique_ptr<ReadableFile> base, std::string path)
      : env_(env), base_(std::move(base)), path_(std::move(path)) {}
  std::uint64_t size() const override { return base_->size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    const auto d = env_->enter(FaultOp::kRead, path_);
    if (!d.fail) return base_->read_at(offset, out);
    return injected(FaultOp::kRead, path_, d.error);
  }

 private:
  FaultEnv* env_;
  std::unique_ptr<ReadableFile> base_;
  std::string path_;
};

}  // namespace

FaultEnv::FaultEnv(Env* base) : base_(base) {}
FaultEnv::~FaultEnv() = default;

void FaultEnv::inject(Fault fault) {
  std::lock_guard lock(mu_);
  faults_.push_back(Armed{std::move(fault)});
}

void FaultEnv::fail_step(std::uint64_t k, int error, bool after_effect) {
  Fault f;
  f.nth = k;
  f.error = error;
  f.after_effect = after_effect;
  std::lock_guard lock(mu_);
  faults_.push_back(Armed{std::move(f), /*step_fault=*/true});
}

void FaultEnv::clear_faults() {
  std::lock_guard lock(mu_);
  faults_.clear();
}

void FaultEnv::reset_counts() {
  std::lock_guard lock(mu_);
  counts_.fill(0);
  total_ = 0;
  failures_ = 0;
  trace_.clear();
}

std::uint64_t FaultEnv::calls(FaultOp op) const {
  std::lock_guard lock(mu_);
  return op == FaultOp::kCount ? 0 : counts_[static_cast<std::size_t>(op)];
}

std::uint64_t FaultEnv::total_calls() const {
  std::lock_guard lock(mu_);
  return total_;
}

std::uint64_t FaultEnv::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

std::vector<FaultCall> FaultEnv::trace() const {
  std::lock_guard lock(mu_);
  return trace_;
}

FaultEnv::Decision FaultEnv::enter(FaultOp op, const std::string& path, const std::string& path2) {
  std::lock_guard lock(mu_);
  ++counts_[static_cast<std::size_t>(op)];
  ++total_;
  Decision d;
  for (auto& a : faults_) {
    if (a.spent) continue;
    const Fault& f = a.fault;
    if (!a.step_fault) {
      const bool op_match = f.op == op || (f.op == FaultOp::kShortAppend && op == FaultOp::kAppend);
      if (!op_match) continue;
    }
    if (!f.path_contains.empty() && path.find(f.path_contains) == std::string::npos &&
        path2.find(f.path_contains) == std::string::npos) {
      continue;
    }
    ++a.seen;
    if (f.nth != 0 && a.seen != f.nth) continue;
    if (f.nth != 0) a.spent = true;
    d.fail = true;
    d.short_write = !a.step_fault && f.op == FaultOp::kShortAppend;
    d.after_effect = f.after_effect;
    d.error = f.error != 0 ? f.error : (d.short_write ? ENOSPC : EIO);
    d.short_bytes = f.short_bytes;
    break;
  }
  if (d.fail) ++failures_;
  trace_.push_back(FaultCall{op, path2.empty() ? path : path + " -> " + path2, d.fail});
  return d;
}

Result<std::unique_ptr<WritableFile>> FaultEnv::new_exclusive_file(const std::string& path, unsigned mode) {
  const auto d = enter(FaultOp::kOpenExclusive, path);
  if (d.fail) {
    if (d.after_effect) {
      // The file was created, but the caller never learns of it.
      auto f = base_->new_exclusive_file(path, mode);
      if (f.ok()) (void)(*f)->close();
    }
    return injected(FaultOp::kOpenExclusive, path, d.error);
  }
  auto f = base_->new_exclusive_file(path, mode);
  if (!f.ok()) return f.status();
  return std::unique_ptr<WritableFile>(std::make_unique<FaultWritableFile>(this, std::move(*f), path));
}

Result<std::unique_ptr<ReadableFile>> FaultEnv::open_readable(const std::string& path) {
  const auto d = enter(FaultOp::kOpenReadable, path);
  if (d.fail) return injected(FaultOp::kOpenReadable, path, d.error);
  auto f = base_->open_readable(path);
  if (!f.ok()) return f.status();
  return std::unique_ptr<ReadableFile>(std::make_unique<FaultReadableFile>(this, std::move(*f), path));
}

Status FaultEnv::write_in_place(const std::string& path, std::uint64_t offset, std::span<const std::byte> data) {
  const auto d = enter(FaultOp::kWriteInPlace, path);
  if (!d.fail) return base_->write_in_place(path, offset, data);
  if (d.after_effect) (void)base_->write_in_place(path, offset, data);
  return injected(FaultOp::kWriteInPlace, path, d.error);
}

Status FaultEnv::link(const std::string& from, const std::string& to) {
  const auto d = enter(FaultOp::kLink, from, to);
  if (!d.fail) return base_->link(from, to);
  if (d.after_effect) (void)base_->link(from, to);
  return injected(FaultOp::kLink, from + " -> " + to, d.error);
}

Status FaultEnv::rename(const std::string& from, const std::string& to) {
  const auto d = enter(FaultOp::kRename, from, to);
  if (!d.fail) return base_->rename(from, to);
  if (d.after_effect) (void)base_->rename(from, to);
  return injected(FaultOp::kRename, from + " -> " + to, d.error);
}

Status FaultEnv::remove(const std::string& path) {
  const auto d = enter(FaultOp::kRemove, path);
  if (!d.fail) return base_->remove(path);
  if (d.after_effect) (void)base_->remove(path);
  return injected(FaultOp::kRemove, path, d.error);
}

Status FaultEnv::sync_dir(const std::string& dir) {
  const auto d = enter(FaultOp::kSyncDir, dir);
  if (!d.fail) return base_->sync_dir(dir);
  if (d.after_effect) (void)base_->sync_dir(dir);
  return injected(FaultOp::kSyncDir, dir, d.error);
}

Status FaultEnv::create_dirs(const std::string& dir) {
  const auto d = enter(FaultOp::kCreateDirs, dir);
  if (!d.fail) return base_->create_dirs(dir);
  if (d.after_effect) (void)base_->create_dirs(dir);
  return injected(FaultOp::kCreateDirs, dir, d.error);
}

Result<std::vector<DirEntry>> FaultEnv::list_dir(const std::string& dir) {
  const auto d = enter(FaultOp::kListDir, dir);
  if (d.fail) return injected(FaultOp::kListDir, dir, d.error);
  return base_->list_dir(dir);
}

Result<std::uint64_t> FaultEnv::file_size(const std::string& path) {
  const auto d = enter(FaultOp::kFileSize, path);
  if (d.fail) return injected(FaultOp::kFileSize, path, d.error);
  return base_->file_size(path);
}

}  // namespace kvc::io
