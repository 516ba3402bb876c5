// Engine smoke test: kvc-mkmodel's tiny model loads in llama.cpp, prefills in
// n_batch chunks, gives finite and varied logits, and a sequence state saved with
// llama_state_seq_get_data restores into a fresh context so that decoding the next
// token gives bitwise-identical logits. A Q8_0 model must decode too (no SIGILL
// from a miscompiled AMX kernel).
//
// Environment (for measurements; the test itself needs none):
//   KVC_SMOKE_TOKENS=N   prompt length (default 1000)
//   KVC_SMOKE_MODEL=F    run the checks on this GGUF only (no generated models)
//   KVC_SMOKE_THREADS=N  threads (default 2)
// Exit status: 0 pass, 1 fail, 77 skipped (no vocab GGUF known).
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "model_writer.h"

namespace {

namespace fs = std::filesystem;
namespace mk = kvc::mkmodel;
using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(int line, const std::string& what) {
  std::fprintf(stderr, "engine_smoke: FAIL (line %d): %s\n", line, what.c_str());
  std::exit(1);
}
#define CHECK(cond, what)             \
  do {                                \
    if (!(cond)) fail(__LINE__, what); \
  } while (0)

// CPU time of the whole process: with one thread, the compute cost under contention.
double cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// Errors only. A CONT record continues the previous record, whatever its level.
void log_errors_only(ggml_log_level level, const char* text, void* /*user*/) {
  static ggml_log_level last = GGML_LOG_LEVEL_NONE;
  if (level != GGML_LOG_LEVEL_CONT) last = level;
  if (last == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kvc-engine-smoke-XXXXXX").string();
    CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void make_model(const mk::ModelRequest& r) {
  kvc::Result<mk::ModelInfo> info = mk::write_model(r);
  CHECK(info.ok(), "write_model " + r.out_path + ": " + info.status().to_string());
}

// A deterministic English-like text of well over `min_words` words.
std::string make_text(int min_words) {
  static const char* const kWords[] = {
      "the",    "cache",   "keeps",  "a",       "prompt", "state",   "on",      "disk",   "and",     "restores",
      "it",     "later",   "when",   "another", "request", "shares", "its",     "prefix", "model",   "weights",
      "stay",   "in",      "memory", "while",   "tokens", "flow",    "through", "layers", "of",      "attention",
      "values", "keys",    "seven",  "river",   "mountain", "quietly", "under", "bright", "winter",  "morning"};
  constexpr size_t kN = sizeof kWords / sizeof kWords[0];
  std::string text;
  uint64_t x = 12345;
  for (int i = 0; i < min_words; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    text += kWords[(x >> 33) % kN];
    text += (i % 13 == 12) ? ". " : " ";
  }
  return text;
}

std::vector<llama_token> tokenize(const llama_vocab* vocab, const std::string& text) {
  const int n = -llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), nullptr, 0, true, false);
  CHECK(n > 0, "tokenize size query failed");
  std::vector<llama_token> tokens(static_cast<size_t>(n));
  const int m = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(), n, true, false);
  CHECK(m == n, "tokenize failed");
  return tokens;
}

struct Ctx {
  llama_context* ctx = nullptr;
  Ctx(llama_model* model, int n_ctx, int n_batch, int threads) {
    llama_context_params p = llama_context_default_params();
    p.n_ctx = static_cast<uint32_t>(n_ctx);
    p.n_batch = static_cast<uint32_t>(n_batch);
    p.n_ubatch = static_cast<uint32_t>(n_batch);
    p.n_seq_max = 1;
    p.n_threads = threads;
    p.n_threads_batch = threads;
    ctx = llama_init_from_model(model, p);
    CHECK(ctx != nullptr, "llama_init_from_model failed");
  }
  ~Ctx() { llama_free(ctx); }
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;
};

