// The request flow of engine.md §1 end to end on the tiny model: every lookup
// path and miss reason, stored logits, restarts, and failures that must end cold.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {


std::vector<std::uint32_t> u32(const std::vector<std::int32_t>& v) { return {v.begin(), v.end()}; }

TEST(Engine, ColdThenExactHitSamplesFromStoredLogits) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  const auto prompt = random_prompt(128, 1);  // aligned: the cold save covers the whole prompt

  auto cold = run(*e, greedy(prompt));
  EXPECT_EQ(cold.report.path, LookupPath::kMiss);
  EXPECT_EQ(cold.report.miss_reason, MissReason::kNoRow);
  EXPECT_EQ(cold.report.prompt_tokens, 128u);
  EXPECT_EQ(cold.report.prefilled_tokens, 128u);
  EXPECT_EQ(cold.report.cached_tokens, 0u);
  EXPECT_EQ(cold.tokens.size(), 8u);
  EXPECT_EQ(cold.report.finish_reason, FinishReason::kLength);
  ASSERT_TRUE(cold.report.finish_key.has_value());
  e->cache().flush();

  // The cold row stores the logits the cold request sampled from (same chunks as a plain prefill).
  const Key cold_key = derive_key(e->key_namespace(), u32(prompt));
  {
    auto lease = e->cache().checkout(cold_key);
    ASSERT_TRUE(lease.ok()) << lease.status().to_string();
    EXPECT_EQ(lease->row().header.save_reason, SaveReason::kCold);
    auto file = e->cache().load(*lease);
    ASSERT_TRUE(file.ok()) << file.status().to_string();
    Reference ref(model);
    auto ctx = ref.context();
    EXPECT_TRUE(bitwise_equal(file->meta().next_token_logits, ref.decode(ctx.get(), prompt, 0, prompt.size())));
  }
  // The finish row: prompt + the whole reply, with logits.
  {
    auto lease = e->cache().checkout(*cold.report.finish_key);
    ASSERT_TRUE(lease.ok());
    std::vector<std::uint32_t> expect = u32(prompt);
    expect.insert(expect.end(), cold.tokens.begin(), cold.tokens.end());
    EXPECT_EQ(*lease->row().tokens, expect);
    EXPECT_EQ(lease->row().header.save_reason, SaveReason::kFinish);
  }

  auto warm = run(*e, greedy(prompt));
  EXPECT_EQ(warm.report.path, LookupPath::kExact);
  EXPECT_EQ(warm.report.miss_reason, MissReason::kNone);
  EXPECT_EQ(warm.report.tier, "disk");
  EXPECT_TRUE(warm.report.logits_from_cache);
  EXPECT_EQ(warm.report.cached_tokens, 128u);
  EXPECT_EQ(warm.report.prefilled_tokens, 0u);
  EXPECT_EQ(warm.report.restored_key, cold_key);
  EXPECT_EQ(warm.tokens, cold.tokens);
  EXPECT_EQ(warm.report.finish_key, cold.report.finish_key);
  EXPECT_GE(e->cache().counters().hits_exact, 1u);
}

TEST(Engine, AnyPrefixServesShorterAndLongerPrompts) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  const auto a = random_prompt(200, 2);
  run(*e, greedy(a));
  e->cache().flush();

  // A shorter common prefix: a longer row truncated to 150 tokens.
  auto b = std::vector<std::int32_t>(a.begin(), a.begin() + 150);
  const auto tail = random_prompt(51, 3);
  b.insert(b.end(), tail.begin() + 1, tail.end());
  auto rb = run(*e, greedy(b));
  EXPECT_EQ(rb.report.path, LookupPath::kAnyPrefix);
  EXPECT_EQ(rb.report.cached_tokens, 150u);
  EXPECT_EQ(rb.report.prefilled_tokens, 50u);
  EXPECT_EQ(rb.tokens, cold_reference(model, b));

  // The prompt followed by new text.
  auto c = a;
  c.insert(c.end(), tail.begin() + 1, tail.begin() + 31);
  auto rc = run(*e, greedy(c));
  EXPECT_EQ(rc.report.path, LookupPath::kAnyPrefix);
  EXPECT_GE(rc.report.cached_tokens, 192u);
  EXPECT_EQ(rc.report.cached_tokens + rc.report.prefilled_tokens, c.size());
  EXPECT_EQ(rc.tokens, cold_reference(model, c));
}

