// kvc.h: keys and quant bytes.
#include <string>

#include "capi/c_boundary.h"

using namespace kvc::capi;

extern "C" {

kvc_status kvc_key_derive(const kvc_namespace* ns, const uint32_t* tokens, size_t n_tokens, kvc_key* out_key) {
  constexpr const char* fn = "kvc_key_derive";
  if (!ns) return null_argument(fn, "ns");
  if (!out_key) return null_argument(fn, "out_key");
  if (!tokens && n_tokens > 0)
    return fail(KVC_ERR_INVALID_ARGUMENT,
                std::string(fn) + ": tokens is NULL but n_tokens = " + std::to_string(n_tokens));
  return guarded(fn, [&]() -> kvc_status {
    *out_key = from_key(kvc::derive_key(to_namespace(*ns), {tokens, n_tokens}));
    return succeed();
  });
}

kvc_status kvc_key_to_hex(const kvc_key* key, char* out, size_t out_size) {
  constexpr const char* fn = "kvc_key_to_hex";
  if (!key) return null_argument(fn, "key");
  if (!out) return null_argument(fn, "out");
  if (out_size < KVC_KEY_HEX_CHARS + 1)
    return fail(KVC_ERR_INVALID_ARGUMENT, std::string(fn) + ": out_size = " + std::to_string(out_size) +
                                              "; the hex key and its NUL need " +
                                              std::to_string(KVC_KEY_HEX_CHARS + 1) + " bytes");
  return guarded(fn, [&]() -> kvc_status {
    const std::string hex = to_key(*key).hex();
    hex.copy(out, hex.size());
    out[hex.size()] = '\0';
    return succeed();
  });
}

kvc_status kvc_key_from_hex(const char* hex, kvc_key* out_key) {
  constexpr const char* fn = "kvc_key_from_hex";
  if (!hex) return null_argument(fn, "hex");
  if (!out_key) return null_argument(fn, "out_key");
  return guarded(fn, [&]() -> kvc_status {
    auto key = kvc::Key::from_hex(hex);
    if (!key.ok()) return fail(KVC_ERR_INVALID_ARGUMENT, std::string(fn) + ": " + key.status().message());
    *out_key = from_key(*key);
    return succeed();
  });
}

uint8_t kvc_quant_byte(const char* name) {
  if (!name) return kvc::kQuantOther;
  return kvc::quant_byte(name);  // no allocation: a table lookup
}

}  // extern "C"
