// kvc ls DIR [DIR...]: the rows of cache directories, most recent first. Several
// directories are the file tiers of one hierarchy (e.g. a ram_file and a disk
// directory): a row is listed once, with the directories holding a copy.
// Read-only: reads each file's prefix only (never the payload) and never modifies
// a directory.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kvc_dir.h"
#include "output.h"

namespace kvc::cli {
namespace {

struct LsArgs {
  std::vector<std::string> dirs;
  bool json = false;
  bool short_keys = false;
  std::size_t limit = 0;
};

int run_ls(const LsArgs& a) {
  std::vector<DirReport> reports;
  for (const auto& dir : a.dirs) {
    auto report = check_dir(*io::posix_env(), dir, CheckDepth::kStructure);
    if (!report.ok()) return fail("ls", describe_dir_error(dir, report.status()));
    reports.push_back(std::move(*report));
  }
  // One entry per key: the copy in the first directory that has one, and where the copies are.
  std::vector<const FileReport*> rows;
  std::map<std::string, std::vector<std::size_t>> in;  // key hex → directory indexes
  std::vector<std::size_t> invalid(a.dirs.size(), 0);
  for (std::size_t d = 0; d < reports.size(); ++d) {
    for (const auto& f : reports[d].files) {
      if (!f.valid()) {
        ++invalid[d];
        continue;
      }
      auto& where = in[f.meta->key().hex()];
      if (where.empty()) rows.push_back(&f);
      where.push_back(d);
    }
  }
  std::sort(rows.begin(), rows.end(), [](const FileReport* x, const FileReport* y) {
    const auto rx = recency_score(x->meta->header), ry = recency_score(y->meta->header);
    if (rx != ry) return rx > ry;
    return x->name < y->name;
  });
  if (a.limit > 0 && rows.size() > a.limit) rows.resize(a.limit);

  const std::uint64_t now = now_unix_s();
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const FileReport* f : rows) {
      const auto& h = f->meta->header;
      nlohmann::json dirs = nlohmann::json::array();
      for (std::size_t d : in[f->meta->key().hex()]) dirs.push_back(a.dirs[d]);
      out.push_back({{"key", f->meta->key().hex()},
                     {"file", f->name},
                     {"dirs", dirs},
                     {"tokens", f->meta->tokens.size()},
                     {"bytes", f->size},
                     {"save_reason", std::string(format::save_reason_name(h.save_reason))},
                     {"hits", h.hit_count},
                     {"creation_time", h.creation_time},
                     {"last_used_time", h.last_used_time},
                     {"age_seconds", h.last_used_time >= now ? 0 : now - h.last_used_time},
                     {"recency", recency_score(h)}});
    }
    std::cout << dump_json(out) << '\n';
  } else {
    const bool several = a.dirs.size() > 1;
    std::vector<std::string> head = {"KEY", "TOKENS", "BYTES", "REASON", "HITS", "AGE"};
    if (several) head.push_back("IN");
    Table t(head, {1, 2, 4, 5});
    for (const FileReport* f : rows) {
      const auto& h = f->meta->header;
      std::string key = f->meta->key().hex();
      std::string where;
      for (std::size_t d : in[key]) where += (where.empty() ? "" : ",") + std::to_string(d + 1);
      if (a.short_keys) key = key.substr(0, 16);
      std::vector<std::string> cells = {key, std::to_string(f->meta->tokens.size()), format_size(f->size),
                                        std::string(format::save_reason_name(h.save_reason)),
                                        std::to_string(h.hit_count), format_age(h.last_used_time, now)};
      if (several) cells.push_back(where);
      t.add(cells);
    }
    if (t.empty()) {
      std::cout << "(no rows in " << a.dirs[0];
      for (std::size_t d = 1; d < a.dirs.size(); ++d) std::cout << ", " << a.dirs[d];
      std::cout << ")\n";
    } else {
      t.print(std::cout);
      if (several) {
        std::cout << "IN:";
        for (std::size_t d = 0; d < a.dirs.size(); ++d) std::cout << "  " << d + 1 << " = " << a.dirs[d];
        std::cout << "\n";
      }
    }
  }
  for (std::size_t d = 0; d < a.dirs.size(); ++d) {
    if (invalid[d] == 0) continue;
    std::cerr << "kvc ls: " << invalid[d] << " invalid file(s) in " << a.dirs[d] << " not listed; run 'kvc verify "
              << a.dirs[d] << "' for details\n";
  }
  return kExitOk;
}

}  // namespace

Command add_ls_command(CLI::App& root) {
  auto args = std::make_shared<LsArgs>();
  CLI::App* app = root.add_subcommand(
      "ls", "List the rows of cache directories (the file tiers of one hierarchy), most recently used first (read-only)");
  app->add_option("dir", args->dirs, "The cache directories, fastest tier first")->required();
  app->add_flag("--json", args->json,
                "Print a JSON array of rows: key, file, dirs (the directories holding a copy), tokens, bytes, "
                "save_reason, hits, creation_time, last_used_time, age_seconds, recency");
  app->add_flag("--short", args->short_keys, "Show the first 16 hex characters of each key");
  app->add_option("-n,--limit", args->limit, "Show only the N most recent rows (0: all)");
  app->footer("Rows are ordered by recency: the header's last_used_time plus one second per hit (the hit bias\n"
              "of cache.md), most recent first. Only file prefixes are read, never payloads, so\n"
              "CRC errors are not detected (use 'kvc verify'). Files that fail the structure or key checks are\n"
              "not listed; their count is reported on stderr. AGE is the time since last use (s, m, h, d).\n");
  return {app, [args] { return run_ls(*args); }};
}

}  // namespace kvc::cli
