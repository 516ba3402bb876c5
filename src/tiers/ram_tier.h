// RamTier: KVC files kept in process memory as (prefix, payload) buffers shared
// with the saver (never copied). Survives nothing. Location is always "".
#pragma once

#include <mutex>
#include <unordered_map>

#include "tiers/tier.h"

namespace kvc::tiers {

class RamTier final : public Tier {
 public:
  RamTier(index::TierId id, std::uint64_t quota_bytes) : Tier(TierKind::kRam, id, quota_bytes) {}

  std::string describe() const override { return "ram"; }

  // check(r), store the buffers, mark_linked(r, "") so an expired reservation is
  // adopted by the sweep rather than leaking the bytes. kCancelled (nothing kept)
  // when the reservation is lost.
  Result<std::string> write(index::Index& idx, index::Reservation& r, const Bytes& prefix,
                            const Bytes& payload) override;
  // Verifies prefix + payload (CRC and key) and hands out a LoadedFile sharing the
  // buffers. kNotFound if the key is not held.
  Result<LoadedFile> load(const index::RowInfo& row) override;
  Status remove(const index::RowInfo& row) override;
  // Nothing persistent: a no-op.
  Status write_hit_count(const index::RowInfo& row, std::uint32_t hits) override;

  std::size_t entries() const;

 private:
  struct Stored {
    Bytes prefix;
    Bytes payload;
  };
  mutable std::mutex mu_;
  std::unordered_map<Key, Stored> data_;
};

}  // namespace kvc::tiers
