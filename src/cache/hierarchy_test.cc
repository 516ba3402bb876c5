// The tier hierarchy of kvc::Cache (cache.md §3, issue 9): landing, write-through,
// promotion, demotion, per-tier policy and min_tokens, and the tier-level defects.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <thread>

#include "io/env.h"
#include "io/fault_env.h"
#include "kvc/cache.h"
#include "support/temp_dir.h"

namespace kvc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

KeyNamespace ns() {
  KeyNamespace n;
  n.fingerprint.fill(7);
  n.quant = 1;
  n.ctx_hash.fill(0x42);
  return n;
}

std::vector<std::uint32_t> tokens(std::size_t n, std::uint32_t start = 1) {
  std::vector<std::uint32_t> t(n);
  std::iota(t.begin(), t.end(), start);
  return t;
}

SaveRequest request(std::vector<std::uint32_t> toks, std::size_t bytes, std::uint8_t seed = 3) {
  SaveRequest r;
  r.ns = ns();
  r.tokens = std::move(toks);
  r.payload = BufferPool::shared().acquire(bytes);
  for (std::size_t i = 0; i < bytes; ++i) r.payload.data()[i] = std::byte(static_cast<std::uint8_t>(seed + i * 7));
  r.reason = SaveReason::kCold;
  return r;
}

TierOptions tier(TierKind kind, std::string dir, std::uint64_t quota) {
  TierOptions t;
  t.kind = kind;
  t.dir = std::move(dir);
  t.quota_bytes = quota;
  return t;
}

CacheOptions ram_disk(const std::string& disk, std::uint64_t ram_quota = 1 << 24, std::uint64_t disk_quota = 1 << 26) {
  CacheOptions o;
  o.tiers = {tier(TierKind::kRam, "", ram_quota), tier(TierKind::kDisk, disk, disk_quota)};
  o.policy.min_tokens = 16;
  o.policy.cold_min_tokens = 16;
  o.policy.boundary_align_tokens = 16;
  o.policy.boundary_trim_tokens = 0;
  o.sweep_interval = 20ms;
  return o;
}

std::unique_ptr<Cache> open_or_die(CacheOptions o) {
  auto c = Cache::open(std::move(o));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(c.value()) : nullptr;
}

std::string file_of(const std::string& dir, const Key& k) { return dir + "/" + k.hex() + ".kvc"; }

// The tier a served row came from ("" when it could not be served).
std::string served_from(Cache& cache, const Key& key) {
  auto lease = cache.checkout(key);
  if (!lease.ok()) return "";
  auto loaded = cache.load(*lease);
  return loaded.ok() ? std::string(loaded->tier_name()) : "";
}

TierMask tiers_of(Cache& cache, const Key& key) {
  for (const auto& r : cache.rows())
    if (r.info.key == key) return r.tiers;
  return 0;
}

