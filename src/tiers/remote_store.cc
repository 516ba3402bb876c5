#include "tiers/remote_store.h"

#include <unistd.h>

#include <cstring>
#include <new>

#include "format/crc32c.h"
#include "format/le.h"
#include "tiers/remote_tail.h"

namespace kvc::tiers {
namespace {

// Chunks fetched per round trip: bounds the replies held next to the file being
// rebuilt (2 × 64 MiB) while keeping the link busy.
constexpr std::uint32_t kChunksPerRoundTrip = 2;

std::string default_host() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

void add_ttl(RedisCommand& set, std::uint64_t ttl) {
  if (ttl != 0) set.arg("EX").arg(ttl);
}

// Status of a write command's reply: ok on +OK, kNoSpace on OOM, kUnavailable otherwise.
Status write_reply_status(const redisReply* r, const std::string& what) {
  if (reply_is_ok(r)) return Status::Ok();
  const std::string err(reply_str(r));
  if (err.rfind("OOM", 0) == 0) return Status(Code::kNoSpace, what + ": Redis is full (" + err + ")");
  return Status(Code::kUnavailable, what + ": Redis refused: " + (err.empty() ? "unexpected reply" : err));
}

}  // namespace

RemoteStore::RemoteStore(RemoteOptions opts) : opts_(std::move(opts)), keys_(opts_.prefix) {}

RemoteStore::~RemoteStore() {
  stop_discovery();
  client_.reset();
}

Result<std::unique_ptr<RemoteStore>> RemoteStore::open(const RemoteOptions& opts) {
  if (auto s = opts.validate(); !s.ok()) return s;
  RemoteOptions o = opts;
  if (o.host.empty()) o.host = default_host();
  std::unique_ptr<RemoteStore> store(new RemoteStore(std::move(o)));
  auto client = RedisClient::open(store->opts_, &store->counters_);
  if (!client.ok()) return client.status();
  store->client_ = std::move(client).value();
  return store;
}

Status RemoteStore::count_failure(Status s) {
  RemoteCounters::add(s.code() == Code::kTimeout ? counters_.timeouts : counters_.errors);
  return s;
}

void RemoteStore::picture_add(const Key& key, std::uint64_t bytes) {
  std::lock_guard lock(picture_mu_);
  auto [it, inserted] = picture_.try_emplace(key, bytes);
  if (!inserted) {
    picture_bytes_ -= it->second;
    it->second = bytes;
  }
  picture_bytes_ += bytes;
}

void RemoteStore::picture_drop(const Key& key) {
  std::lock_guard lock(picture_mu_);
  if (auto it = picture_.find(key); it != picture_.end()) {
    picture_bytes_ -= it->second;
    picture_.erase(it);
  }
}

std::uint64_t RemoteStore::used_bytes() const {
  std::lock_guard lock(picture_mu_);
  return picture_bytes_;
}

std::size_t RemoteStore::known_rows() const {
  std::lock_guard lock(picture_mu_);
  return picture_.size();
}

bool RemoteStore::knows(const Key& key) const {
  std::lock_guard lock(picture_mu_);
  return picture_.contains(key);
}

Status RemoteStore::delete_chunks(const Key& key, std::uint32_t count, Deadline deadline) {
  if (count == 0) return Status::Ok();
  std::vector<RedisCommand> dels;
  for (std::uint32_t i = 0; i < count; ++i) dels.push_back(RedisCommand({"DEL", keys_.chunk(key, i)}));
  auto r = client_->exec(keys_.row(key), dels, deadline);
  return r.ok() ? Status::Ok() : r.status();
}

Status RemoteStore::reject(const Key& key, std::uint32_t chunk_count, const std::string& why, Deadline deadline) {
  RemoteCounters::add(counters_.corrupt_rejected);
  picture_drop(key);
  // Row key first (uncommits), then the chunks; best effort within the deadline.
  const std::string row = keys_.row(key);
  auto del = client_->exec(row, RedisCommand({"DEL", row}), deadline);
  std::string outcome = "deleted";
  if (!del.ok()) {
    outcome = "could not be deleted (" + del.status().message() + ")";
  } else if (auto s = delete_chunks(key, chunk_count, deadline); !s.ok()) {
    outcome = "deleted, its chunks not (" + s.message() + ")";
  }
  return Status(Code::kCorrupt, "remote row " + row + " rejected: " + why + "; " + outcome);
}

Status RemoteStore::write_chunks(const Key& key, std::span<const std::byte> prefix, std::span<const std::byte> payload,
                                 Deadline deadline) {
  const std::uint64_t size = prefix.size() + payload.size();
  const std::uint32_t count = chunk_count_for(size, opts_.chunk_bytes);
  // Slice [begin, end) of the file prefix ‖ payload, as up to two spans (no copy).
  auto slice = [&](std::uint64_t begin, std::uint64_t end, RedisCommand& cmd) {
    std::span<const std::byte> a, b;
    if (begin < prefix.size()) a = prefix.subspan(begin, std::min<std::uint64_t>(end, prefix.size()) - begin);
    if (end > prefix.size()) {
      const std::uint64_t pb = std::max<std::uint64_t>(begin, prefix.size()) - prefix.size();
      b = payload.subspan(pb, end - prefix.size() - pb);
    }
    cmd.arg_ref(a, b);
  };
  std::vector<RedisCommand> sets;
  sets.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint64_t begin = std::uint64_t{i} * opts_.chunk_bytes;
    RedisCommand set({"SET", keys_.chunk(key, i)});
    slice(begin, std::min<std::uint64_t>(begin + opts_.chunk_bytes, size), set);
    add_ttl(set, opts_.ttl_seconds);
    sets.push_back(std::move(set));
  }
  auto r = client_->exec(keys_.row(key), sets, deadline, allowance(size));
  Status s = r.ok() ? Status::Ok() : r.status();
  for (std::uint32_t i = 0; s.ok() && i < count; ++i)
    s = write_reply_status((*r)[i].get(), "SET " + keys_.chunk(key, i));
  if (!s.ok()) (void)delete_chunks(key, count, Clock::now() + opts_.timeout);  // never a half-written row
  return s;
}

