// A recurrent model (kvc-mkmodel's tiny-mamba, llama.cpp's recurrent memory):
// its state cannot drop cells at the end (a partial llama_memory_seq_rm fails),
// so a row covering the whole prompt can serve it only with stored logits there;
// without them the engine must start cold, never apply the last token twice.
#include <gtest/gtest.h>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {

std::vector<std::uint32_t> u32(const std::vector<std::int32_t>& v) { return {v.begin(), v.end()}; }

#define KVC_REQUIRE_MAMBA(path)                                                    \
  const std::string path = ::kvc::engine::testing::tiny_model_of("tiny-mamba");  \
  if (path.empty()) GTEST_SKIP() << "KVC_MKMODEL is not set (run through ctest)"

TEST(RecurrentModel, PartialSeqRmFails) {
  KVC_REQUIRE_MAMBA(model);
  Reference ref(model);
  auto ctx = ref.context();
  ASSERT_TRUE(llama_model_is_recurrent(llama_get_model(ctx.get())));
  const auto p = random_prompt(40, 31);
  ref.decode(ctx.get(), p, 0, p.size());
  EXPECT_FALSE(llama_memory_seq_rm(llama_get_memory(ctx.get()), 0, 39, -1));
}

TEST(RecurrentModel, RowWithoutLogitsAtThePromptEndStartsCold) {
  KVC_REQUIRE_MAMBA(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.sticky_sessions = false;
  auto e = open_engine(o);
  const auto p = random_prompt(100, 32);
  auto first = run(*e, greedy(p));
  ASSERT_TRUE(first.report.finish_key);
  e->cache().flush();
  auto whole = p;
  whole.insert(whole.end(), first.tokens.begin(), first.tokens.end());  // the finish row's tokens
  resave_without_logits(*e, *first.report.finish_key);

  // The exact row of the prompt, but no logits: re-decoding its last token would
  // need seq_rm(len - 1), which a recurrent state refuses. Cold, not a failure.
  auto r = run(*e, greedy(whole));
  EXPECT_EQ(r.report.path, LookupPath::kMiss);
  EXPECT_EQ(r.report.miss_reason, MissReason::kPolicy);
  EXPECT_FALSE(r.report.restored_key.has_value());
  EXPECT_EQ(r.report.cached_tokens, 0u);
  EXPECT_EQ(r.report.prefilled_tokens, whole.size());
  EXPECT_EQ(r.tokens, cold_reference(model, whole));
  EXPECT_EQ(e->cache().counters().restore_failures, 0u);  // the row is fine, only unusable here
}

TEST(RecurrentModel, StoredLogitsServeTheWholePromptWithNoDecode) {
  KVC_REQUIRE_MAMBA(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.sticky_sessions = false;
  auto e = open_engine(o);
  const auto p = random_prompt(128, 33);  // aligned: the cold row is the whole prompt, with 0x0A
  auto cold = run(*e, greedy(p));
  e->cache().flush();
  auto warm = run(*e, greedy(p));
  EXPECT_EQ(warm.report.path, LookupPath::kExact);
  EXPECT_EQ(warm.report.restored_key, derive_key(e->key_namespace(), u32(p)));
  EXPECT_TRUE(warm.report.logits_from_cache);
  EXPECT_EQ(warm.report.prefilled_tokens, 0u);
  EXPECT_EQ(warm.tokens, cold.tokens);

  // The next turn continues the finish row (it ends exactly at a prefix boundary).
  auto next = p;
  next.insert(next.end(), cold.tokens.begin(), cold.tokens.end());
  const auto more = random_prompt(20, 34);
  next.insert(next.end(), more.begin() + 1, more.end());
  auto t2 = run(*e, greedy(next));
  EXPECT_EQ(t2.report.cached_tokens, p.size() + cold.tokens.size());
  EXPECT_EQ(t2.report.prefilled_tokens, 19u);
  EXPECT_EQ(t2.tokens, cold_reference(model, next));
}

}  // namespace
}  // namespace kvc::engine::testing
