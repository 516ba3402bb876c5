// A C++ program that uses an installed kvc only (tests/install/install_test.sh):
// the C++ API (kvc/cache.h with an injected kvc/env.h Env) and the C API
// (kvc/kvc.h) through kvc::kvc. Run twice on one DIR (argv[1]):
//   run 1 saves a row with kvc::Cache and finds it again with the C API;
//   run 2 (a restart) finds the row on disk with a longest-prefix lookup, loads it
//   through the counting Env and checks the bytes and the metadata.
#include <kvc/buffer.h>
#include <kvc/cache.h>
#include <kvc/env.h>
#include <kvc/key.h>
#include <kvc/kvc.h>
#include <kvc/options.h>
#include <kvc/row.h>
#include <kvc/stats.h>
#include <kvc/status.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

// A user Env: the POSIX one, counting the files it opens for reading.
class CountingEnv : public kvc::io::Env {
 public:
  std::atomic<int> reads{0};
  kvc::Result<std::unique_ptr<kvc::io::WritableFile>> new_exclusive_file(const std::string& p, unsigned mode) override {
    return base_->new_exclusive_file(p, mode);
  }
  kvc::Result<std::unique_ptr<kvc::io::ReadableFile>> open_readable(const std::string& p) override {
    reads.fetch_add(1);
    return base_->open_readable(p);
  }
  kvc::Status write_in_place(const std::string& p, std::uint64_t off, std::span<const std::byte> d) override {
    return base_->write_in_place(p, off, d);
  }
  kvc::Status link(const std::string& f, const std::string& t) override { return base_->link(f, t); }
  kvc::Status rename(const std::string& f, const std::string& t) override { return base_->rename(f, t); }
  kvc::Status remove(const std::string& p) override { return base_->remove(p); }
  kvc::Status sync_dir(const std::string& d) override { return base_->sync_dir(d); }
  kvc::Status create_dirs(const std::string& d) override { return base_->create_dirs(d); }
  kvc::Result<std::vector<kvc::io::DirEntry>> list_dir(const std::string& d) override { return base_->list_dir(d); }
  kvc::Result<std::uint64_t> file_size(const std::string& p) override { return base_->file_size(p); }
  kvc::Result<PathKind> path_kind(const std::string& p) override { return base_->path_kind(p); }
  kvc::Status remove_empty_dir(const std::string& p) override { return base_->remove_empty_dir(p); }

 private:
  kvc::io::Env* base_ = kvc::io::posix_env();
};

int fail(const char* what, const kvc::Status& s) {
  std::fprintf(stderr, "kvc_cxx_consumer: %s: %s\n", what, s.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  kvc::KeyNamespace ns;
  ns.fingerprint.fill(7);
  ns.quant = kvc::quant_byte("q4_0");
  std::vector<std::uint32_t> tokens(40);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::uint32_t>(i * 3 + 1);
  const kvc::Key key = kvc::derive_key(ns, tokens);
  const auto payload = kvc::ByteBuffer::copy_of(std::as_bytes(std::span(tokens)));

  CountingEnv env;
  {
    kvc::CacheOptions o;
    o.tiers.push_back({kvc::TierKind::kDisk, argv[1], 1u << 20});
    o.policy.min_tokens = o.policy.cold_min_tokens = 8;
    o.policy.boundary_align_tokens = 8;
    o.policy.boundary_trim_tokens = 0;
    o.env = &env;
    auto cache = kvc::Cache::open(o);
    if (!cache.ok()) return fail("Cache::open", cache.status());
    kvc::Cache& c = **cache;

    // A prompt that extends the row: the stride walk finds the 40-token row.
    std::vector<std::uint32_t> prompt = tokens;
    prompt.insert(prompt.end(), {9, 9, 9});
    kvc::PrefixHit hit = c.longest_prefix(ns, prompt, 8);
    if (!hit.lease) {
      kvc::SaveRequest r;
      r.ns = ns;
      r.tokens = tokens;
      r.reason = kvc::SaveReason::kCold;
      r.payload = kvc::ByteBuffer::copy_of(payload.span());
      r.next_token_logits = {0.5f, -1.0f};
      auto saved = c.save(std::move(r), std::chrono::seconds(10));
      if (!saved.ok()) return fail("Cache::save", saved.status());
      if (*saved != key) return fail("Cache::save", kvc::Status(kvc::Code::kCorrupt, "unexpected key"));
      std::printf("kvc_cxx_consumer: saved %s\n", key.hex().substr(0, 16).c_str());
    } else {
      if (hit.length != tokens.size() || hit.lease.row().key != key || hit.lease.tiers() == 0)
        return fail("longest_prefix", kvc::Status(kvc::Code::kCorrupt, "the wrong row"));
      auto loaded = c.load(hit.lease);
      if (!loaded.ok()) return fail("Cache::load", loaded.status());
      const bool same = loaded->payload().size() == payload.size() &&
                        std::memcmp(loaded->payload().data(), payload.data(), payload.size()) == 0;
      if (!same || loaded->meta().tokens != tokens || loaded->meta().next_token_logits.size() != 2 ||
          loaded->meta().header.save_reason != kvc::SaveReason::kCold || loaded->tier() != kvc::TierKind::kDisk ||
          env.reads.load() == 0)
        return fail("Cache::load", kvc::Status(kvc::Code::kCorrupt, "the loaded row differs from the saved one"));
      const kvc::CounterSnapshot counters = c.counters();
      std::printf("kvc_cxx_consumer: found %s after a restart (%llu longest-prefix hit), loaded from %s through "
                  "the user Env (%d reads): bytes verified\n",
                  key.hex().substr(0, 16).c_str(), static_cast<unsigned long long>(counters.hits_longest_prefix),
                  std::string(loaded->tier_name()).c_str(), env.reads.load());
    }
  }

  // The C API finds the same row under the same key.
  kvc_tier_options disk{KVC_TIER_DISK, argv[1], 1u << 20, KVC_POLICY_WRITE_THROUGH, 1};
  kvc_cache_options o = kvc_cache_default_options();
  o.tiers = &disk;
  o.n_tiers = 1;
  o.min_tokens = o.cold_min_tokens = 8;
  o.boundary_align_tokens = 8;
  kvc_cache* cache = nullptr;
  if (kvc_cache_open(&o, &cache) != KVC_OK) {
    std::fprintf(stderr, "kvc_cxx_consumer: %s\n", kvc_last_error());
    return 1;
  }
  kvc_key c_key;
  std::memcpy(c_key.bytes, key.bytes.data(), 32);
  kvc_lease* lease = nullptr;
  kvc_payload* row = nullptr;
  const bool ok = kvc_cache_checkout(cache, &c_key, &lease) == KVC_OK && kvc_lease_load(lease, &row) == KVC_OK &&
                  kvc_payload_size(row) == payload.size() &&
                  std::memcmp(kvc_payload_data(row), payload.data(), payload.size()) == 0;
  if (!ok) std::fprintf(stderr, "kvc_cxx_consumer: %s\n", kvc_last_error());
  kvc_payload_free(row);
  kvc_lease_free(lease);
  kvc_cache_free(cache);
  std::printf("kvc_cxx_consumer: C API: key %s: %s\n", key.hex().substr(0, 16).c_str(),
              ok ? "found and verified" : "FAILED");
  return ok ? 0 : 1;
}
