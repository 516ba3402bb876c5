// kvc stats DIR: totals of a cache directory (read-only, prefixes only).
#include <algorithm>
#include <iostream>
#include <map>
#include <numeric>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kvc_dir.h"
#include "output.h"

namespace kvc::cli {
namespace {

struct StatsArgs {
  std::string dir;
  bool json = false;
};

struct ReasonTotals {
  std::size_t rows = 0;
  std::uint64_t bytes = 0;
};

int run_stats(const StatsArgs& a) {
  auto report = check_dir(*io::posix_env(), a.dir, CheckDepth::kStructure);
  if (!report.ok()) return fail("stats", describe_dir_error(a.dir, report.status()));

  std::size_t rows = 0, invalid = 0;
  std::uint64_t bytes = 0, invalid_bytes = 0, hits = 0, max_hits = 0, rows_hit = 0;
  std::map<std::string, ReasonTotals> by_reason;
  std::map<std::string, std::size_t> invalid_by_error;
  std::vector<std::size_t> token_counts;
  std::uint64_t oldest = UINT64_MAX, newest = 0, lru = UINT64_MAX, mru = 0;
  std::set<std::tuple<Digest, std::uint8_t, Digest>> namespaces;
  for (const char* r : {"unknown", "cold", "continued", "evict", "shutdown", "finish"}) by_reason[r];

  for (const auto& f : report->files) {
    if (!f.valid()) {
      ++invalid;
      invalid_bytes += f.size;
      ++invalid_by_error[f.error ? std::string(format::error_name(*f.error)) : "unreadable"];
      continue;
    }
    const auto& m = *f.meta;
    const auto& h = m.header;
    ++rows;
    bytes += f.size;
    auto& rt = by_reason[std::string(format::save_reason_name(h.save_reason))];
    ++rt.rows;
    rt.bytes += f.size;
    token_counts.push_back(m.tokens.size());
    hits += h.hit_count;
    max_hits = std::max<std::uint64_t>(max_hits, h.hit_count);
    if (h.hit_count > 0) ++rows_hit;
    oldest = std::min(oldest, h.creation_time);
    newest = std::max(newest, h.creation_time);
    lru = std::min(lru, h.last_used_time);
    mru = std::max(mru, h.last_used_time);
    namespaces.emplace(m.fingerprint, m.quant_type, m.ctx_params_hash);
  }
  std::sort(token_counts.begin(), token_counts.end());
  // Median: the mean of the two middle values for an even count, rounded down.
  std::size_t tmin = 0, tmed = 0, tmax = 0;
  if (!token_counts.empty()) {
    const std::size_t n = token_counts.size();
    tmin = token_counts.front();
    tmax = token_counts.back();
    tmed = n % 2 ? token_counts[n / 2] : (token_counts[n / 2 - 1] + token_counts[n / 2]) / 2;
  }
  std::uint64_t temp_bytes = 0;
  for (const auto& t : report->temp) temp_bytes += t.size;
  const bool any = rows > 0;

  if (a.json) {
    using nlohmann::json;
    json reasons = json::object();
    for (const auto& [name, rt] : by_reason) reasons[name] = {{"rows", rt.rows}, {"bytes", rt.bytes}};
    json j{{"dir", a.dir},
           {"rows", rows},
           {"total_bytes", bytes},
           {"by_save_reason", reasons},
           {"tokens", {{"min", any ? json(tmin) : json(nullptr)},
                       {"median", any ? json(tmed) : json(nullptr)},
                       {"max", any ? json(tmax) : json(nullptr)},
                       {"total", std::accumulate(token_counts.begin(), token_counts.end(), std::uint64_t{0})}}},
           {"hits", {{"total", hits}, {"max", max_hits}, {"rows_with_hits", rows_hit}}},
           {"oldest_creation_time", any ? json(oldest) : json(nullptr)},
           {"newest_creation_time", any ? json(newest) : json(nullptr)},
           {"least_recent_use_time", any ? json(lru) : json(nullptr)},
           {"most_recent_use_time", any ? json(mru) : json(nullptr)},
           {"namespaces", namespaces.size()},
           {"temp_files", report->temp.size()},
           {"temp_bytes", temp_bytes},
           {"invalid_files", invalid},
           {"invalid_bytes", invalid_bytes},
           {"invalid_by_error", invalid_by_error}};
    std::cout << dump_json(j) << '\n';
    return kExitOk;
  }

  const std::uint64_t now = now_unix_s();
  auto when = [&](std::uint64_t t) { return any ? format_time(t) + " (" + format_age(t, now) + " ago)" : "-"; };
  FieldList f;
  f.add("dir", a.dir);
  f.add("rows", std::to_string(rows));
  f.add("total_bytes", std::to_string(bytes) + " (" + format_size(bytes) + ")");
  f.add("namespaces", std::to_string(namespaces.size()) + " (fingerprint, quant, ctx)");
  f.add("tokens min/median/max",
        any ? std::to_string(tmin) + " / " + std::to_string(tmed) + " / " + std::to_string(tmax) : "-");
  f.add("hits total/max", std::to_string(hits) + " / " + std::to_string(max_hits) + " (" + std::to_string(rows_hit) +
                              " rows hit)");
  f.add("oldest (created)", when(oldest));
  f.add("newest (created)", when(newest));
  f.add("least recently used", when(lru));
  f.add("most recently used", when(mru));
  f.add("temp files", std::to_string(report->temp.size()) + " (" + format_size(temp_bytes) + ")");
  std::string inv = std::to_string(invalid) + " (" + format_size(invalid_bytes) + ")";
  for (const auto& [err, n] : invalid_by_error) inv += ", " + err + ": " + std::to_string(n);
  f.add("invalid files", inv);
  f.print(std::cout);
  std::cout << '\n';
  Table t({"SAVE REASON", "ROWS", "BYTES"}, {1, 2});
  for (const auto& [name, rt] : by_reason) {
    if (rt.rows > 0) t.add({name, std::to_string(rt.rows), std::to_string(rt.bytes) + " (" + format_size(rt.bytes) + ")"});
  }
  if (!t.empty()) t.print(std::cout);
  return kExitOk;
}

}  // namespace

Command add_stats_command(CLI::App& root) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* app = root.add_subcommand("stats", "Summarise a cache directory (read-only, prefixes only)");
  app->add_option("dir", args->dir, "The cache directory")->required();
  app->add_flag("--json", args->json,
                "Print one JSON object: rows, total_bytes, by_save_reason, tokens {min, median, max}, hits, "
                "oldest/newest times, temp_files, invalid_files");
  app->footer("Invalid files are counted from a structure check only (parse_meta and key vs file name);\n"
              "payload CRCs are not read - use 'kvc verify' for a full check. Exit status 0, or 2 when the\n"
              "directory is missing or unreadable.\n");
  return {app, [args] { return run_stats(*args); }};
}

}  // namespace kvc::cli
