#include "server/prompt_budget.h"

#include <gtest/gtest.h>

#include <string>

namespace kvc::server {
namespace {

// A stand-in tokenizer: one token per word (and a BOS); records what it was given.
struct WordTokenizer {
  std::vector<std::size_t> calls;  // sizes of the texts tokenized
  TokenizeFn fn() {
    return [this](std::string_view text, bool bos) -> Result<std::vector<std::int32_t>> {
      calls.push_back(text.size());
      std::vector<std::int32_t> out;
      if (bos) out.push_back(1);
      bool in_word = false;
      for (char c : text) {
        const bool space = c == ' ';
        if (!space && !in_word) out.push_back(2);
        in_word = !space;
      }
      return out;
    };
  }
};

std::string words(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) s += ' ';
    s += "word";
  }
  return s;
}

TEST(PromptBudget, ShortTextIsTokenizedOnce) {
  WordTokenizer t;
  auto r = tokenize_bounded(t.fn(), "a b c", true, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->too_long);
  EXPECT_EQ(r->tokens.size(), 4u);
  EXPECT_EQ(t.calls.size(), 1u);
}

TEST(PromptBudget, HugeTextIsRefusedAfterAFewWindows) {
  WordTokenizer t;
  const std::string text = words(200'000);  // ~1 MB, 200k tokens
  auto r = tokenize_bounded(t.fn(), text, true, 1024, 4096);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->too_long);
  EXPECT_GE(r->at_least, 1024u);
  EXPECT_LE(r->at_least, 200'000u);
  std::size_t seen = 0;
  for (auto n : t.calls) seen += n;
  EXPECT_LT(seen, 3 * 4096u) << "tokenized far more than needed to refuse";
  EXPECT_TRUE(r->tokens.empty());
}

TEST(PromptBudget, LongTextThatFitsIsTokenizedWhole) {
  WordTokenizer t;
  const std::string text = std::string(3000, ' ') + "one two";  // many bytes, few tokens
  auto r = tokenize_bounded(t.fn(), text, true, 100, 512);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->too_long);
  EXPECT_EQ(r->tokens.size(), 3u);
  EXPECT_EQ(t.calls.back(), text.size());  // the exact count comes from the whole text
}

TEST(PromptBudget, NearTheLimitTheExactCountDecides) {
  WordTokenizer t;
  const std::string text = words(1000);  // 1000 tokens + BOS
  auto r = tokenize_bounded(t.fn(), text, true, 1000, 300);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->too_long);  // the windowed lower bound stays below; the caller sees 1001
  EXPECT_EQ(r->tokens.size(), 1001u);
}

TEST(PromptBudget, WindowsAreCutBeforeWhitespaceAndAtCharacterBoundaries) {
  std::vector<std::string> parts;
  TokenizeFn fn = [&](std::string_view text, bool) -> Result<std::vector<std::int32_t>> {
    parts.emplace_back(text);
    return std::vector<std::int32_t>(1, 5);
  };
  std::string text;
  for (int i = 0; i < 400; ++i) text += "\xC3\xA9";  // é without spaces
  auto r = tokenize_bounded(fn, text, false, 500, 101);
  ASSERT_TRUE(r.ok());
  ASSERT_GE(parts.size(), 3u);  // windows, then the whole text
  EXPECT_EQ(parts.back(), text);
  std::string joined;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    EXPECT_NE(static_cast<unsigned char>(parts[i].front()) & 0xC0, 0x80u) << "cut inside a character";
    joined += parts[i];
  }
  EXPECT_EQ(joined, text);
}

TEST(PromptBudget, TokenizerErrorsPassThrough) {
  TokenizeFn fn = [](std::string_view, bool) -> Result<std::vector<std::int32_t>> {
    return Status(Code::kInvalidArgument, "cannot tokenize");
  };
  EXPECT_FALSE(tokenize_bounded(fn, std::string(5000, 'x'), true, 100).ok());
}

}  // namespace
}  // namespace kvc::server
