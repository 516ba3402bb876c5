// Test helpers for the tier tests: valid KVC files, directory listings, a
// scripted PublishGuard and a collector of scan/watch callbacks.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "format/kvc_file.h"
#include "format/row_info.h"
#include "io/env.h"
#include "tiers/file_tier.h"
#include "tiers/tier.h"

namespace kvc::tiers::testutil {

struct TestFile {
  KeyNamespace ns;
  std::vector<std::uint32_t> tokens;
  Key key;
  std::shared_ptr<std::vector<std::byte>> prefix;   // mutable here so tests can corrupt it
  std::shared_ptr<std::vector<std::byte>> payload;
  // The file as a saver hands it to a tier: both buffers shared (never copied),
  // with its parsed metadata, or without (then RamTier parses the prefix).
  LoadedFile loaded(bool with_meta = true) const {
    struct Buffers {
      std::shared_ptr<std::vector<std::byte>> prefix, payload;
    };
    LoadedFile out;
    out.bytes.owner = std::make_shared<Buffers>(Buffers{prefix, payload});
    out.bytes.prefix = std::span<const std::byte>(*prefix);
    out.bytes.payload = std::span<const std::byte>(*payload);
    if (with_meta) {
      auto meta = format::parse_meta(out.bytes.prefix, size());
      if (!meta.ok()) throw std::runtime_error("test file does not parse");
      out.meta = std::make_shared<const format::KvcMeta>(std::move(*meta.value));
    }
    return out;
  }
  std::vector<std::byte> whole() const {
    std::vector<std::byte> out(*prefix);
    out.insert(out.end(), payload->begin(), payload->end());
    return out;
  }
  std::uint64_t size() const { return prefix->size() + payload->size(); }
};

// A valid file whose key depends on `seed`; `n_tokens` tokens, `payload_size` bytes.
inline TestFile make_file(std::uint32_t seed, std::size_t payload_size = 1000, std::uint32_t hits = 0,
                          std::size_t n_tokens = 16, std::string_view prompt = "hello") {
  TestFile f;
  f.ns.fingerprint.fill(0x11);
  f.ns.quant = 1;
  f.ns.ctx_hash.fill(0x22);
  for (std::size_t i = 0; i < n_tokens; ++i) f.tokens.push_back(seed * 1000003u + static_cast<std::uint32_t>(i));
  f.key = derive_key(f.ns, f.tokens);
  f.payload = std::make_shared<std::vector<std::byte>>(payload_size);
  for (std::size_t i = 0; i < payload_size; ++i) (*f.payload)[i] = static_cast<std::byte>((i * 31 + seed) & 0xff);
  format::KvcBuildInput in;
  in.save_reason = format::SaveReason::kCold;
  in.hit_count = hits;
  in.context_size = 4096;
  in.creation_time = 1700000000;
  in.last_used_time = 1700000000;
  in.prompt_text = prompt;
  in.ns = f.ns;
  in.tokens = f.tokens;
  in.producer_version = "kvc test";
  f.prefix = std::make_shared<std::vector<std::byte>>(format::build_prefix(in, *f.payload));
  return f;
}

inline void write_raw(const std::string& path, std::span<const std::byte> bytes) {
  auto f = io::posix_env()->new_exclusive_file(path, 0600);
  if (!f.ok()) throw std::runtime_error(f.status().to_string());
  std::span<const std::byte> one = bytes;
  if (!(*f)->append({&one, 1}).ok() || !(*f)->close().ok()) throw std::runtime_error("write " + path);
}

inline std::vector<std::byte> read_raw(const std::string& path) {
  auto r = io::posix_env()->read_file(path);
  if (!r.ok()) return {};
  return std::move(*r);
}

inline bool exists(const std::string& path) { return std::filesystem::exists(path); }

// Sorted file names in a directory.
inline std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::size_t count_temp(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& name : names_in(dir))
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") ++n;
  return n;
}

// Bytes of a LoadedFile, prefix then payload.
inline std::vector<std::byte> whole_of(const LoadedFile& f) {
  std::vector<std::byte> out(f.bytes.prefix.begin(), f.bytes.prefix.end());
  out.insert(out.end(), f.bytes.payload.begin(), f.bytes.payload.end());
  return out;
}

// Rows reported by scan / rescan / watch callbacks; safe to fill from the
// watcher thread.
struct FoundRow {
  format::RowInfo row;
  std::uint32_t hits = 0;
};

struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::map<Key, FoundRow> added;
  std::vector<Key> removed;
  std::function<void(const Key&)> while_adding;  // runs in on_added, outside the lock
  FileTier::FoundFn found_fn() {
    return [this](format::RowInfo row, std::uint32_t hits) {
      if (while_adding) while_adding(row.key);
      std::lock_guard lock(mu);
      const Key k = row.key;
      added[k] = FoundRow{std::move(row), hits};
      cv.notify_all();
    };
  }
  FileTier::RemovedFn removed_fn() {
    return [this](const Key& key) {
      std::lock_guard lock(mu);
      removed.push_back(key);
      cv.notify_all();
    };
  }
  // Waits (generously) for a condition; the result, not the time, is asserted.
  bool wait_for(const std::function<bool()>& pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20), pred);
  }
};

// A PublishGuard with scripted answers that counts its calls (the cache's guard
// asks the index; tiers only see these two questions).
class ScriptedGuard final : public PublishGuard {
 public:
  bool ours = true;       // still_ours() answers this
  bool keep = true;       // published() answers this
  int checks = 0;
  int publications = 0;
  std::function<void()> on_published;  // runs inside published(), before it answers
  bool still_ours() override {
    ++checks;
    return ours;
  }
  bool published() override {
    ++publications;
    if (on_published) on_published();
    return keep;
  }
};

inline std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> out(s.size());
  std::transform(s.begin(), s.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
  return out;
}

}  // namespace kvc::tiers::testutil

