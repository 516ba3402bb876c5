// Test helpers for the tier tests: valid KVC files and directory listings.
#pragma once

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "format/kvc_file.h"
#include "io/env.h"
#include "tiers/tier.h"

namespace kvc::tiers::testutil {

struct TestFile {
  KeyNamespace ns;
  std::vector<std::uint32_t> tokens;
  Key key;
  std::shared_ptr<std::vector<std::byte>> prefix;   // mutable here so tests can corrupt it
  std::shared_ptr<std::vector<std::byte>> payload;
  Bytes prefix_bytes() const { return prefix; }
  Bytes payload_bytes() const { return payload; }
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

inline std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> out(s.size());
  std::transform(s.begin(), s.end(), out.begin(), [](char c) { return static_cast<std::byte>(c); });
  return out;
}

}  // namespace kvc::tiers::testutil

namespace kvc::tiers::testutil {

// Forwards to another Env and runs a hook before sync_dir (to move a clock, say).
class HookEnv final : public io::Env {
 public:
  explicit HookEnv(io::Env* base) : base_(base) {}
  std::function<void()> before_sync_dir;

  Result<std::unique_ptr<io::WritableFile>> new_exclusive_file(const std::string& p, unsigned m) override {
    return base_->new_exclusive_file(p, m);
  }
  Result<std::unique_ptr<io::ReadableFile>> open_readable(const std::string& p) override {
    return base_->open_readable(p);
  }
  Status write_in_place(const std::string& p, std::uint64_t o, std::span<const std::byte> d) override {
    return base_->write_in_place(p, o, d);
  }
  Status link(const std::string& a, const std::string& b) override { return base_->link(a, b); }
  Status rename(const std::string& a, const std::string& b) override { return base_->rename(a, b); }
  Status remove(const std::string& p) override { return base_->remove(p); }
  Status sync_dir(const std::string& d) override {
    if (before_sync_dir) before_sync_dir();
    return base_->sync_dir(d);
  }
  Status create_dirs(const std::string& d) override { return base_->create_dirs(d); }
  Result<std::vector<io::DirEntry>> list_dir(const std::string& d) override { return base_->list_dir(d); }
  Result<std::uint64_t> file_size(const std::string& p) override { return base_->file_size(p); }

 private:
  io::Env* base_;
};

}  // namespace kvc::tiers::testutil
