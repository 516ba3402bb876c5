// Random sequences of copy operations (register, add copy, begin/end copy, evict
// with and without demotion, drop, remove, finish, pin, lease, touch) checked
// against a model after every step (rapidcheck):
//  - a copy is counted in copies(t) iff a row has bit t;
//  - an evicted victim was never leased or pinned when it was chosen, and it is
//    the least valuable eligible row of its tier (nothing eligible is skipped);
//  - lease counts are never negative and return to 0;
//  - a row is available only while it has a copy or a copy being written, a
//    deleting row only while a deletion or copy of it is outstanding.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "index/index.h"
#include "index/index_test_util.h"

namespace kvc::index {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::make_ns;
using testing::make_row;
using testing::options;

constexpr TierId kTiers = 3;
constexpr std::int64_t kHitWeight = 1'000'000'000;  // Options default: 1 s

using Job = std::pair<Key, TierId>;  // an outstanding finish_delete or end_copy

struct Model {
  FakeClock clock;
  Index index{options(clock, 2, 3'600'000ms)};  // reservations never expire here
  std::vector<RowInfo> rows;
  std::vector<Lease> leases;
  std::vector<Reservation> reservations;
  std::vector<Job> deletions;  // copies handed out to delete (evict, remove)
  std::vector<Job> claims;     // copies being written (begin_copy, demotion)

  Model() {
    const KeyNamespace ns = make_ns(8);
    for (std::uint32_t i = 0; i < 4; ++i) rows.push_back(make_row(ns, {i, i + 7}));
  }
  bool deleting(const Key& k, TierId t) const {
    return std::find(deletions.begin(), deletions.end(), Job{k, t}) != deletions.end();
  }
  bool outstanding(const Key& k) const {
    auto is_k = [&](const Job& j) { return j.first == k; };
    return std::any_of(deletions.begin(), deletions.end(), is_k) || std::any_of(claims.begin(), claims.end(), is_k);
  }
  // Index::Options: value = last_used + hits × hit_weight, saturating.
  static std::int64_t value(const RowSnapshot& s) {
    std::int64_t w, v;
    if (__builtin_mul_overflow(static_cast<std::int64_t>(s.hits), kHitWeight, &w)) w = INT64_MAX;
    if (__builtin_add_overflow(s.last_used_ns, w, &v)) v = INT64_MAX;
    return v;
  }
  template <class V>
  static typename V::value_type take(V& v, std::size_t i) {
    auto x = std::move(v[i]);
    v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
    return x;
  }

  void check_invariants() const {
    std::array<std::size_t, kMaxTiers> counted{};
    std::set<Key> seen;
    std::uint64_t leased = 0;
    for (const auto& r : index.rows()) {
      RC_ASSERT(seen.insert(r.info.key).second);
      RC_ASSERT((r.tiers & r.pending) == 0);
      RC_ASSERT(r.leases <= leases.size());  // never negative (no wrap-around)
      leased += r.leases;
      for (TierId t = 0; t < kMaxTiers; ++t) counted[t] += (r.tiers & tier_bit(t)) ? 1 : 0;
      switch (r.status) {
        case RowStatus::kAvailable: RC_ASSERT((r.tiers | r.pending) != 0); break;
        case RowStatus::kDeleting:
          RC_ASSERT(r.tiers == 0);
          RC_ASSERT(outstanding(r.info.key));
          break;
        case RowStatus::kWriting:
          RC_ASSERT(r.tiers == 0 && r.pending == 0 && r.leases == 0);
          break;
      }
    }
    for (TierId t = 0; t < kMaxTiers; ++t) RC_ASSERT(index.copies(t) == counted[t]);
    RC_ASSERT(index.total_leases() == leased);
    RC_ASSERT(leased <= leases.size());  // the rest are leases on rows gone since
    for (const auto& [k, t] : deletions) RC_ASSERT(index.get(k).has_value());
    for (const auto& [k, t] : claims) {
      const auto s = index.get(k);
      RC_ASSERT(s.has_value());
      RC_ASSERT((s->pending & tier_bit(t)) != 0);
    }
  }

