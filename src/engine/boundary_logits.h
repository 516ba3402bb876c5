// The next-token logits a sequence's owner knows at some of its positions: the
// turn boundaries. Each request's prompt end (its logits are computed anyway for
// the first sampled token) and the boundaries carried over from the row it was
// restored from (TLV 0x0A/0x0B) or the parked sequence it continues. Saves write
// them as TLV 0x0B records, so a later prompt that ends at one of them — re-sent
// exactly, or a prefix of a longer row truncated there — samples its first token
// from the file with no decode (engine.md §1 step 4).
//
// A record at position P stays valid as long as the sequence's first P cells are
// the ones it was computed from: truncate() drops records beyond a truncation, and
// a restore takes only records at or below the usable prefix.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/kvc_file.h"

namespace kvc::engine {

class BoundaryLogits {
 public:
  // At most this many records are kept (the highest positions: the latest turns).
  // Each costs n_vocab × 4 bytes in memory and in every save's TLV section.
  static constexpr std::size_t kMaxRecords = 4;

  explicit BoundaryLogits(std::size_t n_vocab = 0) : n_vocab_(n_vocab) {}

  std::size_t n_vocab() const { return n_vocab_; }
  std::size_t size() const { return records_.size(); }
  void clear() { records_.clear(); }

  // Records the n_vocab logits after the first `position` tokens (copied; a
  // record at the same position is replaced). Beyond kMaxRecords the lowest
  // position is dropped. `logits` may point into this object's own record at
  // `position` (then nothing changes).
  void record(std::size_t position, const float* logits);

  // Takes a restored row's logits at positions ≤ `usable` (the prefix kept):
  // its TLV 0x0B records and, when the row ends there, its TLV 0x0A. Records of
  // the wrong size or position are skipped (format.md §2.3); at most kMaxRecords
  // (the highest positions) are copied. Replaces what was held.
  void take_from_row(const format::KvcMeta& meta, std::size_t usable);

  // Forgets positions above `length` (the sequence now holds `length` tokens).
  void truncate(std::size_t length);

  // The logits after the first `position` tokens, or nullptr when unknown.
  const float* at(std::size_t position) const;

  // The TLV 0x0B records of a save of `n_tokens` tokens: positions 0 < P < n_tokens
  // (the logits at n_tokens go to TLV 0x0A), increasing.
  std::vector<format::PositionLogits> for_save(std::size_t n_tokens) const;

 private:
  std::size_t n_vocab_;
  std::vector<format::PositionLogits> records_;  // positions strictly increasing
};

}  // namespace kvc::engine
