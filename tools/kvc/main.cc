// kvc: inspect, verify and manage kvc cache directories from the command line.
#include <iostream>
#include <vector>

#include "commands.h"
#include "kvc/version.h"

namespace kvc::cli {

int fail(const char* sub, const std::string& message) {
  std::cerr << "kvc " << sub << ": " << message << '\n';
  return kExitError;
}

}  // namespace kvc::cli

int main(int argc, char** argv) {
  using namespace kvc::cli;
  CLI::App app{"kvc " KVC_VERSION " - tool for kvc KV-state cache directories and KVC v1 files"};
  app.set_version_flag("--version", KVC_PRODUCER);
  app.require_subcommand(1, 1);
  app.footer(
      "Exit status: 0 success (every checked file valid), 1 a file failed its checks,\n"
      "2 usage error, missing path or I/O error.\n"
      "Read-only commands (key, inspect, verify without --fix, ls, stats, gc --dry-run)\n"
      "never modify a directory and are safe next to a running cache.\n"
      "Run 'kvc <command> --help' for the options of a command.\n");

  std::vector<Command> commands = {
      add_key_command(app),  add_inspect_command(app), add_verify_command(app),
      add_ls_command(app),   add_stats_command(app),   add_gc_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitError;
  }
  for (auto& c : commands) {
    if (c.app->parsed()) {
      try {
        return c.run();
      } catch (const std::exception& e) {
        return fail(c.app->get_name().c_str(), std::string("internal error: ") + e.what());
      }
    }
  }
  std::cerr << app.help();
  return kExitError;
}
