// RamTier: KVC files kept in process memory, as the buffers they were built or
// read into (never copied). Survives nothing. A copy enters RAM verified (built by
// the saver, or read and verified from a slower tier), so a load hands out the
// stored buffers and parsed metadata with no CRC pass (cache.md §3).
#pragma once

#include <array>
#include <mutex>
#include <unordered_map>

#include "tiers/tier.h"

namespace kvc::tiers {

class RamTier final : public Tier {
 public:
  explicit RamTier(std::uint64_t quota_bytes) : Tier(TierKind::kRam, quota_bytes) {}

  std::string describe() const override { return "ram"; }

  // Stores the buffers (and the parsed metadata: parsed from the prefix when
  // `file.meta` is null). With a guard: still_ours() first, published() after
  // (kCancelled, nothing kept, when either fails).
  Status put(const Key& key, const LoadedFile& file, PublishGuard* guard) override;
  // The stored file: kNotFound if the key is not held.
  Result<LoadedFile> load(const Key& key) override;
  Status remove(const Key& key) override;
  // Nothing persistent: a no-op.
  Status write_hit_count(const Key& key, std::uint32_t hits) override;

  std::size_t entries() const;

 private:
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<Key, LoadedFile> files;
  };
  Shard& shard(const Key& key) { return shards_[key.bytes[9] % shards_.size()]; }
  std::array<Shard, 16> shards_;
};

}  // namespace kvc::tiers
