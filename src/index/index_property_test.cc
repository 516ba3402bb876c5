// Properties of the index under random operation sequences (rapidcheck).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "index/index.h"
#include "index/index_test_util.h"
#include "index/prefix_trie.h"

namespace kvc::index {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::make_ns;
using testing::make_row;
using testing::options;
using Tokens = std::vector<std::uint32_t>;

std::size_t lcp(const Tokens& a, std::span<const std::uint32_t> b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// Token lists over a tiny alphabet so that prefixes are shared a lot.
rc::Gen<Tokens> small_tokens() {
  return rc::gen::container<Tokens>(rc::gen::inRange<std::uint32_t>(0, 3));
}

// The brute-force any-prefix answer for `prompt` over `rows`.
void check_against_model(const Index& index, const KeyNamespace& ns, const std::map<Key, Tokens>& rows,
                         const Tokens& prompt) {
  AnyPrefixMatch m = index.any_prefix(ns, prompt);
  std::size_t best_lcp = 0;
  for (const auto& [k, t] : rows) best_lcp = std::max(best_lcp, lcp(t, prompt));
  std::optional<std::size_t> shortest;  // shortest row sharing best_lcp tokens
  std::optional<std::size_t> boundary;  // longest row that is a whole prefix
  for (const auto& [k, t] : rows) {
    const std::size_t l = lcp(t, prompt);
    if (l == best_lcp && (!shortest || t.size() < *shortest)) shortest = t.size();
    if (l == t.size() && (!boundary || t.size() > *boundary)) boundary = t.size();
  }
  RC_ASSERT(m.common_prefix == best_lcp);
  if (best_lcp == 0) {
    RC_ASSERT(!m.key.has_value());
  } else {
    RC_ASSERT(m.key.has_value());
    RC_ASSERT(rows.count(*m.key) == 1u);
    const Tokens& row = rows.at(*m.key);
    RC_ASSERT(lcp(row, prompt) == best_lcp);
    RC_ASSERT(m.row_length == row.size());
    RC_ASSERT(m.row_length == *shortest);
  }
  RC_ASSERT(m.boundary_key.has_value() == boundary.has_value());
  if (boundary) {
    RC_ASSERT(rows.count(*m.boundary_key) == 1u);
    RC_ASSERT(rows.at(*m.boundary_key).size() == *boundary);
    RC_ASSERT(m.boundary_length == *boundary);
  }
}

RC_GTEST_PROP(IndexProperty, AnyPrefixAgreesWithBruteForce, ()) {
  FakeClock clock;
  Index index(options(clock));
  const KeyNamespace ns = make_ns(1);
  const KeyNamespace other = make_ns(2);
  std::map<Key, Tokens> model;  // available rows of ns
  const auto steps = *rc::gen::inRange(1, 60);
  for (int i = 0; i < steps; ++i) {
    const int op = *rc::gen::inRange(0, 10);
    const Tokens t = *small_tokens();
    const RowInfo row = make_row(ns, t);
    if (op < 5) {  // insert (register a copy in some tier, or reserve+publish)
      if (op == 0) {
        auto r = index.reserve(row.key);
        if (r.ok()) RC_ASSERT(index.publish(*r, row, 0).ok());
      } else {
        (void)index.register_copy(row, static_cast<TierId>(op % 2), 0, op == 1);
      }
      model[row.key] = t;
    } else if (op == 5 && !model.empty()) {  // remove an existing row
      auto it = model.begin();
      std::advance(it, *rc::gen::inRange<std::size_t>(0, model.size()));
      RC_ASSERT(testing::remove_now(index, it->first).ok());
      model.erase(it);
    } else if (op == 6) {  // evict from tier 0 (a row whose last copy goes leaves the trie)
      if (auto v = index.evict_next(0)) {
        if (!index.contains(v->info.key)) model.erase(v->info.key);
        index.finish_evict(v->info.key, 0);
      }
    } else if (op == 7) {  // noise in another namespace
      (void)index.register_copy(make_row(other, t), 0, 0, false);
    } else {
      check_against_model(index, ns, model, *small_tokens());
    }
  }
  for (const auto& [k, t] : model) check_against_model(index, ns, model, t);
  check_against_model(index, ns, model, *small_tokens());
}

RC_GTEST_PROP(IndexProperty, RadixTreeReturnsToEmpty, ()) {
  RadixTree tree;
  const auto lists = *rc::gen::container<std::vector<Tokens>>(small_tokens());
  std::map<Key, TokenList> rows;
  for (const auto& t : lists) {
    TokenList l = std::make_shared<const Tokens>(t);
    Key k = derive_key(make_ns(1), t);
    if (rows.emplace(k, l).second) tree.insert(k, l);
  }
  RC_ASSERT(tree.row_count() == rows.size());
  RC_ASSERT(tree.node_count() <= 2 * rows.size() + 1);
  std::vector<Key> order;
  for (const auto& [k, l] : rows) order.push_back(k);
  for (std::size_t i = order.size(); i > 1; --i) {  // random removal order
    std::swap(order[i - 1], order[*rc::gen::inRange<std::size_t>(0, i)]);
  }
  for (const Key& k : order) RC_ASSERT(tree.remove(k, rows.at(k)));
  RC_ASSERT(tree.empty());
  RC_ASSERT(tree.node_count() == 1u);
  for (const auto& [k, l] : rows) RC_ASSERT(l.use_count() == 1);
}

// Random operations on a few keys; after each one the documented invariants hold.
RC_GTEST_PROP(IndexProperty, LeasesReservationsAndEvictionInvariants, ()) {
  FakeClock clock;
  Index index(options(clock, 2, 1'000ms));
  const KeyNamespace ns = make_ns(3);
  std::vector<RowInfo> keys;
  for (std::uint32_t i = 0; i < 4; ++i) keys.push_back(make_row(ns, {i, i + 1}));
  std::vector<Lease> leases;
  std::vector<Reservation> reservations;
  const auto steps = *rc::gen::inRange(1, 120);
  for (int step = 0; step < steps; ++step) {
    const int op = *rc::gen::inRange(0, 14);
    const RowInfo& row = keys[*rc::gen::inRange<std::size_t>(0, keys.size())];
    const Key& k = row.key;
    const auto before = index.get(k);
    switch (op) {
      case 0: {  // checkout
        auto r = index.checkout(k);
        if (r.ok()) {
          RC_ASSERT(before && before->status == RowStatus::kAvailable);
          leases.push_back(std::move(r).value());
        } else {
          RC_ASSERT(!before || before->status == RowStatus::kWriting);
        }
        break;
      }
      case 1: {  // checkout_or_wait with a deadline already passed: never blocks
        auto r = index.checkout_or_wait(k, std::chrono::steady_clock::now());
        if (r.ok()) {
          leases.push_back(std::move(r).value());
        } else if (r.status().code() == Code::kTimeout) {
          const auto now = index.get(k);
          RC_ASSERT(now && now->status == RowStatus::kWriting);
        } else {
          RC_ASSERT(r.status().code() == Code::kNotFound);
          RC_ASSERT(!index.contains(k));
        }
        break;
      }
      case 2:  // serve (touch) or release one lease
        if (!leases.empty()) {
          const std::size_t i = *rc::gen::inRange<std::size_t>(0, leases.size());
          if (*rc::gen::arbitrary<bool>()) {
            // The lease may be on a row removed since (then the current row is not touched).
            const Key lk = leases[i].row().key;
            const auto was = index.get(lk);
            const std::uint32_t hits = index.touch(leases[i]);
            const auto is = index.get(lk);
            if (was && is) RC_ASSERT(is->hits == was->hits || (is->hits == was->hits + 1 && hits == is->hits));
          } else {
            leases.erase(leases.begin() + static_cast<std::ptrdiff_t>(i));
          }
        }
        break;
      case 3: {  // reserve
        auto r = index.reserve(k);
        if (r.ok()) {
          reservations.push_back(std::move(r).value());
        } else {
          RC_ASSERT(r.status().code() == Code::kAlreadyPresent || r.status().code() == Code::kConflict);
          RC_ASSERT(before.has_value());
          RC_ASSERT((r.status().code() == Code::kAlreadyPresent) == (before->status == RowStatus::kAvailable));
        }
        break;
      }
      case 4:  // publish, cancel, mark_linked or drop a reservation
      case 5:
        if (!reservations.empty()) {
          const std::size_t i = *rc::gen::inRange<std::size_t>(0, reservations.size());
          Reservation& r = reservations[i];
          const int how = *rc::gen::inRange(0, 4);
          const RowInfo& target = *std::find_if(keys.begin(), keys.end(), [&](const RowInfo& x) { return x.key == r.key(); });
          if (how == 0) {
            const bool live = index.check(r);
            const Status s = index.publish(r, target, 0);
            RC_ASSERT(s.ok() == live);
          } else if (how == 1) {
            index.cancel(r);
          } else if (how == 2) {
            (void)index.mark_linked(r, 0);
          }
          if (how != 2) reservations.erase(reservations.begin() + static_cast<std::ptrdiff_t>(i));
        }
        break;
      case 6:
        (void)index.register_copy(row, 0, *rc::gen::inRange<std::uint32_t>(0, 5), *rc::gen::arbitrary<bool>());
        if (before) {  // a known row is never replaced
          const auto after = index.get(k);
          RC_ASSERT(after->status == before->status);
          RC_ASSERT(after->info.size == before->info.size);
          RC_ASSERT(after->hits == before->hits);
          RC_ASSERT(after->leases == before->leases);
        }
        break;
      case 7: {  // evict (only tier 0 exists here: a victim leaves the index)
        const auto rows_before = index.rows();
        auto evicted = testing::evict_now(index, 0);
        const bool any_eligible = std::any_of(rows_before.begin(), rows_before.end(), [](const RowSnapshot& r) {
          return r.status == RowStatus::kAvailable && r.leases == 0 && !r.pinned;
        });
        RC_ASSERT(evicted.has_value() == any_eligible);
        if (evicted) {
          const auto was = std::find_if(rows_before.begin(), rows_before.end(),
                                        [&](const RowSnapshot& r) { return r.info.key == evicted->info.key; });
          RC_ASSERT(was != rows_before.end());
          RC_ASSERT(was->leases == 0u && !was->pinned);
          RC_ASSERT(!index.get(evicted->info.key).has_value());
        }
        break;
      }
      case 8:
        (void)testing::remove_now(index, k);
        break;
      case 9:
        (void)index.pin(k);
        break;
      case 10:
        (void)index.unpin(k);
        break;
      case 11:
        clock.advance(std::chrono::milliseconds(*rc::gen::inRange(0, 1500)));
        break;
      case 12:
        for (const auto& x : index.sweep()) {
          const RowInfo& target = *std::find_if(keys.begin(), keys.end(), [&](const RowInfo& y) { return y.key == x.key; });
          if (*rc::gen::arbitrary<bool>()) {
            index.adopt(x, target);
          } else {
            index.discard(x);
          }
        }
        break;
      default: {  // candidates never include leased, pinned or writing rows
        for (const auto& c : index.eviction_candidates(std::nullopt)) {
          RC_ASSERT(c.status == RowStatus::kAvailable && c.leases == 0 && !c.pinned);
        }
        break;
      }
    }
    // Global invariants (total_leases counts the leases of rows still in the index;
    // a lease outlives the removal of its row).
    std::uint64_t counted = 0;
    std::set<Key> seen;
    for (const auto& r : index.rows()) {
      RC_ASSERT(seen.insert(r.info.key).second);  // no duplicates
      RC_ASSERT(r.leases <= leases.size());       // never negative (no wrap-around)
      counted += r.leases;
      if (r.status == RowStatus::kWriting) RC_ASSERT(r.leases == 0u);
    }
    RC_ASSERT(index.total_leases() == counted);
    RC_ASSERT(counted <= leases.size());  // the rest are leases on removed rows
    for (const auto& l : leases) RC_ASSERT(static_cast<bool>(l));
  }
  leases.clear();
  RC_ASSERT(index.total_leases() == 0u);
  for (const auto& r : index.rows()) RC_ASSERT(r.leases == 0u);
}

}  // namespace
}  // namespace kvc::index
