// End-to-end tests of the kvc command-line tool: runs the real binary (KVC_CLI)
// on KVC files built with format::build_prefix in temporary directories.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "format/kvc_file.h"
#include "kvc/key.h"
#include "support/temp_dir.h"

extern char** environ;

namespace kvc {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct CliRun {
  int status = -1;  // exit status, or -1 when killed by a signal
  std::string out;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* cli = std::getenv("KVC_CLI");
    if (cli == nullptr || *cli == '\0') GTEST_SKIP() << "KVC_CLI is not set (run through ctest)";
    cli_ = cli;
  }

  // Runs `kvc args...` with stdout and stderr captured in files.
  CliRun kvc(const std::vector<std::string>& args) {
    const std::string out = io_.file("out" + std::to_string(n_)), err = io_.file("err" + std::to_string(n_));
    ++n_;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    std::vector<std::string> all = {cli_};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, cli_.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    CliRun r;
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << cli_ << " failed: " << rc;
      return r;
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  json kvc_json(const std::vector<std::string>& args, int expect_status = 0) {
    CliRun r = kvc(args);
    EXPECT_EQ(r.status, expect_status) << "stdout: " << r.out << "\nstderr: " << r.err;
    try {
      return json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON (" << e.what() << "): " << r.out << "\nstderr: " << r.err;
      return json();
    }
  }

  std::string cli_;
  testing::TempDir io_{"kvc-cli-io"};
  int n_ = 0;
};

Digest filled(std::uint8_t b) {
  Digest d;
  d.fill(b);
  return d;
}

const std::string kFp11(64, '1');  // 0x11 × 32
const std::string kCtx22(64, '2');  // 0x22 × 32
const std::string kLoraSha33(64, '3');

struct FileSpec {
  std::vector<std::uint32_t> tokens = {1, 2, 3};
  format::SaveReason reason = format::SaveReason::kCold;
  std::uint32_t hits = 0;
  std::uint64_t created = 1'700'000'000;
  std::uint64_t last_used = 1'700'000'000;
  std::size_t payload_bytes = 100;
  std::string prompt = "hello";
  std::vector<float> logits;
  std::vector<format::PositionLogits> position_logits;
};

struct Written {
  Key key;
  std::string path;
  std::uint64_t size = 0;
  std::uint64_t payload_offset = 0;
};

// Writes <dir>/<key>.kvc (or <dir>/<name> when given).
Written write_kvc(const std::string& dir, const FileSpec& s, const std::string& name = "") {
  const KeyNamespace ns{filled(0x11), quant_byte("q4_k_m"), filled(0x22)};
  std::vector<std::byte> payload(s.payload_bytes);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::byte>(i * 7 + s.tokens.size());
  format::KvcBuildInput in;
  in.quant_bits = 4;
  in.save_reason = s.reason;
  in.hit_count = s.hits;
  in.context_size = 4096;
  in.creation_time = s.created;
  in.last_used_time = s.last_used;
  in.prompt_text = s.prompt;
  in.ns = ns;
  in.fingerprint_mode = format::FingerprintMode::kGgufChunked;
  in.tokens = s.tokens;
  in.hostname = "testhost";
  in.producer_version = "kvc test";
  in.next_token_logits = s.logits;
  in.position_logits = s.position_logits;
  const auto prefix = format::build_prefix(in, payload);
  Written w;
  w.key = derive_key(ns, s.tokens);
  w.path = dir + "/" + (name.empty() ? w.key.hex() + ".kvc" : name);
  std::ofstream out(w.path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(prefix.data()), static_cast<std::streamsize>(prefix.size()));
  out.write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
  out.close();
  w.size = prefix.size() + payload.size();
  w.payload_offset = prefix.size();
  return w;
}

void poke(const std::string& path, std::uint64_t offset, std::vector<std::uint8_t> bytes) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::uint64_t dir_kvc_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".kvc") total += e.file_size();
  }
  return total;
}

// ---------------------------------------------------------------- key

