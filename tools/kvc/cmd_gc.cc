// kvc gc DIR --max-bytes N: shrink a cache directory to at most N bytes with the
// library's own eviction policy (LRU weighted by hits), by opening it as a kvc
// Cache with one disk tier and calling evict_bytes.
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kvc/cache.h"
#include "kvc_dir.h"
#include "output.h"

namespace kvc::cli {
namespace {

// Large enough that opening never evicts; small enough that sums cannot overflow.
constexpr std::uint64_t kHugeQuota = std::uint64_t{1} << 62;

struct GcArgs {
  std::string dir;
  std::string max_bytes_text;
  bool dry_run = false;
  bool json = false;
};

struct Removed {
  std::string key;
  std::uint64_t bytes = 0;
  std::size_t tokens = 0;
  std::uint32_t hits = 0;
  std::uint64_t last_used_time = 0;
  std::string save_reason;
};

struct GcOutcome {
  std::uint64_t bytes_before = 0, bytes_after = 0;
  std::size_t rows_before = 0, rows_after = 0;
  std::vector<Removed> removed;  // in eviction order
};

// What the cache would do, computed read-only: evict the lowest recency first
// (last_used_time + 1 s per hit, cache.md §1) until at most max_bytes remain.
GcOutcome simulate(const DirReport& report, std::uint64_t max_bytes) {
  std::vector<const FileReport*> rows;
  GcOutcome o;
  for (const auto& f : report.files) {
    if (!f.valid()) continue;
    rows.push_back(&f);
    o.bytes_before += f.size;
  }
  o.rows_before = rows.size();
  std::sort(rows.begin(), rows.end(), [](const FileReport* x, const FileReport* y) {
    const auto rx = recency_score(x->meta->header), ry = recency_score(y->meta->header);
    if (rx != ry) return rx < ry;
    return x->name < y->name;
  });
  o.bytes_after = o.bytes_before;
  for (const FileReport* f : rows) {
    if (o.bytes_after <= max_bytes) break;
    const auto& h = f->meta->header;
    o.removed.push_back({f->meta->key().hex(), f->size, f->meta->tokens.size(), h.hit_count, h.last_used_time,
                         std::string(format::save_reason_name(h.save_reason))});
    o.bytes_after -= f->size;
  }
  o.rows_after = o.rows_before - o.removed.size();
  return o;
}

Result<GcOutcome> collect(const std::string& dir, std::uint64_t max_bytes) {
  CacheOptions options;
  options.tiers = {TierOptions{TierKind::kDisk, dir, kHugeQuota}};
  options.watch_directories = false;
  options.writers.threads = 1;
  options.pressure.enabled = false;
  auto cache = Cache::open(std::move(options));
  if (!cache.ok()) return cache.status();
  Cache& c = **cache;

  GcOutcome o;
  std::map<Key, RowSnapshot> before;
  for (auto& r : c.rows()) {
    if (r.status != RowStatus::kAvailable) continue;
    o.bytes_before += r.info.size;
    before.emplace(r.info.key, std::move(r));
  }
  o.rows_before = before.size();
  if (o.bytes_before > max_bytes) {
    const TierKind disk[] = {TierKind::kDisk};
    (void)c.evict_bytes(o.bytes_before - max_bytes, disk);
  }
  for (const auto& r : c.rows()) {
    if (r.status != RowStatus::kAvailable) continue;
    o.bytes_after += r.info.size;
    ++o.rows_after;
    before.erase(r.info.key);
  }
  std::vector<const RowSnapshot*> gone;
  for (const auto& [k, r] : before) gone.push_back(&r);
  std::sort(gone.begin(), gone.end(), [](const auto* x, const auto* y) {
    if (x->last_used_ns != y->last_used_ns) return x->last_used_ns < y->last_used_ns;
    return x->info.key < y->info.key;
  });
  for (const auto* r : gone) {
    const auto& h = r->info.header;
    o.removed.push_back({r->info.key.hex(), r->info.size, r->info.tokens ? r->info.tokens->size() : 0, r->hits,
                         h.last_used_time, std::string(format::save_reason_name(h.save_reason))});
  }
  return o;
}

int run_gc(const GcArgs& a) {
  const auto max_bytes = parse_size(a.max_bytes_text);
  if (!max_bytes) {
    return fail("gc", "--max-bytes '" + a.max_bytes_text + "': expected bytes with an optional K, M, G or T suffix (e.g. 512M)");
  }
  // Read-only look first: a missing directory is an error (Cache::open would create it),
  // and the counts tell what the cache's start-up scan is going to delete.
  auto report = check_dir(*io::posix_env(), a.dir, CheckDepth::kStructure);
  if (!report.ok()) return fail("gc", describe_dir_error(a.dir, report.status()));
  std::size_t invalid = 0;
  for (const auto& f : report->files) invalid += f.valid() ? 0 : 1;

  GcOutcome o;
  if (a.dry_run) {
    o = simulate(*report, *max_bytes);
  } else {
    auto r = collect(a.dir, *max_bytes);
    if (!r.ok()) return fail("gc", "cannot open " + a.dir + " as a cache: " + r.status().to_string());
    o = std::move(*r);
  }
  std::uint64_t freed = 0;
  for (const auto& r : o.removed) freed += r.bytes;
  const bool reached = o.bytes_after <= *max_bytes;

  if (a.json) {
    nlohmann::json removed = nlohmann::json::array();
    for (const auto& r : o.removed) {
      removed.push_back({{"key", r.key}, {"bytes", r.bytes}, {"tokens", r.tokens}, {"hits", r.hits},
                         {"last_used_time", r.last_used_time}, {"save_reason", r.save_reason}});
    }
    nlohmann::json j{{"dir", a.dir},
                     {"max_bytes", *max_bytes},
                     {"dry_run", a.dry_run},
                     {"bytes_before", o.bytes_before},
                     {"bytes_after", o.bytes_after},
                     {"rows_before", o.rows_before},
                     {"rows_after", o.rows_after},
                     {"freed_bytes", freed},
                     {"removed", removed},
                     {"target_reached", reached},
                     {"temp_files_removed", a.dry_run ? 0 : report->temp.size()},
                     {"invalid_files_removed", a.dry_run ? 0 : invalid}};
    std::cout << dump_json(j) << '\n';
  } else {
    const std::uint64_t now = now_unix_s();
    Table t({a.dry_run ? "WOULD REMOVE" : "REMOVED", "TOKENS", "BYTES", "REASON", "HITS", "AGE"}, {1, 2, 4, 5});
    for (const auto& r : o.removed) {
      t.add({r.key, std::to_string(r.tokens), format_size(r.bytes), r.save_reason, std::to_string(r.hits),
             format_age(r.last_used_time, now)});
    }
    if (!t.empty()) t.print(std::cout);
    std::cout << a.dir << ": " << (a.dry_run ? "would go from " : "") << format_size(o.bytes_before) << " ("
              << o.bytes_before << " bytes, " << o.rows_before << " rows) " << (a.dry_run ? "to " : "-> ")
              << format_size(o.bytes_after) << " (" << o.bytes_after << " bytes, " << o.rows_after << " rows); "
              << (a.dry_run ? "would free " : "freed ") << format_size(freed) << " in " << o.removed.size()
              << " rows; limit " << format_size(*max_bytes) << '\n';
    if (report->temp.size() + invalid > 0) {
      std::cout << (a.dry_run ? "would also remove " : "the cache scan also removed ") << report->temp.size()
                << " temp file(s) and " << invalid << " invalid file(s)\n";
    }
  }
  if (!reached) {
    std::cerr << "kvc gc: " << a.dir << " still holds " << o.bytes_after << " bytes, more than --max-bytes "
              << *max_bytes << " (rows in use or pinned by a running cache?)\n";
    return kExitInvalid;
  }
  return kExitOk;
}

}  // namespace

Command add_gc_command(CLI::App& root) {
  auto args = std::make_shared<GcArgs>();
  CLI::App* app = root.add_subcommand(
      "gc", "Evict rows from a cache directory until it holds at most --max-bytes, least valuable first");
  app->add_option("dir", args->dir, "The cache directory")->required();
  app->add_option("--max-bytes", args->max_bytes_text,
                  "Byte limit for the rows left: a number with an optional binary suffix K, M, G or T (512M = 512 MiB)")
      ->required();
  app->add_flag("--dry-run", args->dry_run,
                "Only show what would be removed (read-only). It ranks rows by the header's last_used_time plus 1 s "
                "per hit; a real run uses the cache's own order, which after a start-up scan ranks rows by hit "
                "count (cache.md: recency = now + hits x 1 s), so rows with equal hits may go in another order");
  app->add_flag("--json", args->json,
                "Print one JSON object: bytes_before, bytes_after, rows_before, rows_after, freed_bytes, removed "
                "[{key, bytes, tokens, hits, last_used_time, save_reason}], target_reached");
  app->footer("gc opens the directory as a kvc cache with one disk tier and uses the library's eviction order\n"
              "(LRU weighted by hits). Like any cache start-up this deletes leftover *.tmp files and files that\n"
              "fail validation. Exit status: 0 the directory is within the limit, 1 it is not, 2 error.\n");
  return {app, [args] { return run_gc(*args); }};
}

}  // namespace kvc::cli
