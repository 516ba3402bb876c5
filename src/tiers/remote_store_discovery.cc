// RemoteStore: how a process learns the rows its peers published — the start-up
// scan and the publication stream (remote_scan.h, remote_tail.h) — and keeps its
// picture of the remote tier.
#include "tiers/remote_store.h"
#include "tiers/remote_tail.h"

namespace kvc::tiers {

Result<RemoteScanReport> RemoteStore::scan(const RowFn& on_row, Deadline deadline) {
  RemoteScanReport report;
  RemoteScanCallbacks cb;
  cb.on_row = [&](const RemoteRow& row) {
    RemoteCounters::add(counters_.scanned_rows);
    picture_add(row.key, row.bytes);
    if (on_row) on_row(row);
  };
  cb.on_corrupt = [&](const Key& key, std::uint32_t chunks, const std::string& why) {
    (void)reject(key, chunks, why, std::min(deadline, Clock::now() + opts_.timeout));
  };
  const Status s = scan_remote_rows(*client_, keys_, deadline, cb, &report);
  if (!s.ok()) return count_failure(Status(s.code(), "remote scan: " + s.message()));
  return report;
}

Result<std::string> RemoteStore::stream_last_id(Deadline deadline) {
  const std::string stream = keys_.stream();
  auto r = client_->exec(stream, RedisCommand({"XREVRANGE", stream, "+", "-", "COUNT", "1"}), deadline);
  if (!r.ok()) return count_failure(r.status());
  const auto entries = reply_elements(r->get());
  if (!reply_is_array(r->get())) return count_failure(Status(Code::kIoError, "XREVRANGE " + stream + ": " + std::string(reply_str(r->get()))));
  if (entries.empty()) return std::string("0-0");
  const auto entry = reply_elements(entries[0]);
  if (entry.empty()) return count_failure(Status(Code::kIoError, "XREVRANGE " + stream + ": malformed entry"));
  return std::string(reply_str(entry[0]));
}

void RemoteStore::start_discovery(RowFn on_row) {
  std::lock_guard lock(tail_mu_);
  if (tail_) return;
  auto report = [this, on_row](const RemoteRow& row) {
    picture_add(row.key, row.bytes);
    if (on_row) on_row(row);
  };
  auto rescan = [this, on_row]() -> Status {
    auto r = scan(on_row);
    return r.ok() ? Status::Ok() : r.status();
  };
  tail_ = std::make_unique<RemoteTail>(client_.get(), keys_.stream(), opts_.tail_block, opts_.reconnect_min,
                                       opts_.reconnect_max, &counters_, std::move(report), std::move(rescan));
  tail_->start();
}

void RemoteStore::stop_discovery() {
  std::unique_ptr<RemoteTail> tail;
  {
    std::lock_guard lock(tail_mu_);
    tail = std::move(tail_);
  }
  if (tail) tail->stop();
}

std::string RemoteStore::last_stream_id() const {
  std::lock_guard lock(tail_mu_);
  return tail_ ? tail_->last_id() : std::string();
}

}  // namespace kvc::tiers
