// Saves the engine takes per cache.md §5: cold at the aligned boundary (with the
// logits there), continued every interval, finish, and shutdown.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {

std::vector<RowSnapshot> rows_with(Cache& c, SaveReason reason) {
  std::vector<RowSnapshot> out;
  for (auto& r : c.rows())
    if (r.info.header.save_reason == reason) out.push_back(r);
  return out;
}

TEST(SavePolicy, ColdAtTheAlignedBoundaryAndContinuedEveryInterval) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.cache.policy.continued_interval = 4;
  auto e = Engine::open(o);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  const auto p = random_prompt(150, 40);
  auto r = (*e)->complete(greedy(p, 10));
  ASSERT_TRUE(r.ok());
  (*e)->cache().flush();
  Cache& c = (*e)->cache();

  const auto cold = rows_with(c, SaveReason::kCold);
  ASSERT_EQ(cold.size(), 1u);
  EXPECT_EQ(*cold[0].info.tokens, std::vector<std::uint32_t>(p.begin(), p.begin() + 128));  // ⌊150/64⌋·64
  auto lease = c.checkout(cold[0].info.key);
  ASSERT_TRUE(lease.ok());
  auto file = c.load(*lease);
  ASSERT_TRUE(file.ok());
  Reference ref(model);
  auto ctx = ref.context();
  EXPECT_TRUE(bitwise_equal(file->meta().next_token_logits, ref.decode(ctx.get(), p, 0, 128)));
  EXPECT_EQ(file->meta().header.context_size, 1024u);
  EXPECT_EQ(file->meta().header.quant_bits, 16u);

  // Continued saves after 4 and 8 generated tokens (each decoded into the KV cache).
  const auto continued = rows_with(c, SaveReason::kContinued);
  std::vector<std::size_t> lengths;
  for (const auto& row : continued) lengths.push_back(row.info.tokens->size());
  std::sort(lengths.begin(), lengths.end());
  EXPECT_EQ(lengths, (std::vector<std::size_t>{p.size() + 4, p.size() + 8}));
  EXPECT_EQ(rows_with(c, SaveReason::kFinish).size(), 1u);
  const auto counters = c.counters();
  EXPECT_EQ(counters.saves_cold, 1u);
  EXPECT_EQ(counters.saves_continued, 2u);
  EXPECT_EQ(counters.saves_finish, 1u);

  // The time those four saves blocked the decode loop is reported, and the state
  // size was asked for only while the size model was unknown (two snapshots).
  EXPECT_EQ(r->report.saves, 4u);
  EXPECT_GT(r->report.save_blocked_ms, 0.0);
  const EngineStats stats = (*e)->stats();
  EXPECT_EQ(stats.saves, 4u);
  EXPECT_NEAR(static_cast<double>(stats.save_blocked_ns) / 1e6, r->report.save_blocked_ms, 1e-3);
  EXPECT_GE(stats.save_blocked_ns, stats.save_blocked_max_ns);
  EXPECT_EQ(stats.state_size_dry_runs, 2u);
}

TEST(SavePolicy, NoLookupsAndNoSavesWithTheCacheDisabled) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  const auto p = random_prompt(150, 42);
  std::vector<std::int32_t> reference;
  {
    auto e = open_engine(o);
    reference = run(*e, greedy(p)).tokens;
  }  // rows on disk
  o.cache_enabled = false;
  auto e = open_engine(o);
  const std::size_t rows = e->cache().rows().size();
  ASSERT_GT(rows, 0u);
  auto r = run(*e, greedy(p));
  EXPECT_EQ(r.report.path, LookupPath::kMiss);
  EXPECT_EQ(r.report.miss_reason, MissReason::kPolicy);
  EXPECT_EQ(r.report.prefilled_tokens, p.size());
  EXPECT_EQ(r.report.saves, 0u);
  EXPECT_FALSE(r.report.finish_key.has_value());
  EXPECT_EQ(r.tokens, reference);
  e->cache().flush();
  EXPECT_EQ(e->cache().rows().size(), rows);
  EXPECT_EQ(e->cache().counters().misses, 0u);
  EXPECT_EQ(e->stats().saves, 0u);
}

TEST(SavePolicy, ShutdownSavesLiveSequences) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = Engine::open(test_options(model, dir.path()));
  ASSERT_TRUE(e.ok());
  std::promise<void> started;
  auto req = greedy(random_prompt(60, 41), 900);
  bool first = true;
  req.on_text = [&](std::string_view) {
    if (first) started.set_value();
    first = false;
    return true;
  };
  auto fut = std::async(std::launch::async, [&] { return (*e)->complete(req); });
  started.get_future().wait();
  (*e)->shutdown();
  auto r = fut.get();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->report.finish_reason, FinishReason::kCancelled);
  EXPECT_FALSE(r->report.finish_key.has_value());
  const auto saved = rows_with((*e)->cache(), SaveReason::kShutdown);
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_GE(saved[0].info.tokens->size(), 60u);
  EXPECT_EQ((*e)->complete(greedy(random_prompt(20, 1))).status().code(), Code::kCancelled);
}

}  // namespace
}  // namespace kvc::engine::testing
