// Status and Result<T>: how kvc reports errors on every I/O path (no exceptions).
//
// A Status is ok, or an error code plus a message that names what was wrong
// (the file, key or setting) and, where useful, what to do about it.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace kvc {

enum class Code {
  kOk = 0,
  kNotFound,         // no such key, row or file
  kAlreadyPresent,   // a save found the key already available (a duplicate, not a failure)
  kConflict,         // another live writer holds the key's reservation
  kQuotaExceeded,    // the tier cannot fit the save even after eviction; nothing written
  kCorrupt,          // a file or blob failed validation (detail names the format error)
  kIoError,          // the OS refused an operation (message carries errno text)
  kNoSpace,          // ENOSPC / EDQUOT
  kInvalidArgument,  // bad input or configuration
  kTimeout,          // a deadline passed
  kBusy,             // the row is leased or writing
  kDropped,          // a background save was dropped (queue full or policy)
  kUnavailable,      // a source or tier is not reachable
  kCancelled,        // the operation was abandoned (reservation lost, shutdown)
  kExists,           // the target path exists (EEXIST)
  kPermissionDenied, // EACCES / EPERM: the OS will keep refusing until someone fixes it
};

std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "code_name: message", or "ok".
  std::string to_string() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: a value or a non-ok Status (a small std::expected for g++ 12).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {     // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status");
  }
  Result(Code code, std::string message) : v_(Status(code, std::move(message))) {}

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error; Status::Ok() when this holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace kvc
