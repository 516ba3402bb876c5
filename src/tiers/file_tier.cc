// FileTier: the save path (cache.md §2 steps 2–5), load, remove, hit counts, watch.
// The directory walks (scan, rescan) live in file_scan.cc.
#include "tiers/file_tier.h"

#include <array>
#include <deque>

#include "format/crc32c.h"
#include "format/kvc_verify.h"
#include "kvc/buffer.h"
#include "tiers/dir_watcher.h"
#include "tiers/temp_file.h"

namespace kvc::tiers {
namespace {

constexpr std::size_t kMaxOwnLinks = 4096;
constexpr std::size_t kChunk = 1 << 20;      // load: read and CRC 1 MiB at a time
constexpr std::size_t kFirstChunk = 64 << 10;  // load: enough for the prefix of most files

Status read_fully(io::ReadableFile& f, std::uint64_t offset, std::span<std::byte> out) {
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = f.read_at(offset + got, out.subspan(got));
    if (!n.ok()) return n.status();
    if (*n == 0) return Status(Code::kCorrupt, "truncated (the file shrank while it was read)");
    got += *n;
  }
  return Status::Ok();
}

// Removes a file, trying twice (a transient failure must not leave a temp behind).
void remove_quietly(io::Env* env, const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    Status s = env->remove(path);
    if (s.ok() || s.code() == Code::kNotFound) return;
  }
}

}  // namespace

FileTier::FileTier(TierKind kind, std::uint64_t quota_bytes, std::string dir, io::Env* env, unsigned file_mode)
    : Tier(kind, quota_bytes), dir_(std::move(dir)), env_(env ? env : io::posix_env()), file_mode_(file_mode) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

FileTier::~FileTier() { stop_watch(); }

std::string FileTier::describe() const { return std::string(name()) + " " + dir_; }

std::string FileTier::path_for(const Key& key) const { return dir_ + "/" + key.hex() + ".kvc"; }

bool FileTier::exists(const Key& key) {
  auto kind = env_->path_kind(path_for(key));
  return kind.ok() && *kind == io::Env::PathKind::kRegular;
}

std::optional<FileTier::Found> FileTier::probe(const Key& key) {
  std::uint64_t size = 0;
  auto meta = read_meta(path_for(key), &size);
  if (!meta.ok() || meta->key() != key) return std::nullopt;
  const std::uint32_t hits = meta->header.hit_count;
  return Found{format::row_info_from(std::move(*meta), size), hits};
}

Status FileTier::clear_directory_in_the_way(const std::string& path) {
  Status rm = env_->remove_empty_dir(path);
  if (rm.ok() || rm.code() == Code::kNotFound) {
    std::lock_guard lock(blocked_mu_);
    blocked_.erase(path);
    return Status::Ok();
  }
  const std::string what = rm.code() == Code::kExists ? "a directory that is not empty"
                                                      : "a directory that cannot be removed (" + rm.message() + ")";
  std::lock_guard lock(blocked_mu_);
  if (blocked_.insert(path).second)
    return Status(Code::kExists, path + " is " + what + ", where this row's file belongs: "
                                        "remove or rename it (saves of this key are refused until then)");
  return Status(Code::kExists, path + " is still a directory (saves of this key refused)");
}

