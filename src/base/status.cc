#include "kvc/status.h"

namespace kvc {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyPresent: return "already_present";
    case Code::kConflict: return "conflict";
    case Code::kQuotaExceeded: return "quota_exceeded";
    case Code::kCorrupt: return "corrupt";
    case Code::kIoError: return "io_error";
    case Code::kNoSpace: return "no_space";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kTimeout: return "timeout";
    case Code::kBusy: return "busy";
    case Code::kDropped: return "dropped";
    case Code::kUnavailable: return "unavailable";
    case Code::kCancelled: return "cancelled";
    case Code::kExists: return "exists";
    case Code::kPermissionDenied: return "permission_denied";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string s(code_name(code_));
  if (!message_.empty()) s += ": " + message_;
  return s;
}

}  // namespace kvc
