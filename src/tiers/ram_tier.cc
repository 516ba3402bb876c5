#include "tiers/ram_tier.h"

namespace kvc::tiers {

Status RamTier::put(const Key& key, const LoadedFile& file, PublishGuard* guard) {
  const std::string hex = key.hex();
  if (!file.bytes.owner) return Status(Code::kInvalidArgument, "ram save " + hex + ": no buffers");
  LoadedFile stored = file;
  if (!stored.meta) {
    auto meta = format::parse_meta(file.bytes.prefix, file.bytes.size());
    if (!meta.ok())
      return Status(Code::kCorrupt, "ram save " + hex + ": " + std::string(format::error_name(meta.error)));
    stored.meta = std::make_shared<const format::KvcMeta>(std::move(*meta.value));
  }
  if (guard != nullptr && !guard->still_ours())
    return Status(Code::kCancelled, "ram save " + hex + ": reservation lost before store");
  Shard& s = shard(key);
  {
    std::lock_guard lock(s.mu);
    s.files.try_emplace(key, std::move(stored));  // a copy already held is kept (same bytes)
  }
  if (guard != nullptr && !guard->published()) {
    std::lock_guard lock(s.mu);
    s.files.erase(key);
    return Status(Code::kCancelled, "ram save " + hex + ": reservation lost after store");
  }
  return Status::Ok();
}

Result<LoadedFile> RamTier::load(const Key& key) {
  Shard& s = shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.files.find(key);
  if (it == s.files.end()) return Status(Code::kNotFound, "ram load " + key.hex() + ": not held");
  return it->second;
}

Status RamTier::remove(const Key& key) {
  LoadedFile gone;  // released outside the lock (may free a large buffer)
  Shard& s = shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.files.find(key);
  if (it != s.files.end()) {
    gone = std::move(it->second);
    s.files.erase(it);
  }
  return Status::Ok();
}

Status RamTier::write_hit_count(const Key&, std::uint32_t) { return Status::Ok(); }

std::size_t RamTier::entries() const {
  std::size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.files.size();
  }
  return n;
}

}  // namespace kvc::tiers
