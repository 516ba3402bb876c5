// End-to-end tests of kvc::Cache on real directories (ram, ram_file-like, disk).
#include "kvc/cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "support/temp_dir.h"

namespace kvc {
namespace {

namespace fs = std::filesystem;

KeyNamespace test_ns(std::uint8_t salt = 1) {
  KeyNamespace ns;
  ns.fingerprint.fill(salt);
  ns.quant = 1;
  ns.ctx_hash.fill(0x42);
  return ns;
}

std::vector<std::uint32_t> tokens(std::size_t n, std::uint32_t start = 1) {
  std::vector<std::uint32_t> t(n);
  std::iota(t.begin(), t.end(), start);
  return t;
}

std::vector<std::byte> payload(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = std::byte(static_cast<std::uint8_t>(seed + i * 7));
  return p;
}

SaveRequest request(std::vector<std::uint32_t> toks, std::size_t bytes, std::uint8_t seed = 3,
                    SaveReason reason = SaveReason::kCold) {
  SaveRequest r;
  r.ns = test_ns();
  r.tokens = std::move(toks);
  r.payload = ByteBuffer::copy_of(payload(bytes, seed));
  r.reason = reason;
  return r;
}

TierOptions tier(TierKind kind, std::string dir, std::uint64_t quota) {
  TierOptions t;
  t.kind = kind;
  t.dir = std::move(dir);
  t.quota_bytes = quota;
  return t;
}

// Checks out and loads a row (a load is what counts as serving it).
bool serve(Cache& cache, const Key& key) {
  auto lease = cache.checkout(key);
  return lease.ok() && cache.load(*lease).ok();
}

CacheOptions disk_options(const std::string& dir, std::uint64_t quota = 1 << 30) {
  CacheOptions o;
  o.tiers.push_back(tier(TierKind::kDisk, dir, quota));
  o.policy.min_tokens = 4;
  o.policy.cold_min_tokens = 4;
  o.policy.boundary_align_tokens = 4;
  o.policy.boundary_trim_tokens = 0;
  o.sweep_interval = std::chrono::milliseconds(20);
  return o;
}

std::unique_ptr<Cache> open_or_die(CacheOptions o) {
  auto c = Cache::open(std::move(o));
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  return c.ok() ? std::move(c.value()) : nullptr;
}

std::size_t count_files(const std::string& dir, const std::string& suffix) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) ++n;
  }
  return n;
}

TEST(CacheOpen, RejectsBadOptionsNamingTheSetting) {
  CacheOptions o;
  EXPECT_NE(Cache::open(o).status().message().find("tiers"), std::string::npos);
  o.tiers.push_back(tier(TierKind::kDisk, "", 100));
  EXPECT_NE(Cache::open(o).status().message().find("dir"), std::string::npos);
  o.tiers[0] = tier(TierKind::kRam, "", 0);
  EXPECT_NE(Cache::open(o).status().message().find("quota_bytes"), std::string::npos);
  o.tiers[0] = tier(TierKind::kRam, "", 100);
  o.policy.boundary_align_tokens = 0;
  EXPECT_NE(Cache::open(o).status().message().find("boundary_align_tokens"), std::string::npos);
  o.policy = SavePolicy{};
  o.tiers = {tier(TierKind::kDisk, "/tmp/x", 100), tier(TierKind::kRam, "", 100)};
  EXPECT_NE(Cache::open(o).status().message().find("fastest first"), std::string::npos);
  o.tiers = {tier(TierKind::kRam, "", 100), tier(TierKind::kRam, "", 100)};
  EXPECT_NE(Cache::open(o).status().message().find("at most one ram"), std::string::npos);
  o.tiers = {tier(TierKind::kRam, "", 100)};
  o.tiers[0].min_tokens = 0;
  EXPECT_NE(Cache::open(o).status().message().find("min_tokens"), std::string::npos);
  o.tiers = {tier(TierKind::kRemote, "", 100)};
  EXPECT_NE(Cache::open(o).status().message().find("remote"), std::string::npos);
}

class CacheTiers : public ::testing::TestWithParam<TierKind> {};