TEST(Hierarchy, SaveLandsInRamAtOnceAndOnDiskAfterTheWriteThrough) {
  testing::TempDir dir;
  auto cache = open_or_die(ram_disk(dir.path()));
  auto key = cache->save(request(tokens(64), 50'000), 5s);
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_TRUE(tiers_of(*cache, *key) & tier_bit(0));  // in RAM when save returns
  cache->flush();
  EXPECT_EQ(tiers_of(*cache, *key), tier_bit(0) | tier_bit(1));
  EXPECT_TRUE(fs::exists(file_of(dir.path(), *key)));
  EXPECT_EQ(served_from(*cache, *key), "ram");
  const auto stats = cache->tier_stats();
  EXPECT_EQ(stats[0].rows, 1u);
  EXPECT_EQ(stats[1].rows, 1u);
  EXPECT_EQ(stats[0].used_bytes, stats[1].used_bytes);
  EXPECT_EQ(stats[1].counters.write_through_bytes, stats[1].used_bytes);
  EXPECT_EQ(stats[0].counters.hits, 1u);
}

TEST(Hierarchy, ARestartKeepsDiskRowsAndADiskHitIsPromotedThenServedFromRam) {
  testing::TempDir dir;
  Key key;
  {
    auto cache = open_or_die(ram_disk(dir.path()));
    key = cache->save(request(tokens(64), 50'000), 5s).value();
  }  // the destructor drains the write-through
  auto cache = open_or_die(ram_disk(dir.path()));
  EXPECT_EQ(tiers_of(*cache, key), tier_bit(1));
  EXPECT_EQ(served_from(*cache, key), "disk");
  EXPECT_EQ(tiers_of(*cache, key), tier_bit(0) | tier_bit(1));  // promoted
  EXPECT_EQ(served_from(*cache, key), "ram");
  const auto stats = cache->tier_stats();
  EXPECT_EQ(stats[0].counters.promotions, 1u);
  EXPECT_EQ(stats[1].counters.hits, 1u);
  EXPECT_EQ(stats[0].counters.hits, 1u);
}

TEST(Hierarchy, RamEvictionDemotesToAnOnEvictTierWithoutLosingTheRow) {
  testing::TempDir dir;
  // RAM holds one row; disk receives rows only when RAM evicts them.
  CacheOptions o = ram_disk(dir.path(), 60'000);
  o.tiers[1].policy = TierPolicy::kOnEvict;
  auto cache = open_or_die(o);
  auto a = cache->save(request(tokens(64, 1), 50'000), 5s).value();
  cache->flush();
  EXPECT_FALSE(fs::exists(file_of(dir.path(), a)));  // on-evict: not written through
  auto b = cache->save(request(tokens(64, 1000), 50'000), 5s).value();  // evicts a from RAM
  cache->flush();
  EXPECT_EQ(tiers_of(*cache, a), tier_bit(1));
  EXPECT_EQ(tiers_of(*cache, b), tier_bit(0));
  EXPECT_TRUE(fs::exists(file_of(dir.path(), a)));
  EXPECT_EQ(cache->tier_stats()[1].counters.demotions, 1u);
  EXPECT_EQ(served_from(*cache, a), "disk");  // and promoted back, demoting b
  cache->flush();
  EXPECT_EQ(tiers_of(*cache, b), tier_bit(1));
  EXPECT_LE(cache->tier_stats()[0].used_bytes, cache->tier_stats()[0].quota_bytes);
}

TEST(Hierarchy, EvictionWithACopyBelowOnlyDropsThatCopy) {
  testing::TempDir dir;
  auto cache = open_or_die(ram_disk(dir.path(), 60'000));
  auto a = cache->save(request(tokens(64, 1), 50'000), 5s).value();
  cache->flush();
  auto b = cache->save(request(tokens(64, 1000), 50'000), 5s).value();
  cache->flush();
  EXPECT_EQ(tiers_of(*cache, a), tier_bit(1));
  EXPECT_EQ(tiers_of(*cache, b), tier_bit(0) | tier_bit(1));
  EXPECT_EQ(cache->tier_stats()[1].counters.demotions, 0u);
  EXPECT_EQ(cache->tier_stats()[0].counters.evictions, 1u);
}

TEST(Hierarchy, EachTierKeepsOnlyRowsAsLongAsItsMinTokens) {
  testing::TempDir dir;
  auto cache = open_or_die(ram_disk(dir.path()));  // ram: 1 token, disk: 16
  auto short_row = cache->save(request(tokens(5), 1000), 5s);
  ASSERT_TRUE(short_row.ok()) << short_row.status().to_string();
  cache->flush();
  EXPECT_EQ(tiers_of(*cache, *short_row), tier_bit(0));
  EXPECT_FALSE(fs::exists(file_of(dir.path(), *short_row)));
  EXPECT_EQ(cache->min_save_tokens(), 1u);
  // A disk-only cache refuses rows below its floor before any work.
  CacheOptions disk_only = ram_disk(dir.path());
  disk_only.tiers.erase(disk_only.tiers.begin());
  cache.reset();
  cache = open_or_die(disk_only);
  EXPECT_EQ(cache->reserve_save(ns(), tokens(5)).status().code(), Code::kDropped);
  EXPECT_EQ(cache->min_save_tokens(), 16u);
}

TEST(Hierarchy, ReserveBeforeTheSnapshotMakesADuplicateFree) {
  testing::TempDir dir;
  auto cache = open_or_die(ram_disk(dir.path()));
  auto ticket = cache->reserve_save(ns(), tokens(64));
  ASSERT_TRUE(ticket.ok());
  // While reserved, a second saver learns it is a duplicate before snapshotting.
  EXPECT_EQ(cache->reserve_save(ns(), tokens(64)).status().code(), Code::kConflict);
  ASSERT_TRUE(cache->save_async(std::move(ticket.value()), request(tokens(64), 10'000)).ok());
  cache->flush();
  EXPECT_EQ(cache->reserve_save(ns(), tokens(64)).status().code(), Code::kAlreadyPresent);
  EXPECT_EQ(cache->counters().duplicate_dropped, 2u);
  // A ticket whose request is for other tokens is refused.
  auto other = cache->reserve_save(ns(), tokens(32));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(cache->save(std::move(other.value()), request(tokens(33), 100), 1s).status().code(),
            Code::kInvalidArgument);
}

TEST(Hierarchy, QuotasHoldInEveryTierUnderChurn) {
  testing::TempDir dir;
  auto cache = open_or_die(ram_disk(dir.path(), 200'000, 400'000));
  for (std::uint32_t i = 0; i < 40; ++i) {
    ASSERT_TRUE(cache->save_async(request(tokens(32, i * 100), 30'000 + i * 997)).ok() || true);
    if (i % 3 == 0) (void)served_from(*cache, derive_key(ns(), tokens(32, (i / 2) * 100)));
    for (const auto& s : cache->tier_stats()) ASSERT_LE(s.used_bytes, s.quota_bytes) << s.name;
  }
  cache->flush();
  for (const auto& s : cache->tier_stats()) EXPECT_LE(s.used_bytes, s.quota_bytes) << s.name;
}

TEST(Hierarchy, WriterQueueIsBoundedInBytesAndFlushHasADeadline) {
  testing::TempDir dir;
  CacheOptions o = ram_disk(dir.path());
  o.writers.threads = 1;
  o.writers.queue_bytes = 100'000;
  auto cache = open_or_die(o);
  // Many large async saves at once: beyond the byte bound they are dropped, counted.
  std::size_t dropped = 0;
  for (std::uint32_t i = 0; i < 30; ++i) {
    auto k = cache->save_async(request(tokens(64, i * 1000), 60'000));
    if (!k.ok()) {
      EXPECT_EQ(k.status().code(), Code::kDropped);
      EXPECT_NE(k.status().message().find("bytes"), std::string::npos);
      ++dropped;
    }
  }
  EXPECT_GT(dropped, 0u);
  EXPECT_GE(cache->counters().saves_dropped, dropped);
  (void)cache->flush(0ms);  // whatever is still queued is dropped and counted, not waited for
  cache->flush();
  for (const auto& r : cache->rows()) EXPECT_EQ(r.status, RowStatus::kAvailable);
}

TEST(Hierarchy, RecencyUsesTheMonotonicClock) {
  // Reservation deadlines and recency live on steady_clock: a wall-clock step
  // can no longer expire every save in flight.
  testing::TempDir dir;
  auto cache = open_or_die(ram_disk(dir.path()));
  const auto before = std::chrono::steady_clock::now().time_since_epoch().count();
  auto key = cache->save(request(tokens(64), 1000), 5s).value();
  const auto after = std::chrono::steady_clock::now().time_since_epoch().count();
  auto rows = cache->rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_GE(rows[0].last_used_ns, before);
  EXPECT_LE(rows[0].last_used_ns, after);
  (void)key;
}

// ---- defects of issue 9, one regression test each ----

// An Env that runs a hook before removing paths containing `match`.
class HookEnv final : public io::Env {
 public:
  explicit HookEnv(io::Env* base) : base_(base) {}
  std::string match;
  std::function<void()> before_remove;

  Result<std::unique_ptr<io::WritableFile>> new_exclusive_file(const std::string& p, unsigned m) override {
    return base_->new_exclusive_file(p, m);
  }
  Result<std::unique_ptr<io::ReadableFile>> open_readable(const std::string& p) override { return base_->open_readable(p); }
  Status write_in_place(const std::string& p, std::uint64_t o, std::span<const std::byte> d) override {
    return base_->write_in_place(p, o, d);
  }
  Status link(const std::string& a, const std::string& b) override { return base_->link(a, b); }
  Status rename(const std::string& a, const std::string& b) override { return base_->rename(a, b); }
  Status remove(const std::string& p) override {
    if (!match.empty() && p.find(match) != std::string::npos && before_remove) {
      auto hook = std::move(before_remove);
      before_remove = nullptr;
      hook();
    }
    return base_->remove(p);
  }
  Status sync_dir(const std::string& d) override { return base_->sync_dir(d); }
  Status create_dirs(const std::string& d) override { return base_->create_dirs(d); }
  Result<std::vector<io::DirEntry>> list_dir(const std::string& d) override { return base_->list_dir(d); }
  Result<std::uint64_t> file_size(const std::string& p) override { return base_->file_size(p); }
  Result<PathKind> path_kind(const std::string& p) override { return base_->path_kind(p); }
  Status remove_empty_dir(const std::string& p) override { return base_->remove_empty_dir(p); }

 private:
  io::Env* base_;
};

TEST(HierarchyDefects, AReSaveDuringAnEvictionNeverAdoptsTheFileBeingUnlinked) {
  testing::TempDir dir;
  HookEnv env(io::posix_env());
  CacheOptions o = ram_disk(dir.path());
  o.tiers.erase(o.tiers.begin());  // disk only
  o.env = &env;
  o.watch_directories = false;
  auto cache = open_or_die(o);
  const Key key = cache->save(request(tokens(64), 5000), 5s).value();
  // gc evicts the row; just before its file is unlinked, the same key is saved again.
  env.match = key.hex() + ".kvc";
  Result<Key> resave = Status(Code::kUnavailable, "not run");
  env.before_remove = [&] { resave = cache->save(request(tokens(64), 5000), 5s); };
  cache->gc();
  // Before the fix the re-save adopted the old file and the eviction then deleted it:
  // an indexed row with no file. Now the key is "being deleted" and the save yields.
  EXPECT_EQ(resave.status().code(), Code::kConflict);
  const bool indexed = cache->checkout(key).ok();
  EXPECT_EQ(indexed, fs::exists(file_of(dir.path(), key)));
  EXPECT_EQ(cache->tier_stats()[0].used_bytes, indexed ? fs::file_size(file_of(dir.path(), key)) : 0u);
  EXPECT_TRUE(cache->save(request(tokens(64), 5000), 5s).ok());  // and works once the deletion is done
  EXPECT_TRUE(fs::exists(file_of(dir.path(), key)));
}

std::uint64_t dir_kvc_bytes(const std::string& dir) {
  std::uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".kvc") n += e.file_size();
  return n;
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

TEST(HierarchyDefects, TwoCachesOnOneDirectoryAgreeAfterOneEvicts) {
  testing::TempDir dir;
  CacheOptions o = ram_disk(dir.path());
  o.tiers.erase(o.tiers.begin());  // disk only, shared
  auto a = open_or_die(o);
  auto b = open_or_die(o);
  for (std::uint32_t i = 0; i < 15; ++i) ASSERT_TRUE(a->save(request(tokens(32, i * 100), 20'000), 5s).ok());
  ASSERT_TRUE(wait_for([&] { return b->rows().size() == 15; })) << b->rows().size();
  // a evicts about two thirds; b must drop exactly those rows and their bytes.
  a->evict_bytes(200'000);
  const std::uint64_t on_disk = dir_kvc_bytes(dir.path());
  ASSERT_TRUE(wait_for([&] { return b->tier_stats()[0].used_bytes == on_disk; }))
      << "b counts " << b->tier_stats()[0].used_bytes << " bytes, the directory holds " << on_disk;
  EXPECT_EQ(a->tier_stats()[0].used_bytes, on_disk);
  EXPECT_EQ(b->rows().size(), a->rows().size());
  for (const auto& r : b->rows()) EXPECT_TRUE(fs::exists(file_of(dir.path(), r.info.key)));
  // Files that simply vanished are not corruption.
  EXPECT_EQ(b->counters().corrupt_files, 0u);
  EXPECT_GT(b->counters().vanished_copies, 0u);
}

TEST(HierarchyDefects, AnUnreadableCopyIsDroppedOnTheFirstFailedLoad) {
  testing::TempDir dir;
  io::FaultEnv env(io::posix_env());
  CacheOptions o = ram_disk(dir.path());
  o.tiers.erase(o.tiers.begin());
  o.env = &env;
  auto cache = open_or_die(o);
  const Key key = cache->save(request(tokens(64), 5000), 5s).value();
  env.inject(io::Fault{io::FaultOp::kOpenReadable, 0, key.hex(), EACCES});
  auto lease = cache->checkout(key);
  ASSERT_TRUE(lease.ok());
  auto loaded = cache->load(*lease);
  EXPECT_EQ(loaded.status().code(), Code::kPermissionDenied);
  lease->release();
  EXPECT_FALSE(cache->checkout(key).ok());  // not stuck in the index until a restart
  EXPECT_EQ(cache->counters().unreadable_copies, 1u);
  EXPECT_EQ(cache->tier_stats()[0].used_bytes, 0u);
  // A transient error (EIO) keeps the row.
  env.clear_faults();
  const Key k2 = cache->save(request(tokens(64, 500), 5000), 5s).value();
  env.inject(io::Fault{io::FaultOp::kOpenReadable, 1, k2.hex(), EIO});
  auto l2 = cache->checkout(k2);
  ASSERT_TRUE(l2.ok());
  EXPECT_EQ(cache->load(*l2).status().code(), Code::kIoError);
  l2->release();
  EXPECT_EQ(served_from(*cache, k2), "disk");
}

TEST(HierarchyDefects, ADirectoryAtARowsPathIsReportedOnceAndClearedOrSkipped) {
  testing::TempDir dir;
  std::vector<std::string> errors;
  CacheOptions o = ram_disk(dir.path());
  o.tiers.erase(o.tiers.begin());
  o.on_save_error = [&errors](const Key&, const Status& s) { errors.push_back(s.message()); };
  auto cache = open_or_die(o);
  const Key empty_dir_key = derive_key(ns(), tokens(64, 1));
  fs::create_directory(file_of(dir.path(), empty_dir_key));
  EXPECT_TRUE(cache->save(request(tokens(64, 1), 1000), 5s).ok());  // an empty directory is removed
  EXPECT_TRUE(fs::is_regular_file(file_of(dir.path(), empty_dir_key)));

  const Key blocked = derive_key(ns(), tokens(64, 900));
  fs::create_directories(file_of(dir.path(), blocked) + "/keep");
  auto first = cache->save(request(tokens(64, 900), 1000), 5s);
  EXPECT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find("is a directory"), std::string::npos) << first.status().message();
  auto second = cache->save(request(tokens(64, 900), 1000), 5s);
  EXPECT_FALSE(second.ok());
  fs::remove_all(file_of(dir.path(), blocked));
  EXPECT_TRUE(cache->save(request(tokens(64, 900), 1000), 5s).ok());
  for (const auto& e : fs::directory_iterator(dir.path())) EXPECT_NE(e.path().extension(), ".tmp");
}

TEST(HierarchyDefects, ASaveWhoseReservationExpiredLeavesNothingAndChargesNothing) {
  testing::TempDir dir;
  CacheOptions o = ram_disk(dir.path());
  o.tiers.erase(o.tiers.begin());
  o.reservation_ttl = 500ms;
  o.watch_directories = false;
  auto cache = open_or_die(o);
  auto ticket = cache->reserve_save(ns(), tokens(64));
  ASSERT_TRUE(ticket.ok());
  std::this_thread::sleep_for(1100ms);  // expired before the file is linked
  auto r = cache->save(std::move(ticket.value()), request(tokens(64), 5000), 5s);
  EXPECT_EQ(r.status().code(), Code::kCancelled);
  EXPECT_EQ(cache->tier_stats()[0].used_bytes, 0u);
  EXPECT_EQ(dir_kvc_bytes(dir.path()), 0u);
  ASSERT_TRUE(cache->save(request(tokens(64), 5000), 5s).ok());
  EXPECT_EQ(cache->tier_stats()[0].used_bytes, dir_kvc_bytes(dir.path()));
}

}  // namespace
}  // namespace kvc
