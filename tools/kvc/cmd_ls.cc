// kvc ls DIR: the rows of a cache directory, most recent first. Read-only: reads
// each file's prefix only (never the payload) and never modifies the directory.
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kvc_dir.h"
#include "output.h"

namespace kvc::cli {
namespace {

struct LsArgs {
  std::string dir;
  bool json = false;
  bool short_keys = false;
  std::size_t limit = 0;
};

int run_ls(const LsArgs& a) {
  auto report = check_dir(*io::posix_env(), a.dir, CheckDepth::kStructure);
  if (!report.ok()) return fail("ls", describe_dir_error(a.dir, report.status()));

  std::vector<const FileReport*> rows;
  std::size_t invalid = 0;
  for (const auto& f : report->files) {
    if (f.valid()) {
      rows.push_back(&f);
    } else {
      ++invalid;
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
      out.push_back({{"key", f->meta->key().hex()},
                     {"file", f->name},
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
    Table t({"KEY", "TOKENS", "BYTES", "REASON", "HITS", "AGE"}, {1, 2, 4, 5});
    for (const FileReport* f : rows) {
      const auto& h = f->meta->header;
      std::string key = f->meta->key().hex();
      if (a.short_keys) key = key.substr(0, 16);
      t.add({key, std::to_string(f->meta->tokens.size()), format_size(f->size),
             std::string(format::save_reason_name(h.save_reason)), std::to_string(h.hit_count),
             format_age(h.last_used_time, now)});
    }
    if (t.empty()) {
      std::cout << "(no rows in " << a.dir << ")\n";
    } else {
      t.print(std::cout);
    }
  }
  if (invalid > 0) {
    std::cerr << "kvc ls: " << invalid << " invalid file(s) in " << a.dir << " not listed; run 'kvc verify "
              << a.dir << "' for details\n";
  }
  return kExitOk;
}

}  // namespace

Command add_ls_command(CLI::App& root) {
  auto args = std::make_shared<LsArgs>();
  CLI::App* app = root.add_subcommand("ls", "List the rows of a cache directory, most recently used first (read-only)");
  app->add_option("dir", args->dir, "The cache directory")->required();
  app->add_flag("--json", args->json,
                "Print a JSON array of rows: key, file, tokens, bytes, save_reason, hits, creation_time, "
                "last_used_time, age_seconds, recency");
  app->add_flag("--short", args->short_keys, "Show the first 16 hex characters of each key");
  app->add_option("-n,--limit", args->limit, "Show only the N most recent rows (0: all)");
  app->footer("Rows are ordered by recency: the header's last_used_time plus one second per hit (the hit bias\n"
              "of cache.md), most recent first. Only file prefixes are read, never payloads, so\n"
              "CRC errors are not detected (use 'kvc verify'). Files that fail the structure or key checks are\n"
              "not listed; their count is reported on stderr. AGE is the time since last use (s, m, h, d).\n");
  return {app, [args] { return run_ls(*args); }};
}

}  // namespace kvc::cli
