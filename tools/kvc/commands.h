// The kvc subcommands. Each add_* registers its subcommand (options and help) on
// the root app and returns how to run it once the command line has parsed.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace kvc::cli {

// Exit statuses shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalid = 1;  // a file or directory failed its checks
inline constexpr int kExitError = 2;    // bad usage, missing path, I/O error

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_key_command(CLI::App& root);
Command add_inspect_command(CLI::App& root);
Command add_verify_command(CLI::App& root);
Command add_ls_command(CLI::App& root);
Command add_stats_command(CLI::App& root);
Command add_gc_command(CLI::App& root);

// Prints "kvc <sub>: <message>" on stderr and returns kExitError.
int fail(const char* sub, const std::string& message);

}  // namespace kvc::cli