TEST_F(CliTest, KeyMatchesKnownVectorAndDeriveKey) {
  CliRun r = kvc({"key", "--fingerprint", kFp11, "--quant", "q4_k_m", "--ctx", kCtx22, "--tokens", "1,2,3"});
  ASSERT_EQ(r.status, 0) << r.err;
  // SHA-256(0x11×32 ‖ 07 ‖ 0x22×32 ‖ u32le 1,2,3), computed independently.
  EXPECT_EQ(r.out, "eac821f556e22a4e86ca39703226557f20cd12e1070eb7dbfb6e3fbe6fe0635a\n");
  const std::vector<std::uint32_t> toks = {1, 2, 3};
  EXPECT_EQ(r.out, derive_key({filled(0x11), 7, filled(0x22)}, toks).hex() + "\n");
  // Quant names are case-insensitive.
  CliRun upper = kvc({"key", "--fingerprint", kFp11, "--quant", "Q4_K_M", "--ctx", kCtx22, "--tokens", "1,2,3"});
  EXPECT_EQ(upper.out, r.out);
}

TEST_F(CliTest, KeyFromTokensFileAndEmptyList) {
  const std::string file = io_.file("tokens.txt");
  std::ofstream(file) << "1 2,\n 3\n";
  CliRun r = kvc({"key", "--fingerprint", kFp11, "--quant", "q4_k_m", "--ctx", kCtx22, "--tokens-file", file});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "eac821f556e22a4e86ca39703226557f20cd12e1070eb7dbfb6e3fbe6fe0635a\n");

  const std::string empty = io_.file("empty.txt");
  std::ofstream(empty) << "\n";
  CliRun e = kvc({"key", "--fingerprint", kFp11, "--quant", "q4_k_m", "--ctx", kCtx22, "--tokens-file", empty});
  ASSERT_EQ(e.status, 0) << e.err;
  EXPECT_EQ(e.out, "1f536ed241247c755bb277de5ccb2d7613cec623e5f477ff2a86338d52c7d519\n");
}

TEST_F(CliTest, KeyWithLoraUsesEffectiveFingerprint) {
  CliRun plain = kvc({"key", "--fingerprint", kFp11, "--quant", "q4_k_m", "--ctx", kCtx22, "--tokens", "1,2,3"});
  CliRun lora = kvc({"key", "--fingerprint", kFp11, "--quant", "q4_k_m", "--ctx", kCtx22, "--tokens", "1,2,3", "--lora",
                  kLoraSha33 + ":0.5"});
  ASSERT_EQ(lora.status, 0) << lora.err;
  EXPECT_NE(lora.out, plain.out);
  // FP' = SHA-256(FP ‖ 0x33×32 ‖ i64le(2147483648)), computed independently.
  EXPECT_EQ(lora.out, "33c2179623454774d1e12046a997f5fb36d2f2f60bbdeaf7e9dff0062611c4b9\n");
  CliRun other_scale = kvc({"key", "--fingerprint", kFp11, "--quant", "q4_k_m", "--ctx", kCtx22, "--tokens", "1,2,3",
                         "--lora", kLoraSha33 + ":1.0"});
  EXPECT_NE(other_scale.out, lora.out);
}

