#include "tiers/remote_tier.h"

#include <sstream>

namespace kvc::tiers {

RemoteOptions remote_store_options(const kvc::RemoteOptions& o, std::uint64_t quota_bytes, const std::string& host) {
  RemoteOptions s;
  s.url = o.url;
  std::string seeds;
  for (const auto& n : o.cluster_seeds) seeds += (seeds.empty() ? "" : ",") + n;
  s.cluster_seeds = seeds;
  s.prefix = o.prefix;
  s.ttl_seconds = static_cast<std::uint64_t>(o.ttl.count());
  s.timeout = o.timeout;
  s.quota_bytes = quota_bytes;
  s.chunk_bytes = static_cast<std::uint32_t>(o.chunk_bytes);
  s.stream_maxlen = o.stream_max_len;
  s.host = host;
  return s;
}

Result<std::unique_ptr<RemoteTier>> RemoteTier::open(const kvc::RemoteOptions& options, std::uint64_t quota_bytes,
                                                     const std::string& hostname) {
  auto store = RemoteStore::open(remote_store_options(options, quota_bytes, hostname));
  if (!store.ok()) return store.status();
  return std::unique_ptr<RemoteTier>(new RemoteTier(quota_bytes, std::move(store.value())));
}

RemoteTier::RemoteTier(std::uint64_t quota, std::unique_ptr<RemoteStore> store)
    : Tier(TierKind::kRemote, quota), store_(std::move(store)) {}

RemoteTier::~RemoteTier() { stop_discovery(); }

std::string RemoteTier::describe() const { return "remote " + store_->describe(); }

Status RemoteTier::put(const Key& key, const LoadedFile& file, PublishGuard* guard) {
  if (guard != nullptr && !guard->still_ours())
    return Status(Code::kCancelled, "remote save " + key.hex() + ": reservation lost before the write");
  Status s = store_->put(key, file.bytes.prefix, file.bytes.payload);
  if (s.code() == Code::kAlreadyPresent) s = Status::Ok();  // the bytes of one key are interchangeable
  if (!s.ok()) return s;
  if (guard != nullptr && !guard->published()) {
    (void)store_->remove(key);
    return Status(Code::kCancelled, "remote save " + key.hex() + ": reservation lost after the write");
  }
  return Status::Ok();
}

Result<LoadedFile> RemoteTier::load(const Key& key) {
  // Bounded by the store's stall limit per wait; the overall bound only guards a
  // Redis that trickles bytes forever.
  auto got = store_->get(key, Clock::now() + std::chrono::seconds(30));
  if (!got.ok()) return got.status();
  LoadedFile out;
  const std::size_t offset = static_cast<std::size_t>(got->meta.payload_offset);
  out.bytes.prefix = got->file.subspan(0, offset);
  out.bytes.payload = got->payload;
  out.bytes.owner = got->owner;
  out.meta = std::make_shared<const format::KvcMeta>(std::move(got->meta));
  return out;
}

Status RemoteTier::remove(const Key& key) { return store_->remove(key); }

void RemoteTier::start_discovery(FoundFn on_found) {
  store_->start_discovery([on_found = std::move(on_found)](const RemoteRow& r) {
    format::RowInfo row;
    row.key = r.key;
    row.ns = r.ns;
    row.size = r.bytes;
    row.header.cached_token_count = static_cast<std::uint32_t>(r.tokens.size());
    row.tokens = std::make_shared<const std::vector<std::uint32_t>>(r.tokens);
    on_found(std::move(row));
  });
}

void RemoteTier::stop_discovery() { store_->stop_discovery(); }

}  // namespace kvc::tiers
