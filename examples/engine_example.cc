// engine_example: opens a model (the given GGUF, else a tiny random-weight model
// written with kvc-mkmodel) and a disk cache, runs one long prompt `--rounds`
// times and prints each request's report: the first request of a fresh cache is
// cold, later ones (in this process or a new one on the same --cache-dir) restore
// the state the first one saved. --follow-up then sends a next turn: the prompt,
// the reply and the new text, with parent_key = the last finish_key (resume path).
//
//   engine_example [model.gguf] [--model FILE] [--cache-dir DIR] [--tokens N | --prompt-file FILE]
//                  [--rounds N] [--max-tokens N] [--follow-up TEXT] [--threads N] [--label NAME]
//                  [--json FILE] [--align N] [--min-tokens N] [--metrics] [--mkmodel PATH]
//
// Defaults: 2000 prompt tokens, 2 rounds, 16 generated tokens, 2 threads, the
// default save policy (align 2048, trim 32, min 512), a temporary cache directory
// (removed at the end unless --cache-dir is given).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <unistd.h>

#include "kvc/engine.h"

namespace {

void print_report(const std::string& label, const kvc::CompletionResult& r) {
  const kvc::RequestReport& p = r.report;
  std::printf("%s: path=%s miss_reason=%s tier=%s prompt=%zu cached=%zu prefilled=%zu generated=%zu "
              "logits_from_cache=%d restore=%.2fms prefill=%.1fms ttft=%.1fms total=%.1fms finish=%s\n",
              label.c_str(), std::string(kvc::lookup_path_name(p.path)).c_str(),
              std::string(kvc::miss_reason_name(p.miss_reason)).c_str(), p.tier.empty() ? "-" : p.tier.c_str(),
              p.prompt_tokens, p.cached_tokens, p.prefilled_tokens, p.generated_tokens, p.logits_from_cache ? 1 : 0,
              p.restore_ms, p.prefill_ms, p.time_to_first_token_ms, p.total_ms,
              std::string(kvc::finish_reason_name(p.finish_reason)).c_str());
  if (p.finish_key) std::printf("  finish_key=%s\n", p.finish_key->hex().c_str());
}

// One JSON object per line (no strings that need escaping but the label).
void append_json(const std::string& file, const std::string& label, const kvc::CompletionResult& r) {
  const kvc::RequestReport& p = r.report;
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "{\"label\":\"%s\",\"path\":\"%s\",\"miss_reason\":\"%s\",\"tier\":\"%s\",\"prompt_tokens\":%zu,"
                "\"cached_tokens\":%zu,\"prefilled_tokens\":%zu,\"generated_tokens\":%zu,\"logits_from_cache\":%s,"
                "\"restore_ms\":%.3f,\"prefill_ms\":%.3f,\"ttft_ms\":%.3f,\"total_ms\":%.3f,\"finish_key\":\"%s\"}\n",
                label.c_str(), std::string(kvc::lookup_path_name(p.path)).c_str(),
                std::string(kvc::miss_reason_name(p.miss_reason)).c_str(), p.tier.c_str(), p.prompt_tokens,
                p.cached_tokens, p.prefilled_tokens, p.generated_tokens, p.logits_from_cache ? "true" : "false",
                p.restore_ms, p.prefill_ms, p.time_to_first_token_ms, p.total_ms,
                p.finish_key ? p.finish_key->hex().c_str() : "");
  std::ofstream(file, std::ios::app) << buf;
}

