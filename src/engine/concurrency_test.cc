// Continuous batching: requests on 4 sequences, interleaved in shared batches,
// give the same greedy outputs as the same requests run one at a time.
#include <gtest/gtest.h>

#include <thread>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {

std::vector<std::vector<std::int32_t>> prompts_sharing_a_prefix() {
  const auto prefix = random_prompt(100, 20);
  std::vector<std::vector<std::int32_t>> out;
  for (std::uint32_t i = 0; i < 8; ++i) {
    auto p = prefix;
    const auto tail = random_prompt(2 + 9 * i, 30 + i);
    p.insert(p.end(), tail.begin() + 1, tail.end());
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<std::vector<std::int32_t>> run_all(Engine& e, const std::vector<std::vector<std::int32_t>>& prompts,
                                               int threads) {
  std::vector<std::vector<std::int32_t>> out(prompts.size());
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); i < prompts.size(); i += static_cast<std::size_t>(threads)) {
        auto r = e.complete(greedy(prompts[i], 6 + static_cast<int>(i % 3) * 5));
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        out[i] = r->tokens;
      }
    });
  }
  for (auto& th : pool) th.join();
  return out;
}

TEST(Concurrency, InterleavedSequencesMatchOneByOne) {
  KVC_REQUIRE_MODEL(model);
  const auto prompts = prompts_sharing_a_prefix();
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path(), 4);
  o.cache.policy.saves_enabled = false;
  auto opened = Engine::open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  Engine& e = **opened;
  const auto serial = run_all(e, prompts, 1);
  const auto parallel = run_all(e, prompts, 4);
  EXPECT_EQ(serial, parallel);
}

TEST(Concurrency, WarmInterleavedRequestsMatchOneByOne) {
  KVC_REQUIRE_MODEL(model);
  const auto prompts = prompts_sharing_a_prefix();
  std::vector<std::vector<std::int32_t>> serial;
  {
    kvc::testing::TempDir dir("kvc-engine");
    auto o = test_options(model, dir.path(), 4);
    o.cache.policy.saves_enabled = false;
    auto e = Engine::open(o);
    ASSERT_TRUE(e.ok());
    serial = run_all(**e, prompts, 1);
  }
  kvc::testing::TempDir dir("kvc-engine");
  auto e = Engine::open(test_options(model, dir.path(), 4));
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(run_all(**e, prompts, 4), serial);  // saves and hits interleave with decoding
  (*e)->cache().flush();
  EXPECT_EQ(run_all(**e, prompts, 4), serial);  // now every prompt has rows
  const auto c = (*e)->cache().counters();
  EXPECT_GE(c.hits_exact + c.hits_any_prefix, prompts.size());
}

}  // namespace
}  // namespace kvc::engine::testing
