// A row of the index: what the cache knows about one saved KV state, and where
// its copies live (a row may live in several tiers at once, cache.md §3).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/row_info.h"
#include "kvc/key.h"

namespace kvc::index {

// Position of a tier in the cache's tier list, fastest first (0 = fastest).
using TierId = std::uint8_t;
inline constexpr std::size_t kMaxTiers = 8;

// A set of tiers: bit t stands for tier t.
using TierMask = std::uint8_t;
inline constexpr TierMask tier_bit(TierId t) { return static_cast<TierMask>(1u << t); }
// The fastest tier of a set (the lowest id), nullopt for the empty set.
inline std::optional<TierId> fastest(TierMask m) {
  if (m == 0) return std::nullopt;
  return static_cast<TierId>(__builtin_ctz(m));
}
// The tiers strictly below (slower than) t.
inline constexpr TierMask below(TierId t) { return static_cast<TierMask>(~((2u << t) - 1u)); }

using format::TokenList;

// The immutable facts of an available row. The bytes are the same KVC file in
// every tier that holds a copy, so the size (what each copy is charged) is a
// property of the row.
using format::RowInfo;

// kWriting: reserved, not visible to lookups. kAvailable: visible. kDeleting: its
// last copies are being deleted (not visible; a new save of the key waits for the
// deletion to finish, so it can never adopt a file that is about to be unlinked).
enum class RowStatus : std::uint8_t { kWriting, kAvailable, kDeleting };

// A point-in-time copy of a row, mutable fields included.
struct RowSnapshot {
  RowInfo info;
  RowStatus status = RowStatus::kAvailable;
  std::uint32_t hits = 0;
  std::int64_t last_used_ns = 0;  // the index's monotonic clock (hit-biased after scans)
  std::uint32_t leases = 0;
  bool pinned = false;
  TierMask tiers = 0;    // tiers holding a complete copy
  TierMask pending = 0;  // tiers a copy is being written to (write-through, demotion, promotion)
};

}  // namespace kvc::index
