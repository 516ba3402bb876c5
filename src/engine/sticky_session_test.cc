// Sticky sessions (engine.md §1 step 7): a finished request's sequence is parked
// and a follow-up continues on it with no restore; when a request needs the
// sequence, the parked one is evicted with an evict save (snapshot on the
// scheduler thread, write on the writer pool).
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {


// prompt + reply + `extra` new tokens: the next turn of a conversation.
std::vector<std::int32_t> next_turn(const std::vector<std::int32_t>& prompt, const CompletionResult& reply,
                                    std::size_t extra, std::uint32_t seed) {
  auto next = prompt;
  next.insert(next.end(), reply.tokens.begin(), reply.tokens.end());
  const auto more = random_prompt(extra + 1, seed);
  next.insert(next.end(), more.begin() + 1, more.end());
  return next;
}

const RowSnapshot* find_row(const std::vector<RowSnapshot>& rows, const Key& key) {
  for (const auto& r : rows)
    if (r.info.key == key) return &r;
  return nullptr;
}

TEST(StickySession, FollowUpContinuesOnTheParkedSequence) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  const auto p = random_prompt(100, 200);
  auto first = run(*e, greedy(p));
  ASSERT_TRUE(first.report.finish_key);

  const auto next = next_turn(p, first, 20, 201);
  auto req = greedy(next);
  req.parent_key = first.report.finish_key;
  auto second = run(*e, req);
  EXPECT_EQ(second.report.path, LookupPath::kResume);
  EXPECT_EQ(second.report.tier, "sequence");
  EXPECT_EQ(second.report.miss_reason, MissReason::kNone);
  EXPECT_EQ(second.report.cached_tokens, p.size() + first.tokens.size());
  EXPECT_EQ(second.report.prefilled_tokens, 20u);
  EXPECT_EQ(second.report.restore_ms, 0.0);
  EXPECT_FALSE(second.report.restored_key);
  EXPECT_EQ(second.tokens, cold_reference(model, next));

  // Third turn, no parent_key: the prompt still starts with the parked tokens.
  const auto third_prompt = next_turn(next, second, 10, 202);
  auto third = run(*e, greedy(third_prompt));
  EXPECT_EQ(third.report.tier, "sequence");
  EXPECT_EQ(third.report.cached_tokens, next.size() + second.tokens.size());
  EXPECT_EQ(third.tokens, cold_reference(model, third_prompt));

  // The same prompt again: the parked sequence ends with it, so sampling uses its logits.
  auto fourth_prompt = third_prompt;
  fourth_prompt.insert(fourth_prompt.end(), third.tokens.begin(), third.tokens.end());
  auto fourth = run(*e, greedy(fourth_prompt));
  EXPECT_EQ(fourth.report.tier, "sequence");
  EXPECT_EQ(fourth.report.prefilled_tokens, 0u);
  EXPECT_EQ(fourth.report.cached_tokens, fourth_prompt.size());
  EXPECT_EQ(fourth.tokens, cold_reference(model, fourth_prompt));
  e->shutdown();
  EXPECT_EQ(e->cache().counters().saves_evict, 0u);
}

TEST(StickySession, DivergingPromptTruncatesTheParkedSequence) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.cache.policy.saves_enabled = false;  // no cache row: the parked sequence is the only source
  auto e = open_engine(o);
  const auto a = random_prompt(200, 210);
  run(*e, greedy(a));
  auto b = std::vector<std::int32_t>(a.begin(), a.begin() + 150);
  const auto tail = random_prompt(41, 211);
  b.insert(b.end(), tail.begin() + 1, tail.end());
  auto rb = run(*e, greedy(b));
  EXPECT_EQ(rb.report.path, LookupPath::kResume);
  EXPECT_EQ(rb.report.tier, "sequence");
  EXPECT_EQ(rb.report.cached_tokens, 150u);
  EXPECT_EQ(rb.report.prefilled_tokens, 40u);
  EXPECT_EQ(rb.tokens, cold_reference(model, b));
}

