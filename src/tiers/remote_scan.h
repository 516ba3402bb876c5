// The start-up scan of the remote tier (remote.md "Publication" 2): SCAN every
// master for `P{*}:row`, read only the bytes before each row's payload (whole
// file: header + trailer give payload_offset; manifest: it carries the prefix),
// parse_meta them, and report the row. Payloads and chunks are never read.
#pragma once

#include <functional>
#include <string>

#include "tiers/redis_client.h"
#include "tiers/remote_layout.h"

namespace kvc::tiers {

struct RemoteScanReport {
  std::size_t rows = 0;             // valid rows reported
  std::uint64_t bytes = 0;          // their file sizes
  std::size_t corrupt = 0;          // rows reported to on_corrupt
  std::size_t masters = 0;          // masters scanned to the end
  std::size_t masters_failed = 0;   // masters that failed part-way (their rows may be missing)
};

struct RemoteScanCallbacks {
  std::function<void(const RemoteRow&)> on_row;
  // A row whose prefix fails format.md validation, is foreign, or belongs to
  // another key — judged on one consistent read (MULTI/EXEC), so a row replaced
  // during the scan is never called corrupt. `chunk_count` is 0 when unknown.
  std::function<void(const Key& key, std::uint32_t chunk_count, const std::string& why)> on_corrupt;
};

// Scans every master. Ok when every master was scanned to the end; otherwise the
// first failure (the rows already reported stay reported; the report counts
// what was done — pass it to see partial progress).
Status scan_remote_rows(RedisClient& client, const RemoteKeys& keys, Deadline deadline,
                        const RemoteScanCallbacks& callbacks, RemoteScanReport* report);

}  // namespace kvc::tiers
