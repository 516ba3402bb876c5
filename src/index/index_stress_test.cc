// Several threads hammer a small key set with every index operation for a bounded
// number of iterations; afterwards the index must be consistent: no lease left,
// no row lost or duplicated, map and prefix trie in agreement.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "index/index.h"
#include "index/index_test_util.h"

namespace kvc::index {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::make_ns;
using testing::make_row;
using testing::options;

constexpr int kThreads = 4;
constexpr int kIterations = 4000;
constexpr std::size_t kKeys = 6;

struct Counters {
  std::atomic<std::int64_t> became_available{0};
  std::atomic<std::int64_t> left{0};
  std::atomic<std::int64_t> leases_taken{0};
};

struct OwnReservation {
  Reservation r;
  bool linked = false;
};

class IndexStressTest : public ::testing::Test {
 protected:
  FakeClock clock;
  Index index{options(clock, 4, 50ms)};
  KeyNamespace ns = make_ns(9);
  std::vector<RowInfo> rows;
  Counters counters;

  void SetUp() override {
    // Nested token lists so the trie has shared edges: row i = tokens 0 … 2i+1.
    for (std::uint32_t i = 0; i < kKeys; ++i) rows.push_back(make_row(ns, testing::iota_tokens(2 * i + 2)));
  }

  void worker(int id) {
    std::mt19937 rng(static_cast<std::uint32_t>(1234 + id));
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    std::vector<Lease> leases;
    std::vector<OwnReservation> mine;
    const std::vector<std::uint32_t> prompt = testing::iota_tokens(2 * kKeys + 4);
    for (int it = 0; it < kIterations; ++it) {
      const RowInfo& row = rows[pick(rows.size())];
      switch (pick(16)) {
        case 0:
        case 1: {
          auto r = index.checkout(row.key);
          if (r.ok()) {
            EXPECT_EQ(r->row().key, row.key);
            if (pick(2) == 0) (void)index.touch(*r);
            counters.leases_taken.fetch_add(1);
            if (leases.size() < 3) leases.push_back(std::move(r).value());
          }
          break;
        }
        case 2: {
          auto r = index.checkout_or_wait(row.key, std::chrono::steady_clock::now() + 1ms);
          if (r.ok()) {
            EXPECT_EQ(r->row().key, row.key);
          } else {
            const Code c = r.status().code();
            EXPECT_TRUE(c == Code::kNotFound || c == Code::kTimeout) << r.status().to_string();
          }
          break;
        }
        case 3:
          if (!leases.empty()) leases.erase(leases.begin() + static_cast<std::ptrdiff_t>(pick(leases.size())));
          break;
        case 4: {
          if (mine.size() >= 2) break;
          auto r = index.reserve(row.key);
          if (r.ok()) {
            mine.push_back(OwnReservation{std::move(r).value(), false});
          } else {
            const Code c = r.status().code();
            EXPECT_TRUE(c == Code::kAlreadyPresent || c == Code::kConflict) << r.status().to_string();
          }
          break;
        }
        case 5:
        case 6: {  // advance one of my saves: link, publish, cancel or abandon
          if (mine.empty()) break;
          const std::size_t i = pick(mine.size());
          OwnReservation& own = mine[i];
          const RowInfo& target = rows_by_key(own.r.key());
          bool done = true;
          switch (pick(4)) {
            case 0:
              if (index.mark_linked(own.r, 0)) own.linked = true;
              done = false;
              break;
            case 1:
              if (index.publish(own.r, target, 0).ok()) counters.became_available.fetch_add(1);
              break;
            case 2:
              // Only unlinked saves are cancelled here, so that the sweeping
              // thread alone resolves linked ones (keeps the counters exact).
              if (!own.linked) index.cancel(own.r);
              break;
            default:
              break;  // writer gone: the destructor cancels or hands it to the sweep
          }
          if (done) mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        }
        case 7: {
          const auto outcome = index.register_copy(row, 0, static_cast<std::uint32_t>(pick(4)), pick(2) == 0);
          if (outcome == RegisterOutcome::kInserted) counters.became_available.fetch_add(1);
          break;
        }
        case 8:
        case 9:
          // Only tier 0 exists: every victim leaves (its copy is deleted at once).
          if (auto v = testing::evict_now(index, 0)) {
            EXPECT_EQ(v->remaining, 0u);
            counters.left.fetch_add(1);
          }
          break;
        case 10:
          if (pick(4) == 0 && testing::remove_now(index, row.key, pick(2) == 0).ok()) counters.left.fetch_add(1);
          break;
        case 11:
          if (pick(2) == 0) {
            (void)index.pin(row.key);
          } else {
            (void)index.unpin(row.key);
          }
          break;
        case 12:
          if (id == 0) {
            for (const auto& x : index.sweep()) {
              if (pick(2) == 0) {
                index.adopt(x, rows_by_key(x.key));
                counters.became_available.fetch_add(1);
              } else {
                index.discard(x);
              }
            }
          } else {
            clock.advance(5ms);
          }
          break;
        case 13: {
          StrideMatch m = index.longest_prefix(ns, prompt, 2, 2);
          if (m.lease) {
            EXPECT_EQ(m.lease.row().tokens->size(), m.length);
            counters.leases_taken.fetch_add(1);
          }
          EXPECT_LE(m.probes, kKeys + 2);
          break;
        }
        case 14: {
          AnyPrefixMatch m = index.any_prefix(ns, prompt);
          if (m.key) {
            EXPECT_GE(m.row_length, m.common_prefix);
            EXPECT_NO_FATAL_FAILURE(rows_by_key(*m.key));
          }
          if (m.boundary_key) {
            EXPECT_EQ(rows_by_key(*m.boundary_key).tokens->size(), m.boundary_length);
          }
          break;
        }
        default: {
          for (const auto& c : index.eviction_candidates(std::nullopt)) {
            EXPECT_EQ(c.status, RowStatus::kAvailable);
            EXPECT_FALSE(c.pinned);
          }
          (void)index.rows();
          (void)index.size();
          break;
        }
      }
    }
  }

