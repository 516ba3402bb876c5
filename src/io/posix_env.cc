// PosixEnv: the Env of env.h on POSIX calls. Every descriptor is O_CLOEXEC.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "io/env.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

namespace kvc::io {
namespace {

constexpr std::size_t kMaxIov = IOV_MAX;

// Closes a descriptor, retrying nothing: on Linux the descriptor is gone even on EINTR.
int close_fd(int fd) {
  int rc = ::close(fd);
  if (rc != 0 && errno == EINTR) return 0;
  return rc;
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) close_fd(fd_);
  }

  Status append(std::span<const std::span<const std::byte>> buffers) override {
    if (fd_ < 0) return {Code::kIoError, "append " + path_ + ": file is closed"};
    // One iovec per non-empty buffer; advanced in place after short writes.
    std::vector<iovec> iov;
    iov.reserve(buffers.size());
    for (const auto& b : buffers) {
      if (b.empty()) continue;
      iov.push_back({const_cast<std::byte*>(b.data()), b.size()});
    }
    std::size_t first = 0;
    while (first < iov.size()) {
      const int count = static_cast<int>(std::min(iov.size() - first, kMaxIov));
      const ssize_t n = ::pwritev(fd_, iov.data() + first, count, static_cast<off_t>(offset_));
      if (n < 0) {
        if (errno == EINTR) continue;
        return status_from_errno("append", path_, errno);
      }
      if (n == 0) return status_from_errno("append", path_, EIO);  // no progress: never spin
      offset_ += static_cast<std::uint64_t>(n);
      auto left = static_cast<std::size_t>(n);
      while (left > 0 && first < iov.size()) {
        if (left >= iov[first].iov_len) {
          left -= iov[first].iov_len;
          ++first;
        } else {
          iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
          iov[first].iov_len -= left;
          left = 0;
        }
      }
    }
    return Status::Ok();
  }

  Status sync() override {
    if (fd_ < 0) return {Code::kIoError, "sync " + path_ + ": file is closed"};
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return status_from_errno("sync", path_, errno);
    }
    return Status::Ok();
  }

  Status close() override {
    if (fd_ < 0) return Status::Ok();
    const int fd = fd_;
    fd_ = -1;
    if (close_fd(fd) != 0) return status_from_errno("close", path_, errno);
    return Status::Ok();
  }

 private:
  int fd_;
  std::string path_;
  std::uint64_t offset_ = 0;
};

class PosixReadableFile final : public ReadableFile {
 public:
  PosixReadableFile(int fd, std::string path, std::uint64_t size) : fd_(fd), path_(std::move(path)), size_(size) {}
  ~PosixReadableFile() override { close_fd(fd_); }

  std::uint64_t size() const override { return size_; }

  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::byte> out) override {
    std::size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = ::pread(fd_, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return status_from_errno("read", path_, errno);
      }
      if (n == 0) break;  // EOF
      got += static_cast<std::size_t>(n);
    }
    return got;
  }

 private:
  int fd_;
  std::string path_;
  std::uint64_t size_;
};