TEST(StickySession, OneSequenceTwoConversationsEvictAndRestore) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  Cache& c = e->cache();
  const auto pa = random_prompt(90, 220);
  const auto pb = random_prompt(70, 221);

  auto a1 = run(*e, greedy(pa));
  ASSERT_TRUE(a1.report.finish_key);
  c.flush();
  // The finish row is lost (say, evicted by quota): only the parked sequence holds A.
  ASSERT_TRUE(c.remove(*a1.report.finish_key).ok());

  auto b1 = run(*e, greedy(pb));  // needs the only sequence: A is evicted with a save
  ASSERT_TRUE(b1.report.finish_key);
  c.flush();  // the evict save's write runs on the writer pool
  EXPECT_EQ(c.counters().saves_evict, 1u);
  {
    const auto rows = c.rows();
    const auto* row = find_row(rows, *a1.report.finish_key);
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->info.header.save_reason, SaveReason::kEvict);
    std::vector<std::uint32_t> expect(pa.begin(), pa.end());
    expect.insert(expect.end(), a1.tokens.begin(), a1.tokens.end());
    EXPECT_EQ(*row->info.tokens, expect);
  }

  // A's next turn resumes from the evict row (a restore), B is evicted (its finish row landed: a duplicate).
  c.flush();
  const auto dup_before = c.counters().duplicate_dropped;
  const EngineStats stats_before = e->stats();
  const auto na = next_turn(pa, a1, 15, 222);
  auto ra = greedy(na);
  ra.parent_key = a1.report.finish_key;
  auto a2 = run(*e, ra);
  EXPECT_EQ(a2.report.path, LookupPath::kResume);
  EXPECT_EQ(a2.report.tier, "disk");
  EXPECT_EQ(a2.report.restored_key, a1.report.finish_key);
  EXPECT_EQ(a2.report.cached_tokens, pa.size() + a1.tokens.size());
  EXPECT_EQ(a2.tokens, cold_reference(model, na));
  EXPECT_EQ(c.counters().saves_evict, 1u);
  EXPECT_EQ(c.counters().duplicate_dropped, dup_before + 1);
  // The duplicate was refused at the reservation: B's state was never serialised.
  EXPECT_EQ(e->stats().saves_without_snapshot, stats_before.saves_without_snapshot + 1);

  // B's next turn: restored from its finish row, same output as cold.
  const auto nb = next_turn(pb, b1, 12, 223);
  auto rqb = greedy(nb);
  rqb.parent_key = b1.report.finish_key;
  auto b2 = run(*e, rqb);
  EXPECT_EQ(b2.report.path, LookupPath::kResume);
  EXPECT_EQ(b2.report.tier, "disk");
  EXPECT_EQ(b2.tokens, cold_reference(model, nb));
}

TEST(StickySession, OffKeepsRestoringFromTheCache) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.sticky_sessions = false;
  auto e = open_engine(o);
  const auto p = random_prompt(100, 230);
  auto first = run(*e, greedy(p));
  const auto next = next_turn(p, first, 20, 231);
  auto req = greedy(next);
  req.parent_key = first.report.finish_key;
  auto second = run(*e, req);
  EXPECT_EQ(second.report.path, LookupPath::kResume);
  EXPECT_EQ(second.report.tier, "disk");
  EXPECT_EQ(second.report.restored_key, first.report.finish_key);
  EXPECT_EQ(second.tokens, cold_reference(model, next));
  run(*e, greedy(random_prompt(60, 232)));
  EXPECT_EQ(e->cache().counters().saves_evict, 0u);
}

TEST(StickySession, ShutdownSavesParkedSequences) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  const auto p = random_prompt(80, 240);
  auto first = run(*e, greedy(p));
  e->cache().flush();
  ASSERT_TRUE(e->cache().remove(*first.report.finish_key).ok());
  e->shutdown();
  const auto rows = e->cache().rows();
  const auto* row = find_row(rows, *first.report.finish_key);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->info.header.save_reason, SaveReason::kShutdown);
}

// Concurrent conversations on 2 sequences, each turn resuming its parent: every
// output equals the cold run of its prompt, whichever sequence or row served it.
TEST(StickySession, ConcurrentConversationsStayCorrect) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path(), 2));
  constexpr int kConversations = 3;
  std::vector<std::vector<std::vector<std::int32_t>>> prompts(kConversations);
  std::vector<std::vector<std::vector<std::int32_t>>> outputs(kConversations);
  std::vector<std::thread> threads;
  for (int c = 0; c < kConversations; ++c) {
    threads.emplace_back([&, c] {
      auto prompt = random_prompt(40 + 10 * static_cast<std::size_t>(c), 250 + static_cast<std::uint32_t>(c));
      std::optional<Key> parent;
      for (int turn = 0; turn < 3; ++turn) {
        auto req = greedy(prompt, 6);
        req.parent_key = parent;
        auto r = e->complete(req);
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        prompts[c].push_back(prompt);
        outputs[c].push_back(r->tokens);
        parent = r->report.finish_key;
        prompt = next_turn(prompt, *r, 8, 260 + static_cast<std::uint32_t>(10 * c + turn));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kConversations; ++c)
    for (std::size_t t = 0; t < prompts[c].size(); ++t)
      EXPECT_EQ(outputs[c][t], cold_reference(model, prompts[c][t], 6)) << "conversation " << c << " turn " << t;
}

}  // namespace
}  // namespace kvc::engine::testing
