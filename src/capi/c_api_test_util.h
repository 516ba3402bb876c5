// Shared by the C API's tests (c_*_test.cc): a namespace, prompts, payloads, a
// fixture with a cache on a disk tier in a temp dir, and EXPECT_FAILS.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kvc/kvc.h"
#include "support/temp_dir.h"

namespace kvc::capi::testing {

using kvc::testing::TempDir;

inline kvc_namespace test_ns() {
  kvc_namespace ns;
  std::memset(ns.fingerprint, 0xa1, sizeof ns.fingerprint);
  ns.quant = kvc_quant_byte("f16");
  std::memset(ns.ctx_hash, 0x5c, sizeof ns.ctx_hash);
  return ns;
}

inline std::vector<uint32_t> prompt(std::size_t n, uint32_t seed = 1) {
  std::vector<uint32_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<uint32_t>((i + seed) * 2654435761u % 32000);
  return t;
}

inline std::vector<unsigned char> payload_bytes(std::size_t n, unsigned char salt) {
  std::vector<unsigned char> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(i * 31 + salt);
  return b;
}

// Expects `status` and a last-error message containing `needle`.
// A C enum field holding an arbitrary int, as a C caller can store it (in C++ a
// static_cast outside the enumerators' range would be undefined).
template <class E>
void set_raw(E& field, int value) {
  static_assert(sizeof(E) == sizeof(int));
  std::memcpy(&field, &value, sizeof value);
}

#define EXPECT_FAILS(call, status, needle)                                        \
  do {                                                                            \
    EXPECT_EQ((call), (status)) << kvc_last_error();                              \
    EXPECT_NE(std::string(kvc_last_error()).find(needle), std::string::npos)      \
        << "message: " << kvc_last_error();                                       \
  } while (0)

class CApiTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(open(&cache_), KVC_OK) << kvc_last_error(); }
  void TearDown() override { kvc_cache_free(cache_); }

  kvc_status open(kvc_cache** out) {
    tier_ = {KVC_TIER_DISK, dir_.path().c_str(), 64ull << 20, KVC_POLICY_WRITE_THROUGH, -1};
    kvc_cache_options o = kvc_cache_default_options();
    o.tiers = &tier_;
    o.n_tiers = 1;
    o.min_tokens = o.cold_min_tokens = 4;
    o.boundary_align_tokens = 4;
    return kvc_cache_open(&o, out);
  }

  kvc_status save(const std::vector<uint32_t>& tokens, const std::vector<unsigned char>& bytes, kvc_key* key) {
    kvc_save_params p = kvc_save_default_params();
    p.ns = test_ns();
    p.tokens = tokens.data();
    p.n_tokens = tokens.size();
    p.payload = bytes.data();
    p.payload_size = bytes.size();
    p.reason = KVC_SAVE_COLD;
    return kvc_cache_save(cache_, &p, key);
  }

  TempDir dir_{"capi"};
  kvc_tier_options tier_{};
  kvc_cache* cache_ = nullptr;
};

}  // namespace kvc::capi::testing
