// Uses the installed C++ headers (key.h, status.h, buffer.h, options.h,
// version.h) and the C API together through kvc::kvc: derives a key both ways and
// checks they agree, then saves, finds and loads a row in DIR (argv[1]).
#include <kvc/buffer.h>
#include <kvc/key.h>
#include <kvc/kvc.h>
#include <kvc/options.h>
#include <kvc/status.h>

#include <cstdio>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  kvc::KeyNamespace ns;
  ns.fingerprint.fill(7);
  ns.quant = kvc::quant_byte("q4_0");
  std::vector<std::uint32_t> tokens(40);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::uint32_t>(i * 3 + 1);
  const kvc::Key cxx_key = kvc::derive_key(ns, tokens);

  kvc_namespace cns{};
  std::memcpy(cns.fingerprint, ns.fingerprint.data(), 32);
  cns.quant = ns.quant;
  kvc_key c_key;
  if (kvc_key_derive(&cns, tokens.data(), tokens.size(), &c_key) != KVC_OK ||
      std::memcmp(c_key.bytes, cxx_key.bytes.data(), 32) != 0) {
    std::fprintf(stderr, "kvc_cxx_consumer: the C and C++ keys differ\n");
    return 1;
  }
  kvc::SavePolicy policy;
  if (!policy.validate().ok()) return 1;

  kvc_tier_options disk{KVC_TIER_DISK, argv[1], 1u << 20, KVC_POLICY_WRITE_THROUGH, 1};
  kvc_cache_options o = kvc_cache_default_options();
  o.tiers = &disk;
  o.n_tiers = 1;
  o.min_tokens = o.cold_min_tokens = 8;
  o.boundary_align_tokens = 8;
  kvc_cache* cache = nullptr;
  if (kvc_cache_open(&o, &cache) != KVC_OK) {
    std::fprintf(stderr, "kvc_cxx_consumer: %s\n", kvc_last_error());
    return 1;
  }
  auto payload = kvc::ByteBuffer::copy_of(std::as_bytes(std::span(tokens)));
  kvc_save_params p = kvc_save_default_params();
  p.ns = cns;
  p.tokens = tokens.data();
  p.n_tokens = tokens.size();
  p.payload = payload.data();
  p.payload_size = payload.size();
  kvc_status s = kvc_cache_save(cache, &p, nullptr);
  kvc_lease* lease = nullptr;
  kvc_payload* row = nullptr;
  const bool ok = (s == KVC_OK || s == KVC_ERR_ALREADY_PRESENT) && kvc_cache_checkout(cache, &c_key, &lease) == KVC_OK &&
                  kvc_lease_load(lease, &row) == KVC_OK && kvc_payload_size(row) == payload.size() &&
                  std::memcmp(kvc_payload_data(row), payload.data(), payload.size()) == 0;
  if (!ok) std::fprintf(stderr, "kvc_cxx_consumer: %s\n", kvc_last_error());
  kvc_payload_free(row);
  kvc_lease_free(lease);
  kvc_cache_free(cache);
  std::printf("kvc_cxx_consumer: key %s: %s\n", cxx_key.hex().substr(0, 16).c_str(), ok ? "found and verified" : "FAILED");
  return ok ? 0 : 1;
}