TEST_F(CliTest, KeyUnknownQuantEncodesAsOther) {
  CliRun r = kvc({"key", "--fingerprint", kFp11, "--quant", "mystery_q", "--ctx", kCtx22, "--tokens", "1,2,3"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "8b6e44b82fa7a44724bd19c7f15253f52437c7a2189d3f13a54ddf905b96a736\n");
  EXPECT_NE(r.err.find("255"), std::string::npos) << r.err;
}

TEST_F(CliTest, KeyRejectsBadInput) {
  CliRun big = kvc({"key", "--fingerprint", kFp11, "--quant", "f16", "--ctx", kCtx22, "--tokens", "1,4294967296"});
  EXPECT_NE(big.status, 0);
  EXPECT_NE(big.err.find("index 1"), std::string::npos) << big.err;
  EXPECT_NE(big.err.find("uint32"), std::string::npos) << big.err;
  EXPECT_TRUE(big.out.empty());

  CliRun max = kvc({"key", "--fingerprint", kFp11, "--quant", "f16", "--ctx", kCtx22, "--tokens", "4294967295"});
  EXPECT_EQ(max.status, 0) << max.err;

  const std::string file = io_.file("neg.txt");
  std::ofstream(file) << "5 6\n7 -1\n";
  CliRun neg = kvc({"key", "--fingerprint", kFp11, "--quant", "f16", "--ctx", kCtx22, "--tokens-file", file});
  EXPECT_NE(neg.status, 0);
  EXPECT_NE(neg.err.find("index 3"), std::string::npos) << neg.err;

  CliRun junk = kvc({"key", "--fingerprint", kFp11, "--quant", "f16", "--ctx", kCtx22, "--tokens", "1,x2"});
  EXPECT_NE(junk.status, 0);
  EXPECT_NE(junk.err.find("x2"), std::string::npos) << junk.err;

  CliRun hex = kvc({"key", "--fingerprint", "abc", "--quant", "f16", "--ctx", kCtx22, "--tokens", "1"});
  EXPECT_NE(hex.status, 0);
  EXPECT_NE(hex.err.find("--fingerprint"), std::string::npos) << hex.err;

  CliRun ctx = kvc({"key", "--fingerprint", kFp11, "--quant", "f16", "--ctx", std::string(64, 'g'), "--tokens", "1"});
  EXPECT_NE(ctx.status, 0);
  EXPECT_NE(ctx.err.find("--ctx"), std::string::npos) << ctx.err;

  CliRun lora = kvc({"key", "--fingerprint", kFp11, "--quant", "f16", "--ctx", kCtx22, "--tokens", "1", "--lora", "zz:1"});
  EXPECT_NE(lora.status, 0);
  EXPECT_NE(lora.err.find("--lora"), std::string::npos) << lora.err;

  CliRun none = kvc({"key", "--fingerprint", kFp11, "--quant", "f16", "--ctx", kCtx22});
  EXPECT_NE(none.status, 0);

  CliRun missing = kvc({"key", "--fingerprint", kFp11, "--quant", "f16", "--ctx", kCtx22, "--tokens-file",
                     io_.file("nope.txt")});
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.err.find("nope.txt"), std::string::npos) << missing.err;
}

// ---------------------------------------------------------------- inspect