// Decodes tokens[from, to) at their positions on sequence 0, n_batch at a time;
// only the last token of the range outputs logits.
void decode_range(llama_context* ctx, const std::vector<llama_token>& tokens, size_t from, size_t to, int n_batch) {
  llama_batch batch = llama_batch_init(n_batch, 0, 1);
  for (size_t start = from; start < to; start += static_cast<size_t>(n_batch)) {
    const size_t end = std::min(to, start + static_cast<size_t>(n_batch));
    batch.n_tokens = 0;
    for (size_t i = start; i < end; ++i) {
      const int k = batch.n_tokens++;
      batch.token[k] = tokens[i];
      batch.pos[k] = static_cast<llama_pos>(i);
      batch.n_seq_id[k] = 1;
      batch.seq_id[k][0] = 0;
      batch.logits[k] = i + 1 == to;
    }
    const int rc = llama_decode(ctx, batch);
    if (rc != 0) {
      llama_batch_free(batch);
      fail(__LINE__, "llama_decode returned " + std::to_string(rc));
    }
  }
  llama_batch_free(batch);
}

std::vector<float> last_logits(llama_context* ctx, int n_vocab) {
  const float* p = llama_get_logits_ith(ctx, -1);
  CHECK(p != nullptr, "no logits");
  return {p, p + n_vocab};
}

void check_logits_sane(const std::vector<float>& l, const char* what) {
  bool finite = std::all_of(l.begin(), l.end(), [](float v) { return std::isfinite(v); });
  CHECK(finite, std::string(what) + ": non-finite logits");
  const auto [lo, hi] = std::minmax_element(l.begin(), l.end());
  CHECK(*hi - *lo > 1e-3f, std::string(what) + ": logits all (nearly) equal");
}

llama_token argmax(const std::vector<float>& l) {
  return static_cast<llama_token>(std::max_element(l.begin(), l.end()) - l.begin());
}

// Prefill, save, decode one more; restore into a fresh context, decode the same
// token: logits must be bitwise equal. Then greedy-decode a few tokens.
void check_model(const std::string& path, const char* label, int n_prompt, int threads) {
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(path.c_str(), mp);
  CHECK(model != nullptr, std::string("cannot load ") + path);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);

  std::vector<llama_token> tokens = tokenize(vocab, make_text(n_prompt + n_prompt / 2 + 64));
  CHECK(static_cast<int>(tokens.size()) > n_prompt, "text too short");
  const size_t n = static_cast<size_t>(n_prompt);
  const int n_batch = 512;
  const int n_ctx = n_prompt + 256;

  std::vector<uint8_t> blob;
  std::vector<float> after_prefill, direct;
  double prefill_ms = 0;
  {
    Ctx a(model, n_ctx, n_batch, threads);
    const auto t0 = Clock::now();
    const double c0 = cpu_ms();
    decode_range(a.ctx, tokens, 0, n, n_batch);
    prefill_ms = ms_since(t0);
    const double prefill_cpu_ms = cpu_ms() - c0;
    after_prefill = last_logits(a.ctx, n_vocab);
    check_logits_sane(after_prefill, "after prefill");

    const size_t size = llama_state_seq_get_size(a.ctx, 0);
    blob.resize(size);
    const auto t1 = Clock::now();
    CHECK(llama_state_seq_get_data(a.ctx, blob.data(), blob.size(), 0) == size, "llama_state_seq_get_data size");
    const double get_ms = ms_since(t1);

    decode_range(a.ctx, tokens, n, n + 1, n_batch);
    direct = last_logits(a.ctx, n_vocab);
    check_logits_sane(direct, "after one more token");
    std::printf("%s: prefill %zu tokens in %.1f ms (%.0f tok/s, %d threads, %.1f ms CPU); state %zu bytes "
                "(%.1f bytes/token), get_data %.2f ms\n",
                label, n, prefill_ms, 1000.0 * static_cast<double>(n) / prefill_ms, threads, prefill_cpu_ms, blob.size(),
                static_cast<double>(blob.size()) / static_cast<double>(n), get_ms);
  }
  {
    Ctx b(model, n_ctx, n_batch, threads);
    const auto t0 = Clock::now();
    const size_t read = llama_state_seq_set_data(b.ctx, blob.data(), blob.size(), 0);
    const double set_ms = ms_since(t0);
    CHECK(read == blob.size(), "llama_state_seq_set_data consumed " + std::to_string(read) + " of " +
                                   std::to_string(blob.size()) + " bytes");
    llama_memory_t mem = llama_get_memory(b.ctx);
    CHECK(llama_memory_seq_pos_max(mem, 0) == static_cast<llama_pos>(n) - 1, "restored positions");
    decode_range(b.ctx, tokens, n, n + 1, n_batch);
    const std::vector<float> restored = last_logits(b.ctx, n_vocab);
    CHECK(std::memcmp(restored.data(), direct.data(), direct.size() * sizeof(float)) == 0,
          "logits after restore differ from the direct path");

    // Greedy generation: finite logits and varied tokens.
    std::vector<llama_token> gen;
    std::vector<llama_token> seq(tokens.begin(), tokens.begin() + static_cast<long>(n) + 1);
    std::vector<float> l = restored;
    for (int i = 0; i < 24; ++i) {
      check_logits_sane(l, "greedy generation");
      seq.push_back(argmax(l));
      gen.push_back(seq.back());
      decode_range(b.ctx, seq, seq.size() - 1, seq.size(), n_batch);
      l = last_logits(b.ctx, n_vocab);
    }
    const size_t distinct = std::set<llama_token>(gen.begin(), gen.end()).size();
    std::printf("%s: restore %.2f ms, bitwise equal; greedy 24 tokens, %zu distinct:", label, set_ms, distinct);
    for (llama_token t : gen) std::printf(" %d", t);
    std::printf("\n");
    CHECK(distinct >= 4, "greedy generation is degenerate");
  }
  llama_model_free(model);
}

}  // namespace

