// The first token without a decode (issue 12 P1, engine.md §1 step 4): finish
// rows carry the logits at the end of their prompt and at the turn boundaries
// they inherited (TLV 0x0B); a re-sent prompt — exact, or a prefix of a longer row
// truncated to such a position — samples from them. The stored logits are bitwise
// those of the cold prefill (same chunks), so the sampled tokens are the same.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/engine_test_util.h"
#include "format/kvc_file.h"

namespace kvc::engine::testing {
namespace {

std::vector<std::int32_t> concat(std::vector<std::int32_t> a, const std::vector<std::int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The parsed file of a row (CRC and key verified).
format::KvcMeta row_meta(Engine& e, const Key& key) {
  auto lease = e.cache().checkout(key);
  EXPECT_TRUE(lease.ok()) << key.hex() << ": " << lease.status().to_string();
  if (!lease.ok()) return {};
  auto file = e.cache().load(*lease);
  EXPECT_TRUE(file.ok()) << file.status().to_string();
  return file.ok() ? file->meta() : format::KvcMeta{};
}

std::vector<std::uint32_t> record_positions(const format::KvcMeta& m) {
  std::vector<std::uint32_t> out;
  for (const auto& r : m.position_logits) out.push_back(r.position);
  return out;
}

std::vector<float> logits_vec(const format::KvcMeta& m, std::size_t position, int n_vocab) {
  const auto s = format::logits_at(m, position, static_cast<std::size_t>(n_vocab));
  return {s.begin(), s.end()};
}

// Removes every row but `keep`.
void keep_only(Engine& e, const Key& keep) {
  for (const auto& row : e.cache().rows())
    if (row.info.key != keep) {
      ASSERT_TRUE(e.cache().remove(row.info.key).ok()) << row.info.key.hex();
    }
}

TEST(PromptEndLogits, ResentPromptSamplesFromTheFinishRowWithNoDecode) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  const auto prompt = random_prompt(100, 21);  // not aligned: the cold row ends at 64
  auto o = test_options(model, dir.path());
  CompletionResult cold;
  {
    auto e = open_engine(o);
    cold = run(*e, greedy(prompt));
    ASSERT_EQ(cold.report.path, LookupPath::kMiss);
    ASSERT_TRUE(cold.report.finish_key);
    e->cache().flush();

    // The finish row (prompt + 8 reply tokens) carries the prompt-end logits, bitwise
    // those of a plain prefill in the engine's chunks (64, split at the cold boundary 64).
    const auto m = row_meta(*e, *cold.report.finish_key);
    EXPECT_EQ(m.tokens.size(), prompt.size() + cold.tokens.size());
    EXPECT_EQ(record_positions(m), std::vector<std::uint32_t>{100});
    Reference ref(model);
    auto ctx = ref.context();
    const auto expect = ref.decode(ctx.get(), prompt, 0, prompt.size(), /*split=*/64);
    EXPECT_TRUE(bitwise_equal(logits_vec(m, prompt.size(), ref.n_vocab()), expect));
    EXPECT_EQ(cold.tokens, cold_reference(model, prompt));

    // The same engine, with no rows left: the parked sequence (prompt + reply) is
    // truncated to the prompt and its recorded prompt-end logits are sampled from.
    for (const auto& row : e->cache().rows()) ASSERT_TRUE(e->cache().remove(row.info.key).ok());
    auto again = run(*e, greedy(prompt));
    EXPECT_EQ(again.report.path, LookupPath::kResume);
    EXPECT_EQ(again.report.tier, "sequence");
    EXPECT_EQ(again.report.cached_tokens, prompt.size());
    EXPECT_EQ(again.report.prefilled_tokens, 0u);
    EXPECT_EQ(again.tokens, cold.tokens);
  }
  // A new process: the prompt is a prefix of the finish row, truncated to 100.
  auto e = open_engine(o);
  auto warm = run(*e, greedy(prompt));
  EXPECT_EQ(warm.report.path, LookupPath::kAnyPrefix);
  EXPECT_EQ(warm.report.restored_key, cold.report.finish_key);
  EXPECT_TRUE(warm.report.logits_from_cache);
  EXPECT_EQ(warm.report.cached_tokens, prompt.size());
  EXPECT_EQ(warm.report.prefilled_tokens, 0u);
  EXPECT_EQ(warm.tokens, cold.tokens);
}

TEST(PromptEndLogits, EarlierTurnBoundariesAreCarriedIntoLaterRows) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.sticky_sessions = false;  // every turn goes through the cache
  const auto p1 = random_prompt(100, 22);
  CompletionResult t1, t2;
  std::vector<std::int32_t> p2;
  Key f2{};
  {
    auto e = open_engine(o);
    t1 = run(*e, greedy(p1));
    ASSERT_TRUE(t1.report.finish_key);
    e->cache().flush();
    // Turn 2: the whole first turn plus a new user message.
    const auto extra = random_prompt(31, 23);
    p2 = concat(concat(p1, t1.tokens), std::vector<std::int32_t>(extra.begin() + 1, extra.end()));
    t2 = run(*e, greedy(p2));
    ASSERT_EQ(t2.report.path, LookupPath::kAnyPrefix);
    ASSERT_EQ(t2.report.cached_tokens, p1.size() + t1.tokens.size());
    ASSERT_TRUE(t2.report.finish_key);
    f2 = *t2.report.finish_key;
    e->cache().flush();

    // Turn 2's finish row: the first prompt's end (carried from turn 1's row), the
    // end of turn 1's reply (that row's 0x0A), and its own prompt end.
    const auto m2 = row_meta(*e, f2);
    EXPECT_EQ(record_positions(m2), (std::vector<std::uint32_t>{100, 108, static_cast<std::uint32_t>(p2.size())}));
    const auto m1 = row_meta(*e, *t1.report.finish_key);
    const int n_vocab = Reference(model).n_vocab();
    EXPECT_TRUE(bitwise_equal(logits_vec(m2, 100, n_vocab), logits_vec(m1, 100, n_vocab)));
    EXPECT_TRUE(bitwise_equal(logits_vec(m2, 108, n_vocab), logits_vec(m1, 108, n_vocab)));
    keep_only(*e, f2);
  }
  auto e = open_engine(o);
  ASSERT_EQ(e->cache().rows().size(), 1u);
  // Turn 1's prompt again: turn 2's row truncated to 100, no decode, the same reply.
  auto r1 = run(*e, greedy(p1));
  EXPECT_EQ(r1.report.restored_key, f2);
  EXPECT_TRUE(r1.report.logits_from_cache);
  EXPECT_EQ(r1.report.prefilled_tokens, 0u);
  EXPECT_EQ(r1.tokens, t1.tokens);
  EXPECT_EQ(r1.tokens, cold_reference(model, p1));
  keep_only(*e, f2);
  // Turn 2's prompt again: truncated to its own end.
  auto r2 = run(*e, greedy(p2));
  EXPECT_EQ(r2.report.restored_key, f2);
  EXPECT_TRUE(r2.report.logits_from_cache);
  EXPECT_EQ(r2.report.cached_tokens, p2.size());
  EXPECT_EQ(r2.report.prefilled_tokens, 0u);
  EXPECT_EQ(r2.tokens, t2.tokens);
  // A prompt ending between boundaries still decodes its last token.
  keep_only(*e, f2);
  const std::vector<std::int32_t> p3(p2.begin(), p2.begin() + 120);
  auto r3 = run(*e, greedy(p3));
  EXPECT_EQ(r3.report.restored_key, f2);
  EXPECT_FALSE(r3.report.logits_from_cache);
  EXPECT_EQ(r3.report.cached_tokens, 119u);
  EXPECT_EQ(r3.report.prefilled_tokens, 1u);
}

TEST(PromptEndLogits, InvalidRecordsAreIgnoredAndTheLastTokenIsDecoded) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.sticky_sessions = false;
  auto e = open_engine(o);
  const auto prompt = random_prompt(100, 24);
  const auto reply = run(*e, greedy(prompt));
  ASSERT_TRUE(reply.report.finish_key);
  e->cache().flush();
  // Rewrite the finish row with a 0x0B record of the wrong size at the prompt end.
  SaveRequest req;
  {
    auto lease = e->cache().checkout(*reply.report.finish_key);
    ASSERT_TRUE(lease.ok());
    auto file = e->cache().load(*lease);
    ASSERT_TRUE(file.ok());
    req.ns = e->key_namespace();
    req.tokens = file->meta().tokens;
    req.reason = SaveReason::kFinish;
    req.payload = ByteBuffer::copy_of(file->payload());
    req.position_logits = {{100, std::vector<float>(7, 1.0f)}};
  }
  for (const auto& row : e->cache().rows()) ASSERT_TRUE(e->cache().remove(row.info.key).ok());
  ASSERT_TRUE(e->cache().save(std::move(req), std::chrono::seconds(30)).ok());

  auto r = run(*e, greedy(prompt));
  EXPECT_EQ(r.report.path, LookupPath::kAnyPrefix);
  EXPECT_FALSE(r.report.logits_from_cache);
  EXPECT_EQ(r.report.prefilled_tokens, 1u);  // the last prompt token, re-decoded
  EXPECT_EQ(r.tokens, reply.tokens);
}

}  // namespace
}  // namespace kvc::engine::testing
