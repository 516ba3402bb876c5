// kvc.h opening and closing: bad options are named, a closed cache answers
// KVC_ERR_CLOSED everywhere (and its leases too), close waits for other threads.
#include "kvc/kvc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "capi/c_api_test_util.h"

namespace {

using namespace kvc::capi::testing;

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