TEST_F(CliTest, InspectJsonOfValidFile) {
  testing::TempDir dir("kvc-cli");
  FileSpec s;
  s.tokens = {10, 20, 30, 40};
  s.reason = format::SaveReason::kFinish;
  s.hits = 7;
  s.created = 1'700'000'000;
  s.last_used = 1'700'000'500;
  s.logits = {0.5f, 1.5f, -2.0f};
  s.position_logits = {{1, {1.0f, 2.0f, 3.0f}}, {3, {4.0f, 5.0f, 6.0f}}};
  const Written w = write_kvc(dir.path(), s);

  json j = kvc_json({"inspect", w.path, "--json"});
  EXPECT_EQ(j["valid"], true);
  EXPECT_TRUE(j["error"].is_null());
  EXPECT_EQ(j["key"], w.key.hex());
  EXPECT_EQ(j["file_name_key"], w.key.hex());
  EXPECT_EQ(j["key_matches_name"], true);
  EXPECT_EQ(j["crc_ok"], true);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["save_reason"], "finish");
  EXPECT_EQ(j["quant_bits"], 4);
  EXPECT_EQ(j["cached_token_count"], 4);
  EXPECT_EQ(j["hit_count"], 7);
  EXPECT_EQ(j["context_size"], 4096);
  EXPECT_EQ(j["creation_time"], 1'700'000'000u);
  EXPECT_EQ(j["last_used_time"], 1'700'000'500u);
  EXPECT_EQ(j["payload_offset"], w.payload_offset);
  EXPECT_EQ(j["payload_length"], 100);
  EXPECT_TRUE(j["payload_crc32c"].is_number());
  EXPECT_EQ(j["fingerprint"], kFp11);
  EXPECT_EQ(j["fingerprint_mode"], "gguf_chunked");
  EXPECT_EQ(j["quant_type"], "q4_k_m");
  EXPECT_EQ(j["ctx_params_hash"], kCtx22);
  EXPECT_EQ(j["tokens_count"], 4);
  EXPECT_EQ(j["tokens"], json({10, 20, 30, 40}));
  EXPECT_EQ(j["prompt_text"], "hello");
  EXPECT_EQ(j["hostname"], "testhost");
  EXPECT_EQ(j["producer_version"], "kvc test");
  EXPECT_EQ(j["has_logits"], true);
  EXPECT_EQ(j["n_logits"], 3);
  EXPECT_EQ(j["position_logits"], json::parse(R"([{"position":1,"n_logits":3},{"position":3,"n_logits":3}])"));
  EXPECT_EQ(j["file_size"], w.size);
}

TEST_F(CliTest, InspectHumanTable) {
  testing::TempDir dir("kvc-cli");
  FileSpec s;
  s.position_logits = {{2, {1.0f, 2.0f}}};
  const Written w = write_kvc(dir.path(), s);
  CliRun r = kvc({"inspect", w.path});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("2 (2 floats)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("VALID"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(w.key.hex() + " (matches the file name)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("q4_k_m (7)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cold"), std::string::npos) << r.out;
}

struct Corruption {
  const char* name;
  const char* error;
  void (*apply)(const Written& w);
};

const Corruption kCorruptions[] = {
    {"payload byte flipped", "crc_mismatch", [](const Written& w) { poke(w.path, w.payload_offset + 5, {0xff}); }},
    {"magic", "bad_header", [](const Written& w) { poke(w.path, 0, {'X'}); }},
    {"version", "unsupported_version", [](const Written& w) { poke(w.path, 3, {2}); }},
    {"save reason", "unknown_save_reason", [](const Written& w) { poke(w.path, 5, {9}); }},
    {"truncated", "truncated", [](const Written& w) { fs::resize_file(w.path, w.size - 1); }},
    {"trailing bytes", "trailing_bytes", [](const Written& w) { fs::resize_file(w.path, w.size + 3); }},
    {"header token count", "token_count_mismatch", [](const Written& w) { poke(w.path, 8, {9, 0, 0, 0}); }},
    {"payload byte count", "payload_length_mismatch", [](const Written& w) { poke(w.path, 40, {1, 0, 0, 0}); }},
};

TEST_F(CliTest, InspectReportsEachCorruptionByName) {
  for (const Corruption& c : kCorruptions) {
    SCOPED_TRACE(c.name);
    testing::TempDir dir("kvc-cli");
    const Written w = write_kvc(dir.path(), FileSpec{});
    c.apply(w);
    json j = kvc_json({"inspect", w.path, "--json"}, 1);
    EXPECT_EQ(j["valid"], false);
    EXPECT_EQ(j["error"], c.error);
    CliRun human = kvc({"inspect", w.path});
    EXPECT_EQ(human.status, 1);
    EXPECT_NE(human.out.find(c.error), std::string::npos) << human.out;
    EXPECT_NE(human.err.find(w.path), std::string::npos) << human.err;
  }
}

TEST_F(CliTest, InspectRenamedFileIsKeyMismatch) {
  testing::TempDir dir("kvc-cli");
  const Written w = write_kvc(dir.path(), FileSpec{});
  const std::string other = std::string(64, 'a') + ".kvc";
  fs::rename(w.path, dir.file(other));
  json j = kvc_json({"inspect", dir.file(other), "--json"}, 1);
  EXPECT_EQ(j["valid"], false);
  EXPECT_EQ(j["error"], "key_mismatch");
  EXPECT_EQ(j["key"], w.key.hex());
  EXPECT_EQ(j["file_name_key"], std::string(64, 'a'));
  EXPECT_EQ(j["crc_ok"], true);
}

TEST_F(CliTest, InspectNonKeyNameReportsComputedKey) {
  testing::TempDir dir("kvc-cli");
  const Written w = write_kvc(dir.path(), FileSpec{}, "saved-state.kvc");
  json j = kvc_json({"inspect", w.path, "--json"});
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["key"], w.key.hex());
  EXPECT_TRUE(j["file_name_key"].is_null());
  CliRun r = kvc({"inspect", w.path});
  EXPECT_NE(r.out.find("computed"), std::string::npos) << r.out;
}