TEST_P(CacheTiers, SaveCheckoutLoadRoundTrip) {
  testing::TempDir dir;
  CacheOptions o = disk_options(dir.path());
  o.tiers[0].kind = GetParam();
  if (GetParam() == TierKind::kRam) o.tiers[0].dir.clear();
  auto cache = open_or_die(o);
  auto req = request(tokens(100), 4096);
  const auto expected = payload(4096, 3);
  auto key = cache->save(std::move(req), std::chrono::seconds(10));
  ASSERT_TRUE(key.ok()) << key.status().to_string();
  EXPECT_EQ(*key, derive_key(test_ns(), tokens(100)));

  auto lease = cache->checkout(*key);
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->row().tokens->size(), 100u);
  auto loaded = cache->load(*lease);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  ASSERT_EQ(loaded->payload().size(), expected.size());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), loaded->payload().begin()));
  EXPECT_EQ(loaded->tier(), GetParam());
  EXPECT_EQ(cache->counters().saves_cold, 1u);
  EXPECT_EQ(cache->counters().hits_exact, 1u);

  auto dup = cache->save(request(tokens(100), 4096), std::chrono::seconds(10));
  EXPECT_EQ(dup.status().code(), Code::kAlreadyPresent);
  EXPECT_EQ(cache->counters().duplicate_dropped, 1u);
  if (GetParam() != TierKind::kRam) {
    EXPECT_EQ(count_files(dir.path(), ".kvc"), 1u);
    EXPECT_EQ(count_files(dir.path(), ".tmp"), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTiers, CacheTiers, ::testing::Values(TierKind::kRam, TierKind::kRamFile, TierKind::kDisk));

TEST(Cache, QuotaEvictsLeastRecentlyUsedFirst) {
  testing::TempDir dir;
  auto probe = open_or_die(disk_options(dir.path()));
  auto k0 = probe->save(request(tokens(8, 1000), 10000), std::chrono::seconds(5));
  ASSERT_TRUE(k0.ok());
  const std::uint64_t row_size = probe->tier_stats()[0].used_bytes;
  ASSERT_TRUE(probe->remove(*k0).ok());
  probe.reset();

  auto cache = open_or_die(disk_options(dir.path(), row_size * 3));
  std::vector<Key> keys;
  for (std::uint32_t i = 0; i < 3; ++i) {
    auto k = cache->save(request(tokens(8, 100 * (i + 1)), 10000), std::chrono::seconds(5));
    ASSERT_TRUE(k.ok()) << k.status().to_string();
    keys.push_back(*k);
  }
  ASSERT_TRUE(serve(*cache, keys[0]));  // keys[1] is now least recent
  auto k4 = cache->save(request(tokens(8, 900), 10000), std::chrono::seconds(5));
  ASSERT_TRUE(k4.ok());
  auto check = [&](const Key& k) { return cache->checkout(k).ok(); };
  EXPECT_TRUE(check(keys[0]));
  EXPECT_FALSE(check(keys[1]));
  EXPECT_TRUE(check(keys[2]));
  EXPECT_LE(cache->tier_stats()[0].used_bytes, row_size * 3);
  EXPECT_EQ(cache->counters().evictions, 1u);
  EXPECT_EQ(count_files(dir.path(), ".kvc"), 3u);
}

TEST(Cache, QuotaExceededWritesNothing) {
  testing::TempDir dir;
  auto cache = open_or_die(disk_options(dir.path(), 5000));
  auto k = cache->save(request(tokens(8), 10000), std::chrono::seconds(5));
  EXPECT_EQ(k.status().code(), Code::kQuotaExceeded);
  EXPECT_EQ(count_files(dir.path(), ".kvc") + count_files(dir.path(), ".tmp"), 0u);
  EXPECT_EQ(cache->tier_stats()[0].used_bytes, 0u);
}

TEST(Cache, LeasedAndPinnedRowsAreNotEvicted) {
  testing::TempDir dir;
  auto cache = open_or_die(disk_options(dir.path(), 25000));
  auto a = cache->save(request(tokens(8, 10), 10000), std::chrono::seconds(5));
  auto b = cache->save(request(tokens(8, 20), 10000), std::chrono::seconds(5));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(cache->pin(*a).ok());
  auto lease_b = cache->checkout(*b);
  ASSERT_TRUE(lease_b.ok());
  auto c = cache->save(request(tokens(8, 30), 10000), std::chrono::seconds(5));
  EXPECT_EQ(c.status().code(), Code::kQuotaExceeded);
  EXPECT_EQ(cache->gc(), 0u);
  lease_b->release();
  EXPECT_GT(cache->gc(), 0u);  // b goes, a stays pinned
  EXPECT_TRUE(cache->checkout(*a).ok());
  EXPECT_FALSE(cache->checkout(*b).ok());
  EXPECT_TRUE(cache->remove(*a).ok());  // explicit delete removes even a pinned row
  EXPECT_EQ(count_files(dir.path(), ".kvc"), 0u);
}

TEST(Cache, RestartFindsRowsWithPersistedHits) {
  testing::TempDir dir;
  Key key;
  {
    auto cache = open_or_die(disk_options(dir.path()));
    auto k = cache->save(request(tokens(64), 2048), std::chrono::seconds(5));
    ASSERT_TRUE(k.ok());
    key = *k;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(serve(*cache, key));
  }  // destructor persists hit counts
  auto cache = open_or_die(disk_options(dir.path()));
  auto rows = cache->rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].info.key, key);
  EXPECT_EQ(rows[0].hits, 3u);
  auto lease = cache->checkout(key);
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(cache->load(*lease).ok());
  EXPECT_EQ(cache->tier_stats()[0].rows, 1u);
}

