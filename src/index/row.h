// A row of the index: what the cache knows about one saved KV state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/kvc_file.h"
#include "kvc/key.h"

namespace kvc::index {

// Position of a tier in the cache's tier list (0 = first configured tier).
using TierId = std::uint8_t;

using TokenList = std::shared_ptr<const std::vector<std::uint32_t>>;

// The immutable facts of an available row.
struct RowInfo {
  Key key;
  KeyNamespace ns;
  TierId tier = 0;
  std::uint64_t size = 0;     // bytes the row occupies on its tier (whole KVC file)
  format::KvcHeader header;   // as written (hit_count there is the value at save/scan)
  std::string location;       // tier-specific: file path for file tiers, empty for ram
  TokenList tokens;           // never null for an available row
};

enum class RowStatus : std::uint8_t { kWriting, kAvailable };

// A point-in-time copy of a row, mutable fields included.
struct RowSnapshot {
  RowInfo info;
  RowStatus status = RowStatus::kAvailable;
  std::uint32_t hits = 0;
  std::int64_t last_used_ns = 0;  // steady-clock-free: unix ns (hit-biased after scans)
  std::uint32_t leases = 0;
  bool pinned = false;
};

}  // namespace kvc::index
