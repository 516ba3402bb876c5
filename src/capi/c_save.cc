// kvc.h: saving rows and flushing the writers.
#include <chrono>
#include <cstring>
#include <string>

#include "capi/c_boundary.h"

namespace kvc::capi {
namespace {

constexpr const char* kSave = "kvc_cache_save";

kvc_status invalid(const std::string& what) {
  return fail(KVC_ERR_INVALID_ARGUMENT, std::string(kSave) + ": " + what);
}

// The C parameters as a SaveRequest (the payload copied into a pooled buffer).
kvc_status convert(const kvc_save_params& p, SaveRequest& r) {
  if (p.n_tokens == 0) return invalid("params.n_tokens is 0; a row needs at least one token");
  if (!p.tokens) return invalid("params.tokens is NULL but n_tokens = " + std::to_string(p.n_tokens));
  if (p.payload_size == 0) return invalid("params.payload_size is 0; a row needs a payload");
  if (!p.payload) return invalid("params.payload is NULL but payload_size = " + std::to_string(p.payload_size));
  if (!p.next_token_logits && p.n_next_token_logits > 0)
    return invalid("params.next_token_logits is NULL but n_next_token_logits = " +
                   std::to_string(p.n_next_token_logits));
  const int reason = enum_value(p.reason);
  if (reason < KVC_SAVE_UNKNOWN || reason > KVC_SAVE_FINISH)
    return invalid("params.reason = " + std::to_string(reason) + " is not a kvc_save_reason (0..5)");
  const int mode = enum_value(p.fingerprint_mode);
  if (mode < KVC_FINGERPRINT_SAFE || mode > KVC_FINGERPRINT_FAST_UNSAFE)
    return invalid("params.fingerprint_mode = " + std::to_string(mode) + " is not a kvc_fingerprint_mode (0..2)");
  r.ns = to_namespace(p.ns);
  r.fingerprint_mode = static_cast<kvc::FingerprintMode>(mode);
  r.tokens.assign(p.tokens, p.tokens + p.n_tokens);
  r.reason = static_cast<SaveReason>(reason);
  r.payload = ByteBuffer::copy_of({static_cast<const std::byte*>(p.payload), p.payload_size});
  if (p.n_next_token_logits > 0)
    r.next_token_logits.assign(p.next_token_logits, p.next_token_logits + p.n_next_token_logits);
  if (p.prompt_text) r.prompt_text = p.prompt_text;
  if (p.reason_detail) r.reason_detail = p.reason_detail;
  r.quant_bits = p.quant_bits;
  r.context_size = p.context_size;
  return KVC_OK;
}

}  // namespace
}  // namespace kvc::capi

using namespace kvc::capi;

extern "C" {

kvc_save_params kvc_save_default_params(void) {
  kvc_save_params p;
  std::memset(&p, 0, sizeof p);
  p.reason = KVC_SAVE_UNKNOWN;
  p.fingerprint_mode = KVC_FINGERPRINT_SAFE;
  p.background = false;
  p.deadline_ms = 30'000;
  return p;
}

kvc_status kvc_cache_save(kvc_cache* cache, const kvc_save_params* params, kvc_key* out_key) {
  if (!params) return null_argument(kSave, "params");
  return with_open_cache(cache, kSave, [&](kvc::Cache& c) -> kvc_status {
    kvc::SaveRequest r;
    if (kvc_status s = convert(*params, r); s != KVC_OK) return s;
    auto key = params->background ? c.save_async(std::move(r))
                                  : c.save(std::move(r), std::chrono::milliseconds(params->deadline_ms));
    if (!key.ok()) return fail(key.status());
    if (out_key) *out_key = from_key(*key);
    return succeed();
  });
}

kvc_status kvc_cache_flush(kvc_cache* cache, uint32_t deadline_ms, size_t* out_dropped) {
  return with_open_cache(cache, "kvc_cache_flush", [&](kvc::Cache& c) -> kvc_status {
    const std::size_t dropped = c.flush(std::chrono::milliseconds(deadline_ms));
    if (out_dropped) *out_dropped = dropped;
    return succeed();
  });
}

}  // extern "C"
