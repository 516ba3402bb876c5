// Env members built on the virtual interface, and the shared errno → Status mapping.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/env.h"

namespace kvc::io {
namespace {

// strerror_r comes in a GNU (returns char*) and an XSI (returns int) flavour.
[[maybe_unused]] const char* strerror_text(char* result, const char*) { return result; }
[[maybe_unused]] const char* strerror_text(int rc, const char* buf) { return rc == 0 ? buf : "unknown error"; }

}  // namespace

Status status_from_errno(std::string_view op, const std::string& path, int err) {
  char buf[256] = {};
  const char* text = strerror_text(::strerror_r(err, buf, sizeof buf), buf);
  std::string message;
  message.reserve(op.size() + path.size() + 64);
  message.append(op).append(" ").append(path).append(": ").append(text);
  switch (err) {
    case ENOSPC:
#if defined(EDQUOT)
    case EDQUOT:
#endif
      return {Code::kNoSpace, std::move(message)};
    case ENOENT: return {Code::kNotFound, std::move(message)};
    case EEXIST: return {Code::kExists, std::move(message)};
    case EACCES:
    case EPERM: return {Code::kPermissionDenied, std::move(message)};
    default: return {Code::kIoError, std::move(message)};
  }
}

Result<std::vector<std::byte>> Env::read_file(const std::string& path, std::uint64_t max_bytes) {
  auto file = open_readable(path);
  if (!file.ok()) return file.status();
  const std::uint64_t want = std::min<std::uint64_t>((*file)->size(), max_bytes);
  std::vector<std::byte> out(static_cast<std::size_t>(want));
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = (*file)->read_at(got, std::span<std::byte>(out).subspan(got));
    if (!n.ok()) return n.status();
    if (*n == 0) break;  // the file shrank since open: return what is there
    got += *n;
  }
  out.resize(got);
  return out;
}

}  // namespace kvc::io
