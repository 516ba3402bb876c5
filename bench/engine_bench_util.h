// Shared by engine_bench's sections (engine_bench.cc, engine_figures.cc): timing
// and load helpers, the page-cache drop, deterministic text, engine options and
// one timed request.
#pragma once

#include <fcntl.h>
#include <llama.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kvc/engine.h"

namespace engine_bench {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- utilities --

inline double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

inline double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

inline std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  f >> a >> b >> c;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  return buf;
}

inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(std::atoi(item.c_str()));
  return out;
}

// Drops a file's pages from the page cache (clean pages only, hence the
// fdatasync first); returns the fraction still resident afterwards (mincore).
inline double drop_from_page_cache(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  struct stat st{};
  double resident = -1;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    void* m = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
    if (m != MAP_FAILED) {
      const long page = ::sysconf(_SC_PAGESIZE);
      const std::size_t pages = (static_cast<std::size_t>(st.st_size) + page - 1) / page;
      std::vector<unsigned char> vec(pages);
      if (::mincore(m, static_cast<std::size_t>(st.st_size), vec.data()) == 0) {
        std::size_t in = 0;
        for (unsigned char c : vec) in += c & 1;
        resident = static_cast<double>(in) / static_cast<double>(pages);
      }
      ::munmap(m, static_cast<std::size_t>(st.st_size));
    }
  }
  ::close(fd);
  return resident;
}

// Drops every file under `dir`; returns the largest resident fraction left.
inline double drop_dir_from_page_cache(const fs::path& dir) {
  double worst = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) worst = std::max(worst, drop_from_page_cache(e.path()));
  return worst;
}

// Deterministic, varied English-like text.
class TextGen {
 public:
  explicit TextGen(std::uint64_t seed) : rng_(seed) {}
  std::string words(int n) {
    static const char* const kWords[] = {
        "the", "a", "cache", "keeps", "prompt", "state", "on", "disk", "and", "restores", "it", "later", "when",
        "another", "request", "shares", "its", "prefix", "model", "layer", "tensor", "token", "attention", "value",
        "key", "matrix", "server", "client", "replies", "quickly", "slowly", "because", "every", "turn", "resends",
        "whole", "conversation", "history", "river", "mountain", "garden", "library", "engine", "winter", "summer",
        "question", "answer", "describe", "explain", "compare", "measure", "seven", "twelve", "hundred", "blue",
        "green", "careful", "simple", "strange", "bright", "ancient", "modern", "quiet", "loud", "small", "large",
        "report", "table", "figure", "number", "program", "function", "memory", "thread", "queue", "file",
        "directory", "write", "read", "verify", "checksum", "hash", "align", "boundary", "stride", "walk", "index",
        "trie", "lease", "tier", "quota", "evict", "pressure", "policy", "session", "resume", "parent", "child",
        "Paris", "Tokyo", "Lisbon", "Nairobi", "Quito", "Oslo", "coffee", "bread", "music", "painting", "bicycle",
        "train", "airport", "harbour", "lighthouse", "festival", "recipe", "science", "history", "poetry"};
    static const char* const kPunct[] = {",", ".", "?", ";", ":", "!"};
    std::string out;
    bool cap = true;
    for (int i = 0; i < n; ++i) {
      std::string w = kWords[rng_() % (sizeof kWords / sizeof kWords[0])];
      if (rng_() % 11 == 0) w = std::to_string(rng_() % 10000);
      if (cap && !w.empty() && w[0] >= 'a' && w[0] <= 'z') w[0] = static_cast<char>(w[0] - 'a' + 'A');
      cap = false;
      if (!out.empty()) out += ' ';
      out += w;
      if (rng_() % 9 == 0) {
        const char* p = kPunct[rng_() % (sizeof kPunct / sizeof kPunct[0])];
        out += p;
        cap = p[0] == '.' || p[0] == '?' || p[0] == '!';
      }
    }
    return out + ".";
  }

 private:
  std::mt19937_64 rng_;
};

