// EvictionQueue: a min-heap of (value, key, sequence) with compaction.
#include "index/eviction_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

namespace kvc::index {
namespace {

Key key_of(std::uint8_t b) {
  Key k;
  k.bytes.fill(b);
  return k;
}

TEST(EvictionQueue, PopsLeastValueFirstTiesByKey) {
  EvictionQueue q;
  EXPECT_FALSE(q.pop().has_value());
  EXPECT_EQ(q.size(), 0u);
  q.push({30, key_of(1), 1});
  q.push({10, key_of(9), 2});
  q.push({20, key_of(3), 3});
  q.push({10, key_of(2), 4});
  q.push_all({{5, key_of(7), 5}, {30, key_of(0), 6}});
  q.push_all({});
  EXPECT_EQ(q.size(), 6u);
  std::vector<std::pair<std::int64_t, std::uint32_t>> order;  // (value, seq)
  while (auto i = q.pop()) order.emplace_back(i->value, i->seq);
  const std::vector<std::pair<std::int64_t, std::uint32_t>> expected = {{5, 5}, {10, 4}, {10, 2},
                                                                        {20, 3}, {30, 6}, {30, 1}};
  EXPECT_EQ(order, expected);
  EXPECT_EQ(q.size(), 0u);
}

TEST(EvictionQueue, ExtremeValuesOrderCorrectly) {
  EvictionQueue q;
  q.push({INT64_MAX, key_of(1), 1});
  q.push({INT64_MIN, key_of(2), 2});
  q.push({0, key_of(3), 3});
  EXPECT_EQ(q.pop()->seq, 2u);
  EXPECT_EQ(q.pop()->seq, 3u);
  EXPECT_EQ(q.pop()->seq, 1u);
}

TEST(EvictionQueue, CompactDropsRejectedItemsAndKeepsTheOrder) {
  EvictionQueue q;
  std::mt19937 rng(7);
  std::vector<EvictionQueue::Item> items;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    items.push_back({static_cast<std::int64_t>(rng() % 100), key_of(static_cast<std::uint8_t>(i)), i});
    q.push(items.back());
  }
  q.compact([](const EvictionQueue::Item& i) { return i.seq % 3 == 0; });
  EXPECT_EQ(q.size(), 334u);
  std::vector<EvictionQueue::Item> kept;
  for (const auto& i : items)
    if (i.seq % 3 == 0) kept.push_back(i);
  std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.value != b.value ? a.value < b.value : a.key < b.key;
  });
  std::int64_t last_value = INT64_MIN;
  std::size_t n = 0;
  while (auto i = q.pop()) {
    EXPECT_EQ(i->seq % 3, 0u);
    EXPECT_GE(i->value, last_value);
    EXPECT_EQ(i->value, kept[n].value);
    last_value = i->value;
    ++n;
  }
  EXPECT_EQ(n, kept.size());
}

// Thread-safe: concurrent pushes and pops lose and duplicate nothing.
TEST(EvictionQueue, ConcurrentPushAndPop) {
  EvictionQueue q;
  constexpr std::uint32_t kPerThread = 5000;
  std::vector<std::thread> pushers;
  for (std::uint32_t t = 0; t < 2; ++t) {
    pushers.emplace_back([&, t] {
      for (std::uint32_t i = 0; i < kPerThread; ++i)
        q.push({static_cast<std::int64_t>(i), key_of(static_cast<std::uint8_t>(t)), t * kPerThread + i + 1});
    });
  }
  std::vector<std::uint32_t> popped;
  std::thread popper([&] {
    while (popped.size() < kPerThread) {
      if (auto i = q.pop()) popped.push_back(i->seq);
    }
  });
  for (auto& t : pushers) t.join();
  popper.join();
  while (auto i = q.pop()) popped.push_back(i->seq);
  std::sort(popped.begin(), popped.end());
  ASSERT_EQ(popped.size(), 2u * kPerThread);
  for (std::uint32_t i = 0; i < popped.size(); ++i) EXPECT_EQ(popped[i], i + 1);
}

}  // namespace
}  // namespace kvc::index
