// Corruption sweep (issue 5): sample files of several sizes (payload 0 B, 1 KiB,
// 64 KiB; with and without the optional TLVs) are saved through a Cache on a disk
// tier, then every single-byte change (xor 0x01, 0x80, 0xFF at every offset of the
// prefix; every payload offset of the 1 KiB file and a strided sample of the
// 64 KiB one) and every truncation (every length within the prefix, a strided
// sample within the payload, the last bytes) is written over the file, and the
// cache is reopened and asked for the original key. Each mutation must end in one of:
//   - scan_removed:   the startup scan deleted the file (prefix damage);
//   - load_detected:  load returned kCorrupt, removed the row and the file, and
//                     counted corrupt_files;
//   - advisory:       load succeeded with the ORIGINAL payload, tokens and key.
// Anything else — a load that hands back different bytes or tokens — is a wrong
// restore, and there must be none.
//
// A change to the key-bearing TLVs (fingerprint, quant, ctx hash, token ids) that
// leaves the file well-formed yields a file whose content names another key. Served
// under that key it would hand a state built for the original tokens to a prompt
// differing in the damaged token, so the scan must delete it (it is named by a key
// its content does not hash to): a "re-keyed" outcome is a wrong restore.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cache_test_util.h"
#include "format/kvc_file.h"
#include "support/temp_dir.h"

namespace kvc {
namespace {

namespace fs = std::filesystem;

struct Sample {
  std::string name;
  std::size_t payload_bytes = 0;
  bool optional_tlvs = false;
};

struct Counts {
  std::uint64_t mutations = 0, scan_removed = 0, load_detected = 0, advisory = 0, rekeyed = 0,
                rekeyed_served = 0, wrong_restores = 0;
};

CacheOptions options_for(const std::string& dir) {
  CacheOptions o;
  o.tiers.push_back({TierKind::kDisk, dir, 1 << 30});
  for (auto& t : o.tiers) t.min_tokens = 1;  // short test rows are kept
  o.watch_directories = false;
  o.writers.threads = 1;
  o.sweep_interval = std::chrono::milliseconds(3'600'000);  // no background hit writes
  return o;
}

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  if (!c.empty()) std::memcpy(out.data(), c.data(), c.size());
  return out;
}

void write_file(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void clear_dir(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir)) fs::remove_all(e.path());
}

SaveRequest request_for(const Sample& s) {
  auto r = testing::make_request(testing::token_run(48, 100), s.payload_bytes, 7);
  if (s.optional_tlvs) {
    r.next_token_logits.resize(32);
    for (std::size_t i = 0; i < r.next_token_logits.size(); ++i) r.next_token_logits[i] = 0.25f * float(i) - 3.0f;
    r.prompt_text = "the quick brown fox";
    r.reason_detail = "sweep";
    r.quant_bits = 8;
    r.context_size = 4096;
  }
  return r;
}

// Writes `mutated` as the row's file, reopens the cache and classifies the outcome.
void check_mutation(const std::string& dir, const std::string& path, std::span<const std::byte> mutated,
                    const Key& key, std::span<const std::byte> payload, const std::vector<std::uint32_t>& tokens,
                    Counts& n, const std::string& what) {
  clear_dir(dir);
  write_file(path, mutated);
  ++n.mutations;
  auto opened = Cache::open(options_for(dir));
  ASSERT_TRUE(opened.ok()) << what << ": " << opened.status().to_string();
  auto& cache = **opened;
  auto lease = cache.checkout(key);
  if (lease.ok()) {
    auto loaded = cache.load(*lease);
    if (loaded.ok()) {
      const auto got = loaded->payload();
      const bool same = got.size() == payload.size() &&
                        (payload.empty() || std::memcmp(got.data(), payload.data(), payload.size()) == 0) &&
                        loaded->meta().tokens == tokens && loaded->meta().key() == key;
      if (same) {
        ++n.advisory;
      } else {
        ++n.wrong_restores;
        ADD_FAILURE() << "WRONG RESTORE after " << what;
      }
    } else {
      EXPECT_EQ(loaded.status().code(), Code::kCorrupt) << what << ": " << loaded.status().to_string();
      EXPECT_FALSE(cache.checkout(key).ok()) << what << ": the corrupt row is still served";
      EXPECT_FALSE(fs::exists(path)) << what << ": the corrupt file is still there";
      EXPECT_EQ(cache.counters().corrupt_files, 1u) << what;
      ++n.load_detected;
    }
    return;
  }
  const auto rows = cache.rows(0);
  if (rows.empty()) {
    EXPECT_FALSE(fs::exists(path)) << what << ": unindexed file left behind";
    ++n.scan_removed;
    return;
  }
  // Re-keyed: the content names another key and the scan kept it. Never acceptable.
  ASSERT_EQ(rows.size(), 1u) << what;
  EXPECT_NE(rows[0].info.key, key) << what;
  ++n.rekeyed;
  ADD_FAILURE() << "RE-KEYED ROW KEPT after " << what << ": a file named by one key but hashing to another";
  auto other = cache.checkout(rows[0].info.key);
  ASSERT_TRUE(other.ok()) << what;
  auto loaded = cache.load(*other);
  if (loaded.ok()) {
    EXPECT_EQ(loaded->meta().key(), rows[0].info.key) << what;
    ++n.rekeyed_served;
  }
}