  void evict(TierId t) {
    const auto before = index.rows();
    std::optional<RowSnapshot> best;  // the least valuable eligible row
    for (const auto& r : before) {
      if (r.status != RowStatus::kAvailable || r.leases > 0 || r.pinned || !(r.tiers & tier_bit(t))) continue;
      if (!best || value(r) < value(*best) || (value(r) == value(*best) && r.info.key < best->info.key)) best = r;
    }
    const int how = *rc::gen::inRange(0, 3);  // no demotion, one tier down, a random tier
    const TierId down = how == 1 ? static_cast<TierId>(t + 1) : *rc::gen::inRange<TierId>(0, kTiers + 1);
    std::optional<TierId> asked;
    auto v = index.evict_next(t, [&](const RowInfo& row, TierMask remaining, TierMask pending) {
      RC_ASSERT(best && row.key == best->info.key);
      RC_ASSERT(remaining == (best->tiers & ~tier_bit(t)));
      RC_ASSERT(pending == best->pending);
      if (how != 0) asked = down;
      return asked;
    });
    RC_ASSERT(v.has_value() == best.has_value());  // nothing eligible is ever skipped
    if (!v) return;
    RC_ASSERT(v->info.key == best->info.key);
    RC_ASSERT(best->leases == 0 && !best->pinned);  // as it was when chosen
    RC_ASSERT(v->remaining == (best->tiers & ~tier_bit(t)));
    const bool demotable = asked && *asked < kMaxTiers && *asked != t &&
                           !((best->tiers | best->pending) & tier_bit(*asked)) && !deleting(best->info.key, *asked);
    RC_ASSERT(v->demoted_to.has_value() == demotable);
    if (demotable) RC_ASSERT(*v->demoted_to == *asked);
    RC_ASSERT(v->pending == (best->pending | (demotable ? tier_bit(*asked) : 0)));
    const auto after = index.get(best->info.key);
    RC_ASSERT(after.has_value());
    RC_ASSERT(after->status == ((v->remaining | v->pending) != 0 ? RowStatus::kAvailable : RowStatus::kDeleting));
    deletions.emplace_back(best->info.key, t);
    if (v->demoted_to) claims.emplace_back(best->info.key, *v->demoted_to);
  }

