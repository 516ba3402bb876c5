// The lookup order on a real Cache with opaque payloads (no llama.cpp): exact,
// resume, any-token prefix, the stride walk, and the miss reasons.
#include "engine/lookup.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace kvc::engine {
namespace {

struct LookupFixture : ::testing::Test {
  kvc::testing::TempDir dir{"kvc-lookup"};
  std::unique_ptr<Cache> cache;
  KeyNamespace ns{.fingerprint = {1}, .quant = 1, .ctx_hash = {2}};
  void SetUp() override {
    CacheOptions o;
    o.tiers = {{TierKind::kDisk, dir.path(), 1 << 26}};
    o.watch_directories = false;
    o.policy.min_tokens = 16;
    o.policy.cold_min_tokens = 16;
    o.policy.boundary_align_tokens = 64;
    o.policy.boundary_trim_tokens = 0;
    auto c = Cache::open(o);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    cache = std::move(c.value());
  }
  static std::vector<std::uint32_t> prompt(std::size_t n, std::uint32_t salt = 0) {
    std::vector<std::uint32_t> t;
    for (std::size_t i = 0; i < n; ++i) t.push_back(static_cast<std::uint32_t>(i * 7 + salt));
    return t;
  }
  Key save(const KeyNamespace& in, std::vector<std::uint32_t> tokens) {
    SaveRequest r;
    r.ns = in;
    r.tokens = std::move(tokens);
    r.reason = SaveReason::kCold;
    r.payload = ByteBuffer::copy_of(std::vector<std::byte>(64, std::byte{0x42}));
    auto k = cache->save(std::move(r), std::chrono::seconds(10));
    EXPECT_TRUE(k.ok()) << k.status().to_string();
    return k.ok() ? *k : Key{};
  }
};

TEST_F(LookupFixture, PathsInOrder) {
  const auto p = prompt(140);
  auto s = find_start_state(*cache, ns, p, {});
  EXPECT_EQ(s.path, LookupPath::kMiss);
  EXPECT_EQ(s.miss_reason, MissReason::kNoRow);
  EXPECT_EQ(cache->counters().misses, 1u);

  save(ns, prompt(128));
  s = find_start_state(*cache, ns, p, {});
  EXPECT_EQ(s.path, LookupPath::kAnyPrefix);
  EXPECT_EQ(s.usable, 128u);
  ASSERT_TRUE(s.file.has_value());
  EXPECT_EQ(s.file->payload().size(), 64u);
  EXPECT_EQ(s.tier, "disk");

  LookupOptions no_trie;
  no_trie.use_any_prefix = false;
  s = find_start_state(*cache, ns, p, no_trie);
  EXPECT_EQ(s.path, LookupPath::kLongestPrefix);
  EXPECT_EQ(s.usable, 128u);

  const Key parent = save(ns, prompt(100));
  LookupOptions resume;
  resume.parent_key = parent;
  s = find_start_state(*cache, ns, p, resume);
  EXPECT_EQ(s.path, LookupPath::kResume);
  EXPECT_EQ(s.usable, 100u);

  save(ns, p);
  s = find_start_state(*cache, ns, p, resume);
  EXPECT_EQ(s.path, LookupPath::kExact);
  EXPECT_EQ(s.usable, 140u);
}

TEST_F(LookupFixture, ParentMissesFallThroughWithTheirReason) {
  const auto p = prompt(140);
  save(ns, prompt(128));
  KeyNamespace other = ns;
  other.ctx_hash[5] = 9;
  LookupOptions o;
  o.parent_key = save(other, prompt(100));
  auto s = find_start_state(*cache, ns, p, o);
  EXPECT_EQ(s.path, LookupPath::kAnyPrefix);  // fell through
  EXPECT_EQ(s.miss_reason, MissReason::kNamespaceMismatch);

  o.parent_key = save(ns, prompt(100, 1));
  s = find_start_state(*cache, ns, p, o);
  EXPECT_EQ(s.miss_reason, MissReason::kParentNotPrefix);

  // Rows of another namespace are invisible to every path.
  s = find_start_state(*cache, other, p, {});
  EXPECT_EQ(s.path, LookupPath::kAnyPrefix);  // prompt(100) of `other`
  s = find_start_state(*cache, other, prompt(140, 3), {});
  EXPECT_EQ(s.path, LookupPath::kMiss);
}

TEST_F(LookupFixture, ShortCommonPrefixesAreNotUsed) {
  save(ns, prompt(128));
  auto p = prompt(128);
  for (std::size_t i = 10; i < p.size(); ++i) p[i] += 1;  // 10 common tokens < min_tokens (16)
  auto s = find_start_state(*cache, ns, p, {});
  EXPECT_EQ(s.path, LookupPath::kMiss);
}

}  // namespace
}  // namespace kvc::engine
