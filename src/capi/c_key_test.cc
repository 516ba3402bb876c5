// kvc.h keys and status names from C++: derivation matches the library, hex
// round trips, and bad arguments are named.
#include "kvc/kvc.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kvc/key.h"
#include "capi/c_api_test_util.h"

namespace {

using namespace kvc::capi::testing;

TEST(CApiKeys, DeriveMatchesTheLibraryAndHexRoundTrips) {
  const auto ns = test_ns();
  const auto tokens = prompt(10);
  kvc_key key;
  ASSERT_EQ(kvc_key_derive(&ns, tokens.data(), tokens.size(), &key), KVC_OK);
  EXPECT_STREQ(kvc_last_error(), "");
  kvc::KeyNamespace cns;
  std::memcpy(cns.fingerprint.data(), ns.fingerprint, 32);
  cns.quant = ns.quant;
  std::memcpy(cns.ctx_hash.data(), ns.ctx_hash, 32);
  const kvc::Key expected = kvc::derive_key(cns, tokens);
  EXPECT_EQ(0, std::memcmp(key.bytes, expected.bytes.data(), 32));

  char hex[KVC_KEY_HEX_CHARS + 1];
  ASSERT_EQ(kvc_key_to_hex(&key, hex, sizeof hex), KVC_OK);
  EXPECT_EQ(std::string(hex), expected.hex());
  kvc_key back;
  ASSERT_EQ(kvc_key_from_hex(hex, &back), KVC_OK);
  EXPECT_EQ(0, std::memcmp(back.bytes, key.bytes, 32));
  EXPECT_EQ(kvc_quant_byte("q8_0"), kvc::quant_byte("q8_0"));
  EXPECT_EQ(kvc_quant_byte("no-such-type"), 255);
  EXPECT_EQ(kvc_quant_byte(nullptr), 255);
}

TEST(CApiKeys, BadArgumentsAreNamed) {
  const auto ns = test_ns();
  kvc_key key;
  EXPECT_FAILS(kvc_key_derive(nullptr, nullptr, 0, &key), KVC_ERR_INVALID_ARGUMENT, "ns is NULL");
  EXPECT_FAILS(kvc_key_derive(&ns, nullptr, 0, nullptr), KVC_ERR_INVALID_ARGUMENT, "out_key is NULL");
  EXPECT_FAILS(kvc_key_derive(&ns, nullptr, 3, &key), KVC_ERR_INVALID_ARGUMENT, "n_tokens = 3");
  EXPECT_EQ(kvc_key_derive(&ns, nullptr, 0, &key), KVC_OK);  // the empty prefix has a key too
  char small[64];
  EXPECT_FAILS(kvc_key_to_hex(&key, small, sizeof small), KVC_ERR_INVALID_ARGUMENT, "out_size = 64");
  EXPECT_FAILS(kvc_key_to_hex(&key, nullptr, 65), KVC_ERR_INVALID_ARGUMENT, "out is NULL");
  EXPECT_FAILS(kvc_key_from_hex("abc", &key), KVC_ERR_INVALID_ARGUMENT, "kvc_key_from_hex");
  EXPECT_FAILS(kvc_key_from_hex(nullptr, &key), KVC_ERR_INVALID_ARGUMENT, "hex is NULL");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_NOT_FOUND), "not_found");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_CLOSED), "closed");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_RELEASED), "released");
  kvc_status odd;
  set_raw(odd, 77);
  EXPECT_STREQ(kvc_status_name(odd), "unknown");
}

}  // namespace