// Deterministic, varied English-like text (a long "document" prompt).
std::string make_text(int words) {
  static const char* const kWords[] = {
      "the", "cache", "keeps", "a", "prompt", "state", "on", "disk", "and", "restores", "it", "later", "when",
      "another", "request", "shares", "its", "prefix", "river", "mountain", "garden", "library", "winter", "summer",
      "question", "answer", "describe", "explain", "compare", "seven", "twelve", "blue", "green", "careful",
      "strange", "bright", "ancient", "modern", "quiet", "report", "table", "figure", "number", "Paris", "Tokyo",
      "Lisbon", "Nairobi", "coffee", "bread", "music", "painting", "bicycle", "train", "harbour", "lighthouse"};
  std::mt19937_64 rng(7);
  std::string text = "Please read the following field notes and answer the question at the end.\n\n";
  for (int i = 0; i < words; ++i) {
    text += kWords[rng() % (sizeof kWords / sizeof kWords[0])];
    text += (rng() % 10 == 0) ? ". " : " ";
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::string model, cache_dir, mkmodel, prompt_file, follow_up, json_file, label = "request";
  int tokens = 2000, threads = 2, rounds = 2, max_tokens = 16;
  long align = -1, min_tokens = -1;
  bool metrics = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    if (a == "--tokens" && has) tokens = std::atoi(argv[++i]);
    else if (a == "--threads" && has) threads = std::atoi(argv[++i]);
    else if (a == "--rounds" && has) rounds = std::atoi(argv[++i]);
    else if (a == "--max-tokens" && has) max_tokens = std::atoi(argv[++i]);
    else if ((a == "--cache" || a == "--cache-dir") && has) cache_dir = argv[++i];
    else if (a == "--model" && has) model = argv[++i];
    else if (a == "--prompt-file" && has) prompt_file = argv[++i];
    else if (a == "--follow-up" && has) follow_up = argv[++i];
    else if (a == "--label" && has) label = argv[++i];
    else if (a == "--json" && has) json_file = argv[++i];
    else if (a == "--align" && has) align = std::atol(argv[++i]);
    else if (a == "--min-tokens" && has) min_tokens = std::atol(argv[++i]);
    else if (a == "--mkmodel" && has) mkmodel = argv[++i];
    else if (a == "--metrics") metrics = true;
    else if (a == "-h" || a == "--help" || a.rfind("--", 0) == 0) {
      std::printf(
          "usage: engine_example [model.gguf] [--model FILE] [--cache-dir DIR] [--tokens N | --prompt-file FILE]\n"
          "                      [--rounds N] [--max-tokens N] [--follow-up TEXT] [--threads N] [--label NAME]\n"
          "                      [--json FILE] [--align N] [--min-tokens N] [--metrics] [--mkmodel PATH]\n");
      return a == "-h" || a == "--help" ? 0 : 2;
    } else model = a;
  }
  const fs::path work = fs::temp_directory_path() / ("kvc-engine-example-" + std::to_string(::getpid()));
  const bool own_cache = cache_dir.empty();
  if (model.empty()) {
    fs::create_directories(work);
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
  if (own_cache) cache_dir = (work / "cache").string();

  std::string text;
  if (!prompt_file.empty()) {
    std::ifstream f(prompt_file);
    if (!f) {
      std::fprintf(stderr, "engine_example: cannot read %s\n", prompt_file.c_str());
      return 1;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  } else {
    text = make_text(tokens);
  }

  kvc::EngineOptions o;
  o.model.path = model;
  o.model.fingerprint_mode = kvc::FingerprintMode::kGgufChunked;
  o.model.n_ctx = std::max(4096, (prompt_file.empty() ? tokens : static_cast<int>(text.size() / 2)) + 1024);
  o.model.threads = std::max(1, threads);
  o.cache.tiers = {{kvc::TierKind::kDisk, cache_dir, 4ull << 30}};
  if (align > 0) o.cache.policy.boundary_align_tokens = align;
  if (min_tokens >= 0) {
    o.cache.policy.min_tokens = min_tokens;
    o.cache.policy.cold_min_tokens = std::max(o.cache.policy.cold_min_tokens, min_tokens);
  }
  auto engine = kvc::Engine::open(o);
  if (!engine.ok()) {
    std::fprintf(stderr, "engine_example: %s\n", engine.status().to_string().c_str());
    return 1;
  }
  kvc::Engine& e = **engine;
  std::printf("model %s, %d cells per sequence, %d threads, cache %s (%zu rows at start)\n", e.model_name().c_str(),
              e.n_ctx_per_sequence(), o.model.threads, cache_dir.c_str(), e.cache().rows().size());

  auto ids = e.tokenize(text, true);
  if (!ids.ok()) {
    std::fprintf(stderr, "engine_example: %s\n", ids.status().to_string().c_str());
    return 1;
  }
  if (prompt_file.empty()) ids->resize(std::min<std::size_t>(ids->size(), static_cast<std::size_t>(tokens)));
  kvc::CompletionResult last;
  for (int round = 0; round < rounds; ++round) {
    kvc::CompletionRequest req;
    req.prompt_tokens = *ids;
    req.sampling.max_tokens = max_tokens;
    auto r = e.complete(req);
    if (!r.ok()) {
      std::fprintf(stderr, "engine_example: %s\n", r.status().to_string().c_str());
      return 1;
    }
    const std::string name = rounds == 1 ? label : label + "-" + std::to_string(round + 1);
    print_report(name, *r);
    std::printf("  text: %s\n", r->text.c_str());
    if (!json_file.empty()) append_json(json_file, name, *r);
    e.cache().flush();
    last = std::move(r.value());
  }

  if (!follow_up.empty() && rounds > 0) {
    // The next turn: everything the sequence held (prompt + every generated token)
    // plus the new text; resumed from the previous turn's finish row.
    std::vector<std::int32_t> next = *ids;
    next.insert(next.end(), last.tokens.begin(), last.tokens.end());
    auto more = e.tokenize("\n\nFollow-up: " + follow_up + "\n", false);
    if (!more.ok()) return 1;
    next.insert(next.end(), more->begin(), more->end());
    kvc::CompletionRequest req;
    req.prompt_tokens = next;
    req.parent_key = last.report.finish_key;
    req.sampling.max_tokens = max_tokens;
    auto r = e.complete(req);
    if (!r.ok()) {
      std::fprintf(stderr, "engine_example: %s\n", r.status().to_string().c_str());
      return 1;
    }
    print_report("follow-up", *r);
    std::printf("  text: %s\n", r->text.c_str());
    if (!json_file.empty()) append_json(json_file, "follow-up", *r);
  }
  e.shutdown();
  if (metrics) std::printf("%s", e.cache().prometheus_text().c_str());
  engine->reset();
  if (own_cache) fs::remove_all(work);
  return 0;
}