Status FileTier::put(const Key& key, const LoadedFile& file, PublishGuard* guard) {
  const std::string hex = key.hex();
  if (!file.bytes.owner) return Status(Code::kInvalidArgument, "save " + hex + ": no buffers");
  const std::string final_path = path_for(key);
  {
    // A directory reported in the way: refuse at once while it is still there.
    std::unique_lock lock(blocked_mu_);
    if (blocked_.count(final_path) != 0) {
      lock.unlock();
      auto kind = env_->path_kind(final_path);
      if (kind.ok() && *kind == io::Env::PathKind::kDirectory) {
        if (Status s = clear_directory_in_the_way(final_path); !s.ok()) return {s.code(), "save " + hex + ": " + s.message()};
      } else {
        lock.lock();
        blocked_.erase(final_path);
      }
    }
  }
  const std::string tmp = dir_ + "/" + temp_file_name(hex);
  InflightTemp inflight(tmp);  // a scan in this process leaves it alone

  bool tmp_exists = false;   // the temp file may exist and is ours to delete
  bool linked = false;       // final_path is a link this call made
  bool own_noted = false;    // final_path was noted for the watcher to skip
  auto fail = [&](std::string_view step, const Status& s) -> Status {
    if (tmp_exists) remove_quietly(env_, tmp);
    if (linked) remove_quietly(env_, final_path);
    if (own_noted && !linked) take_own_link(final_path);
    return {s.code(), "save " + hex + ": " + std::string(step) + ": " + s.message()};
  };
  // A valid file of this key at `path`? (prefix read and parsed, payload CRC'd in chunks)
  auto valid_at = [&](const std::string& path) -> Result<bool> {
    auto got = read_verified(path, key);
    if (got.ok()) return true;
    if (got.status().code() == Code::kNotFound) return got.status();
    return false;
  };

  // 2. temp file: one gathered write, fdatasync, close.
  auto out = env_->new_exclusive_file(tmp, file_mode_);
  if (!out.ok()) {
    tmp_exists = out.status().code() != Code::kExists;  // never delete a file we did not create
    return fail("create temp file", out.status());
  }
  tmp_exists = true;
  const std::array<std::span<const std::byte>, 2> buffers = {file.bytes.prefix, file.bytes.payload};
  if (Status s = (*out)->append(buffers); !s.ok()) {
    (void)(*out)->close();
    return fail("write temp file", s);
  }
  if (Status s = (*out)->sync(); !s.ok()) {
    (void)(*out)->close();
    return fail("sync temp file", s);
  }
  if (Status s = (*out)->close(); !s.ok()) return fail("close temp file", s);
  out->reset();

  // 3. still ours?
  if (guard != nullptr && !guard->still_ours())
    return fail("check reservation", Status(Code::kCancelled, "reservation lost before link (cancelled or expired); " +
                                                                  tmp + " deleted"));

  // 4. publish by link; on EEXIST adopt a valid file or replace an invalid one.
  {
    std::lock_guard lock(own_mu_);
    if (watcher_active_) {
      own_links_.push_back(final_path);
      if (own_links_.size() > kMaxOwnLinks) own_links_.pop_front();
      own_noted = true;
    }
  }
  bool adopted = false;
  for (int attempt = 0; !linked && !adopted; ++attempt) {
    Status s = env_->link(tmp, final_path);
    if (s.ok()) {
      linked = true;
      break;
    }
    if (s.code() != Code::kExists) {
      // A link that took effect but reported failure (a lost reply on a network
      // filesystem, an injected fault) has published our file: a valid file for the
      // key at final_path is then treated as our link, so every later failure
      // removes it and nothing stays published but unindexed.
      auto v = valid_at(final_path);
      if (v.ok() && *v) {
        linked = true;
        break;
      }
      return fail("link", s);
    }
    if (attempt == 2) return fail("link", s);
    auto kind = env_->path_kind(final_path);
    if (kind.ok() && *kind == io::Env::PathKind::kDirectory) {
      if (Status d = clear_directory_in_the_way(final_path); !d.ok()) return fail("link", d);
      continue;
    }
    auto v = valid_at(final_path);
    if (v.ok() && *v) {
      adopted = true;  // a complete file for this key is already published: use it
      break;
    }
    if (!v.ok()) continue;  // vanished: link again
    if (Status rm = env_->remove(final_path); !rm.ok() && rm.code() != Code::kNotFound)
      return fail("remove invalid existing file", rm);
  }
  if (adopted && own_noted) take_own_link(final_path);

  if (Status s = env_->remove(tmp); !s.ok() && s.code() != Code::kNotFound) return fail("remove temp file", s);
  tmp_exists = false;

  // 5. make the link durable, then record the post-link stage.
  if (Status s = env_->sync_dir(dir_); !s.ok()) return fail("sync directory", s);
  if (guard != nullptr && !guard->published())
    return fail("mark linked", Status(Code::kCancelled, "reservation lost after link (cancelled or expired)"));
  return Status::Ok();
}

Result<LoadedFile> FileTier::read_verified(const std::string& path, const Key& key) {
  auto f = env_->open_readable(path);
  if (!f.ok()) return f.status();
  const std::uint64_t size = (*f)->size();
  if (size > SIZE_MAX / 2) return Status(Code::kCorrupt, "load " + path + ": file too large");
  auto corrupt = [&](std::string_view what) {
    return Status(Code::kCorrupt, "load " + path + ": " + std::string(what) + " (the file is invalid; it should be deleted)");
  };
  auto buf = std::make_shared<ByteBuffer>(BufferPool::shared().acquire(static_cast<std::size_t>(size)));
  std::byte* data = buf->data();
  // The prefix first: its trailer says where the payload starts.
  std::size_t have = static_cast<std::size_t>(std::min<std::uint64_t>(size, kFirstChunk));
  if (Status s = read_fully(**f, 0, {data, have}); !s.ok())
    return s.code() == Code::kCorrupt ? corrupt(s.message()) : Status(s.code(), "load " + path + ": " + s.message());
  const auto need = format::prefix_length({data, have}, size);
  if (need && *need > have) {
    if (Status s = read_fully(**f, have, {data + have, static_cast<std::size_t>(*need) - have}); !s.ok())
      return s.code() == Code::kCorrupt ? corrupt(s.message()) : Status(s.code(), "load " + path + ": " + s.message());
    have = static_cast<std::size_t>(*need);
  }
  auto meta = format::parse_meta({data, have}, size);
  if (!meta.ok()) return corrupt(format::error_name(meta.error));
  const auto offset = static_cast<std::size_t>(meta.value->payload_offset);
  // The payload: CRC each chunk right after reading it, while it is in cache.
  std::uint32_t crc = format::crc32c({data + offset, have - offset});
  while (have < size) {
    const std::size_t n = std::min<std::size_t>(kChunk, static_cast<std::size_t>(size) - have);
    if (Status s = read_fully(**f, have, {data + have, n}); !s.ok())
      return s.code() == Code::kCorrupt ? corrupt(s.message()) : Status(s.code(), "load " + path + ": " + s.message());
    crc = format::crc32c({data + have, n}, crc);
    have += n;
  }
  if (auto e = format::check_payload(*meta.value, crc, key)) return corrupt(format::error_name(*e));
  LoadedFile out;
  out.meta = std::make_shared<const format::KvcMeta>(std::move(*meta.value));
  out.bytes.prefix = {data, offset};
  out.bytes.payload = {data + offset, static_cast<std::size_t>(size) - offset};
  out.bytes.owner = std::move(buf);
  return out;
}