int open_retry(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> new_exclusive_file(const std::string& path, unsigned mode) override {
    const int fd = open_retry(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, static_cast<mode_t>(mode));
    if (fd < 0) return status_from_errno("open_exclusive", path, errno);
    return std::unique_ptr<WritableFile>(std::make_unique<PosixWritableFile>(fd, path));
  }

  Result<std::unique_ptr<ReadableFile>> open_readable(const std::string& path) override {
    // O_NOFOLLOW: a symlink planted under a row's name cannot redirect reads (or the
    // hit-count writes below) outside the directory. O_NONBLOCK: a FIFO cannot hang us.
    const int fd = open_retry(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return status_from_errno("open", path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      close_fd(fd);
      return status_from_errno("fstat", path, err);
    }
    if (!S_ISREG(st.st_mode)) {
      close_fd(fd);
      return Status(Code::kInvalidArgument, "open " + path + ": not a regular file");
    }
    return std::unique_ptr<ReadableFile>(
        std::make_unique<PosixReadableFile>(fd, path, static_cast<std::uint64_t>(st.st_size)));
  }

  Status write_in_place(const std::string& path, std::uint64_t offset, std::span<const std::byte> data) override {
    // No O_CREAT: never creates. O_NOFOLLOW and O_NONBLOCK as in open_readable.
    const int fd = open_retry(path.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return status_from_errno("write_in_place", path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close_fd(fd);
      return Status(Code::kInvalidArgument, "write_in_place " + path + ": not a regular file");
    }
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : EIO;
        close_fd(fd);
        return status_from_errno("write_in_place", path, err);
      }
      done += static_cast<std::size_t>(n);
    }
    if (close_fd(fd) != 0) return status_from_errno("write_in_place close", path, errno);
    return Status::Ok();
  }

  Status link(const std::string& from, const std::string& to) override {
    if (::link(from.c_str(), to.c_str()) != 0) return status_from_errno("link", from + " -> " + to, errno);
    return Status::Ok();
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return status_from_errno("rename", from + " -> " + to, errno);
    return Status::Ok();
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return status_from_errno("remove", path, errno);
    return Status::Ok();
  }

  Status sync_dir(const std::string& dir) override {
    const int fd = open_retry(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return status_from_errno("sync_dir", dir, errno);
    int rc;
    do {
      rc = ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    const int err = errno;
    close_fd(fd);
    if (rc != 0) return status_from_errno("sync_dir", dir, err);
    return Status::Ok();
  }

  Status create_dirs(const std::string& dir) override {
    if (dir.empty()) return {Code::kInvalidArgument, "create_dirs: empty directory name"};
    // Walk the components: mkdir each prefix, tolerating those that exist.
    std::size_t pos = 0;
    while (pos != std::string::npos) {
      pos = dir.find('/', pos + 1);
      const std::string part = dir.substr(0, pos);
      if (part.empty() || part == "/") continue;
      if (::mkdir(part.c_str(), 0700) == 0) continue;
      const int err = errno;
      if (err != EEXIST) return status_from_errno("create_dirs", part, err);
      struct stat st {};
      if (::stat(part.c_str(), &st) != 0) return status_from_errno("create_dirs", part, errno);
      if (!S_ISDIR(st.st_mode)) return status_from_errno("create_dirs", part, ENOTDIR);
    }
    return Status::Ok();
  }

  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override {
    const int fd = open_retry(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return status_from_errno("list_dir", dir, errno);
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      const int err = errno;
      close_fd(fd);
      return status_from_errno("list_dir", dir, err);
    }
    std::vector<DirEntry> out;
    for (;;) {
      errno = 0;
      const dirent* e = ::readdir(d);
      if (e == nullptr) {
        if (errno != 0) {
          const int err = errno;
          ::closedir(d);
          return status_from_errno("list_dir", dir, err);
        }
        break;
      }
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      DirEntry entry;
      entry.name = e->d_name;
      if (e->d_type != DT_UNKNOWN) {
        entry.is_regular = e->d_type == DT_REG;  // the directory entry says: no stat per file
      } else {
        struct stat st {};  // a filesystem that does not fill d_type
        if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno == ENOENT) continue;  // vanished between readdir and stat
          entry.is_regular = false;
        } else {
          entry.is_regular = S_ISREG(st.st_mode);
        }
      }
      out.push_back(std::move(entry));
    }
    ::closedir(d);
    return out;
  }

  Result<PathKind> path_kind(const std::string& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return status_from_errno("lstat", path, errno);
    if (S_ISREG(st.st_mode)) return PathKind::kRegular;
    if (S_ISDIR(st.st_mode)) return PathKind::kDirectory;
    return PathKind::kOther;
  }

  Status remove_empty_dir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) {
      const int err = errno;
      return status_from_errno("rmdir", path, err == ENOTEMPTY ? EEXIST : err);
    }
    return Status::Ok();
  }

  Result<std::uint64_t> file_size(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return status_from_errno("file_size", path, errno);
    if (!S_ISREG(st.st_mode)) return Status(Code::kInvalidArgument, "file_size " + path + ": not a regular file");
    return static_cast<std::uint64_t>(st.st_size);
  }
};

}  // namespace

Env* posix_env() {
  static Env* const env = new PosixEnv();  // never destroyed: usable from static destructors
  return env;
}

}  // namespace kvc::io