TEST(Engine, ResumeFromParentKeyAndItsMisses) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  const auto p = random_prompt(100, 4);
  auto first = run(*e, greedy(p));
  ASSERT_TRUE(first.report.finish_key);

  // Next turn: prompt + reply + new text, resumed from the finish row (no flush: the wait covers it).
  auto next = p;
  next.insert(next.end(), first.tokens.begin(), first.tokens.end());
  const auto more = random_prompt(21, 5);
  next.insert(next.end(), more.begin() + 1, more.end());
  auto req = greedy(next);
  req.parent_key = first.report.finish_key;
  auto second = run(*e, req);
  EXPECT_EQ(second.report.path, LookupPath::kResume);
  EXPECT_EQ(second.report.cached_tokens, p.size() + first.tokens.size());
  EXPECT_EQ(second.tokens, cold_reference(model, next));

  // A parent that is not a prefix falls through (and is reported).
  auto other = random_prompt(90, 6);
  auto req2 = greedy(other);
  req2.parent_key = first.report.finish_key;
  auto third = run(*e, req2);
  EXPECT_EQ(third.report.path, LookupPath::kMiss);
  EXPECT_EQ(third.report.miss_reason, MissReason::kParentNotPrefix);

  // An unknown parent.
  auto req3 = greedy(random_prompt(40, 8));
  req3.parent_key = derive_key(e->key_namespace(), std::vector<std::uint32_t>{1, 2, 3});
  auto fourth = run(*e, req3);
  EXPECT_EQ(fourth.report.miss_reason, MissReason::kNoRow);
}

TEST(Engine, RowsOfAnotherModelOrContextAreNeverRestored) {
  KVC_REQUIRE_MODEL(model);
  const std::string model2 = tiny_model(2);
  ASSERT_FALSE(model2.empty());
  kvc::testing::TempDir dir("kvc-engine");
  const auto p = random_prompt(128, 9);
  std::optional<Key> finish;
  {
    auto e = open_engine(test_options(model, dir.path()));
    finish = run(*e, greedy(p)).report.finish_key;
  }  // destroyed: saves flushed
  ASSERT_TRUE(finish);
  {
    auto e = open_engine(test_options(model2, dir.path()));
    auto req = greedy(p);
    req.parent_key = finish;
    auto r = run(*e, req);
    EXPECT_EQ(r.report.path, LookupPath::kMiss);
    EXPECT_EQ(r.report.miss_reason, MissReason::kNamespaceMismatch);
    EXPECT_EQ(r.report.cached_tokens, 0u);
  }
  {
    auto o = test_options(model, dir.path());
    o.model.n_ctx = 2048;  // other context parameters
    auto e = open_engine(o);
    auto r = run(*e, greedy(p));
    EXPECT_EQ(r.report.path, LookupPath::kMiss);
    EXPECT_EQ(r.report.miss_reason, MissReason::kNoRow);
  }
  {
    auto o = test_options(model, dir.path());
    o.model.fingerprint_mode = FingerprintMode::kGgufChunked;  // another fingerprint of the same file
    auto e = open_engine(o);
    EXPECT_EQ(run(*e, greedy(p)).report.path, LookupPath::kMiss);
  }
  {  // Restart with the same options: the rows are found again.
    auto e = open_engine(test_options(model, dir.path()));
    auto r = run(*e, greedy(p));
    EXPECT_EQ(r.report.path, LookupPath::kExact);
    EXPECT_TRUE(r.report.logits_from_cache);
  }
}

TEST(Engine, CorruptFileIsALoadFailureAndTheRequestCompletesCold) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.sticky_sessions = false;  // else the parked first request would serve the second
  auto e = open_engine(o);
  const auto p = random_prompt(64, 10);
  auto cold = run(*e, greedy(p));
  e->cache().flush();
  const Key key = derive_key(e->key_namespace(), u32(p));
  const std::string path = dir.file(key.hex() + ".kvc");
  ASSERT_TRUE(std::filesystem::exists(path));
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x5a');
  }
  auto r = run(*e, greedy(p));
  EXPECT_EQ(r.report.path, LookupPath::kMiss);
  EXPECT_EQ(r.report.miss_reason, MissReason::kLoadFailed);
  EXPECT_EQ(r.tokens, cold.tokens);
  EXPECT_GE(e->cache().counters().corrupt_files, 1u);
}