TEST(Cache, CorruptFileOnLoadIsRemovedAndCounted) {
  testing::TempDir dir;
  auto cache = open_or_die(disk_options(dir.path()));
  auto k = cache->save(request(tokens(32), 8192), std::chrono::seconds(5));
  ASSERT_TRUE(k.ok());
  const auto path = dir.file(k->hex() + ".kvc");
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-10, std::ios::end);
    f.put('\x7f');
  }
  auto lease = cache->checkout(*k);
  ASSERT_TRUE(lease.ok());
  auto loaded = cache->load(*lease);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kCorrupt);
  EXPECT_NE(loaded.status().message().find("crc_mismatch"), std::string::npos);
  lease->release();
  EXPECT_EQ(cache->counters().corrupt_files, 1u);
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(cache->checkout(*k).ok());
  EXPECT_EQ(cache->tier_stats()[0].used_bytes, 0u);
}

TEST(Cache, AsyncSavesAndResumeWait) {
  testing::TempDir dir;
  auto cache = open_or_die(disk_options(dir.path()));
  auto k = cache->save_async(request(tokens(256), 1 << 20, 9, SaveReason::kFinish));
  ASSERT_TRUE(k.ok());
  auto lease = cache->checkout_or_wait(*k, std::chrono::seconds(10));
  ASSERT_TRUE(lease.ok()) << lease.status().to_string();
  EXPECT_EQ(cache->counters().hits_resume, 1u);
  cache->flush();
  EXPECT_EQ(cache->counters().saves_finish, 1u);
}

TEST(Cache, DisabledSavesAreDroppedAndCounted) {
  testing::TempDir dir;
  auto o = disk_options(dir.path());
  o.policy.saves_enabled = false;
  auto cache = open_or_die(o);
  EXPECT_EQ(cache->save_async(request(tokens(8), 100)).status().code(), Code::kDropped);
  EXPECT_EQ(cache->save(request(tokens(8), 100), std::chrono::seconds(1)).status().code(), Code::kDropped);
  EXPECT_EQ(cache->counters().saves_dropped, 2u);
}

