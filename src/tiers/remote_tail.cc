#include "tiers/remote_tail.h"

#include <charconv>

namespace kvc::tiers {
namespace {

// A stream id "ms-seq" as a comparable pair; (0, 0) for anything unparsable.
std::pair<std::uint64_t, std::uint64_t> id_value(std::string_view id) {
  std::uint64_t ms = 0, seq = 0;
  const auto dash = id.find('-');
  const auto a = id.substr(0, dash);
  std::from_chars(a.data(), a.data() + a.size(), ms);
  if (dash != std::string_view::npos) {
    const auto b = id.substr(dash + 1);
    std::from_chars(b.data(), b.data() + b.size(), seq);
  }
  return {ms, seq};
}
bool id_less(std::string_view a, std::string_view b) { return id_value(a) < id_value(b); }

// The id of the newest entry of an XREVRANGE … COUNT 1 reply; "0-0" when empty.
Result<std::string> newest_of(const redisReply* r) {
  if (!reply_is_array(r)) return Status(Code::kIoError, "XREVRANGE answered " + std::string(reply_str(r)));
  const auto entries = reply_elements(r);
  if (entries.empty()) return std::string("0-0");
  const auto entry = reply_elements(entries[0]);
  if (entry.empty() || !reply_is_string(entry[0])) return Status(Code::kIoError, "XREVRANGE: malformed entry");
  return std::string(reply_str(entry[0]));
}

}  // namespace

RemoteTail::RemoteTail(RedisClient* client, std::string stream_key, std::chrono::milliseconds block,
                       std::chrono::milliseconds retry_min, std::chrono::milliseconds retry_max,
                       RemoteCounters* counters, RowFn on_row, ScanFn scan)
    : client_(client),
      stream_key_(std::move(stream_key)),
      block_(block),
      retry_min_(retry_min),
      retry_max_(retry_max),
      counters_(counters),
      on_row_(std::move(on_row)),
      scan_(std::move(scan)) {}

RemoteTail::~RemoteTail() { stop(); }

void RemoteTail::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void RemoteTail::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string RemoteTail::last_id() const {
  std::lock_guard lock(mu_);
  return last_id_;
}

bool RemoteTail::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stop_; });
}

Result<bool> RemoteTail::check_gap(RedisConnection& conn) {
  const std::string last = last_id();
  auto r = conn.exec(RedisCommand({"XINFO", "STREAM", stream_key_}), Clock::now() + conn.stall());
  if (!r.ok()) return r.status();
  const redisReply* info = r->get();
  if (reply_is_error(info)) {
    if (client_->note_redirect(conn, info)) return Status(Code::kCancelled, "the stream's slot moved");
    // No such key: the stream is gone (FLUSHALL, a new Redis). Rows may be gone too.
    return last != "0-0";
  }
  std::string last_generated = "0-0", max_deleted = "0-0", first = "0-0";
  long long length = 0;
  const auto f = reply_elements(info);
  for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
    const std::string_view name = reply_str(f[i]);
    const redisReply* v = f[i + 1];
    if (name == "length") length = reply_integer(v).value_or(0);
    if (name == "last-generated-id") last_generated = std::string(reply_str(v));
    if (name == "max-deleted-entry-id") max_deleted = std::string(reply_str(v));  // Redis >= 7.0
    if (name == "first-entry" && !reply_elements(v).empty()) first = std::string(reply_str(reply_elements(v)[0]));
  }
  // Reset: the stream restarted below our id. Trimmed or deleted past our id: the
  // stream is empty although entries came after ours, its oldest entry is newer
  // than ours (this may also be said when nothing in between was lost — one scan
  // too many, never one too few), or an entry newer than ours was deleted.
  if (id_less(last_generated, last)) return true;
  if (length == 0) return id_less(last, last_generated);
  return id_less(last, first) || id_less(last, max_deleted);
}

void RemoteTail::run() {
  std::chrono::milliseconds backoff = retry_min_;
  auto failed = [&](const Status& s) {
    if (s.code() == Code::kTimeout)
      RemoteCounters::add(counters_->timeouts);
    else
      RemoteCounters::add(counters_->errors);
    const bool go_on = pause(backoff);
    backoff = std::min(backoff * 2, retry_max_);
    return go_on;
  };
  bool need_scan = true;
  std::unique_ptr<RedisConnection> conn;
  const std::chrono::milliseconds stall = std::chrono::milliseconds(50);
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    if (need_scan) {
      auto newest = client_->exec(stream_key_, RedisCommand({"XREVRANGE", stream_key_, "+", "-", "COUNT", "1"}),
                                  kNoDeadline);
      Result<std::string> id = newest.ok() ? newest_of(newest->get()) : Result<std::string>(newest.status());
      if (!id.ok()) {
        if (!failed(id.status())) return;
        continue;
      }
      if (const Status s = scan_(); !s.ok()) {  // the store counted it
        if (!pause(backoff)) return;
        backoff = std::min(backoff * 2, retry_max_);
        continue;
      }
      {
        std::lock_guard lock(mu_);
        last_id_ = *id;
      }
      need_scan = false;
      backoff = retry_min_;
    }
    if (!conn) {
      auto c = client_->open_dedicated(stream_key_, kNoDeadline);
      if (!c.ok()) {
        if (!failed(c.status())) return;
        continue;
      }
      conn = std::move(c).value();
      conn->set_stall(block_ + std::max(stall, conn->stall()));
      auto gap = check_gap(*conn);
      if (!gap.ok()) {
        const bool moved = gap.status().code() == Code::kCancelled;
        if (!moved) client_->note_failure(*conn, gap.status());
        conn.reset();
        if (!moved && !failed(gap.status())) return;
        continue;
      }
      if (*gap) {
        need_scan = true;
        continue;
      }
    }
    RedisCommand xread({"XREAD", "COUNT", "512", "BLOCK"});
    xread.arg(static_cast<std::uint64_t>(block_.count())).arg("STREAMS").arg(stream_key_).arg(last_id());
    auto r = conn->exec(xread, Clock::now() + conn->stall());
    if (!r.ok()) {
      client_->note_failure(*conn, r.status());
      conn.reset();
      if (!failed(r.status())) return;
      continue;
    }
    const redisReply* reply = r->get();
    if (reply_is_nil(reply)) continue;  // nothing new within the block time
    if (reply_is_error(reply)) {
      const bool moved = client_->note_redirect(*conn, reply);
      conn.reset();
      if (!moved && !failed(Status(Code::kIoError, "XREAD: " + std::string(reply_str(reply))))) return;
      continue;
    }
    for (const redisReply* stream : reply_elements(reply)) {
      const auto parts = reply_elements(stream);
      if (parts.size() != 2) continue;
      for (const redisReply* entry : reply_elements(parts[1])) {
        const auto e = reply_elements(entry);
        if (e.size() != 2 || !reply_is_string(e[0])) continue;
        const std::string id(reply_str(e[0]));
        {
          std::lock_guard lock(mu_);
          last_id_ = id;
        }
        auto row = parse_publication(e[1]);
        if (!row.ok()) continue;  // not a kvc publication (a foreign writer): skipped
        RemoteCounters::add(counters_->publications_seen);
        row->stream_id = id;
        if (on_row_) on_row_(*row);
      }
    }
    backoff = retry_min_;
  }
}

}  // namespace kvc::tiers