  void step() {
    const RowInfo& row = rows[*rc::gen::inRange<std::size_t>(0, rows.size())];
    const Key& k = row.key;
    const TierId t = *rc::gen::inRange<TierId>(0, kTiers);
    const auto before = index.get(k);
    const bool available = before && before->status == RowStatus::kAvailable;
    const bool free_here = available && !((before->tiers | before->pending) & tier_bit(t)) && !deleting(k, t);
    const int op = *rc::gen::inRange(0, 16);
    RC_LOG() << "op " << op << " key " << k.hex().substr(0, 8) << " tier " << int(t) << "\n";
    switch (op) {
      case 0:
      case 1: {
        const auto outcome = index.register_copy(row, t, *rc::gen::inRange<std::uint32_t>(0, 4), *rc::gen::arbitrary<bool>());
        RC_ASSERT(outcome == (!before ? RegisterOutcome::kInserted
                                      : free_here ? RegisterOutcome::kAddedCopy : RegisterOutcome::kKeptExisting));
        break;
      }
      case 2: {
        if (reservations.size() >= 2) break;
        auto r = index.reserve(k);
        if (!before) {
          RC_ASSERT(r.ok());
          reservations.push_back(std::move(r).value());
        } else {
          RC_ASSERT(r.status().code() == (available ? Code::kAlreadyPresent : Code::kConflict));
        }
        break;
      }
      case 3: {
        if (reservations.empty()) break;
        Reservation r = take(reservations, *rc::gen::inRange<std::size_t>(0, reservations.size()));
        const RowInfo& target = *std::find_if(rows.begin(), rows.end(), [&](const RowInfo& x) { return x.key == r.key(); });
        if (*rc::gen::arbitrary<bool>()) {
          RC_ASSERT(index.publish(r, target, t).ok());
          RC_ASSERT(index.get(target.key)->tiers == tier_bit(t));
        } else {
          index.cancel(r);
          RC_ASSERT(!index.get(target.key).has_value());
        }
        break;
      }
      case 4: {
        const bool claimed = index.begin_copy(k, t);
        RC_ASSERT(claimed == free_here);
        if (claimed) claims.emplace_back(k, t);
        break;
      }
      case 5: {
        if (claims.empty()) break;
        const auto [ck, ct] = take(claims, *rc::gen::inRange<std::size_t>(0, claims.size()));
        const auto s = *index.get(ck);
        const bool ok = *rc::gen::arbitrary<bool>();
        const auto outcome = index.end_copy(ck, ct, ok);
        const bool left_nothing = s.tiers == 0 && (s.pending & ~tier_bit(ct)) == 0;
        if (s.status != RowStatus::kAvailable || (!ok && left_nothing)) {
          RC_ASSERT(outcome == CopyOutcome::kRowGone);
        } else {
          RC_ASSERT(outcome == CopyOutcome::kAdded);
          if (ok) RC_ASSERT((index.get(ck)->tiers & tier_bit(ct)) != 0);
        }
        break;
      }
      case 6:
      case 7:
        evict(t);
        break;
      case 8:
        if (!deletions.empty()) {
          const auto [dk, dt] = take(deletions, *rc::gen::inRange<std::size_t>(0, deletions.size()));
          index.finish_delete(dk, dt);
        }
        break;
      case 9: {
        auto d = index.drop_copy(k, t);
        RC_ASSERT(d.has_value() == (before && (before->tiers & tier_bit(t)) != 0));
        if (d) {
          RC_ASSERT(d->to_delete == tier_bit(t));
          RC_ASSERT(d->erased == ((before->tiers & ~tier_bit(t)) == 0 && before->pending == 0));
          RC_ASSERT(index.contains(k) == !d->erased);
        }
        break;
      }
      case 10: {
        const bool only_if_unleased = *rc::gen::arbitrary<bool>();
        auto d = index.remove(k, only_if_unleased);
        if (!available) {
          RC_ASSERT(d.status().code() == Code::kNotFound);
        } else if (only_if_unleased && before->leases > 0) {
          RC_ASSERT(d.status().code() == Code::kBusy);
        } else {
          RC_ASSERT(d.ok());
          RC_ASSERT(d->to_delete == before->tiers);
          RC_ASSERT(!index.contains(k));
          for (TierId x = 0; x < kMaxTiers; ++x)
            if (d->to_delete & tier_bit(x)) deletions.emplace_back(k, x);
        }
        break;
      }
      case 11:
        RC_ASSERT(index.pin(k).ok() == available);
        break;
      case 12:
        RC_ASSERT(index.unpin(k).ok() == available);
        break;
      case 13: {
        auto l = index.checkout(k);
        RC_ASSERT(l.ok() == available);
        if (l.ok()) {
          RC_ASSERT(l->row().key == k);
          RC_ASSERT(l->tiers() == before->tiers);
          leases.push_back(std::move(l).value());
        }
        break;
      }
      case 14:
        if (!leases.empty()) {
          const std::size_t i = *rc::gen::inRange<std::size_t>(0, leases.size());
          if (*rc::gen::arbitrary<bool>()) {
            (void)index.touch(leases[i]);
          } else {
            leases.erase(leases.begin() + static_cast<std::ptrdiff_t>(i));
          }
        }
        break;
      default:
        clock.advance(std::chrono::milliseconds(*rc::gen::inRange(0, 3000)));
        break;
    }
    check_invariants();
  }

  // Completes every outstanding job, releases everything, then empties every tier.
  void settle() {
    while (!claims.empty()) {
      const auto [k, t] = take(claims, 0);
      (void)index.end_copy(k, t, true);
    }
    while (!deletions.empty()) {
      const auto [k, t] = take(deletions, 0);
      index.finish_delete(k, t);
    }
    reservations.clear();
    leases.clear();
    RC_ASSERT(index.total_leases() == 0u);
    for (const auto& r : index.rows()) {
      RC_ASSERT(r.leases == 0u);
      RC_ASSERT(r.status == RowStatus::kAvailable);  // nothing stuck deleting or writing
      RC_ASSERT(index.unpin(r.info.key).ok());
    }
    for (TierId t = 0; t < kMaxTiers; ++t) {  // demotions may have reached tier kTiers
      while (auto v = index.evict_next(t)) index.finish_evict(v->info.key, t);
      RC_ASSERT(index.copies(t) == 0u);
    }
    for (const auto& r : index.rows())
      RC_LOG() << "left: " << r.info.key.hex().substr(0, 8) << " status " << int(r.status) << " tiers "
               << int(r.tiers) << " pending " << int(r.pending) << " pinned " << r.pinned << " leases " << r.leases
               << " queue0 " << index.eviction_queue_size(0) << "\n";
    RC_ASSERT(index.rows().empty());
    check_invariants();
  }
};

RC_GTEST_PROP(CopiesProperty, RandomOperationsKeepTheInvariants, ()) {
  Model m;
  const auto steps = *rc::gen::inRange(1, 200);
  for (int i = 0; i < steps; ++i) m.step();
  m.settle();
}

}  // namespace
}  // namespace kvc::index