  const RowInfo& rows_by_key(const Key& k) const {
    for (const auto& r : rows) {
      if (r.key == k) return r;
    }
    ADD_FAILURE() << "unknown key " << k.hex();
    return rows.front();
  }
};

TEST_F(IndexStressTest, ConcurrentOperationsLeaveAConsistentIndex) {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([this, t] { worker(t); });
  for (auto& t : threads) t.join();

  EXPECT_GT(counters.leases_taken.load(), 0);
  EXPECT_EQ(index.total_leases(), 0u);

  // Resolve what the workers left: abandoned linked saves are adopted.
  clock.advance(1s);
  for (const auto& x : index.sweep()) {
    index.adopt(x, rows_by_key(x.key));
    counters.became_available.fetch_add(1);
  }
  EXPECT_TRUE(index.sweep().empty());

  std::set<Key> seen;
  std::size_t available = 0;
  for (const auto& r : index.rows()) {
    EXPECT_TRUE(seen.insert(r.info.key).second) << "duplicated row " << r.info.key.hex();
    EXPECT_EQ(r.leases, 0u);
    EXPECT_EQ(r.status, RowStatus::kAvailable);  // every save ended
    available += r.status == RowStatus::kAvailable ? 1 : 0;
  }
  EXPECT_EQ(index.size(), available);
  EXPECT_EQ(index.copies(0), available);
  EXPECT_EQ(static_cast<std::int64_t>(available), counters.became_available.load() - counters.left.load())
      << "rows lost or duplicated";

  // The trie holds exactly the available rows.
  for (const auto& row : rows) {
    AnyPrefixMatch m = index.any_prefix(ns, *row.tokens);
    if (index.contains(row.key)) {
      EXPECT_EQ(m.boundary_key, row.key);
      EXPECT_EQ(m.boundary_length, row.tokens->size());
    } else {
      EXPECT_NE(m.boundary_key, std::optional<Key>(row.key));
    }
  }

  // Everything can be evicted once unpinned; then nothing is left anywhere.
  for (const auto& row : rows) {
    if (index.contains(row.key)) {
      ASSERT_TRUE(index.unpin(row.key).ok());
    }
  }
  std::size_t evicted = 0;
  while (testing::evict_now(index, 0)) ++evicted;
  EXPECT_EQ(evicted, available);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.copies(0), 0u);
  EXPECT_TRUE(index.rows().empty());
  EXPECT_FALSE(index.any_prefix(ns, *rows.back().tokens).key.has_value());
}

}  // namespace
}  // namespace kvc::index