Status RemoteStore::put(const Key& key, std::span<const std::byte> prefix, std::span<const std::byte> payload,
                        Deadline deadline) {
  const std::string row = keys_.row(key);
  const std::uint64_t size = prefix.size() + payload.size();
  auto meta = format::parse_meta(prefix, size);
  if (!meta.ok())
    return Status(Code::kInvalidArgument, "remote put " + row + ": the prefix is not a valid KVC prefix (" +
                                              std::string(format::error_name(meta.error)) + ")");
  if (meta.value->payload_offset != prefix.size() || meta.value->key() != key)
    return Status(Code::kInvalidArgument,
                  "remote put " + row + ": the prefix " +
                      (meta.value->key() != key ? "belongs to another key" : "does not end at payload_offset"));
  auto exists = client_->exec(row, RedisCommand({"EXISTS", row}), deadline);
  if (!exists.ok()) return count_failure(exists.status());
  if (reply_integer(exists->get()).value_or(0) == 1) {
    RemoteCounters::add(counters_.put_duplicates);
    picture_add(key, size);
    return Status(Code::kAlreadyPresent, "remote put " + row + ": already stored");
  }
  RedisCommand set({"SET", row});
  std::vector<std::byte> manifest;
  if (size <= opts_.chunk_bytes) {
    set.arg_ref(prefix, payload);
  } else {
    if (auto s = write_chunks(key, prefix, payload, deadline); !s.ok()) return count_failure(s);
    const std::uint32_t crc = format::crc32c_combine(format::crc32c(prefix), meta.value->payload_crc32c, payload.size());
    manifest = encode_manifest(size, opts_.chunk_bytes, crc, prefix);
    set.arg_ref(manifest);
  }
  add_ttl(set, opts_.ttl_seconds);
  auto committed = client_->exec(row, set, deadline, allowance(set.encoded_size()));
  Status s = committed.ok() ? write_reply_status(committed->get(), "SET " + row) : committed.status();
  if (!s.ok()) {
    if (!manifest.empty())
      (void)delete_chunks(key, chunk_count_for(size, opts_.chunk_bytes), Clock::now() + opts_.timeout);
    return count_failure(s);
  }
  RemoteCounters::add(counters_.bytes_out, size + manifest.size());
  RemoteCounters::add(counters_.puts);
  picture_add(key, size);
  // Announce. The row is committed either way; a lost publication is found by scans.
  RemoteRow pub{key, meta.value->key_namespace(), meta.value->tokens, size, opts_.host, {}};
  auto xadd = client_->exec(keys_.stream(), publication_command(keys_.stream(), opts_.stream_maxlen, pub), deadline);
  if (!xadd.ok())
    (void)count_failure(xadd.status());
  else if (reply_is_error(xadd->get()))
    RemoteCounters::add(counters_.errors);
  return Status::Ok();
}

