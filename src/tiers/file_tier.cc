// FileTier: the save path (cache.md §2 steps 2–5), load, remove, hit counts, watch.
// The directory walks (scan, rescan) live in file_scan.cc.
#include "tiers/file_tier.h"

#include <array>
#include <deque>

#include "tiers/dir_watcher.h"
#include "tiers/temp_file.h"

namespace kvc::tiers {
namespace {

constexpr std::size_t kMaxOwnLinks = 4096;

// Reads a whole file into one buffer (never mmap). The span may be shorter than the
// size at open if the file shrank meanwhile; parse then reports it.
struct WholeFile {
  std::shared_ptr<std::byte[]> bytes;
  std::size_t size = 0;
};

Result<WholeFile> read_whole(io::Env* env, const std::string& path) {
  auto f = env->open_readable(path);
  if (!f.ok()) return f.status();
  const std::uint64_t size = (*f)->size();
  if (size > SIZE_MAX) return Status(Code::kInvalidArgument, "read " + path + ": file too large");
  WholeFile out;
  out.bytes = std::shared_ptr<std::byte[]>(std::make_unique_for_overwrite<std::byte[]>(static_cast<std::size_t>(size)));
  while (out.size < size) {
    auto n = (*f)->read_at(out.size, std::span<std::byte>(out.bytes.get() + out.size, size - out.size));
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    out.size += *n;
  }
  return out;
}

// Removes a file, trying twice (a transient failure must not leave a temp behind).
void remove_quietly(io::Env* env, const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    Status s = env->remove(path);
    if (s.ok() || s.code() == Code::kNotFound) return;
  }
}

}  // namespace

FileTier::FileTier(TierKind kind, index::TierId id, std::uint64_t quota_bytes, std::string dir, io::Env* env,
                   unsigned file_mode)
    : Tier(kind, id, quota_bytes), dir_(std::move(dir)), env_(env ? env : io::posix_env()), file_mode_(file_mode) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

FileTier::~FileTier() { stop_watch(); }

std::string FileTier::describe() const { return std::string(name()) + " " + dir_; }

std::string FileTier::path_for(const Key& key) const { return dir_ + "/" + key.hex() + ".kvc"; }

Result<std::string> FileTier::write(index::Index& idx, index::Reservation& r, const Bytes& prefix,
                                    const Bytes& payload) {
  const std::string hex = r.key().hex();
  if (!prefix || !payload) return Status(Code::kInvalidArgument, "save " + hex + ": null prefix or payload");
  const std::string final_path = path_for(r.key());
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

  // 2. temp file: one gathered write, fdatasync, close.
  auto file = env_->new_exclusive_file(tmp, file_mode_);
  if (!file.ok()) {
    tmp_exists = file.status().code() != Code::kExists;  // never delete a file we did not create
    return fail("create temp file", file.status());
  }
  tmp_exists = true;
  const std::array<std::span<const std::byte>, 2> buffers = {std::span<const std::byte>(*prefix),
                                                             std::span<const std::byte>(*payload)};
  if (Status s = (*file)->append(buffers); !s.ok()) {
    (void)(*file)->close();
    return fail("write temp file", s);
  }
  if (Status s = (*file)->sync(); !s.ok()) {
    (void)(*file)->close();
    return fail("sync temp file", s);
  }
  if (Status s = (*file)->close(); !s.ok()) return fail("close temp file", s);
  file->reset();

  // 3. still ours?
  if (!idx.check(r))
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
      auto existing = read_whole(env_, final_path);
      if (existing.ok() &&
          format::parse(std::span<const std::byte>(existing->bytes.get(), existing->size), r.key()).ok()) {
        linked = true;
        break;
      }
      return fail("link", s);
    }
    if (attempt == 2) return fail("link", s);
    auto existing = read_whole(env_, final_path);
    if (existing.ok() &&
        format::parse(std::span<const std::byte>(existing->bytes.get(), existing->size), r.key()).ok()) {
      adopted = true;  // a complete file for this key is already published: use it
      break;
    }
    if (!existing.ok() && existing.status().code() == Code::kNotFound) continue;  // vanished: link again
    if (Status rm = env_->remove(final_path); !rm.ok() && rm.code() != Code::kNotFound)
      return fail("remove invalid existing file", rm);
  }
  if (adopted && own_noted) take_own_link(final_path);

  if (Status s = env_->remove(tmp); !s.ok() && s.code() != Code::kNotFound) return fail("remove temp file", s);
  tmp_exists = false;

  // 5. make the link durable, then record the post-link stage.
  if (Status s = env_->sync_dir(dir_); !s.ok()) return fail("sync directory", s);
  if (!idx.mark_linked(r, final_path))
    return fail("mark linked", Status(Code::kCancelled, "reservation lost after link (cancelled or expired)"));
  return final_path;
}

Result<LoadedFile> FileTier::load(const index::RowInfo& row) {
  const std::string path = row.location.empty() ? path_for(row.key) : row.location;
  auto whole = read_whole(env_, path);
  if (!whole.ok()) {
    const Status& s = whole.status();
    return Status(s.code(), "load " + row.key.hex() + ": " + s.message());
  }
  auto parsed = format::parse(std::span<const std::byte>(whole->bytes.get(), whole->size), row.key);
  if (!parsed.ok())
    return Status(Code::kCorrupt, "load " + path + ": " + std::string(format::error_name(parsed.error)) +
                                      " (the file is invalid; it should be deleted)");
  LoadedFile out;
  out.payload = std::span<const std::byte>(whole->bytes.get() + parsed.value->payload_offset,
                                           static_cast<std::size_t>(parsed.value->payload_length));
  out.meta = std::move(*parsed.value);
  out.owner = std::shared_ptr<const void>(whole->bytes, whole->bytes.get());
  return out;
}

Status FileTier::remove(const index::RowInfo& row) {
  const std::string path = row.location.empty() ? path_for(row.key) : row.location;
  Status s = env_->remove(path);
  if (s.ok() || s.code() == Code::kNotFound) return Status::Ok();
  return s;
}

Status FileTier::write_hit_count(const index::RowInfo& row, std::uint32_t hits) {
  const std::string path = row.location.empty() ? path_for(row.key) : row.location;
  const std::array<std::byte, 4> le = {std::byte(hits & 0xff), std::byte((hits >> 8) & 0xff),
                                       std::byte((hits >> 16) & 0xff), std::byte((hits >> 24) & 0xff)};
  return env_->write_in_place(path, format::kHitCountOffset, le);
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
    if (on_removed) on_removed(*key, path);
    return;
  }
  if (take_own_link(path)) return;  // our own publication: the cache announces it
  if (!on_added || (known && known(*key))) return;
  std::uint64_t size = 0;
  auto meta = read_meta(path, &size);
  if (!meta.ok() || meta->key() != *key) return;  // invalid or misnamed: for a startup scan to settle
  const std::uint32_t hits = meta->header.hit_count;
  on_added(row_from(*key, std::move(*meta), path, size), hits);
}

}  // namespace kvc::tiers
