// EngineOptions::any_prefix_lookup: off, prefix hits come from the stride walk
// only (rows at multiples of boundary_align_tokens); on (default), from the
// any-token prefix index. Used by bench/engine_bench.cc to compare the two.
#include <gtest/gtest.h>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {

// First request: 150 tokens → a cold row at 128 (⌊150/64⌋·64) and a finish row of
// 150 + 8. Second: the same 150 tokens plus 30 others.
RequestReport grown_prompt_report(const std::string& model, const std::string& dir, bool any_prefix) {
  auto o = test_options(model, dir);
  o.any_prefix_lookup = any_prefix;
  o.sticky_sessions = false;  // the cache's paths, not the parked first request
  auto e = Engine::open(o);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  if (!e.ok()) return {};
  auto p = random_prompt(150, 60);
  auto first = (*e)->complete(greedy(p, 8));
  EXPECT_TRUE(first.ok());
  (*e)->cache().flush();
  const auto tail = random_prompt(31, 61);
  p.insert(p.end(), tail.begin() + 1, tail.end());
  auto second = (*e)->complete(greedy(p, 2));
  EXPECT_TRUE(second.ok());
  return second.ok() ? second->report : RequestReport{};
}

TEST(StrideOnlyLookup, AnyPrefixOffUsesTheStrideWalk) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir full_dir("kvc-engine"), stride_dir("kvc-engine");
  const RequestReport full = grown_prompt_report(model, full_dir.path(), true);
  EXPECT_EQ(full.path, LookupPath::kAnyPrefix);
  EXPECT_GE(full.cached_tokens, 150u);  // the finish row, truncated to the common prefix
  const RequestReport stride = grown_prompt_report(model, stride_dir.path(), false);
  EXPECT_EQ(stride.path, LookupPath::kLongestPrefix);
  EXPECT_EQ(stride.cached_tokens, 128u);  // the cold row at the aligned boundary
  EXPECT_EQ(stride.prompt_tokens, 180u);
}

}  // namespace
}  // namespace kvc::engine::testing