Result<RemoteFile> RemoteStore::get(const Key& key, Deadline deadline) {
  const std::string row = keys_.row(key);
  std::uint64_t expected = opts_.chunk_bytes;  // a whole file is at most one chunk; a manifest is small
  {
    std::lock_guard lock(picture_mu_);
    if (auto it = picture_.find(key); it != picture_.end()) expected = std::min<std::uint64_t>(it->second, expected);
  }
  // The value is received straight into a buffer the result will own.
  std::shared_ptr<std::byte[]> buffer;
  std::size_t buffer_size = 0;
  const BulkSink into_buffer = [&](std::size_t, std::size_t length) -> std::span<std::byte> {
    buffer = std::shared_ptr<std::byte[]>(new (std::nothrow) std::byte[length]);
    buffer_size = buffer ? length : 0;
    return {buffer.get(), buffer_size};
  };
  auto got = client_->exec(row, RedisCommand({"GET", row}), deadline, allowance(expected), &into_buffer);
  if (!got.ok()) return count_failure(got.status());
  RedisReply reply = std::move(got).value();
  const redisReply* r = reply.get();
  if (reply_is_nil(r)) {
    RemoteCounters::add(counters_.misses);
    picture_drop(key);
    return Status(Code::kNotFound, "remote row " + row + " not found (expired, evicted or deleted)");
  }
  std::span<const std::byte> value;
  std::shared_ptr<const void> owner;
  if (r == nullptr) {  // delivered into `buffer`
    value = std::span<const std::byte>(buffer.get(), buffer_size);
    owner = std::move(buffer);
  } else if (reply_is_string(r)) {  // not taken by the sink (an empty value, no memory)
    value = reply_bytes(r);
    owner = std::move(reply).share();
  } else {
    return count_failure(Status(Code::kUnavailable, "GET " + row + ": " + std::string(reply_str(r))));
  }
  RemoteCounters::add(counters_.bytes_in, value.size());
  switch (classify_row_value(value)) {
    case RowValueKind::kForeign:
      return reject(key, 0, "foreign value (neither KVC nor KVCM magic)", deadline);
    case RowValueKind::kManifest:
      return assemble_chunks(key, value, deadline);
    case RowValueKind::kFile:
      break;
  }
  auto parsed = format::parse(value, key);
  if (!parsed.ok()) return reject(key, 0, std::string(format::error_name(parsed.error)), deadline);
  RemoteFile out;
  out.meta = std::move(*parsed.value);
  out.file = value;
  out.payload = value.subspan(out.meta.payload_offset, out.meta.payload_length);
  out.owner = std::move(owner);
  RemoteCounters::add(counters_.hits);
  return out;
}

