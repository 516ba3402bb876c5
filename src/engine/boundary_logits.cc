#include "engine/boundary_logits.h"

#include <algorithm>

namespace kvc::engine {

void BoundaryLogits::record(std::size_t position, const float* logits) {
  if (logits == nullptr || n_vocab_ == 0 || position == 0 || position > UINT32_MAX) return;
  const auto pos = static_cast<std::uint32_t>(position);
  auto it = std::lower_bound(records_.begin(), records_.end(), pos,
                             [](const format::PositionLogits& r, std::uint32_t p) { return r.position < p; });
  if (it != records_.end() && it->position == pos) {
    if (it->logits.data() != logits) it->logits.assign(logits, logits + n_vocab_);
    return;
  }
  if (records_.size() >= kMaxRecords) {
    if (it == records_.begin()) return;  // lower than every kept record: it would be the one dropped
    // Reuse the dropped record's buffer for the new one.
    const auto index = it - records_.begin();  // > 0
    format::PositionLogits reused = std::move(records_.front());
    records_.erase(records_.begin());
    reused.position = pos;
    reused.logits.assign(logits, logits + n_vocab_);
    records_.insert(records_.begin() + (index - 1), std::move(reused));
    return;
  }
  records_.insert(it, format::PositionLogits{pos, std::vector<float>(logits, logits + n_vocab_)});
}

void BoundaryLogits::take_from_row(const format::KvcMeta& meta, std::size_t usable) {
  records_.clear();
  const std::size_t n = meta.tokens.size();
  // The valid records, the highest kMaxRecords of them (the row's 0x0A last).
  std::vector<const format::PositionLogits*> keep;
  for (const format::PositionLogits& r : meta.position_logits)
    if (r.position > 0 && r.position < n && r.position <= usable && r.logits.size() == n_vocab_) keep.push_back(&r);
  const bool end = usable == n && n > 0 && n <= UINT32_MAX && meta.next_token_logits.size() == n_vocab_;
  const std::size_t room = kMaxRecords - (end ? 1 : 0);
  if (keep.size() > room) keep.erase(keep.begin(), keep.end() - static_cast<std::ptrdiff_t>(room));
  for (const format::PositionLogits* r : keep) records_.push_back(*r);
  if (end) records_.push_back({static_cast<std::uint32_t>(n), meta.next_token_logits});
}

void BoundaryLogits::truncate(std::size_t length) {
  std::erase_if(records_, [length](const format::PositionLogits& r) { return r.position > length; });
}

const float* BoundaryLogits::at(std::size_t position) const {
  for (const format::PositionLogits& r : records_)
    if (r.position == position) return r.logits.data();
  return nullptr;
}

std::vector<format::PositionLogits> BoundaryLogits::for_save(std::size_t n_tokens) const {
  std::vector<format::PositionLogits> out;
  for (const format::PositionLogits& r : records_)
    if (r.position > 0 && r.position < n_tokens) out.push_back(r);
  return out;
}

}  // namespace kvc::engine