TEST_F(CliTest, InspectNotKvcAndMissingFile) {
  testing::TempDir dir("kvc-cli");
  const std::string text = dir.file("notes.txt");
  std::ofstream(text) << "just some text, definitely longer than forty-eight bytes of header......\n";
  CliRun r = kvc({"inspect", text});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a KVC file: bad_header"), std::string::npos) << r.err;

  const std::string tiny = dir.file("tiny.kvc");
  std::ofstream(tiny) << "KV";
  json j = kvc_json({"inspect", tiny, "--json"}, 1);
  EXPECT_EQ(j["error"], "bad_header");
  EXPECT_TRUE(j["version"].is_null());

  CliRun missing = kvc({"inspect", dir.file("absent.kvc")});
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.err.find(dir.file("absent.kvc")), std::string::npos) << missing.err;

  if (::geteuid() != 0) {  // root reads anything
    const Written w = write_kvc(dir.path(), FileSpec{});
    ::chmod(w.path.c_str(), 0);
    CliRun unreadable = kvc({"inspect", w.path});
    EXPECT_EQ(unreadable.status, 2);
    EXPECT_NE(unreadable.err.find(w.path), std::string::npos) << unreadable.err;
  }
}

// ---------------------------------------------------------------- verify

// inspect follows a symlink the operator names (the cache itself never follows one);
// verify counts a symlink in a cache directory as "other", never as a row.
TEST_F(CliTest, InspectFollowsANamedSymlinkVerifyIgnoresPlantedOnes) {
  testing::TempDir dir("kvc-cli"), elsewhere("kvc-cli");
  FileSpec s;
  const Written w = write_kvc(elsewhere.path(), s);
  const std::string link = dir.file(w.key.hex() + ".kvc");
  fs::create_symlink(w.path, link);
  json j = kvc_json({"inspect", link, "--json"});
  EXPECT_EQ(j["valid"], true);
  json v = kvc_json({"verify", dir.path(), "--json"});
  EXPECT_EQ(v["checked"], 0);
  EXPECT_EQ(v["bad"], 0);
}