int main() {
  const std::string vocab = mk::default_vocab_path();
  if (vocab.empty() || !fs::exists(vocab)) {
    std::printf("engine_smoke: SKIP, no vocab GGUF (set KVC_MKMODEL_VOCAB)\n");
    return 77;
  }
  const int n_prompt = std::max(16, env_int("KVC_SMOKE_TOKENS", 1000));
  const int threads = std::max(1, env_int("KVC_SMOKE_THREADS", 2));
  if (const char* model = std::getenv("KVC_SMOKE_MODEL"); model != nullptr && *model != '\0') {
    llama_log_set(log_errors_only, nullptr);
    llama_backend_init();
    check_model(model, model, n_prompt, threads);
    llama_backend_free();
    std::printf("engine_smoke: PASS (%s)\n", model);
    return 0;
  }
  TempDir tmp;

  // Generation is deterministic: same request -> same bytes, another seed -> other bytes.
  const mk::Shape tiny = *mk::find_shape("tiny");
  mk::ModelRequest req{.shape = tiny, .type = mk::WeightType::kF16, .seed = 1, .vocab_path = vocab, .out_path = {}};
  req.out_path = (tmp.path / "tiny-f16.gguf").string();
  auto t0 = Clock::now();
  make_model(req);
  std::printf("tiny f16 written in %.0f ms, %ju bytes\n", ms_since(t0), static_cast<uintmax_t>(fs::file_size(req.out_path)));
  const std::string f16_path = req.out_path;
  req.out_path = (tmp.path / "tiny-f16-again.gguf").string();
  make_model(req);
  CHECK(read_file(f16_path) == read_file(req.out_path), "same request gave different files");
  req.seed = 2;
  req.out_path = (tmp.path / "tiny-f16-seed2.gguf").string();
  make_model(req);
  CHECK(read_file(f16_path) != read_file(req.out_path), "another seed gave the same file");
  fs::remove(req.out_path);

  req.seed = 1;
  req.type = mk::WeightType::kQ8_0;
  req.out_path = (tmp.path / "tiny-q8_0.gguf").string();
  make_model(req);
  const std::string q8_path = req.out_path;

  llama_log_set(log_errors_only, nullptr);
  llama_backend_init();
  check_model(f16_path, "tiny f16", n_prompt, threads);
  check_model(q8_path, "tiny q8_0", n_prompt, threads);
  llama_backend_free();
  std::printf("engine_smoke: PASS\n");
  return 0;
}
