// engine_example: opens a model (the given GGUF, else a tiny random-weight model
// written with kvc-mkmodel), runs one prompt twice and prints both reports: the
// first request is cold, the second restores the state the first one saved.
//
//   engine_example [model.gguf] [--tokens N] [--threads N] [--cache DIR] [--mkmodel PATH]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "kvc/engine.h"

namespace {

void print_report(const char* label, const kvc::CompletionResult& r) {
  const kvc::RequestReport& p = r.report;
  std::printf("%s: path=%s miss_reason=%s tier=%s prompt=%zu cached=%zu prefilled=%zu generated=%zu "
              "logits_from_cache=%d restore=%.2fms prefill=%.1fms ttft=%.1fms total=%.1fms finish=%s\n",
              label, std::string(kvc::lookup_path_name(p.path)).c_str(),
              std::string(kvc::miss_reason_name(p.miss_reason)).c_str(), p.tier.empty() ? "-" : p.tier.c_str(),
              p.prompt_tokens, p.cached_tokens, p.prefilled_tokens, p.generated_tokens, p.logits_from_cache ? 1 : 0,
              p.restore_ms, p.prefill_ms, p.time_to_first_token_ms, p.total_ms,
              std::string(kvc::finish_reason_name(p.finish_reason)).c_str());
  if (p.finish_key) std::printf("  finish_key=%s\n", p.finish_key->hex().c_str());
}

std::string make_text(int words) {
  static const char* const kWords[] = {"the", "cache", "keeps", "a", "prompt", "state", "on", "disk", "and",
                                       "restores", "it", "later", "when", "another", "request", "shares"};
  std::string text;
  unsigned long long x = 7;
  for (int i = 0; i < words; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    text += kWords[(x >> 33) % (sizeof kWords / sizeof kWords[0])];
    text += ' ';
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::string model, cache_dir, mkmodel;
  int tokens = 2000;
  int threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tokens" && i + 1 < argc) tokens = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--cache" && i + 1 < argc) cache_dir = argv[++i];
    else if (a == "--mkmodel" && i + 1 < argc) mkmodel = argv[++i];
    else if (a == "-h" || a == "--help") {
      std::printf("usage: engine_example [model.gguf] [--tokens N] [--threads N] [--cache DIR] [--mkmodel PATH]\n");
      return 0;
    } else model = a;
  }
  const fs::path work = fs::temp_directory_path() / ("kvc-engine-example-" + std::to_string(::getpid()));
  fs::create_directories(work);
  if (model.empty()) {
    if (mkmodel.empty()) {
      const fs::path beside = fs::path(argv[0]).parent_path() / ".." / ".." / "tools" / "mkmodel" / "kvc-mkmodel";
      mkmodel = fs::exists(beside) ? beside.string() : "kvc-mkmodel";
    }
    model = (work / "tiny-f16.gguf").string();
    const std::string cmd = mkmodel + " --shape tiny --type f16 --quiet --out " + model;
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "engine_example: '%s' failed; pass a model file or --mkmodel PATH\n", cmd.c_str());
      return 1;
    }
  }
  if (cache_dir.empty()) cache_dir = (work / "cache").string();

  kvc::EngineOptions o;
  o.model.path = model;
  o.model.fingerprint_mode = kvc::format::FingerprintMode::kGgufChunked;
  o.model.n_ctx = std::max(4096, tokens + 512);
  o.model.threads = std::max(1, threads);
  o.cache.tiers = {{kvc::TierKind::kDisk, cache_dir, 4ull << 30}};
  o.cache.policy.min_tokens = 64;
  o.cache.policy.cold_min_tokens = 64;
  o.cache.policy.boundary_align_tokens = 256;
  auto engine = kvc::Engine::open(o);
  if (!engine.ok()) {
    std::fprintf(stderr, "engine_example: %s\n", engine.status().to_string().c_str());
    return 1;
  }
  kvc::Engine& e = **engine;
  std::printf("model %s, %d cells per sequence, cache %s\n", e.model_name().c_str(), e.n_ctx_per_sequence(),
              cache_dir.c_str());

  auto ids = e.tokenize(make_text(tokens), true);
  if (!ids.ok()) return 1;
  ids->resize(std::min<std::size_t>(ids->size(), static_cast<std::size_t>(tokens)));
  for (int round = 0; round < 2; ++round) {
    kvc::CompletionRequest req;
    req.prompt_tokens = *ids;
    req.sampling.max_tokens = 16;
    auto r = e.complete(req);
    if (!r.ok()) {
      std::fprintf(stderr, "engine_example: %s\n", r.status().to_string().c_str());
      return 1;
    }
    print_report(round == 0 ? "cold" : "warm", *r);
    std::printf("  text: %s\n", r->text.c_str());
    e.cache().flush();
  }
  std::printf("%s", e.cache().prometheus_text().c_str());
  engine->reset();
  if (o.cache.tiers[0].dir.rfind(work.string(), 0) == 0) fs::remove_all(work);
  return 0;
}
