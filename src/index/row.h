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
#include "kvc/row.h"

namespace kvc::index {

// Position of a tier in the cache's tier list, fastest first (0 = fastest).
using TierId = std::uint8_t;
inline constexpr std::size_t kMaxTiers = 8;

// A set of tiers: bit t stands for tier t (public: kvc/row.h).
using kvc::TierMask;
inline constexpr TierMask tier_bit(TierId t) { return kvc::tier_bit(t); }
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

// A row's status and a point-in-time copy of it (public: kvc/row.h).
using kvc::RowSnapshot;
using kvc::RowStatus;

}  // namespace kvc::index
