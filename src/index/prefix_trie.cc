#include "index/prefix_trie.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "index/index.h"

namespace kvc::index {

// A node's children, keyed by the first token of their edge. Most nodes have one
// or two (a conversation tree branches rarely), so a short vector searched
// linearly; a node with many (the root of rows without a common first token, e.g.
// models without BOS) switches to a hash map, so adding or removing a child stays
// O(1) instead of shifting a sorted array of thousands.
class RadixTree::Children {
 public:
  using Slot = std::unique_ptr<Node>;

  Slot* find(std::uint32_t first) {
    if (big_) {
      auto it = big_->find(first);
      return it == big_->end() ? nullptr : &it->second;
    }
    for (auto& c : small_)
      if (c.first == first) return &c.second;
    return nullptr;
  }
  const Node* get(std::uint32_t first) const { return const_cast<Children*>(this)->find_const(first); }
  // Precondition: no child starts with `first`.
  void add(std::uint32_t first, Slot c) {
    if (big_) {
      big_->emplace(first, std::move(c));
      return;
    }
    small_.emplace_back(first, std::move(c));
    if (small_.size() > kSmall) {
      big_ = std::make_unique<std::unordered_map<std::uint32_t, Slot>>();
      big_->reserve(small_.size() * 2);
      for (auto& e : small_) big_->emplace(e.first, std::move(e.second));
      small_.clear();
      small_.shrink_to_fit();
    }
  }
  void erase(std::uint32_t first) {
    if (big_) {
      big_->erase(first);
      return;
    }
    for (auto it = small_.begin(); it != small_.end(); ++it)
      if (it->first == first) {
        small_.erase(it);
        return;
      }
  }
  std::size_t size() const { return big_ ? big_->size() : small_.size(); }
  bool empty() const { return size() == 0; }
  // The only child. Precondition: size() == 1.
  Slot& only() { return big_ ? big_->begin()->second : small_.front().second; }
  template <class Fn>
  void for_each(Fn&& fn) const {
    if (big_)
      for (const auto& [first, c] : *big_) fn(*c);
    else
      for (const auto& [first, c] : small_) fn(*c);
  }

 private:
  static constexpr std::size_t kSmall = 8;
  Node* find_const(std::uint32_t first) {
    Slot* s = find(first);
    return s == nullptr ? nullptr : s->get();
  }
  std::vector<std::pair<std::uint32_t, Slot>> small_;
  std::unique_ptr<std::unordered_map<std::uint32_t, Slot>> big_;
};

struct RadixTree::Node {
  Node* parent = nullptr;
  std::size_t depth = 0;     // tokens from the root to the end of this node
  std::size_t edge_len = 0;  // tokens on the edge from the parent
  // The shortest row in this subtree (null tokens only for an empty root); among
  // rows of one length, the smallest key. Its token list also labels the edge:
  // label(i) = tokens[depth − edge_len + i].
  Key best_key;
  std::size_t best_len = 0;
  TokenList best_tokens;
  std::vector<std::pair<Key, TokenList>> rows;  // rows ending here (length == depth)
  Children children;

  std::uint32_t label(std::size_t i) const { return (*best_tokens)[depth - edge_len + i]; }

