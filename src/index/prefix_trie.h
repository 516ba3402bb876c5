// Any-token prefix index (cache.md §1): one compressed radix tree per key
// namespace over the token lists of the available rows.
//
// Edges are not copied: a node's edge label is the span
// tokens[depth − edge_len, depth) of the token list of a row in the node's subtree
// (the subtree's shortest row, whose TokenList the node shares). Every node knows
// the rows ending at it and that shortest row below it, so a lookup walks the
// prompt once — O(prompt length) plus a binary search over the children at each
// node it passes — and needs no further descent.
//
// Thread safety: all methods may be called concurrently. Lookups of a namespace
// share its lock; inserts and removals take it exclusively. In-memory only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "index/row.h"

namespace kvc::index {

struct AnyPrefixMatch;

// One namespace's radix tree. Not thread-safe by itself (PrefixTrie locks).
class RadixTree {
 public:
  RadixTree();
  ~RadixTree();
  RadixTree(const RadixTree&) = delete;
  RadixTree& operator=(const RadixTree&) = delete;

  // Adds a row (no effect if that key already ends at that token list).
  void insert(const Key& key, const TokenList& tokens);
  // Removes a row; returns false if it was not present with these tokens.
  bool remove(const Key& key, const TokenList& tokens);
  // Deepest common prefix with any row, and the longest row that is a whole
  // prefix of `prompt`.
  void lookup(std::span<const std::uint32_t> prompt, AnyPrefixMatch& out) const;

  bool empty() const;
  std::size_t node_count() const { return nodes_; }
  std::size_t row_count() const { return rows_; }

 private:
  struct Node;
  class Children;
  std::unique_ptr<Node> root_;
  std::size_t nodes_ = 1;
  std::size_t rows_ = 0;

  static void recompute_best(Node& n);
  // Replaces a row-less node that has exactly one child by that child.
  void merge_with_only_child(Node& n);
};

// The radix trees of all namespaces.
class PrefixTrie {
 public:
  PrefixTrie();
  ~PrefixTrie();
  PrefixTrie(const PrefixTrie&) = delete;
  PrefixTrie& operator=(const PrefixTrie&) = delete;

  void insert(const KeyNamespace& ns, const Key& key, const TokenList& tokens);
  void remove(const KeyNamespace& ns, const Key& key, const TokenList& tokens);
  AnyPrefixMatch lookup(const KeyNamespace& ns, std::span<const std::uint32_t> prompt) const;

  // For tests and stats: nodes of one namespace's tree (0 if none).
  std::size_t node_count(const KeyNamespace& ns) const;

 private:
  struct NsHash {
    std::size_t operator()(const KeyNamespace& ns) const noexcept;
  };
  struct Tree {
    mutable std::shared_mutex mu;
    RadixTree tree;
  };
  Tree* find(const KeyNamespace& ns) const;
  Tree& find_or_create(const KeyNamespace& ns);

  mutable std::shared_mutex mu_;  // guards the map only (trees are never erased)
  std::unordered_map<KeyNamespace, std::unique_ptr<Tree>, NsHash> trees_;
};

}  // namespace kvc::index
