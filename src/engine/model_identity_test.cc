#include "engine/model_identity.h"

#include <gtest/gtest.h>

#include <gguf.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "engine/engine_test_util.h"
#include "format/sha256.h"

namespace kvc::engine {
namespace {

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

TEST(ContextHash, EveryFieldMattersAndNeverZero) {
  ContextParams base;
  base.architecture = "llama";
  base.n_ctx = 4096;
  base.n_ctx_seq = 4096;
  base.n_seq_max = 1;
  base.type_k = base.type_v = "f16";
  base.flash_attn = true;
  base.state_seq_version = 3;
  base.llama_commit = "abc";
  const Digest h = context_hash(base);
  EXPECT_NE(h, Digest{});
  EXPECT_EQ(h, context_hash(base));
  auto differs = [&](auto mutate) {
    ContextParams p = base;
    mutate(p);
    return context_hash(p) != h;
  };
  EXPECT_TRUE(differs([](ContextParams& p) { p.architecture = "qwen2"; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.n_ctx = 8192; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.n_ctx_seq = 2048; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.n_seq_max = 2; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.kv_unified = true; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.swa_full = true; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.type_k = "q8_0"; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.type_v = "q8_0"; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.flash_attn = false; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.rope_freq_base = 10000.0f; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.rope_freq_scale = 0.5f; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.yarn_ext_factor = -1.0f; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.yarn_orig_ctx = 4096; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.state_seq_version = 4; }));
  EXPECT_TRUE(differs([](ContextParams& p) { p.llama_commit = "abd"; }));
  EXPECT_NE(context_params_text(base).find("n_ctx=4096"), std::string::npos);
}

TEST(QuantNames, FtypeToTable) {
  EXPECT_EQ(ftype_quant_name(LLAMA_FTYPE_MOSTLY_F16), "f16");
  EXPECT_EQ(ftype_quant_name(LLAMA_FTYPE_MOSTLY_Q8_0 | LLAMA_FTYPE_GUESSED), "q8_0");
  EXPECT_EQ(ftype_quant_name(LLAMA_FTYPE_MOSTLY_Q4_K_M), "q4_k_m");
  EXPECT_EQ(ftype_quant_name(LLAMA_FTYPE_MOSTLY_Q2_K_S), "");
  EXPECT_EQ(quant_byte(ftype_quant_name(LLAMA_FTYPE_MOSTLY_BF16)), 29);
  EXPECT_EQ(quant_bits_for("q8_0"), 8);
  EXPECT_EQ(quant_bits_for("f16"), 16);
  EXPECT_EQ(quant_bits_for("iq4_xs"), 4);
}

TEST(Fingerprint, SafeIsTheFileSha256AndIsRemembered) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-fp");
  const std::string copy = dir.file("m.gguf");
  const std::string bytes = read_all(model);
  write_all(copy, bytes);
  auto fp = file_sha256(copy);
  ASSERT_TRUE(fp.ok()) << fp.status().to_string();
  EXPECT_EQ(*fp, format::sha256(std::as_bytes(std::span(bytes.data(), bytes.size()))));
  // The on-disk memo names the file.
  const char* cache_dir = std::getenv("KVC_CACHE_DIR");
  ASSERT_NE(cache_dir, nullptr);
  EXPECT_NE(read_all(std::string(cache_dir) + "/fingerprints.tsv").find(to_hex(*fp)), std::string::npos);
  EXPECT_EQ(*file_sha256(copy), *fp);
}

// The issue-11 swap: a fine-tune of the same size copied over the model with its
// mtime preserved (cp -p, rsync -t) must not keep the old model's fingerprint.
TEST(Fingerprint, SameSizeSwapWithPreservedMtimeIsCaught) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-fp-swap");
  const std::string path = dir.file("m.gguf");
  const std::string bytes = read_all(model);
  std::string tuned = bytes;  // "the fine-tune": same size, other weights
  tuned[tuned.size() - 1] ^= 0x5a;
  tuned[tuned.size() / 2] ^= 0x5a;
  write_all(path, bytes);
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  auto old_fp = file_sha256(path);
  auto old_chunked = gguf_chunked_sha256(path);
  ASSERT_TRUE(old_fp.ok() && old_chunked.ok());