  std::unique_ptr<Node>* slot(std::uint32_t first) { return children.find(first); }
  const Node* child(std::uint32_t first) const { return children.get(first); }
  void add_child(std::uint32_t first, std::unique_ptr<Node> c) { children.add(first, std::move(c)); }
  void erase_child(std::uint32_t first) { children.erase(first); }
  // Makes (key, tokens) the subtree's best row if it is shorter than the current
  // (or as long, with a smaller key).
  void offer(const Key& key, const TokenList& tokens) {
    if (!best_tokens || tokens->size() < best_len || (tokens->size() == best_len && key < best_key)) {
      best_key = key;
      best_len = tokens->size();
      best_tokens = tokens;
    }
  }
};

RadixTree::RadixTree() : root_(std::make_unique<Node>()) {}
RadixTree::~RadixTree() = default;

bool RadixTree::empty() const { return rows_ == 0; }

void RadixTree::insert(const Key& key, const TokenList& tokens) {
  const std::vector<std::uint32_t>& t = *tokens;
  const std::size_t n = t.size();
  Node* node = root_.get();
  node->offer(key, tokens);
  std::size_t pos = 0;
  while (pos < n) {
    std::unique_ptr<Node>* slot = node->slot(t[pos]);
    if (slot == nullptr) {  // a new leaf for the rest of the tokens
      auto leaf = std::make_unique<Node>();
      leaf->parent = node;
      leaf->depth = n;
      leaf->edge_len = n - pos;
      leaf->offer(key, tokens);
      leaf->rows.emplace_back(key, tokens);
      node->add_child(t[pos], std::move(leaf));
      ++nodes_;
      ++rows_;
      return;
    }
    Node* c = slot->get();
    std::size_t m = 1;  // the first token matched by the slot lookup
    while (m < c->edge_len && pos + m < n && c->label(m) == t[pos + m]) ++m;
    if (m < c->edge_len) {  // split c's edge after m tokens
      auto mid = std::make_unique<Node>();
      mid->parent = node;
      mid->depth = pos + m;
      mid->edge_len = m;
      mid->best_key = c->best_key;
      mid->best_len = c->best_len;
      mid->best_tokens = c->best_tokens;
      std::unique_ptr<Node> old = std::move(*slot);
      old->edge_len -= m;
      old->parent = mid.get();
      const std::uint32_t first = old->label(0);
      mid->children.add(first, std::move(old));
      c = mid.get();
      *slot = std::move(mid);
      ++nodes_;
    }
    c->offer(key, tokens);
    node = c;
    pos += m;
  }
  for (const auto& r : node->rows) {
    if (r.first == key) return;  // already present
  }
  node->rows.emplace_back(key, tokens);
  ++rows_;
}

void RadixTree::recompute_best(Node& n) {
  if (!n.rows.empty()) {  // the rows ending here are the subtree's shortest
    const auto& r = *std::min_element(n.rows.begin(), n.rows.end(),
                                      [](const auto& a, const auto& b) { return a.first < b.first; });
    n.best_key = r.first;
    n.best_len = n.depth;
    n.best_tokens = r.second;
    return;
  }
  // Children are unordered: ties in length go to the smallest key, so the choice
  // does not depend on insertion order.
  const Node* best = nullptr;
  n.children.for_each([&best](const Node& c) {
    if (best == nullptr || c.best_len < best->best_len || (c.best_len == best->best_len && c.best_key < best->best_key))
      best = &c;
  });
  if (best == nullptr) {
    n.best_tokens.reset();
    n.best_len = 0;
    n.best_key = Key{};
    return;
  }
  n.best_key = best->best_key;
  n.best_len = best->best_len;
  n.best_tokens = best->best_tokens;
}

void RadixTree::merge_with_only_child(Node& n) {
  Node* parent = n.parent;
  std::unique_ptr<Node> child = std::move(n.children.only());
  child->edge_len += n.edge_len;
  child->parent = parent;
  // The child's best row passes through n's edge too, so it labels the joined edge.
  std::unique_ptr<Node>* slot = parent->slot(child->label(0));
  *slot = std::move(child);  // destroys n
  --nodes_;
}

bool RadixTree::remove(const Key& key, const TokenList& tokens) {
  const std::vector<std::uint32_t>& t = *tokens;
  const std::size_t n = t.size();
  std::vector<Node*> path{root_.get()};
  Node* node = root_.get();
  std::size_t pos = 0;
  while (pos < n) {
    std::unique_ptr<Node>* slot = node->slot(t[pos]);
    if (slot == nullptr) return false;
    Node* c = slot->get();
    if (pos + c->edge_len > n) return false;
    for (std::size_t i = 1; i < c->edge_len; ++i) {
      if (c->label(i) != t[pos + i]) return false;
    }
    pos += c->edge_len;
    node = c;
    path.push_back(c);
  }
  auto it = std::find_if(node->rows.begin(), node->rows.end(), [&](const auto& r) { return r.first == key; });
  if (it == node->rows.end()) return false;
  node->rows.erase(it);
  --rows_;

  // Keep the tree compressed: drop an empty leaf, then merge a row-less node
  // that is left with a single child.
  std::size_t i = path.size() - 1;
  if (i > 0 && node->rows.empty() && node->children.empty()) {
    Node* parent = path[i - 1];
    parent->erase_child(t[n - node->edge_len]);  // destroys node
    --nodes_;
    path.pop_back();
    --i;
    node = parent;
  }
  if (i > 0 && node->rows.empty() && node->children.size() == 1) {
    Node* child = node->children.only().get();
    merge_with_only_child(*node);
    path[i] = child;
  }
  // Bottom-up: nodes whose shortest row was the removed one pick a new one.
  for (std::size_t j = path.size(); j-- > 0;) {
    if (path[j]->best_tokens && path[j]->best_key == key) recompute_best(*path[j]);
  }
  return true;
}

void RadixTree::lookup(std::span<const std::uint32_t> prompt, AnyPrefixMatch& out) const {
  const Node* node = root_.get();
  const std::size_t n = prompt.size();
  if (!node->rows.empty()) {  // an empty-token row is a prefix of every prompt
    out.boundary_key = node->rows.front().first;
    out.boundary_length = 0;
  }
  std::size_t pos = 0;
  while (pos < n) {
    const Node* c = node->child(prompt[pos]);
    if (c == nullptr) break;
    std::size_t m = 1;
    while (m < c->edge_len && pos + m < n && c->label(m) == prompt[pos + m]) ++m;
    pos += m;
    // Every row below c shares prompt[0, pos); c's best is the shortest of them.
    out.key = c->best_key;
    out.common_prefix = pos;
    out.row_length = c->best_len;
    if (m < c->edge_len) break;  // diverged (or the prompt ended) mid-edge
    if (!c->rows.empty()) {
      out.boundary_key = c->rows.front().first;
      out.boundary_length = c->depth;
    }
    node = c;
  }
}

// ---- PrefixTrie ----

PrefixTrie::PrefixTrie() = default;
PrefixTrie::~PrefixTrie() = default;

std::size_t PrefixTrie::NsHash::operator()(const KeyNamespace& ns) const noexcept {
  std::size_t a;
  std::size_t b;
  std::memcpy(&a, ns.fingerprint.data(), sizeof(a));
  std::memcpy(&b, ns.ctx_hash.data(), sizeof(b));
  return a ^ (b * 0x9E3779B97F4A7C15ull) ^ ns.quant;
}

PrefixTrie::Tree* PrefixTrie::find(const KeyNamespace& ns) const {
  std::shared_lock lock(mu_);
  auto it = trees_.find(ns);
  return it == trees_.end() ? nullptr : it->second.get();
}

PrefixTrie::Tree& PrefixTrie::find_or_create(const KeyNamespace& ns) {
  if (Tree* t = find(ns)) return *t;
  std::unique_lock lock(mu_);
  auto& slot = trees_[ns];
  if (!slot) slot = std::make_unique<Tree>();
  return *slot;
}

void PrefixTrie::insert(const KeyNamespace& ns, const Key& key, const TokenList& tokens) {
  if (!tokens) return;
  Tree& t = find_or_create(ns);
  std::unique_lock lock(t.mu);
  t.tree.insert(key, tokens);
}

void PrefixTrie::remove(const KeyNamespace& ns, const Key& key, const TokenList& tokens) {
  if (!tokens) return;
  Tree* t = find(ns);
  if (t == nullptr) return;
  std::unique_lock lock(t->mu);
  t->tree.remove(key, tokens);
}

AnyPrefixMatch PrefixTrie::lookup(const KeyNamespace& ns, std::span<const std::uint32_t> prompt) const {
  AnyPrefixMatch out;
  const Tree* t = find(ns);
  if (t == nullptr) return out;
  std::shared_lock lock(t->mu);
  t->tree.lookup(prompt, out);
  return out;
}

std::size_t PrefixTrie::node_count(const KeyNamespace& ns) const {
  const Tree* t = find(ns);
  if (t == nullptr) return 0;
  std::shared_lock lock(t->mu);
  return t->tree.node_count();
}

}  // namespace kvc::index