struct Config {
  std::string model;
  std::string out_dir = ".";
  std::string work_dir;
  int threads = 2;
  std::vector<int> sizes = {512, 2048, 4096};
  int turns = 10;
  int reply_tokens = 12;
  int small_align = 256;
  int reps = 5;
  int n_ctx = 4608;  // ≥ 4096 + generation, padded to 256
  bool quick = false;
  bool chat_full_small_align = false;
  bool chat_replay = false;  // stride-only chat configs replayed without the model
  bool skip_ttft = false;
  bool skip_chat = false;
  // --figures: also the miss-path comparison (P9) and engine_figures.json with every
  // engine figure of the issue-12 table (scripts/bench --all).
  bool figures = false;
  int miss_tokens = 1056;  // P9 prompt length; with miss_align 512 the cold save covers 1024
  int miss_align = 512;
  int miss_reps = 3;       // pairs of (cache on, cache off) requests
};

inline kvc::EngineOptions engine_options(const Config& c, const fs::path& cache_dir, std::int64_t align, bool any_prefix) {
  kvc::EngineOptions o;
  o.model.path = c.model;
  o.model.n_ctx = c.n_ctx;
  o.model.threads = c.threads;
  o.cache.tiers = {{kvc::TierKind::kDisk, cache_dir.string(), 64ull << 30}};
  o.cache.watch_directories = false;
  o.cache.policy.boundary_align_tokens = align;  // everything else: the default policy
  o.any_prefix_lookup = any_prefix;
  return o;
}

inline std::unique_ptr<kvc::Engine> open_engine(const kvc::EngineOptions& o, double* open_ms = nullptr) {
  const auto t0 = Clock::now();
  auto e = kvc::Engine::open(o);
  if (!e.ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", e.status().to_string().c_str());
    std::exit(1);
  }
  // One short request first (below min_tokens: no lookup hit, no save), so that the
  // first decode's one-time setup (graph and buffer allocation) is not counted
  // against the first measured request.
  kvc::CompletionRequest warmup;
  warmup.prompt_tokens = std::vector<std::int32_t>{1, 450, 4996, 17354, 1701, 432};
  warmup.sampling.max_tokens = 1;
  if (auto r = (*e)->complete(warmup); !r.ok()) {
    std::fprintf(stderr, "engine_bench: warm-up request failed: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  if (open_ms) *open_ms = ms_since(t0);
  return std::move(e.value());
}

struct Timed {
  kvc::CompletionResult result;
  double cpu_ms = 0;
  double wall_ms = 0;
  std::string load;
};

// One request, timed (wall and process CPU), with the load average at its start.
inline kvc::Result<Timed> timed_request(kvc::Engine& e, const std::vector<std::int32_t>& prompt, int max_tokens) {
  kvc::CompletionRequest req;
  req.prompt_tokens = prompt;
  req.sampling.max_tokens = max_tokens;
  Timed t;
  t.load = loadavg();
  const double c0 = process_cpu_ms();
  const auto t0 = Clock::now();
  auto r = e.complete(req);
  t.wall_ms = ms_since(t0);
  t.cpu_ms = process_cpu_ms() - c0;
  if (!r.ok()) return r.status();
  t.result = std::move(r.value());
  return t;
}

// timed_request; a failed request ends the benchmark.
inline Timed run(kvc::Engine& e, const std::vector<std::int32_t>& prompt, int max_tokens) {
  auto t = timed_request(e, prompt, max_tokens);
  if (!t.ok()) {
    std::fprintf(stderr, "engine_bench: request failed: %s\n", t.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(t.value());
}

// The run with the median time to first token (the upper median for an even count).
inline Timed median_run(std::vector<Timed> runs) {
  std::sort(runs.begin(), runs.end(), [](const Timed& a, const Timed& b) {
    return a.result.report.time_to_first_token_ms < b.result.report.time_to_first_token_ms;
  });
  return runs[runs.size() / 2];
}

inline std::string path_of(const kvc::RequestReport& r) { return std::string(kvc::lookup_path_name(r.path)); }

inline std::vector<std::int32_t> sized_prompt(kvc::Engine& e, int n, std::uint64_t seed) {
  TextGen g(seed);
  std::string text = "Document ";
  text += std::to_string(seed);
  text += ". ";
  text += g.words(n + n / 2);
  auto ids = e.tokenize(text, true);
  while (ids.ok() && ids->size() < static_cast<std::size_t>(n)) {
    text += ' ';
    text += g.words(n / 2 + 16);
    ids = e.tokenize(text, true);
  }
  if (!ids.ok()) std::exit(1);
  ids->resize(static_cast<std::size_t>(n));
  return *ids;
}

// --------------------------------------------------------------- output --

inline std::string machine() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, name;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      name = line.substr(line.find(':') + 2);
      break;
    }
  return name + ", " + std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs";
}


}  // namespace engine_bench