TEST(Engine, UnrestorablePayloadIsQuarantinedAndTheRequestCompletesCold) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  const auto p = random_prompt(64, 11);
  // A row with a valid file around a truncated state blob.
  Reference ref(model);
  auto ctx = ref.context();
  ref.decode(ctx.get(), p, 0, p.size());
  auto state = seq_state(ctx.get());
  state.resize(state.size() / 2);
  SaveRequest bad;
  bad.ns = e->key_namespace();
  bad.tokens = u32(p);
  bad.reason = SaveReason::kCold;
  bad.payload = ByteBuffer::copy_of(state);
  ASSERT_TRUE(e->cache().save(std::move(bad), std::chrono::seconds(30)).ok());

  auto r = run(*e, greedy(p));
  EXPECT_EQ(r.report.path, LookupPath::kMiss);
  EXPECT_EQ(r.report.miss_reason, MissReason::kRestoreFailed);
  EXPECT_EQ(r.report.prefilled_tokens, 64u);
  EXPECT_EQ(r.tokens, cold_reference(model, p));
  EXPECT_EQ(e->cache().counters().restore_failures, 1u);
}

TEST(Engine, InvalidPromptsAreRejected) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  EXPECT_EQ(e->complete(greedy({})).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(e->complete(greedy({1, 5, 999999})).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(e->complete(greedy({1, -3})).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(e->complete(greedy(random_prompt(2000, 1))).status().code(), Code::kInvalidArgument);
}

TEST(Engine, StopStringsAndCancellation) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  const auto p = random_prompt(40, 12);
  auto full = run(*e, greedy(p, 24));
  ASSERT_GE(full.text.size(), 12u);
  const std::string stop = full.text.substr(full.text.size() / 2, 3);
  const std::string expect = full.text.substr(0, full.text.find(stop));

  auto req = greedy(p, 24);
  req.sampling.stop = {stop};
  std::string streamed;
  req.on_text = [&](std::string_view s) {
    streamed += s;
    return true;
  };
  auto stopped = run(*e, req);
  EXPECT_EQ(stopped.report.finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped.text, expect);
  EXPECT_EQ(streamed, expect);

  auto req2 = greedy(p, 24);
  int calls = 0;
  req2.on_text = [&](std::string_view) { return ++calls < 2; };
  auto cancelled = run(*e, req2);
  EXPECT_EQ(cancelled.report.finish_reason, FinishReason::kCancelled);
  EXPECT_LT(cancelled.tokens.size(), 24u);
}

TEST(Engine, ChatTemplateAndTokenizer) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  const ChatMessage msgs[] = {{"system", "be brief"}, {"user", "hello"}};
  ChatRequest chat;
  chat.messages_json = chat_messages_json(msgs);
  auto text = e->apply_chat(chat);
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  EXPECT_NE(text->prompt.find("hello"), std::string::npos);
  EXPECT_NE(text->prompt.find("<|im_start|>assistant"), std::string::npos);  // ChatML default
  EXPECT_TRUE(text->grammar.gbnf.empty());
  auto ids = e->tokenize("the cache keeps a state", true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), 1);
  EXPECT_NE(e->detokenize(*ids)->find("cache keeps"), std::string::npos);
  const std::int32_t bad[] = {1, -3};
  EXPECT_EQ(e->detokenize(bad).status().code(), Code::kInvalidArgument);
  const auto pieces = e->token_pieces(*ids);
  ASSERT_EQ(pieces.size(), ids->size());
  std::string joined;
  for (std::size_t i = 1; i < pieces.size(); ++i) joined += pieces[i].piece;
  EXPECT_NE(joined.find("cache keeps"), std::string::npos);
  EXPECT_EQ(pieces[0].piece, "<s>");  // special tokens are rendered
  EXPECT_EQ(e->model_name(), std::filesystem::path(model).filename().string());
  EXPECT_EQ(e->n_ctx_per_sequence(), 1024);
}

}  // namespace
}  // namespace kvc::engine::testing