Result<LoadedFile> FileTier::load(const Key& key) { return read_verified(path_for(key), key); }

Status FileTier::remove(const Key& key) {
  const std::string path = path_for(key);
  Status s = env_->remove(path);
  if (s.ok() || s.code() == Code::kNotFound) return Status::Ok();
  return s;
}

Status FileTier::write_hit_count(const Key& key, std::uint32_t hits) {
  const std::array<std::byte, 4> le = {std::byte(hits & 0xff), std::byte((hits >> 8) & 0xff),
                                       std::byte((hits >> 16) & 0xff), std::byte((hits >> 24) & 0xff)};
  return env_->write_in_place(path_for(key), format::kHitCountOffset, le);
}

// ---------------------------------------------------------------- watch

bool FileTier::start_watch(FoundFn on_added, RemovedFn on_removed, KnownFn known) {
  std::lock_guard lock(watch_mu_);
  if (watcher_) return true;
  {
    // Before the watch exists, so no link of ours can slip between the two.
    std::lock_guard own(own_mu_);
    watcher_active_ = true;
  }
  auto w = DirWatcher::start(dir_, [this, on_added = std::move(on_added), on_removed = std::move(on_removed),
                                    known = std::move(known)](DirWatcher::Event ev, const std::string& name) {
    on_watch_event(static_cast<int>(ev), name, on_added, on_removed, known);
  });
  if (!w.ok()) {
    std::lock_guard own(own_mu_);
    watcher_active_ = false;
    return false;
  }
  watcher_ = std::move(*w);
  return true;
}

void FileTier::stop_watch() {
  std::unique_ptr<DirWatcher> w;
  {
    std::lock_guard lock(watch_mu_);
    w = std::move(watcher_);
  }
  w.reset();  // joins outside the lock: a running callback may call into this tier
  std::lock_guard own(own_mu_);
  watcher_active_ = false;
  own_links_.clear();
}

bool FileTier::watching() const {
  std::lock_guard lock(watch_mu_);
  return watcher_ != nullptr;
}

bool FileTier::take_own_link(const std::string& path) {
  std::lock_guard lock(own_mu_);
  for (auto it = own_links_.begin(); it != own_links_.end(); ++it) {
    if (*it == path) {
      own_links_.erase(it);
      return true;
    }
  }
  return false;
}

void FileTier::on_watch_event(int event, const std::string& name, const FoundFn& on_added,
                              const RemovedFn& on_removed, const KnownFn& known) {
  const auto ev = static_cast<DirWatcher::Event>(event);
  if (ev == DirWatcher::Event::kOverflow) {
    {
      std::lock_guard lock(own_mu_);
      own_links_.clear();  // their events may be lost; the rescan below covers them
    }
    if (on_added) (void)rescan(on_added, known);
    return;
  }
  auto key = key_from_file_name(name);
  if (!key) return;
  const std::string path = dir_ + "/" + name;
  if (ev == DirWatcher::Event::kRemoved) {
    // Events arrive late: the file may have been published again since (by us or
    // a sibling). Only a file that is gone now is reported.
    if (on_removed && !exists(*key)) on_removed(*key);
    return;
  }
  if (take_own_link(path)) return;  // our own publication: the cache announces it
  if (!on_added || (known && known(*key))) return;
  std::uint64_t size = 0;
  auto meta = read_meta(path, &size);
  if (!meta.ok() || meta->key() != *key) return;  // invalid or misnamed: for a startup scan to settle
  const std::uint32_t hits = meta->header.hit_count;
  on_added(format::row_info_from(std::move(*meta), size), hits);
}

}  // namespace kvc::tiers
