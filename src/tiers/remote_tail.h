// RemoteTail: the background thread that keeps a process's picture of remote rows
// current (remote.md "Publication" 2). It notes the stream's newest id, runs a
// full scan, then reads the publication stream from that id with
// XREAD BLOCK <tail_block> on a connection of its own, reporting every entry.
//
// Gaps: when (re)connecting it compares its last id with XINFO STREAM. Entries
// trimmed (MAXLEN) or deleted before it read them, or a stream that was reset
// (FLUSHALL, a new Redis), make it scan again and continue from the stream's
// current end. (An oldest entry newer than its last id counts as a gap even when
// nothing in between was lost: one scan too many, never one too few.) In a cluster the stream key lives in one slot, so all
// publications go through one master; the tail follows MOVED to its new owner.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "tiers/redis_client.h"
#include "tiers/remote_layout.h"

namespace kvc::tiers {

class RemoteTail {
 public:
  using RowFn = std::function<void(const RemoteRow&)>;
  // Runs a full scan; returns its status (a failed scan is retried with backoff).
  using ScanFn = std::function<Status()>;

  RemoteTail(RedisClient* client, std::string stream_key, std::chrono::milliseconds block,
             std::chrono::milliseconds retry_min, std::chrono::milliseconds retry_max, RemoteCounters* counters,
             RowFn on_row, ScanFn scan);
  ~RemoteTail();  // stop()
  RemoteTail(const RemoteTail&) = delete;
  RemoteTail& operator=(const RemoteTail&) = delete;

  void start();
  // Joins the thread: returns within about block + timeout; on_row and scan are
  // not running afterwards.
  void stop();
  std::string last_id() const;

 private:
  void run();
  // Sleeps up to `d`, returning early (false) when stopping.
  bool pause(std::chrono::milliseconds d);
  // After (re)connecting: true when entries were lost since last_id_ (or the
  // stream was reset); moves last_id_ to the stream's newest id in that case.
  Result<bool> check_gap(RedisConnection& conn);

  RedisClient* const client_;
  const std::string stream_key_;
  const std::chrono::milliseconds block_, retry_min_, retry_max_;
  RemoteCounters* const counters_;
  const RowFn on_row_;
  const ScanFn scan_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string last_id_;  // "" until the first scan is done
  std::thread thread_;
};

}  // namespace kvc::tiers
