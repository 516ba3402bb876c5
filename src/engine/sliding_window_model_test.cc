// A sliding-window model (kvc-mkmodel's tiny-gemma2: a window of 32 positions on
// every other layer, llama.cpp's iSWA cache). Its restored state no longer holds
// the positions that left the window, so rows are used only where they end (no
// truncation), and a restore must not mistake the missing early positions for a
// broken state.
#include <gtest/gtest.h>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {

std::vector<std::uint32_t> u32(const std::vector<std::int32_t>& v) { return {v.begin(), v.end()}; }

#define KVC_REQUIRE_GEMMA2(path)                                                    \
  const std::string path = ::kvc::engine::testing::tiny_model_of("tiny-gemma2");  \
  if (path.empty()) GTEST_SKIP() << "KVC_MKMODEL is not set (run through ctest)"

TEST(SlidingWindowModel, IsLoadedWithAWindow) {
  KVC_REQUIRE_GEMMA2(model);
  Reference ref(model);
  EXPECT_EQ(llama_model_n_swa(ref.model()), 32);
  EXPECT_FALSE(llama_model_is_recurrent(ref.model()));
}

TEST(SlidingWindowModel, RowsLongerThanTheWindowAreRestored) {
  KVC_REQUIRE_GEMMA2(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.sticky_sessions = false;
  auto e = open_engine(o);
  const auto p = random_prompt(128, 51);  // aligned: the cold row is the whole prompt, with 0x0A
  auto cold = run(*e, greedy(p));
  EXPECT_EQ(cold.tokens, cold_reference(model, p));
  e->cache().flush();

  auto warm = run(*e, greedy(p));
  EXPECT_EQ(warm.report.path, LookupPath::kExact);
  EXPECT_EQ(warm.report.restored_key, derive_key(e->key_namespace(), u32(p)));
  EXPECT_TRUE(warm.report.logits_from_cache);
  EXPECT_EQ(warm.report.prefilled_tokens, 0u);
  EXPECT_EQ(warm.tokens, cold.tokens);
  EXPECT_EQ(e->cache().counters().restore_failures, 0u);

  // The next turn continues the finish row, which ends exactly at a prefix of it.
  auto next = p;
  next.insert(next.end(), cold.tokens.begin(), cold.tokens.end());
  const auto more = random_prompt(30, 52);
  next.insert(next.end(), more.begin() + 1, more.end());
  auto t2 = run(*e, greedy(next));
  EXPECT_EQ(t2.report.cached_tokens, p.size() + cold.tokens.size());
  EXPECT_EQ(t2.report.prefilled_tokens, 29u);
  EXPECT_EQ(t2.tokens, cold_reference(model, next));
  EXPECT_EQ(e->cache().counters().restore_failures, 0u);
}

// A row covering the whole prompt without logits there: the iSWA cache can drop
// its last cell (seq_rm of the tail succeeds), so the last token is re-decoded.
TEST(SlidingWindowModel, RowWithoutLogitsAtThePromptEndReDecodesItsLastToken) {
  KVC_REQUIRE_GEMMA2(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.sticky_sessions = false;
  auto e = open_engine(o);
  const auto p = random_prompt(100, 53);
  auto first = run(*e, greedy(p));
  ASSERT_TRUE(first.report.finish_key);
  e->cache().flush();
  auto whole = p;
  whole.insert(whole.end(), first.tokens.begin(), first.tokens.end());
  resave_without_logits(*e, *first.report.finish_key);

  auto r = run(*e, greedy(whole));
  EXPECT_EQ(r.report.path, LookupPath::kExact);
  EXPECT_FALSE(r.report.logits_from_cache);
  EXPECT_EQ(r.report.cached_tokens, whole.size() - 1);
  EXPECT_EQ(r.report.prefilled_tokens, 1u);
  EXPECT_EQ(r.tokens, cold_reference(model, whole));
  EXPECT_EQ(e->cache().counters().restore_failures, 0u);
}

}  // namespace
}  // namespace kvc::engine::testing
