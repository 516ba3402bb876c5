// kvc.h saves, lookups, leases and loads from C++, against a real cache on a
// temp dir: round trips, reopen, gc, and the error paths — bad arguments, a key
// not found, a released lease.
#include "kvc/kvc.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "capi/c_api_test_util.h"

namespace {

using namespace kvc::capi::testing;

TEST_F(CApiTest, SaveFindLoadVerifyAndStats) {
  const auto tokens = prompt(8);
  const auto bytes = payload_bytes(100'000, 3);
  kvc_key key;
  ASSERT_EQ(save(tokens, bytes, &key), KVC_OK) << kvc_last_error();

  // Exact.
  kvc_lease* lease = nullptr;
  ASSERT_EQ(kvc_cache_checkout(cache_, &key, &lease), KVC_OK) << kvc_last_error();
  kvc_key leased;
  size_t n = 0;
  ASSERT_EQ(kvc_lease_key(lease, &leased, &n), KVC_OK);
  EXPECT_EQ(0, std::memcmp(leased.bytes, key.bytes, 32));
  EXPECT_EQ(n, tokens.size());
  kvc_lease_free(lease);

  // Longest prefix of a longer prompt, then load and compare the bytes.
  auto longer = tokens;
  longer.push_back(11);
  longer.push_back(12);
  const auto ns = test_ns();
  kvc_prefix_match m;
  ASSERT_EQ(kvc_cache_longest_prefix(cache_, &ns, longer.data(), longer.size(), 1, &lease, &m), KVC_OK)
      << kvc_last_error();
  EXPECT_EQ(m.length, tokens.size());
  EXPECT_EQ(m.row_length, tokens.size());
  kvc_payload* p = nullptr;
  ASSERT_EQ(kvc_lease_load(lease, &p), KVC_OK) << kvc_last_error();
  ASSERT_EQ(kvc_payload_size(p), bytes.size());
  EXPECT_EQ(0, std::memcmp(kvc_payload_data(p), bytes.data(), bytes.size()));
  EXPECT_EQ(kvc_payload_tier(p), KVC_TIER_DISK);
  size_t n_logits = 9;
  EXPECT_EQ(kvc_payload_next_token_logits(p, &n_logits), nullptr);
  EXPECT_EQ(n_logits, 0u);
  kvc_payload_free(p);
  kvc_lease_free(lease);

  // Any prefix of a prompt that diverges after 6 tokens: the row must be truncated.
  auto diverged = tokens;
  diverged[6] ^= 1;
  ASSERT_EQ(kvc_cache_any_prefix(cache_, &ns, diverged.data(), diverged.size(), true, 1, &lease, &m), KVC_OK);
  EXPECT_EQ(m.length, 6u);
  EXPECT_EQ(m.row_length, 8u);
  kvc_lease_free(lease);
  EXPECT_FAILS(kvc_cache_any_prefix(cache_, &ns, diverged.data(), diverged.size(), false, 1, &lease, &m),
               KVC_ERR_NOT_FOUND, "no saved prefix");
  EXPECT_EQ(lease, nullptr);
  ASSERT_EQ(kvc_cache_note_miss(cache_), KVC_OK);

  kvc_stats s;
  ASSERT_EQ(kvc_cache_stats(cache_, &s), KVC_OK);
  EXPECT_EQ(s.saves_cold, 1u);
  EXPECT_EQ(s.hits_exact, 1u);
  EXPECT_EQ(s.hits_longest_prefix, 1u);
  EXPECT_EQ(s.hits_any_prefix, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.n_tiers, 1u);
  kvc_tier_stats t;
  ASSERT_EQ(kvc_cache_tier_stats(cache_, 0, &t), KVC_OK);
  EXPECT_EQ(t.kind, KVC_TIER_DISK);
  EXPECT_EQ(t.rows, 1u);
  EXPECT_GT(t.used_bytes, bytes.size());
  EXPECT_EQ(t.quota_bytes, 64ull << 20);
  EXPECT_FAILS(kvc_cache_tier_stats(cache_, 1, &t), KVC_ERR_INVALID_ARGUMENT, "tier = 1");
  EXPECT_FAILS(kvc_cache_stats(cache_, nullptr), KVC_ERR_INVALID_ARGUMENT, "out_stats is NULL");
}

TEST_F(CApiTest, LogitsAndMetadataRoundTripAndRowsSurviveAReopen) {
  const auto tokens = prompt(12, 7);
  const auto bytes = payload_bytes(4096, 9);
  const std::vector<float> logits = {0.5f, -1.25f, 3.0f};
  kvc_save_params p = kvc_save_default_params();
  p.ns = test_ns();
  p.tokens = tokens.data();
  p.n_tokens = tokens.size();
  p.payload = bytes.data();
  p.payload_size = bytes.size();
  p.reason = KVC_SAVE_FINISH;
  p.next_token_logits = logits.data();
  p.n_next_token_logits = logits.size();
  p.prompt_text = "hello";
  p.reason_detail = "test";
  p.background = true;
  kvc_key key;
  ASSERT_EQ(kvc_cache_save(cache_, &p, &key), KVC_OK) << kvc_last_error();
  size_t dropped = 99;
  ASSERT_EQ(kvc_cache_flush(cache_, 30'000, &dropped), KVC_OK);
  EXPECT_EQ(dropped, 0u);
  kvc_cache_free(cache_);
  cache_ = nullptr;

  ASSERT_EQ(open(&cache_), KVC_OK) << kvc_last_error();
  kvc_lease* lease = nullptr;
  ASSERT_EQ(kvc_cache_checkout(cache_, &key, &lease), KVC_OK) << kvc_last_error();
  kvc_payload* loaded = nullptr;
  ASSERT_EQ(kvc_lease_load(lease, &loaded), KVC_OK) << kvc_last_error();
  size_t n = 0;
  const float* got = kvc_payload_next_token_logits(loaded, &n);
  ASSERT_EQ(n, logits.size());
  EXPECT_EQ(0, std::memcmp(got, logits.data(), n * sizeof(float)));
  kvc_lease_free(lease);
  kvc_cache_free(cache_);  // the payload outlives the cache and the lease
  cache_ = nullptr;
  ASSERT_EQ(kvc_payload_size(loaded), bytes.size());
  EXPECT_EQ(0, std::memcmp(kvc_payload_data(loaded), bytes.data(), bytes.size()));
  kvc_payload_free(loaded);
}

TEST_F(CApiTest, BadSaveParametersAreNamed) {
  const auto tokens = prompt(8);
  const auto bytes = payload_bytes(64, 1);
  kvc_save_params p = kvc_save_default_params();
  p.ns = test_ns();
  EXPECT_FAILS(kvc_cache_save(cache_, nullptr, nullptr), KVC_ERR_INVALID_ARGUMENT, "params is NULL");
  EXPECT_FAILS(kvc_cache_save(nullptr, &p, nullptr), KVC_ERR_INVALID_ARGUMENT, "cache is NULL");
  EXPECT_FAILS(kvc_cache_save(cache_, &p, nullptr), KVC_ERR_INVALID_ARGUMENT, "n_tokens is 0");
  p.n_tokens = tokens.size();
  EXPECT_FAILS(kvc_cache_save(cache_, &p, nullptr), KVC_ERR_INVALID_ARGUMENT, "params.tokens is NULL");
  p.tokens = tokens.data();
  EXPECT_FAILS(kvc_cache_save(cache_, &p, nullptr), KVC_ERR_INVALID_ARGUMENT, "payload_size is 0");
  p.payload_size = bytes.size();
  EXPECT_FAILS(kvc_cache_save(cache_, &p, nullptr), KVC_ERR_INVALID_ARGUMENT, "params.payload is NULL");
  p.payload = bytes.data();
  p.n_next_token_logits = 4;
  EXPECT_FAILS(kvc_cache_save(cache_, &p, nullptr), KVC_ERR_INVALID_ARGUMENT, "n_next_token_logits = 4");
  p.n_next_token_logits = 0;
  set_raw(p.reason, 9);
  EXPECT_FAILS(kvc_cache_save(cache_, &p, nullptr), KVC_ERR_INVALID_ARGUMENT, "params.reason = 9");
  p.reason = KVC_SAVE_COLD;
  set_raw(p.fingerprint_mode, 3);
  EXPECT_FAILS(kvc_cache_save(cache_, &p, nullptr), KVC_ERR_INVALID_ARGUMENT, "params.fingerprint_mode = 3");
  p.fingerprint_mode = KVC_FINGERPRINT_SAFE;
  kvc_key key;
  ASSERT_EQ(kvc_cache_save(cache_, &p, &key), KVC_OK) << kvc_last_error();
  EXPECT_EQ(kvc_cache_save(cache_, &p, &key), KVC_ERR_ALREADY_PRESENT);
  p.n_tokens = 2;  // below the tier's min_tokens (4)
  EXPECT_EQ(kvc_cache_save(cache_, &p, &key), KVC_ERR_DROPPED);
}

TEST_F(CApiTest, MissesAndBadLookupArguments) {
  const auto ns = test_ns();
  const auto tokens = prompt(8);
  kvc_key key;
  ASSERT_EQ(kvc_key_derive(&ns, tokens.data(), tokens.size(), &key), KVC_OK);
  kvc_lease* lease = reinterpret_cast<kvc_lease*>(0x1);
  EXPECT_FAILS(kvc_cache_checkout(cache_, &key, &lease), KVC_ERR_NOT_FOUND, "");
  EXPECT_EQ(lease, nullptr);
  EXPECT_FAILS(kvc_cache_checkout(cache_, nullptr, &lease), KVC_ERR_INVALID_ARGUMENT, "key is NULL");
  EXPECT_FAILS(kvc_cache_checkout(cache_, &key, nullptr), KVC_ERR_INVALID_ARGUMENT, "out_lease is NULL");
  EXPECT_FAILS(kvc_cache_checkout(nullptr, &key, &lease), KVC_ERR_INVALID_ARGUMENT, "cache is NULL");
  kvc_prefix_match m{5, 5, true};
  EXPECT_FAILS(kvc_cache_longest_prefix(cache_, &ns, tokens.data(), tokens.size(), 1, &lease, &m),
               KVC_ERR_NOT_FOUND, "no saved prefix");
  EXPECT_EQ(m.length, 0u);
  EXPECT_FALSE(m.busy_seen);
  EXPECT_FAILS(kvc_cache_longest_prefix(cache_, nullptr, tokens.data(), tokens.size(), 1, &lease, nullptr),
               KVC_ERR_INVALID_ARGUMENT, "ns is NULL");
  EXPECT_FAILS(kvc_cache_longest_prefix(cache_, &ns, nullptr, 3, 1, &lease, nullptr), KVC_ERR_INVALID_ARGUMENT,
               "n_tokens = 3");
  EXPECT_FAILS(kvc_cache_any_prefix(cache_, &ns, tokens.data(), 0, true, 1, &lease, nullptr),
               KVC_ERR_INVALID_ARGUMENT, "n_tokens is 0");
  EXPECT_FAILS(kvc_cache_remove(cache_, &key), KVC_ERR_NOT_FOUND, "");
  EXPECT_FAILS(kvc_cache_remove(cache_, nullptr), KVC_ERR_INVALID_ARGUMENT, "key is NULL");
  EXPECT_FAILS(kvc_lease_load(nullptr, nullptr), KVC_ERR_INVALID_ARGUMENT, "out_payload is NULL");
  kvc_payload* p = nullptr;
  EXPECT_FAILS(kvc_lease_load(nullptr, &p), KVC_ERR_INVALID_ARGUMENT, "lease is NULL");
  EXPECT_FAILS(kvc_lease_release(nullptr), KVC_ERR_INVALID_ARGUMENT, "lease is NULL");
  EXPECT_EQ(kvc_payload_data(nullptr), nullptr);
  EXPECT_EQ(kvc_payload_size(nullptr), 0u);
  kvc_lease_free(nullptr);
  kvc_payload_free(nullptr);
}

TEST_F(CApiTest, AReleasedLeaseAnswersReleasedAndRemoveWaitsForIt) {
  const auto tokens = prompt(8);
  kvc_key key;
  ASSERT_EQ(save(tokens, payload_bytes(512, 2), &key), KVC_OK);
  kvc_lease* lease = nullptr;
  ASSERT_EQ(kvc_cache_checkout(cache_, &key, &lease), KVC_OK);
  EXPECT_FAILS(kvc_cache_remove(cache_, &key), KVC_ERR_BUSY, "");  // leased rows stay
  ASSERT_EQ(kvc_lease_release(lease), KVC_OK);
  kvc_payload* p = nullptr;
  EXPECT_FAILS(kvc_lease_load(lease, &p), KVC_ERR_RELEASED, "kvc_lease_load: the lease was released");
  EXPECT_EQ(p, nullptr);
  kvc_key k;
  EXPECT_FAILS(kvc_lease_key(lease, &k, nullptr), KVC_ERR_RELEASED, "kvc_lease_key");
  EXPECT_FAILS(kvc_lease_release(lease), KVC_ERR_RELEASED, "kvc_lease_release");
  kvc_lease_free(lease);
  ASSERT_EQ(kvc_cache_remove(cache_, &key), KVC_OK) << kvc_last_error();
  EXPECT_EQ(kvc_cache_checkout(cache_, &key, &lease), KVC_ERR_NOT_FOUND);
}

TEST_F(CApiTest, GcFreesUnleasedRows) {
  kvc_key a, b;
  ASSERT_EQ(save(prompt(8, 1), payload_bytes(1000, 1), &a), KVC_OK);
  ASSERT_EQ(save(prompt(8, 2), payload_bytes(1000, 2), &b), KVC_OK);
  kvc_lease* held = nullptr;
  ASSERT_EQ(kvc_cache_checkout(cache_, &b, &held), KVC_OK);
  uint64_t freed = 0;
  ASSERT_EQ(kvc_cache_gc(cache_, &freed), KVC_OK);
  EXPECT_GT(freed, 1000u);
  kvc_lease* lease = nullptr;
  EXPECT_EQ(kvc_cache_checkout(cache_, &a, &lease), KVC_ERR_NOT_FOUND);
  kvc_tier_stats t;
  ASSERT_EQ(kvc_cache_tier_stats(cache_, 0, &t), KVC_OK);
  EXPECT_EQ(t.rows, 1u);  // the leased row stayed
  kvc_lease_free(held);
  ASSERT_EQ(kvc_cache_gc(cache_, nullptr), KVC_OK);
  ASSERT_EQ(kvc_cache_tier_stats(cache_, 0, &t), KVC_OK);
  EXPECT_EQ(t.rows, 0u);
}

}  // namespace
