#include "tiers/tier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tiers/ram_tier.h"

namespace kvc::tiers {
namespace {

TEST(Tier, KindNames) {
  EXPECT_EQ(tier_kind_name(TierKind::kRam), "ram");
  EXPECT_EQ(tier_kind_name(TierKind::kRamFile), "ram_file");
  EXPECT_EQ(tier_kind_name(TierKind::kDisk), "disk");
  EXPECT_EQ(tier_kind_name(TierKind::kRemote), "remote");
  RamTier t(100);
  EXPECT_EQ(t.name(), "ram");
  EXPECT_EQ(t.kind(), TierKind::kRam);
  EXPECT_EQ(t.quota(), 100u);
}

TEST(Tier, ChargeCreditForce) {
  RamTier t(100);
  EXPECT_TRUE(t.try_charge(60));
  EXPECT_FALSE(t.try_charge(41));
  EXPECT_EQ(t.used(), 60u);
  EXPECT_TRUE(t.try_charge(40));
  EXPECT_EQ(t.used(), 100u);
  EXPECT_FALSE(t.try_charge(1));
  EXPECT_TRUE(t.try_charge(0));
  t.credit(30);
  EXPECT_EQ(t.used(), 70u);
  EXPECT_FALSE(t.try_charge(UINT64_MAX));  // no overflow in the comparison
  t.force_charge(50);                      // a scan found more than the quota
  EXPECT_EQ(t.used(), 120u);
  EXPECT_FALSE(t.try_charge(1));
  t.credit(1000);  // saturates instead of wrapping
  EXPECT_EQ(t.used(), 0u);
}

// Many threads charging and crediting: used() never exceeds the quota, and the
// final value equals what was charged minus what was credited.
TEST(Tier, ConcurrentChargesNeverExceedQuota) {
  constexpr std::uint64_t kQuota = 10'000;
  RamTier t(kQuota);
  std::atomic<bool> over{false};
  std::atomic<std::uint64_t> net{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 6; ++th) {
    threads.emplace_back([&, th] {
      std::vector<std::uint64_t> held;
      for (int i = 0; i < 20'000; ++i) {
        const std::uint64_t n = 1 + static_cast<std::uint64_t>((i * 7919 + th * 104729) % 997);
        if (t.try_charge(n)) {
          held.push_back(n);
          net.fetch_add(n);
        }
        if (t.used() > kQuota) over = true;
        if (held.size() > 3 || (i % 5 == 0 && !held.empty())) {
          t.credit(held.back());
          net.fetch_sub(held.back());
          held.pop_back();
        }
      }
      for (auto n : held) {
        t.credit(n);
        net.fetch_sub(n);
      }
    });
  }
  // A watcher thread samples too.
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done) if (t.used() > kQuota) over = true;
  });
  for (auto& th : threads) th.join();
  done = true;
  sampler.join();
  EXPECT_FALSE(over.load());
  EXPECT_EQ(net.load(), 0u);
  EXPECT_EQ(t.used(), 0u);
}

}  // namespace
}  // namespace kvc::tiers