TEST_F(CliTest, VerifyReportsThenFixDeletesBadAndTempFiles) {
  testing::TempDir dir("kvc-cli");
  FileSpec a, b, c, d;
  b.tokens = {4, 5};
  c.tokens = {6};
  d.tokens = {7, 8, 9, 10};
  const Written good1 = write_kvc(dir.path(), a);
  const Written good2 = write_kvc(dir.path(), b);
  const Written crc = write_kvc(dir.path(), c);
  poke(crc.path, crc.payload_offset, {0x5a, 0x5a});
  const Written renamed = write_kvc(dir.path(), d);
  const std::string renamed_to = dir.file(std::string(64, 'b') + ".kvc");
  fs::rename(renamed.path, renamed_to);
  const std::string junk = dir.file("junk.kvc");
  std::ofstream(junk) << "not kvc";
  const std::string tmp = dir.file(good1.key.hex() + ".kvc.123.tmp");
  std::ofstream(tmp) << "partial";

  json j = kvc_json({"verify", dir.path(), "--json"}, 1);
  EXPECT_EQ(j["checked"], 5);
  EXPECT_EQ(j["valid"], 2);
  EXPECT_EQ(j["bad"], 3);
  std::map<std::string, std::string> errors;
  for (const auto& f : j["bad_files"]) {
    errors[f["file"]] = f["error"];
    EXPECT_EQ(f["removed"], false);
  }
  EXPECT_EQ(errors[crc.key.hex() + ".kvc"], "crc_mismatch");
  EXPECT_EQ(errors[std::string(64, 'b') + ".kvc"], "key_mismatch");
  EXPECT_EQ(errors["junk.kvc"], "bad_header");
  ASSERT_EQ(j["temp_files"].size(), 1u);
  EXPECT_EQ(j["temp_files"][0]["file"], good1.key.hex() + ".kvc.123.tmp");
  EXPECT_TRUE(fs::exists(crc.path) && fs::exists(junk) && fs::exists(tmp) && fs::exists(renamed_to));

  CliRun human = kvc({"verify", dir.path()});
  EXPECT_EQ(human.status, 1);
  EXPECT_NE(human.out.find(crc.path + ": crc_mismatch"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("junk.kvc: not a KVC file: bad_header"), std::string::npos) << human.out;

  CliRun fix = kvc({"verify", dir.path(), "--fix"});
  EXPECT_EQ(fix.status, 0) << fix.out << fix.err;
  EXPECT_FALSE(fs::exists(crc.path));
  EXPECT_FALSE(fs::exists(junk));
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_FALSE(fs::exists(renamed_to));
  EXPECT_TRUE(fs::exists(good1.path));
  EXPECT_TRUE(fs::exists(good2.path));

  json after = kvc_json({"verify", dir.path(), "--json"});
  EXPECT_EQ(after["valid"], 2);
  EXPECT_EQ(after["bad"], 0);
  EXPECT_EQ(after["temp_files"].size(), 0u);
}

TEST_F(CliTest, VerifyProgressOnRequest) {
  testing::TempDir dir("kvc-cli");
  write_kvc(dir.path(), FileSpec{});
  CliRun r = kvc({"verify", dir.path(), "--progress"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.err.find("1/1 files checked"), std::string::npos) << r.err;
  CliRun quiet = kvc({"verify", dir.path()});  // stderr is a file here: no progress
  EXPECT_TRUE(quiet.err.empty()) << quiet.err;
}

// ---------------------------------------------------------------- ls / stats

TEST_F(CliTest, LsOfSeveralTierDirectoriesShowsWhereEachRowLives) {
  testing::TempDir fast("kvc-cli"), slow("kvc-cli");
  FileSpec both, only_slow;
  both.tokens = {5, 6, 7};
  both.last_used = 1'700'000'100;
  only_slow.tokens = {8};
  only_slow.last_used = 1'700'000'000;
  const Written b1 = write_kvc(fast.path(), both);
  write_kvc(slow.path(), both);
  const Written s1 = write_kvc(slow.path(), only_slow);

  json j = kvc_json({"ls", fast.path(), slow.path(), "--json"});
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);  // one entry per row, not per copy
  EXPECT_EQ(j[0]["key"], b1.key.hex());
  EXPECT_EQ(j[0]["dirs"], json::array({fast.path(), slow.path()}));
  EXPECT_EQ(j[1]["key"], s1.key.hex());
  EXPECT_EQ(j[1]["dirs"], json::array({slow.path()}));

  CliRun human = kvc({"ls", fast.path(), slow.path()});
  EXPECT_EQ(human.status, 0);
  EXPECT_NE(human.out.find("IN"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("1,2"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("1 = " + fast.path()), std::string::npos) << human.out;
}

TEST_F(CliTest, LsSortsMostRecentFirstAndIsReadOnly) {
  testing::TempDir dir("kvc-cli");
  const std::uint64_t base = 1'700'000'000;
  FileSpec old_s, mid_s, new_s, popular_s;
  old_s.tokens = {1};
  old_s.last_used = base;
  mid_s.tokens = {2, 2};
  mid_s.last_used = base + 100;
  new_s.tokens = {3, 3, 3};
  new_s.last_used = base + 200;
  popular_s.tokens = {4, 4, 4, 4};
  popular_s.last_used = base + 50;
  popular_s.hits = 1000;  // 1000 hits count as 1000 s of recency: newest of all
  popular_s.reason = format::SaveReason::kContinued;
  const Written o = write_kvc(dir.path(), old_s), m = write_kvc(dir.path(), mid_s), n = write_kvc(dir.path(), new_s),
                p = write_kvc(dir.path(), popular_s);
  const std::string junk = dir.file("junk.kvc"), tmp = dir.file("x.kvc.1.tmp");
  std::ofstream(junk) << "not kvc";
  std::ofstream(tmp) << "partial";

  json j = kvc_json({"ls", dir.path(), "--json"});
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[0]["key"], p.key.hex());
  EXPECT_EQ(j[1]["key"], n.key.hex());
  EXPECT_EQ(j[2]["key"], m.key.hex());
  EXPECT_EQ(j[3]["key"], o.key.hex());
  EXPECT_EQ(j[0]["tokens"], 4);
  EXPECT_EQ(j[0]["bytes"], p.size);
  EXPECT_EQ(j[0]["save_reason"], "continued");
  EXPECT_EQ(j[0]["hits"], 1000);
  EXPECT_EQ(j[3]["last_used_time"], base);

  CliRun human = kvc({"ls", dir.path()});
  EXPECT_EQ(human.status, 0);
  const auto pos = [&](const Key& k) { return human.out.find(k.hex()); };
  ASSERT_NE(pos(o.key), std::string::npos) << human.out;
  EXPECT_LT(pos(p.key), pos(n.key));
  EXPECT_LT(pos(n.key), pos(m.key));
  EXPECT_LT(pos(m.key), pos(o.key));
  EXPECT_NE(human.out.find("KEY"), std::string::npos);
  EXPECT_NE(human.out.find("AGE"), std::string::npos);
  EXPECT_NE(human.err.find("1 invalid"), std::string::npos) << human.err;
  // Read-only: nothing was deleted.
  EXPECT_TRUE(fs::exists(junk));
  EXPECT_TRUE(fs::exists(tmp));
}

TEST_F(CliTest, StatsSummarisesDirectory) {
  testing::TempDir dir("kvc-cli");
  FileSpec a, b, c;
  a.tokens = {1};
  a.hits = 2;
  a.created = 1'600'000'000;
  b.tokens = {1, 2, 3, 4, 5};
  b.hits = 3;
  b.reason = format::SaveReason::kFinish;
  c.tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  c.created = 1'800'000'000;
  const Written wa = write_kvc(dir.path(), a), wb = write_kvc(dir.path(), b), wc = write_kvc(dir.path(), c);
  std::ofstream(dir.file("junk.kvc")) << "nope";
  std::ofstream(dir.file("a.kvc.9.tmp")) << "partial";

  json j = kvc_json({"stats", dir.path(), "--json"});
  EXPECT_EQ(j["rows"], 3);
  EXPECT_EQ(j["total_bytes"], wa.size + wb.size + wc.size);
  EXPECT_EQ(j["by_save_reason"]["cold"]["rows"], 2);
  EXPECT_EQ(j["by_save_reason"]["cold"]["bytes"], wa.size + wc.size);
  EXPECT_EQ(j["by_save_reason"]["finish"]["bytes"], wb.size);
  EXPECT_EQ(j["tokens"]["min"], 1);
  EXPECT_EQ(j["tokens"]["median"], 5);
  EXPECT_EQ(j["tokens"]["max"], 9);
  EXPECT_EQ(j["hits"]["total"], 5);
  EXPECT_EQ(j["oldest_creation_time"], 1'600'000'000u);
  EXPECT_EQ(j["newest_creation_time"], 1'800'000'000u);
  EXPECT_EQ(j["temp_files"], 1);
  EXPECT_EQ(j["invalid_files"], 1);
  EXPECT_EQ(j["invalid_by_error"]["bad_header"], 1);

  CliRun human = kvc({"stats", dir.path()});
  EXPECT_EQ(human.status, 0);
  EXPECT_NE(human.out.find("1 / 5 / 9"), std::string::npos) << human.out;
  EXPECT_TRUE(fs::exists(dir.file("junk.kvc")));
}

TEST_F(CliTest, EmptyDirectory) {
  testing::TempDir dir("kvc-cli");
  json ls = kvc_json({"ls", dir.path(), "--json"});
  EXPECT_EQ(ls, json::array());
  json stats = kvc_json({"stats", dir.path(), "--json"});
  EXPECT_EQ(stats["rows"], 0);
  EXPECT_EQ(stats["total_bytes"], 0);
  EXPECT_TRUE(stats["tokens"]["median"].is_null());
  json verify = kvc_json({"verify", dir.path(), "--json"});
  EXPECT_EQ(verify["checked"], 0);
  EXPECT_EQ(verify["ok"], true);
  CliRun quiet = kvc({"verify", dir.path(), "--quiet"});
  EXPECT_EQ(quiet.status, 0);
  EXPECT_TRUE(quiet.out.empty()) << quiet.out;
}

// ---------------------------------------------------------------- gc

TEST_F(CliTest, GcEvictsLeastRecentFirstDownToLimit) {
  testing::TempDir dir("kvc-cli");
  // The cache ranks rows found by its start-up scan by hit count (cache.md: now + hits × 1 s);
  // here older rows also have fewer hits, so that order and last_used_time agree.
  std::vector<Written> rows;
  for (std::uint32_t i = 0; i < 4; ++i) {
    FileSpec s;
    s.tokens = {100 + i};
    s.payload_bytes = 1000;
    s.last_used = 1'700'000'000 + 1000 * i;
    s.hits = i * 5;
    rows.push_back(write_kvc(dir.path(), s));
  }
  const std::uint64_t total = dir_kvc_bytes(dir.path());
  const std::uint64_t row = rows[0].size;
  const std::uint64_t limit = total - row - 1;  // needs two evictions

  json dry = kvc_json({"gc", dir.path(), "--max-bytes", std::to_string(limit), "--dry-run", "--json"});
  EXPECT_EQ(dry["bytes_before"], total);
  ASSERT_EQ(dry["removed"].size(), 2u);
  EXPECT_EQ(dry["removed"][0]["key"], rows[0].key.hex());
  EXPECT_EQ(dry["removed"][1]["key"], rows[1].key.hex());
  EXPECT_EQ(dir_kvc_bytes(dir.path()), total);  // dry run deletes nothing

  json j = kvc_json({"gc", dir.path(), "--max-bytes", std::to_string(limit), "--json"});
  EXPECT_EQ(j["bytes_before"], total);
  EXPECT_LE(j["bytes_after"].get<std::uint64_t>(), limit);
  EXPECT_LE(dir_kvc_bytes(dir.path()), limit);
  EXPECT_EQ(j["removed"].size(), 2u);
  EXPECT_FALSE(fs::exists(rows[0].path));
  EXPECT_FALSE(fs::exists(rows[1].path));
  EXPECT_TRUE(fs::exists(rows[2].path));
  EXPECT_TRUE(fs::exists(rows[3].path));

  // Suffixes: 1K = 1024 bytes; one 1000-byte-payload row does not fit, so all go.
  CliRun human = kvc({"gc", dir.path(), "--max-bytes", "1K"});
  EXPECT_EQ(human.status, 0) << human.err;
  EXPECT_NE(human.out.find(rows[2].key.hex()), std::string::npos) << human.out;
  EXPECT_LE(dir_kvc_bytes(dir.path()), 1024u);

  CliRun bad = kvc({"gc", dir.path(), "--max-bytes", "12Q"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("12Q"), std::string::npos) << bad.err;
}

// ---------------------------------------------------------------- errors, help

TEST_F(CliTest, MissingDirectoryIsAnErrorNamingIt) {
  testing::TempDir dir("kvc-cli");
  const std::string missing = dir.file("no-such-dir");
  for (std::vector<std::string> args : {std::vector<std::string>{"verify", missing}, {"ls", missing}, {"stats", missing},
                                        {"gc", missing, "--max-bytes", "1M"}}) {
    SCOPED_TRACE(args[0]);
    CliRun r = kvc(args);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("no such directory"), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_FALSE(fs::exists(missing));  // gc did not create it
}

TEST_F(CliTest, HelpDocumentsEveryCommandAndOption) {
  CliRun top = kvc({"--help"});
  EXPECT_EQ(top.status, 0);
  for (const char* c : {"key", "inspect", "verify", "ls", "stats", "gc"}) {
    EXPECT_NE(top.out.find(c), std::string::npos) << c;
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> options = {
      {"key", {"--fingerprint", "--quant", "--ctx", "--lora", "--tokens", "--tokens-file", "255"}},
      {"inspect", {"--json"}},
      {"verify", {"--fix", "--json", "--progress"}},
      {"ls", {"--json"}},
      {"stats", {"--json"}},
      {"gc", {"--max-bytes", "--dry-run", "--json"}},
  };
  for (const auto& [cmd, opts] : options) {
    CliRun r = kvc({cmd, "--help"});
    EXPECT_EQ(r.status, 0) << cmd;
    for (const auto& o : opts) EXPECT_NE(r.out.find(o), std::string::npos) << cmd << " " << o << "\n" << r.out;
  }
  CliRun none = kvc({});
  EXPECT_NE(none.status, 0);
  CliRun unknown = kvc({"frobnicate"});
  EXPECT_NE(unknown.status, 0);
}

}  // namespace
}  // namespace kvc
