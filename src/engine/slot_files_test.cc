// Sequences as llama-server's slots (save, restore, erase as KVC files) and
// embeddings from the second context (issue 11).
#include "engine/slot_files.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/engine_test_util.h"
#include "format/kvc_file.h"
#include "io/env.h"

namespace kvc::engine::testing {
namespace {

EngineOptions slot_options(const std::string& model, const std::string& dir) {
  auto o = test_options(model, dir + "/rows", 2);
  o.cache.policy.saves_enabled = false;  // only the slot files under test are written
  return o;
}

TEST(SlotFiles, SaveRestoreEraseRoundTrip) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-slots");
  auto e = open_engine(slot_options(model, dir.path()));
  ASSERT_NE(e, nullptr);
  const auto prompt = random_prompt(80, 11);
  const auto first = run(*e, greedy(prompt, 6));
  const std::size_t n = prompt.size() + first.tokens.size();

  auto infos = e->slots();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_TRUE(infos[0].parked);
  EXPECT_EQ(infos[0].n_tokens, n);
  EXPECT_EQ(e->save_slot(1, dir.path(), "empty.bin").status().code(), Code::kNotFound);

  const std::string slots_dir = dir.path() + "/slots";
  auto saved = e->save_slot(0, slots_dir, "slot0.bin");
  ASSERT_TRUE(saved.ok()) << saved.status().to_string();
  EXPECT_EQ(saved->n_tokens, n);
  EXPECT_EQ(saved->filename, "slot0.bin");
  EXPECT_EQ(std::filesystem::file_size(slots_dir + "/slot0.bin"), saved->n_bytes);
  EXPECT_EQ(std::filesystem::status(slots_dir + "/slot0.bin").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  // The file is a KVC v1 row: full check (CRC, key replay) as `kvc inspect` does.
  auto contents = read_slot_file(slots_dir + "/slot0.bin");
  ASSERT_TRUE(contents.ok()) << contents.status().to_string();
  EXPECT_EQ(contents->tokens.size(), n);
  EXPECT_EQ(contents->ns, e->key_namespace());
  EXPECT_EQ(static_cast<int>(contents->logits.size()), e->n_vocab());

  // Erase slot 0, restore the file into slot 1: a request that continues it
  // runs on that sequence with nothing restored from the cache and nothing
  // prefilled but the new tokens.
  auto erased = e->erase_slot(0);
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(erased->n_tokens, n);
  EXPECT_FALSE(e->slots()[0].parked);
  auto restored = e->restore_slot(1, slots_dir, "slot0.bin");
  ASSERT_TRUE(restored.ok()) << restored.status().to_string();
  EXPECT_EQ(restored->n_tokens, n);
  EXPECT_TRUE(e->slots()[1].parked);
  EXPECT_EQ(e->slots()[1].n_tokens, n);

  std::vector<std::int32_t> longer = prompt;
  longer.insert(longer.end(), first.tokens.begin(), first.tokens.end());
  const auto more = random_prompt(12, 12);
  longer.insert(longer.end(), more.begin() + 1, more.end());
  const auto next = run(*e, greedy(longer, 4));
  EXPECT_EQ(next.report.path, LookupPath::kResume);
  EXPECT_EQ(next.report.tier, "sequence");
  EXPECT_EQ(next.report.cached_tokens, n);
  EXPECT_EQ(next.report.prefilled_tokens, longer.size() - n);
  EXPECT_EQ(next.tokens, cold_reference(model, longer, 4));
}

TEST(SlotFiles, RefusesBadNamesOtherModelsAndDamage) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-slots-bad");
  auto e = open_engine(slot_options(model, dir.path()));
  ASSERT_NE(e, nullptr);
  run(*e, greedy(random_prompt(40, 2), 2));
  for (const char* bad : {"../x", "a/b", "", ".", ".."})
    EXPECT_EQ(e->save_slot(0, dir.path(), bad).status().code(), Code::kInvalidArgument) << bad;
  EXPECT_EQ(e->save_slot(5, dir.path(), "x").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(e->restore_slot(0, dir.path(), "missing.bin").status().code(), Code::kNotFound);
  EXPECT_EQ(e->erase_slot(-1).status().code(), Code::kInvalidArgument);

  ASSERT_TRUE(e->save_slot(0, dir.path(), "good.bin").ok());
  const std::string good = dir.path() + "/good.bin";
  {  // a flipped payload byte: the CRC catches it
    std::fstream f(good, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-20, std::ios::end);
    char c = 0;
    f.read(&c, 1);
    f.seekp(-20, std::ios::end);
    c ^= 0x40;
    f.write(&c, 1);
  }
  EXPECT_EQ(e->restore_slot(1, dir.path(), "good.bin").status().code(), Code::kCorrupt);

  // A file of another model: its namespace differs, nothing is restored.
  kvc::testing::TempDir other_dir("kvc-slots-other");
  auto other = open_engine(slot_options(tiny_model(2), other_dir.path()));
  ASSERT_NE(other, nullptr);
  run(*other, greedy(random_prompt(40, 2), 2));
  ASSERT_TRUE(other->save_slot(0, dir.path(), "other.bin").ok());
  auto wrong = e->restore_slot(1, dir.path(), "other.bin");
  EXPECT_EQ(wrong.status().code(), Code::kInvalidArgument);
  EXPECT_NE(wrong.status().message().find("another model"), std::string::npos);
  EXPECT_FALSE(e->slots()[1].parked);
}

TEST(Embeddings, PooledAndNormalised) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-embd");
  auto o = slot_options(model, dir.path());
  auto plain = open_engine(o);
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->embeddings_enabled());
  const std::int32_t toks[] = {1, 450, 7400, 338};
  auto off = plain->embed(toks);
  ASSERT_FALSE(off.ok());
  EXPECT_NE(off.status().message().find("--embeddings"), std::string::npos);
  plain.reset();

  o.model.embeddings = true;
  o.model.pooling = "mean";
  auto e = open_engine(o);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->embeddings_enabled());
  EXPECT_TRUE(e->pooled_embeddings());
  auto v = e->embed(toks);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  ASSERT_EQ(v->vectors.size(), 1u);
  EXPECT_EQ(v->n_tokens, 4u);
  double norm = 0;
  for (float x : v->vectors[0]) norm += static_cast<double>(x) * x;
  EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-4);  // euclidean normalisation (llama-server's default)
  auto again = e->embed(toks);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->vectors, v->vectors);  // the context is cleared between inputs
  EXPECT_EQ(e->embed({}).status().code(), Code::kInvalidArgument);
  // Completions still work beside embeddings (their own context).
  EXPECT_FALSE(run(*e, greedy(random_prompt(20, 1), 2)).tokens.empty());

  o.model.pooling = "none";
  e.reset();
  auto none = open_engine(o);
  ASSERT_NE(none, nullptr);
  EXPECT_FALSE(none->pooled_embeddings());
  auto per_token = none->embed(toks);
  ASSERT_TRUE(per_token.ok());
  EXPECT_EQ(per_token->vectors.size(), 4u);
}

}  // namespace
}  // namespace kvc::engine::testing