TEST(CorruptionSweep, EveryByteAndTruncationIsDetectedOrHarmless) {
  const Sample samples[] = {
      {"0B", 0, false},        {"0B+tlvs", 0, true},        {"1KiB", 1024, false},
      {"1KiB+tlvs", 1024, true}, {"64KiB", 65536, false}, {"64KiB+tlvs", 65536, true},
  };
  testing::TempDir dir("kvc-sweep");
  Counts total;
  for (const auto& s : samples) {
    SCOPED_TRACE(s.name);
    clear_dir(dir.path());
    auto req = request_for(s);
    const std::vector<std::byte> payload(req.payload.span().begin(), req.payload.span().end());
    const auto tokens = req.tokens;
    std::string path;
    Key key;
    {
      auto opened = Cache::open(options_for(dir.path()));
      ASSERT_TRUE(opened.ok());
      auto saved = (*opened)->save(std::move(req), std::chrono::seconds(10));
      ASSERT_TRUE(saved.ok()) << saved.status().to_string();
      key = *saved;
      auto rows = (*opened)->rows(0);
      ASSERT_EQ(rows.size(), 1u);
      path = dir.path() + "/" + key.hex() + ".kvc";
    }
    const auto original = read_file(path);
    ASSERT_FALSE(original.empty());
    auto meta = format::parse_meta(original, original.size());
    ASSERT_TRUE(meta.ok());
    const std::size_t prefix = meta.value->payload_offset;
    ASSERT_EQ(prefix + payload.size(), original.size());

    Counts n;
    std::vector<std::byte> m = original;
    auto flip = [&](std::size_t off, std::uint8_t x) {
      m[off] ^= std::byte(x);
      check_mutation(dir.path(), path, m, key, payload, tokens, n,
                     s.name + " xor 0x" + std::to_string(x) + " at " + std::to_string(off));
      m[off] ^= std::byte(x);
    };
    for (std::size_t off = 0; off < prefix && !::testing::Test::HasFatalFailure(); ++off)
      for (std::uint8_t x : {0x01, 0x80, 0xFF}) flip(off, x);
    const std::size_t stride = payload.size() > 4096 ? 61 : 1;
    for (std::size_t off = prefix; off < original.size() && !::testing::Test::HasFatalFailure(); off += stride)
      flip(off, 0xFF);
    if (!payload.empty()) flip(original.size() - 1, 0x01);
    // Truncations: every length within the prefix, a strided sample of the payload,
    // and the last 16 lengths.
    std::vector<std::size_t> lengths;
    for (std::size_t len = 0; len <= prefix && len < original.size(); ++len) lengths.push_back(len);
    for (std::size_t len = prefix + 1; len < original.size(); len += (payload.size() > 4096 ? 509 : 7))
      lengths.push_back(len);
    for (std::size_t back = 1; back <= 16 && back <= original.size(); ++back) lengths.push_back(original.size() - back);
    for (auto len : lengths) {
      if (::testing::Test::HasFatalFailure()) break;
      check_mutation(dir.path(), path, std::span<const std::byte>(original).first(len), key, payload, tokens, n,
                     s.name + " truncated to " + std::to_string(len));
    }
    std::printf("corruption sweep %-10s: %6llu mutations: %llu removed by the scan, %llu detected on load, "
                "%llu advisory (original payload), %llu re-keyed (%llu loadable under their new key), "
                "%llu wrong restores\n",
                s.name.c_str(), static_cast<unsigned long long>(n.mutations),
                static_cast<unsigned long long>(n.scan_removed), static_cast<unsigned long long>(n.load_detected),
                static_cast<unsigned long long>(n.advisory), static_cast<unsigned long long>(n.rekeyed),
                static_cast<unsigned long long>(n.rekeyed_served), static_cast<unsigned long long>(n.wrong_restores));
    total.mutations += n.mutations;
    total.scan_removed += n.scan_removed;
    total.load_detected += n.load_detected;
    total.advisory += n.advisory;
    total.rekeyed += n.rekeyed;
    total.rekeyed_served += n.rekeyed_served;
    total.wrong_restores += n.wrong_restores;
    EXPECT_GT(n.scan_removed + n.load_detected, 0u);
  }
  std::printf("corruption sweep total: %llu mutations, %llu removed by the scan, %llu detected on load, %llu "
              "advisory, %llu re-keyed (%llu loadable under their new key), %llu wrong restores\n",
              static_cast<unsigned long long>(total.mutations), static_cast<unsigned long long>(total.scan_removed),
              static_cast<unsigned long long>(total.load_detected), static_cast<unsigned long long>(total.advisory),
              static_cast<unsigned long long>(total.rekeyed), static_cast<unsigned long long>(total.rekeyed_served),
              static_cast<unsigned long long>(total.wrong_restores));
  RecordProperty("mutations", std::to_string(total.mutations));
  RecordProperty("scan_removed", std::to_string(total.scan_removed));
  RecordProperty("load_detected", std::to_string(total.load_detected));
  RecordProperty("advisory", std::to_string(total.advisory));
  RecordProperty("rekeyed", std::to_string(total.rekeyed));
  RecordProperty("wrong_restores", std::to_string(total.wrong_restores));
  EXPECT_EQ(total.wrong_restores, 0u);
  EXPECT_EQ(total.rekeyed, 0u);
}

}  // namespace
}  // namespace kvc
