#include "capi/c_boundary.h"

#include <cstring>
#include <exception>
#include <new>

namespace kvc::capi {

namespace {
thread_local std::string last_error;

// kvc_status 0..15 are kvc::Code 0..15, so a library error maps by value.
static_assert(KVC_OK == static_cast<int>(Code::kOk));
static_assert(KVC_ERR_NOT_FOUND == static_cast<int>(Code::kNotFound));
static_assert(KVC_ERR_ALREADY_PRESENT == static_cast<int>(Code::kAlreadyPresent));
static_assert(KVC_ERR_CONFLICT == static_cast<int>(Code::kConflict));
static_assert(KVC_ERR_QUOTA_EXCEEDED == static_cast<int>(Code::kQuotaExceeded));
static_assert(KVC_ERR_CORRUPT == static_cast<int>(Code::kCorrupt));
static_assert(KVC_ERR_IO == static_cast<int>(Code::kIoError));
static_assert(KVC_ERR_NO_SPACE == static_cast<int>(Code::kNoSpace));
static_assert(KVC_ERR_INVALID_ARGUMENT == static_cast<int>(Code::kInvalidArgument));
static_assert(KVC_ERR_TIMEOUT == static_cast<int>(Code::kTimeout));
static_assert(KVC_ERR_BUSY == static_cast<int>(Code::kBusy));
static_assert(KVC_ERR_DROPPED == static_cast<int>(Code::kDropped));
static_assert(KVC_ERR_UNAVAILABLE == static_cast<int>(Code::kUnavailable));
static_assert(KVC_ERR_CANCELLED == static_cast<int>(Code::kCancelled));
static_assert(KVC_ERR_EXISTS == static_cast<int>(Code::kExists));
static_assert(KVC_ERR_PERMISSION_DENIED == static_cast<int>(Code::kPermissionDenied));
}  // namespace

kvc_status fail(kvc_status status, std::string message) {
  last_error = std::move(message);
  return status;
}

kvc_status fail(const Status& status) {
  if (status.ok()) return fail(KVC_ERR_INTERNAL, "an error without a code (a bug in kvc: please report)");
  return fail(static_cast<kvc_status>(status.code()), status.message());
}

kvc_status succeed() {
  last_error.clear();
  return KVC_OK;
}

kvc_status guarded_call(std::string_view what, kvc_status (*body)(void*), void* ctx) {
  try {
    return body(ctx);
  } catch (const std::bad_alloc&) {
    try {
      return fail(KVC_ERR_OUT_OF_MEMORY, std::string(what) + ": out of memory");
    } catch (...) {
      return KVC_ERR_OUT_OF_MEMORY;  // not even the message fits
    }
  } catch (const std::exception& e) {
    try {
      return fail(KVC_ERR_INTERNAL, std::string(what) + ": unexpected failure: " + e.what() +
                                        " (a bug in kvc: please report)");
    } catch (...) {
      return KVC_ERR_INTERNAL;
    }
  } catch (...) {
    try {
      return fail(KVC_ERR_INTERNAL, std::string(what) + ": unexpected failure (a bug in kvc: please report)");
    } catch (...) {
      return KVC_ERR_INTERNAL;
    }
  }
}

KeyNamespace to_namespace(const kvc_namespace& ns) {
  KeyNamespace out;
  std::memcpy(out.fingerprint.data(), ns.fingerprint, out.fingerprint.size());
  out.quant = ns.quant;
  std::memcpy(out.ctx_hash.data(), ns.ctx_hash, out.ctx_hash.size());
  return out;
}

kvc_tier_kind to_c_tier(TierKind kind) {
  switch (kind) {
    case TierKind::kRam: return KVC_TIER_RAM;
    case TierKind::kRamFile: return KVC_TIER_RAM_FILE;
    case TierKind::kDisk:
    case TierKind::kRemote: break;
  }
  return KVC_TIER_DISK;
}

Key to_key(const kvc_key& key) {
  Key out;
  std::memcpy(out.bytes.data(), key.bytes, out.bytes.size());
  return out;
}

kvc_key from_key(const Key& key) {
  kvc_key out;
  std::memcpy(out.bytes, key.bytes.data(), sizeof out.bytes);
  return out;
}

}  // namespace kvc::capi

extern "C" {

const char* kvc_last_error(void) { return kvc::capi::last_error.c_str(); }

const char* kvc_status_name(kvc_status status) {
  const int v = kvc::capi::enum_value(status);
  switch (v) {
    case KVC_OK: return "ok";
    case KVC_ERR_CLOSED: return "closed";
    case KVC_ERR_RELEASED: return "released";
    case KVC_ERR_OUT_OF_MEMORY: return "out_of_memory";
    case KVC_ERR_INTERNAL: return "internal";
    default: break;
  }
  if (v > 0 && v <= static_cast<int>(kvc::Code::kPermissionDenied))
    return kvc::code_name(static_cast<kvc::Code>(v)).data();  // static, NUL-terminated literals
  return "unknown";
}

}  // extern "C"
