// kvc verify DIR: full check (structure, CRC, key vs name) of every *.kvc file of a
// cache directory; --fix deletes the bad ones and leftover *.tmp files.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kvc_dir.h"
#include "output.h"

namespace kvc::cli {
namespace {

struct VerifyArgs {
  std::string dir;
  bool fix = false;
  bool json = false;
  bool progress = false;
  bool quiet = false;
};

// Progress on stderr: every kEvery files or once per second, whichever first.
class Progress {
 public:
  Progress(bool enabled, std::size_t total) : enabled_(enabled), total_(total), last_(Clock::now()) {}
  void tick(std::size_t done, std::size_t bad) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (done % kEvery != 0 && now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    std::cerr << "kvc verify: " << done << "/" << total_ << " files checked, " << bad << " bad\n";
  }
  void finish(std::size_t done, std::size_t bad) {
    if (enabled_) std::cerr << "kvc verify: done, " << done << "/" << total_ << " files checked, " << bad << " bad\n";
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kEvery = 1000;
  bool enabled_;
  std::size_t total_;
  Clock::time_point last_;
};

int run_verify(const VerifyArgs& a) {
  io::Env& env = *io::posix_env();
  auto listing = list_kvc_dir(env, a.dir);
  if (!listing.ok()) return fail("verify", describe_dir_error(a.dir, listing.status()));

  nlohmann::json bad = nlohmann::json::array();
  nlohmann::json temps = nlohmann::json::array();
  std::size_t checked = 0, valid = 0, vanished = 0, bad_count = 0, remaining = 0;
  std::uint64_t valid_bytes = 0;
  Progress progress(a.progress || (!a.json && stderr_is_tty()), listing->kvc.size());

  for (const auto& e : listing->kvc) {
    const std::string path = join_path(a.dir, e.name);
    FileReport r = check_file(env, path, CheckDepth::kFull);
    ++checked;
    if (r.vanished) {
      ++vanished;  // evicted by a live cache between listing and reading: not a problem
    } else if (r.valid()) {
      ++valid;
      valid_bytes += r.size;
    } else {
      ++bad_count;
      bool removed = false;
      std::string remove_error;
      if (a.fix) {
        Status s = env.remove(path);
        removed = s.ok() || s.code() == Code::kNotFound;
        if (!removed) remove_error = s.message().empty() ? s.to_string() : s.message();
      }
      if (!removed) ++remaining;
      const std::string error = r.error ? std::string(format::error_name(*r.error)) : "unreadable";
      nlohmann::json j{{"file", e.name}, {"path", path}, {"size", r.size}, {"error", error},
                       {"detail", describe_problem(r)}, {"removed", removed}};
      if (!remove_error.empty()) j["remove_error"] = remove_error;
      bad.push_back(j);
      if (!a.json) {
        std::cout << (removed ? "REMOVED  " : "BAD      ") << path << ": " << describe_problem(r);
        if (!remove_error.empty()) std::cout << " (could not delete: " << remove_error << ")";
        std::cout << '\n';
      }
    }
    progress.tick(checked, bad_count);
  }
  progress.finish(checked, bad_count);

  std::size_t temp_remaining = 0;
  for (const auto& t : listing->temp) {
    const std::string path = join_path(a.dir, t.name);
    bool removed = false;
    std::string remove_error;
    if (a.fix) {
      Status s = env.remove(path);
      removed = s.ok() || s.code() == Code::kNotFound;
      if (!removed) remove_error = s.message().empty() ? s.to_string() : s.message();
    }
    if (!removed) ++temp_remaining;
    nlohmann::json j{{"file", t.name}, {"path", path}, {"size", t.size}, {"removed", removed}};
    if (!remove_error.empty()) j["remove_error"] = remove_error;
    temps.push_back(j);
    if (!a.json) {
      std::cout << (removed ? "REMOVED  " : "TEMP     ") << path << ": leftover temporary file (unfinished save)";
      if (!remove_error.empty()) std::cout << " (could not delete: " << remove_error << ")";
      std::cout << '\n';
    }
  }

  if (a.json) {
    nlohmann::json j{{"dir", a.dir},
                     {"checked", checked - vanished},
                     {"valid", valid},
                     {"valid_bytes", valid_bytes},
                     {"bad", bad_count},
                     {"bad_remaining", remaining},
                     {"vanished", vanished},
                     {"fix", a.fix},
                     {"bad_files", bad},
                     {"temp_files", temps},
                     {"temp_remaining", temp_remaining},
                     {"ok", remaining == 0}};
    std::cout << dump_json(j) << '\n';
  } else if (!a.quiet || remaining > 0) {
    std::cout << a.dir << ": " << (checked - vanished) << " files checked, " << valid << " valid ("
              << format_size(valid_bytes) << "), " << bad_count << " bad";
    if (a.fix) std::cout << " (" << (bad_count - remaining) << " removed)";
    std::cout << ", " << listing->temp.size() << " temp";
    if (a.fix) std::cout << " (" << (listing->temp.size() - temp_remaining) << " removed)";
    std::cout << '\n';
  }
  return remaining == 0 ? kExitOk : kExitInvalid;
}

}  // namespace

Command add_verify_command(CLI::App& root) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* app = root.add_subcommand(
      "verify", "Fully check every *.kvc file of a cache directory (structure, payload CRC32C, key vs file name)");
  app->add_option("dir", args->dir, "The cache directory")->required();
  app->add_flag("--fix", args->fix,
                "Delete the bad files and leftover *.tmp files. Do not use while a cache is writing to the "
                "directory: its in-progress saves are *.tmp files");
  app->add_flag("--json", args->json,
                "Print one JSON object: counts, bad_files [{file, error, removed}], temp_files [{file, removed}]");
  app->add_flag("--progress", args->progress,
                "Report progress on stderr (every 1000 files or once per second; default: only when stderr is a "
                "terminal and --json is not given)");
  app->add_flag("-q,--quiet", args->quiet, "Print only problems (no summary line when everything is valid)");
  app->footer("Bad files are listed with their format.md error name (bad_header, crc_mismatch, key_mismatch, ...).\n"
              "Leftover *.tmp files are reported but do not change the exit status.\n"
              "Exit status: 0 all files valid (or all bad ones removed by --fix), 1 bad files remain,\n"
              "2 the directory is missing or unreadable.\n");
  return {app, [args] { return run_verify(*args); }};
}

}  // namespace kvc::cli
