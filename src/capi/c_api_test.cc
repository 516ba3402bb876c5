// The C API (include/kvc/kvc.h) from C++: round trips against a real cache on a
// temp dir, and every error path — bad arguments, a closed cache, a released
// lease, a key not found.
#include "kvc/kvc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kvc/key.h"
#include "support/temp_dir.h"

namespace {

using kvc::testing::TempDir;

kvc_namespace test_ns() {
  kvc_namespace ns;
  std::memset(ns.fingerprint, 0xa1, sizeof ns.fingerprint);
  ns.quant = kvc_quant_byte("f16");
  std::memset(ns.ctx_hash, 0x5c, sizeof ns.ctx_hash);
  return ns;
}

std::vector<uint32_t> prompt(std::size_t n, uint32_t seed = 1) {
  std::vector<uint32_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<uint32_t>((i + seed) * 2654435761u % 32000);
  return t;
}

std::vector<unsigned char> payload_bytes(std::size_t n, unsigned char salt) {
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

TEST(CApiOpen, BadOptionsAreNamed) {
  TempDir dir("capi-open");
  kvc_cache* c = reinterpret_cast<kvc_cache*>(0x1);  // overwritten with NULL on every error
  kvc_cache_options o = kvc_cache_default_options();
  EXPECT_FAILS(kvc_cache_open(nullptr, &c), KVC_ERR_INVALID_ARGUMENT, "options is NULL");
  EXPECT_EQ(c, nullptr);
  EXPECT_FAILS(kvc_cache_open(&o, nullptr), KVC_ERR_INVALID_ARGUMENT, "out_cache is NULL");
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "n_tiers is 0");
  o.n_tiers = 1;
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "options.tiers is NULL");
  kvc_tier_options t{KVC_TIER_DISK, dir.path().c_str(), 1 << 20, KVC_POLICY_WRITE_THROUGH, -1};
  o.tiers = &t;
  set_raw(t.kind, 7);
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "tiers[0].kind = 7");
  t.kind = KVC_TIER_DISK;
  set_raw(t.policy, -2);
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "tiers[0].policy = -2");
  t.policy = KVC_POLICY_ON_EVICT;
  t.dir = nullptr;
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "tiers[0].dir is NULL");
  t.dir = "";
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "tiers[0].dir is empty");
  kvc_tier_options ram{KVC_TIER_RAM, "/tmp", 1 << 20, KVC_POLICY_WRITE_THROUGH, -1};
  o.tiers = &ram;
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "set for a RAM tier");
  ram.dir = nullptr;
  ram.quota_bytes = 0;
  EXPECT_EQ(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT);  // the library names the quota
  EXPECT_NE(std::string(kvc_last_error()), "");
  ram.quota_bytes = 1 << 20;
  o.writer_threads = 0;
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "writer_threads = 0");
  o.writer_threads = 1;
  o.cold_min_tokens = o.min_tokens - 1;
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "cold_min");
  o.cold_min_tokens = o.min_tokens;
  o.n_tiers = 4;
  EXPECT_FAILS(kvc_cache_open(&o, &c), KVC_ERR_INVALID_ARGUMENT, "n_tiers = 4");
  o.n_tiers = 1;
  ASSERT_EQ(kvc_cache_open(&o, &c), KVC_OK) << kvc_last_error();
  EXPECT_STREQ(kvc_last_error(), "");
  kvc_cache_free(c);
  kvc_cache_free(nullptr);
}

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

TEST_F(CApiTest, AClosedCacheAnswersClosedEverywhere) {
  const auto tokens = prompt(8);
  const auto bytes = payload_bytes(256, 4);
  kvc_key key;
  ASSERT_EQ(save(tokens, bytes, &key), KVC_OK);
  kvc_lease* held = nullptr;
  ASSERT_EQ(kvc_cache_checkout(cache_, &key, &held), KVC_OK);

  ASSERT_EQ(kvc_cache_close(cache_), KVC_OK) << kvc_last_error();
  EXPECT_FAILS(kvc_cache_close(cache_), KVC_ERR_CLOSED, "already closed");
  const auto ns = test_ns();
  kvc_lease* lease = nullptr;
  kvc_stats s;
  kvc_tier_stats t;
  EXPECT_FAILS(save(tokens, bytes, nullptr), KVC_ERR_CLOSED, "kvc_cache_save: the cache was closed");
  EXPECT_FAILS(kvc_cache_checkout(cache_, &key, &lease), KVC_ERR_CLOSED, "kvc_cache_checkout");
  EXPECT_FAILS(kvc_cache_longest_prefix(cache_, &ns, tokens.data(), tokens.size(), 1, &lease, nullptr),
               KVC_ERR_CLOSED, "kvc_cache_longest_prefix");
  EXPECT_FAILS(kvc_cache_any_prefix(cache_, &ns, tokens.data(), tokens.size(), true, 1, &lease, nullptr),
               KVC_ERR_CLOSED, "kvc_cache_any_prefix");
  EXPECT_FAILS(kvc_cache_note_miss(cache_), KVC_ERR_CLOSED, "kvc_cache_note_miss");
  EXPECT_FAILS(kvc_cache_remove(cache_, &key), KVC_ERR_CLOSED, "kvc_cache_remove");
  EXPECT_FAILS(kvc_cache_gc(cache_, nullptr), KVC_ERR_CLOSED, "kvc_cache_gc");
  EXPECT_FAILS(kvc_cache_flush(cache_, 0, nullptr), KVC_ERR_CLOSED, "kvc_cache_flush");
  EXPECT_FAILS(kvc_cache_stats(cache_, &s), KVC_ERR_CLOSED, "kvc_cache_stats");
  EXPECT_FAILS(kvc_cache_tier_stats(cache_, 0, &t), KVC_ERR_CLOSED, "kvc_cache_tier_stats");
  // The lease taken before the close was released by it.
  kvc_payload* p = nullptr;
  EXPECT_FAILS(kvc_lease_load(held, &p), KVC_ERR_CLOSED, "the lease's cache was closed");
  EXPECT_FAILS(kvc_lease_release(held), KVC_ERR_CLOSED, "kvc_lease_release");
  kvc_cache_free(cache_);
  cache_ = nullptr;
  kvc_lease_free(held);  // after the cache is gone: still safe
}

TEST_F(CApiTest, CloseWaitsForCallsOnOtherThreads) {
  const auto tokens = prompt(8);
  kvc_key key;
  ASSERT_EQ(save(tokens, payload_bytes(2048, 5), &key), KVC_OK);
  std::atomic<bool> go{false};
  std::vector<std::thread> readers;
  std::atomic<int> unexpected{0};
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (;;) {
        kvc_lease* lease = nullptr;
        const kvc_status s = kvc_cache_checkout(cache_, &key, &lease);
        if (s == KVC_ERR_CLOSED) break;
        if (s != KVC_OK) {
          ++unexpected;
          break;
        }
        kvc_payload* p = nullptr;
        const kvc_status l = kvc_lease_load(lease, &p);
        if (l != KVC_OK && l != KVC_ERR_CLOSED) ++unexpected;
        kvc_payload_free(p);
        kvc_lease_free(lease);
      }
    });
  }
  go = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the readers get going (not a timing assertion)
  EXPECT_EQ(kvc_cache_close(cache_), KVC_OK) << kvc_last_error();
  for (auto& t : readers) t.join();
  EXPECT_EQ(unexpected.load(), 0);
}

}  // namespace
