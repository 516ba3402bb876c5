// RemoteTier: the remote tier of the hierarchy (cache.md §3, remote.md) — a Tier
// over a RemoteStore (Redis or Redis Cluster). Every process of a fleet that
// shares the Redis sees the rows the others publish: discovery (a scan at start,
// then the publication stream) reports them so the index can find remote rows on
// every lookup path with no round trip on a miss.
//
// Degradation: a Redis that is down, slow, refusing or full makes put/load/remove
// fail within the store's stall limit (RemoteOptions::timeout, 50 ms by default)
// with kUnavailable / kTimeout / kNoSpace; the cache counts them and goes on (a
// miss, a dropped write-through). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "format/row_info.h"
#include "tiers/remote_store.h"
#include "tiers/tier.h"

namespace kvc::tiers {

class RemoteTier final : public Tier {
 public:
  // A row learnt from the remote (scan or publication).
  using FoundFn = std::function<void(format::RowInfo row)>;

  // Validates `options` (the error names the kvc-server flag) and starts the
  // store's client: succeeds while Redis is unreachable (calls fail fast until it
  // is back).
  static Result<std::unique_ptr<RemoteTier>> open(const kvc::RemoteOptions& options, std::uint64_t quota_bytes,
                                                  const std::string& hostname);
  ~RemoteTier() override;  // stops discovery

  std::string describe() const override;  // "remote redis://host:port" / "remote cluster a:1,b:2"

  // store.put of the prefix and payload (sent from their buffers); with a guard,
  // still_ours() before and published() after. An existing row of the key is kept
  // (ok).
  Status put(const Key& key, const LoadedFile& file, PublishGuard* guard) override;
  // store.get: fetched and fully verified. kNotFound when the row vanished
  // (expired, evicted, deleted), kCorrupt when it was rejected (and deleted).
  Result<LoadedFile> load(const Key& key) override;
  Status remove(const Key& key) override;
  Status write_hit_count(const Key&, std::uint32_t) override { return Status::Ok(); }

  // Scans the remote once (synchronously, within the options' timeout per
  // command), then tails the publication stream on a background thread; every row
  // is reported to on_found (also this process's own publications).
  void start_discovery(FoundFn on_found);
  void stop_discovery();

  RemoteCounterValues counters() const { return store_->counters(); }

 private:
  explicit RemoteTier(std::uint64_t quota, std::unique_ptr<RemoteStore> store);
  std::unique_ptr<RemoteStore> store_;
};

// The store options of the public kvc::RemoteOptions.
RemoteOptions remote_store_options(const kvc::RemoteOptions& o, std::uint64_t quota_bytes, const std::string& host);

}  // namespace kvc::tiers
