// The private part of the Env seam (the interface is public: kvc/env.h).
// PosixEnv is the real thing; FaultEnv (fault_env.h) wraps any Env and injects
// errors, short writes and "crashes" at chosen steps so tests can prove every
// save step fails cleanly.
#pragma once

#include <string>
#include <string_view>

#include "kvc/env.h"
#include "kvc/status.h"

namespace kvc::io {

// The Status for a failed OS call: "<op> <path>: <strerror>", with ENOSPC/EDQUOT →
// kNoSpace, ENOENT → kNotFound, EEXIST → kExists, EACCES/EPERM →
// kPermissionDenied, anything else kIoError. Shared by
// PosixEnv and FaultEnv so an injected errno reads exactly like a real one.
Status status_from_errno(std::string_view op, const std::string& path, int err);

}  // namespace kvc::io
