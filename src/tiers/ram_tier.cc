#include "tiers/ram_tier.h"

#include "tiers/verify.h"

namespace kvc::tiers {

Result<std::string> RamTier::write(index::Index& idx, index::Reservation& r, const Bytes& prefix,
                                   const Bytes& payload) {
  const std::string hex = r.key().hex();
  if (!prefix || !payload) return Status(Code::kInvalidArgument, "ram save " + hex + ": null prefix or payload");
  if (!idx.check(r)) return Status(Code::kCancelled, "ram save " + hex + ": reservation lost before store");
  {
    std::lock_guard lock(mu_);
    data_[r.key()] = Stored{prefix, payload};
  }
  if (!idx.mark_linked(r, "")) {
    std::lock_guard lock(mu_);
    data_.erase(r.key());
    return Status(Code::kCancelled, "ram save " + hex + ": reservation lost after store");
  }
  return std::string();
}

Result<LoadedFile> RamTier::load(const index::RowInfo& row) {
  Stored s;
  {
    std::lock_guard lock(mu_);
    auto it = data_.find(row.key);
    if (it == data_.end()) return Status(Code::kNotFound, "ram load " + row.key.hex() + ": not held");
    s = it->second;
  }
  auto parsed = parse_split(*s.prefix, *s.payload, row.key);
  if (!parsed.ok())
    return Status(Code::kCorrupt, "ram load " + row.key.hex() + ": " + std::string(format::error_name(parsed.error)));
  LoadedFile out;
  out.payload = std::span<const std::byte>(*s.payload);
  out.meta = std::move(*parsed.value);
  out.owner = std::make_shared<Stored>(std::move(s));
  return out;
}

Status RamTier::remove(const index::RowInfo& row) {
  std::lock_guard lock(mu_);
  data_.erase(row.key);
  return Status::Ok();
}

Status RamTier::write_hit_count(const index::RowInfo&, std::uint32_t) { return Status::Ok(); }

std::size_t RamTier::entries() const {
  std::lock_guard lock(mu_);
  return data_.size();
}

}  // namespace kvc::tiers