Result<RemoteFile> RemoteStore::assemble_chunks(const Key& key, std::span<const std::byte> manifest,
                                                Deadline deadline) {
  auto m = parse_manifest(manifest);
  if (!m.ok()) return reject(key, 0, m.status().message(), deadline);
  const Manifest man = *m;
  auto meta = format::parse_meta(man.prefix, man.file_size);
  if (!meta.ok())
    return reject(key, man.chunk_count, "manifest prefix: " + std::string(format::error_name(meta.error)), deadline);
  if (meta.value->payload_offset != man.prefix.size())
    return reject(key, man.chunk_count, "manifest prefix does not end at payload_offset", deadline);
  // Allocated once, uninitialised; a manifest claiming an impossible size fails here.
  std::shared_ptr<std::byte[]> file(new (std::nothrow) std::byte[man.file_size]);
  if (!file)
    return count_failure(Status(Code::kNoSpace, "remote row " + keys_.row(key) + ": cannot allocate " +
                                                    std::to_string(man.file_size) + " bytes"));
  for (std::uint32_t first = 0; first < man.chunk_count; first += kChunksPerRoundTrip) {
    const std::uint32_t end = std::min(man.chunk_count, first + kChunksPerRoundTrip);
    std::vector<RedisCommand> gets;
    for (std::uint32_t i = first; i < end; ++i) gets.push_back(RedisCommand({"GET", keys_.chunk(key, i)}));
    auto slice = [&](std::uint64_t i) {
      const std::uint64_t off = i * man.chunk_size;
      return std::span<std::byte>(file.get() + off, std::min<std::uint64_t>(man.chunk_size, man.file_size - off));
    };
    // Each chunk is received straight into its place in the file; one of another
    // length is left to hiredis and rejected below.
    const BulkSink in_place = [&](std::size_t index, std::size_t length) -> std::span<std::byte> {
      const auto dest = slice(first + index);
      return length == dest.size() ? dest : std::span<std::byte>();
    };
    auto replies = client_->exec(keys_.row(key), gets, deadline,
                                 allowance(std::uint64_t{end - first} * man.chunk_size), &in_place);
    if (!replies.ok()) return count_failure(replies.status());
    for (std::uint32_t i = first; i < end; ++i) {
      const redisReply* c = (*replies)[i - first].get();
      const std::uint64_t want = slice(i).size();
      if (c == nullptr) {  // delivered in place
        RemoteCounters::add(counters_.bytes_in, want);
        continue;
      }
      if (reply_is_nil(c)) return reject(key, man.chunk_count, "truncated: chunk " + std::to_string(i) + " is missing", deadline);
      if (!reply_is_string(c))
        return count_failure(Status(Code::kUnavailable, "GET " + keys_.chunk(key, i) + ": " + std::string(reply_str(c))));
      RemoteCounters::add(counters_.bytes_in, c->len);
      return reject(key, man.chunk_count,
                    "truncated: chunk " + std::to_string(i) + " has " + std::to_string(c->len) +
                        " bytes, the manifest says " + std::to_string(want),
                    deadline);
    }
  }
  const std::span<const std::byte> whole(file.get(), man.file_size);
  auto parsed = format::parse(whole, key);
  if (!parsed.ok()) return reject(key, man.chunk_count, std::string(format::error_name(parsed.error)), deadline);
  const auto head = whole.first(parsed.value->payload_offset);
  if (!std::equal(head.begin(), head.end(), man.prefix.begin(), man.prefix.end()))
    return reject(key, man.chunk_count, "chunk 0 does not start with the manifest's prefix", deadline);
  if (format::crc32c_combine(format::crc32c(head), parsed.value->payload_crc32c, parsed.value->payload_length) !=
      man.file_crc32c)
    return reject(key, man.chunk_count, "the file's CRC32C differs from the manifest's", deadline);
  RemoteFile out;
  out.meta = std::move(*parsed.value);
  out.file = whole;
  out.payload = whole.subspan(out.meta.payload_offset, out.meta.payload_length);
  out.owner = std::move(file);
  RemoteCounters::add(counters_.hits);
  return out;
}

Status RemoteStore::remove(const Key& key, Deadline deadline) {
  const std::string row = keys_.row(key);
  // The manifest header (to learn the chunk count) and the uncommit, in one round trip.
  const std::vector<RedisCommand> cmds{RedisCommand({"GETRANGE", row, "0", std::to_string(kManifestHeaderSize - 1)}),
                                       RedisCommand({"DEL", row})};
  auto r = client_->exec(row, cmds, deadline);
  if (!r.ok()) return count_failure(r.status());
  picture_drop(key);
  if (reply_integer((*r)[1].get()).value_or(0) == 1) RemoteCounters::add(counters_.removes);
  const auto head = reply_bytes((*r)[0].get());
  std::uint32_t chunks = 0;
  if (head.size() == kManifestHeaderSize && classify_row_value(head) == RowValueKind::kManifest)
    chunks = std::min(format::le::get_u32(head.data() + 20), kMaxChunks);
  if (auto s = delete_chunks(key, chunks, deadline); !s.ok()) return count_failure(s);
  return Status::Ok();
}

}  // namespace kvc::tiers