TEST(Cache, PrefixLookups) {
  testing::TempDir dir;
  auto cache = open_or_die(disk_options(dir.path()));
  auto prompt = tokens(30);
  // Rows at lengths 8 and 16 (aligned to 4) and a diverging row of 20 tokens.
  ASSERT_TRUE(cache->save(request({prompt.begin(), prompt.begin() + 8}, 100), std::chrono::seconds(5)).ok());
  ASSERT_TRUE(cache->save(request({prompt.begin(), prompt.begin() + 16}, 100), std::chrono::seconds(5)).ok());
  auto diverging = std::vector<std::uint32_t>(prompt.begin(), prompt.begin() + 20);
  diverging[18] = 99999;
  ASSERT_TRUE(cache->save(request(diverging, 100), std::chrono::seconds(5)).ok());

  auto walk = cache->longest_prefix(test_ns(), prompt, 4);
  ASSERT_TRUE(walk.lease);
  EXPECT_EQ(walk.length, 16u);
  EXPECT_GT(cache->counters().longest_prefix_probes, 0u);

  auto any = cache->any_prefix(test_ns(), prompt, /*allow_truncation=*/true, 1);
  ASSERT_TRUE(any.lease);
  EXPECT_EQ(any.length, 18u);
  EXPECT_EQ(any.row_length, 20u);
  auto boundary = cache->any_prefix(test_ns(), prompt, /*allow_truncation=*/false, 1);
  ASSERT_TRUE(boundary.lease);
  EXPECT_EQ(boundary.length, 16u);
  EXPECT_EQ(boundary.row_length, 16u);
  EXPECT_EQ(cache->counters().hits_any_prefix, 2u);

  EXPECT_FALSE(cache->any_prefix(test_ns(7), prompt, true, 1).lease);  // other namespace
  // A candidate sharing fewer tokens than asked for is neither taken nor counted.
  EXPECT_FALSE(cache->any_prefix(test_ns(), prompt, true, 19).lease);
  EXPECT_EQ(cache->counters().hits_any_prefix, 2u);
}

TEST(Cache, EvictBytesByTierAndPrometheus) {
  testing::TempDir a;
  CacheOptions o = disk_options(a.path(), 1 << 20);
  o.tiers.insert(o.tiers.begin(), tier(TierKind::kRam, "", 1 << 20));
  auto cache = open_or_die(o);
  ASSERT_TRUE(cache->save(request(tokens(8, 1), 1000), std::chrono::seconds(5)).ok());
  cache->flush();  // the write-through to disk
  const TierKind ram[] = {TierKind::kRam};
  EXPECT_GT(cache->evict_bytes(1, ram), 0u);
  auto stats = cache->tier_stats();
  EXPECT_EQ(stats[0].rows, 0u);
  EXPECT_EQ(stats[1].rows, 1u);
  const auto text = cache->prometheus_text();
  EXPECT_NE(text.find("kvc_evictions_total 1"), std::string::npos) << text;
  EXPECT_NE(text.find("kvc_tier_rows{tier=\"disk\",index=\"1\""), std::string::npos);
  EXPECT_NE(text.find("kvc_tier_evictions_total{tier=\"ram\",index=\"0\",dir=\"\"} 1"), std::string::npos);
  EXPECT_NE(text.find("kvc_tier_write_through_bytes_total{tier=\"disk\""), std::string::npos);
  EXPECT_NE(text.find("# TYPE kvc_saves_cold_total counter"), std::string::npos);
  EXPECT_NE(text.find("kvc_pack_seconds_total "), std::string::npos);
  EXPECT_EQ(text.find("_ns"), std::string::npos);
}

TEST(Cache, PressureCallbackEvictsFromChosenTiers) {
  testing::TempDir dir;
  CacheOptions o;
  o.tiers.push_back(tier(TierKind::kRam, "", 1 << 20));
  std::atomic<std::uint64_t> used{0};
  o.pressure.enabled = true;
  o.pressure.source = PressureOptions::Source::kCallback;
  o.pressure.interval = std::chrono::milliseconds(10);
  o.pressure.min_evict_bytes = 1;
  o.pressure.callback = [&]() -> std::optional<PressureOptions::Reading> { return PressureOptions::Reading{used, 1000}; };
  auto cache = open_or_die(o);
  ASSERT_TRUE(cache->save(request(tokens(8), 100), std::chrono::seconds(5)).ok());
  used = 990;
  // The pressure thread takes the copy out of the index, then counts it: wait for both.
  for (int i = 0; i < 500 && (cache->tier_stats()[0].rows > 0 || cache->counters().evictions == 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(cache->tier_stats()[0].rows, 0u);
  EXPECT_GE(cache->counters().evictions, 1u);
  EXPECT_TRUE(cache->pressure_status().source_available);
}

}  // namespace
}  // namespace kvc
