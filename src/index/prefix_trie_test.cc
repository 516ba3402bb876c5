// Any-token prefix lookup: RadixTree directly and through Index::any_prefix.
#include "index/prefix_trie.h"

#include <gtest/gtest.h>

#include "index/index.h"
#include "index/index_test_util.h"

namespace kvc::index {
namespace {

using testing::FakeClock;
using testing::make_ns;
using testing::make_row;
using testing::options;

using Tokens = std::vector<std::uint32_t>;

class AnyPrefixTest : public ::testing::Test {
 protected:
  FakeClock clock;
  Index index{options(clock)};
  KeyNamespace ns = make_ns(5);

  RowInfo add(Tokens t) {
    RowInfo r = make_row(ns, std::move(t));
    EXPECT_EQ(index.register_copy(r, 0, 0, false), RegisterOutcome::kInserted);
    return r;
  }
  AnyPrefixMatch find(const Tokens& prompt) { return index.any_prefix(ns, prompt); }
};

TEST_F(AnyPrefixTest, EmptyIndexFindsNothing) {
  AnyPrefixMatch m = find({1, 2, 3});
  EXPECT_FALSE(m.key.has_value());
  EXPECT_EQ(m.common_prefix, 0u);
  EXPECT_FALSE(m.boundary_key.has_value());
}

TEST_F(AnyPrefixTest, NoCommonTokenFindsNothing) {
  add({1, 2, 3});
  AnyPrefixMatch m = find({9, 2, 3});
  EXPECT_FALSE(m.key.has_value());
  EXPECT_EQ(m.common_prefix, 0u);
  EXPECT_FALSE(find({}).key.has_value());
}

TEST_F(AnyPrefixTest, ExactBoundary) {
  RowInfo r = add({1, 2, 3});
  AnyPrefixMatch m = find({1, 2, 3, 4, 5});
  EXPECT_EQ(m.key, r.key);
  EXPECT_EQ(m.common_prefix, 3u);
  EXPECT_EQ(m.row_length, 3u);
  EXPECT_EQ(m.boundary_key, r.key);
  EXPECT_EQ(m.boundary_length, 3u);
  AnyPrefixMatch same = find({1, 2, 3});
  EXPECT_EQ(same.boundary_key, r.key);
  EXPECT_EQ(same.common_prefix, 3u);
}

TEST_F(AnyPrefixTest, LongerRowNeedsTruncation) {
  RowInfo r = add({1, 2, 3, 4, 5});
  AnyPrefixMatch m = find({1, 2, 3, 9});
  EXPECT_EQ(m.key, r.key);
  EXPECT_EQ(m.common_prefix, 3u);
  EXPECT_EQ(m.row_length, 5u);
  EXPECT_FALSE(m.boundary_key.has_value());
  AnyPrefixMatch shorter_prompt = find({1, 2});
  EXPECT_EQ(shorter_prompt.common_prefix, 2u);
  EXPECT_EQ(shorter_prompt.row_length, 5u);
}

TEST_F(AnyPrefixTest, DivergenceMidEdgeAfterASplit) {
  RowInfo a = add({1, 2, 3, 4, 5, 6});
  RowInfo b = add({1, 2, 3, 4, 7, 8, 9, 10});  // splits a's edge after 4 tokens
  AnyPrefixMatch m = find({1, 2, 3, 4, 5, 9});
  EXPECT_EQ(m.key, a.key);
  EXPECT_EQ(m.common_prefix, 5u);
  EXPECT_EQ(m.row_length, 6u);
  AnyPrefixMatch m2 = find({1, 2, 3, 4, 7, 8, 0});
  EXPECT_EQ(m2.key, b.key);
  EXPECT_EQ(m2.common_prefix, 6u);
  EXPECT_EQ(m2.row_length, 8u);
  AnyPrefixMatch m3 = find({1, 2, 0});  // before the split: the shorter row restores less
  EXPECT_EQ(m3.key, a.key);
  EXPECT_EQ(m3.common_prefix, 2u);
  EXPECT_EQ(m3.row_length, 6u);
  EXPECT_FALSE(m3.boundary_key.has_value());
}

TEST_F(AnyPrefixTest, PrefersTheShortestRowBelowTheDivergence) {
  add({1, 2, 3, 4, 5, 6, 7, 8});
  RowInfo shorter = add({1, 2, 3, 4, 5, 6, 9});
  add({1, 2, 3, 4, 5, 6, 9, 9, 9});
  AnyPrefixMatch m = find({1, 2, 3, 0});
  EXPECT_EQ(m.key, shorter.key);
  EXPECT_EQ(m.row_length, 7u);
  EXPECT_EQ(m.common_prefix, 3u);
}

TEST_F(AnyPrefixTest, BoundaryIsTheLongestWholeRowPrefix) {
  RowInfo two = add({1, 2});
  RowInfo four = add({1, 2, 3, 4});
  RowInfo seven = add({1, 2, 3, 4, 5, 6, 7});
  AnyPrefixMatch m = find({1, 2, 3, 4, 5, 0});
  EXPECT_EQ(m.boundary_key, four.key);
  EXPECT_EQ(m.boundary_length, 4u);
  EXPECT_EQ(m.key, seven.key);
  EXPECT_EQ(m.common_prefix, 5u);
  EXPECT_EQ(m.row_length, 7u);
  AnyPrefixMatch m2 = find({1, 2, 3, 0});
  EXPECT_EQ(m2.boundary_key, two.key);
  EXPECT_EQ(m2.common_prefix, 3u);
  EXPECT_EQ(m2.key, four.key);  // shortest row sharing 3 tokens
}

TEST_F(AnyPrefixTest, EmptyTokenRowIsABoundaryOfEveryPrompt) {
  RowInfo empty = add({});
  AnyPrefixMatch m = find({4, 5});
  EXPECT_EQ(m.boundary_key, empty.key);
  EXPECT_EQ(m.boundary_length, 0u);
  EXPECT_FALSE(m.key.has_value());
}

TEST_F(AnyPrefixTest, NamespacesAreIsolated) {
  RowInfo r = add({1, 2, 3});
  KeyNamespace other = make_ns(6);
  RowInfo o = make_row(other, {1, 2, 3, 4});
  (void)index.register_copy(o, 0, 0, false);
  EXPECT_EQ(find({1, 2, 3, 4}).key, r.key);
  AnyPrefixMatch m = index.any_prefix(other, Tokens{1, 2, 3, 4});
  EXPECT_EQ(m.key, o.key);
  EXPECT_EQ(m.common_prefix, 4u);
  EXPECT_FALSE(index.any_prefix(make_ns(7), Tokens{1, 2, 3}).key.has_value());
  KeyNamespace quant = ns;
  quant.quant = 2;
  EXPECT_FALSE(index.any_prefix(quant, Tokens{1, 2, 3}).key.has_value());
}

TEST_F(AnyPrefixTest, RemovalEvictionAndNewCopiesUpdateTheTrie) {
  RowInfo a = add({1, 2, 3});
  RowInfo b = add({1, 2, 3, 4, 5});
  EXPECT_EQ(find({1, 2, 3, 4, 5}).boundary_key, b.key);
  ASSERT_TRUE(index.remove(b.key, false).ok());  // invisible at once, before its data is deleted
  AnyPrefixMatch m = find({1, 2, 3, 4, 5});
  EXPECT_EQ(m.boundary_key, a.key);
  EXPECT_EQ(m.common_prefix, 3u);
  index.finish_delete(b.key, 0);
  auto evicted = index.evict_next(0);
  ASSERT_TRUE(evicted.has_value());
  EXPECT_EQ(evicted->info.key, a.key);
  EXPECT_FALSE(find({1, 2, 3, 4, 5}).key.has_value()) << "its last copy is evicted: gone from the trie at once";
  index.finish_evict(a.key, 0);
  // A second copy of a row keeps exactly one entry in the trie.
  RowInfo c = add({1, 2});
  EXPECT_EQ(index.register_copy(c, 1, 4, true), RegisterOutcome::kAddedCopy);
  EXPECT_EQ(find({1, 2}).boundary_key, c.key);
  ASSERT_TRUE(index.drop_copy(c.key, 0).has_value());
  EXPECT_EQ(find({1, 2}).boundary_key, c.key) << "still has a copy in tier 1";
  ASSERT_TRUE(testing::remove_now(index, c.key).ok());
  EXPECT_FALSE(find({1, 2}).key.has_value());
  EXPECT_FALSE(find({1, 2}).boundary_key.has_value());
}

TEST_F(AnyPrefixTest, WritingRowsAreNotIndexedUntilPublished) {
  RowInfo r = make_row(ns, {1, 2, 3});
  Reservation res = std::move(index.reserve(r.key)).value();
  EXPECT_FALSE(find({1, 2, 3}).key.has_value());
  ASSERT_TRUE(index.publish(res, r, 0).ok());
  EXPECT_EQ(find({1, 2, 3}).key, r.key);
}

// ---- RadixTree directly ----

TokenList tokens(Tokens t) { return std::make_shared<const Tokens>(std::move(t)); }
Key key_of(std::uint8_t b) {
  Key k;
  k.bytes.fill(b);
  return k;
}

TEST(RadixTreeTest, StaysCompressedAndReleasesTokenListsOnRemoval) {
  RadixTree tree;
  std::vector<TokenList> lists = {tokens({1, 2, 3, 4}), tokens({1, 2, 3, 5}), tokens({1, 2}),
                                  tokens({1, 2, 3, 4, 6, 7}), tokens({8})};
  for (std::size_t i = 0; i < lists.size(); ++i) tree.insert(key_of(static_cast<std::uint8_t>(i)), lists[i]);
  EXPECT_EQ(tree.row_count(), 5u);
  // root, [1 2] (row), [3], [4] (row), [5] (row), [6 7] (row), [8] (row)
  EXPECT_EQ(tree.node_count(), 7u);
  for (std::size_t i = 0; i < lists.size(); ++i) {
    EXPECT_TRUE(tree.remove(key_of(static_cast<std::uint8_t>(i)), lists[i]));
    EXPECT_FALSE(tree.remove(key_of(static_cast<std::uint8_t>(i)), lists[i]));
  }
  EXPECT_TRUE(tree.empty());
  EXPECT_EQ(tree.node_count(), 1u);
  for (const auto& l : lists) EXPECT_EQ(l.use_count(), 1);  // the tree kept no references
}

TEST(RadixTreeTest, RemovingTheRowThatLabelsAnEdgeRelabelsIt) {
  RadixTree tree;
  TokenList a = tokens({1, 2, 3});
  TokenList b = tokens({1, 2, 3, 4, 5});
  tree.insert(key_of(1), a);
  tree.insert(key_of(2), b);
  ASSERT_TRUE(tree.remove(key_of(1), a));
  EXPECT_EQ(a.use_count(), 1);
  EXPECT_EQ(tree.node_count(), 2u);  // merged back into one edge
  AnyPrefixMatch m;
  tree.lookup(Tokens{1, 2, 3, 4, 0}, m);
  EXPECT_EQ(m.key, key_of(2));
  EXPECT_EQ(m.common_prefix, 4u);
  EXPECT_FALSE(tree.remove(key_of(2), tokens({1, 2, 3, 4, 6})));  // other tokens: not present
  EXPECT_FALSE(tree.remove(key_of(3), b));                        // other key: not present
}

TEST(RadixTreeTest, ManyLongRowsSharingPrefixesStaySmall) {
  // 2000 rows of 4096 tokens: a 4000-token shared system prompt, then 8 groups of
  // 250 rows each, diverging at token 4000 and again at 4050.
  RadixTree tree;
  Tokens base(4096);
  for (std::size_t i = 0; i < base.size(); ++i) base[i] = static_cast<std::uint32_t>(i * 7 + 1);
  std::vector<TokenList> lists;
  constexpr std::size_t kRows = 2000;
  for (std::size_t r = 0; r < kRows; ++r) {
    Tokens t = base;
    t[4000] = static_cast<std::uint32_t>(1'000'000 + r % 8);
    t[4050] = static_cast<std::uint32_t>(2'000'000 + r);
    lists.push_back(tokens(std::move(t)));
    Key k;
    k.bytes[0] = static_cast<std::uint8_t>(r);
    k.bytes[1] = static_cast<std::uint8_t>(r >> 8);
    tree.insert(k, lists.back());
  }
  EXPECT_EQ(tree.row_count(), kRows);
  EXPECT_LE(tree.node_count(), 2 * kRows + 1);
  // No token vector was copied: every list is held by its owner plus at most a
  // few node references.
  std::size_t refs = 0;
  for (const auto& l : lists) refs += static_cast<std::size_t>(l.use_count() - 1);
  EXPECT_LE(refs, 4 * kRows);
  Tokens prompt = *lists[1234];
  prompt[4090] = 0;
  AnyPrefixMatch m;
  tree.lookup(prompt, m);
  EXPECT_EQ(m.common_prefix, 4090u);
  EXPECT_EQ(m.row_length, 4096u);
  EXPECT_EQ(m.key->bytes[0], static_cast<std::uint8_t>(1234 & 0xff));
  EXPECT_FALSE(m.boundary_key.has_value());
}

}  // namespace
}  // namespace kvc::index