  // In place (same inode, as `cp` over an existing file does), then the old
  // mtime put back. ctime has the kernel's coarse clock: wait until it moves so
  // the rewrite is observable at all.
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    write_all(path, tuned);
    struct stat now {};
    ASSERT_EQ(::stat(path.c_str(), &now), 0);
    if (now.st_ctim.tv_sec != before.st_ctim.tv_sec || now.st_ctim.tv_nsec != before.st_ctim.tv_nsec) break;
  }
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  ASSERT_EQ(after.st_ino, before.st_ino);
  ASSERT_EQ(after.st_size, before.st_size);
  ASSERT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);

  auto new_fp = file_sha256(path);
  ASSERT_TRUE(new_fp.ok());
  EXPECT_NE(*new_fp, *old_fp) << "the memo served the replaced file's old fingerprint";
  EXPECT_EQ(*new_fp, format::sha256(std::as_bytes(std::span(tuned.data(), tuned.size()))));
  EXPECT_NE(*gguf_chunked_sha256(path), *old_chunked);

  // Replaced by rename (another inode), size and mtime again preserved.
  const std::string other = dir.file("m2.gguf");
  write_all(other, bytes);
  ASSERT_EQ(::utimensat(AT_FDCWD, other.c_str(), times, 0), 0);
  ASSERT_EQ(std::rename(other.c_str(), path.c_str()), 0);
  EXPECT_EQ(*file_sha256(path), *old_fp);
}

TEST(Fingerprint, ChunkedCoversHeaderAndEdgeTensorsOnly) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-fp");
  const std::string bytes = read_all(model);
  write_all(dir.file("a.gguf"), bytes);
  auto a = gguf_chunked_sha256(dir.file("a.gguf"));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_NE(*a, *file_sha256(dir.file("a.gguf")));

  std::string last = bytes;  // the last tensor's data ends the file (after padding)
  last[last.size() - 1] ^= 0x01;
  write_all(dir.file("b.gguf"), last);
  EXPECT_NE(*gguf_chunked_sha256(dir.file("b.gguf")), *a);

  std::string header = bytes;  // a byte inside the metadata section
  header[40] ^= 0x01;
  write_all(dir.file("c.gguf"), header);
  auto c = gguf_chunked_sha256(dir.file("c.gguf"));
  EXPECT_TRUE(!c.ok() || *c != *a);

  // A byte of a tensor that is neither first nor last by offset: not covered (by design).
  gguf_context* g = gguf_init_from_file(model.c_str(), {.no_alloc = true, .ctx = nullptr});
  ASSERT_NE(g, nullptr);
  std::vector<std::size_t> offsets;
  for (std::int64_t i = 0; i < gguf_get_n_tensors(g); ++i) offsets.push_back(gguf_get_tensor_offset(g, i));
  std::sort(offsets.begin(), offsets.end());
  ASSERT_GE(offsets.size(), 3u);
  const std::size_t inner = gguf_get_data_offset(g) + offsets[offsets.size() / 2];
  gguf_free(g);
  std::string middle = bytes;
  middle[inner] ^= 0x01;
  write_all(dir.file("d.gguf"), middle);
  EXPECT_EQ(*gguf_chunked_sha256(dir.file("d.gguf")), *a);
}

TEST(Fingerprint, FastUnsafeAndLora) {
  KVC_REQUIRE_MODEL(model);
  ModelOptions o;
  o.path = model;
  o.fingerprint_mode = FingerprintMode::kFastUnsafe;
  EXPECT_EQ(effective_fingerprint(o).status().code(), Code::kInvalidArgument);
  Digest given{};
  given[0] = 7;
  o.fingerprint = given;
  EXPECT_EQ(*effective_fingerprint(o), given);
  kvc::testing::TempDir dir("kvc-lora");
  write_all(dir.file("adapter.gguf"), "not really an adapter");
  o.loras = {{dir.file("adapter.gguf"), 0.5f}};
  const Digest mixed = *effective_fingerprint(o);
  EXPECT_NE(mixed, given);
  const std::string adapter = "not really an adapter";
  const LoraAdapter la{format::sha256(std::as_bytes(std::span(adapter.data(), adapter.size()))), 0.5};
  EXPECT_EQ(mixed, *lora_effective_fingerprint(given, std::span(&la, 1)));
  o.loras[0].scale = 1.0f;
  EXPECT_NE(*effective_fingerprint(o), mixed);
  o.loras = {{dir.file("missing.gguf"), 1.0f}};
  EXPECT_FALSE(effective_fingerprint(o).ok());
}

}  // namespace
}  // namespace kvc::engine
