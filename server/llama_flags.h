// llama-server's command line and LLAMA_ARG_* environment on kvc-server's
// options (issue 11: users switch with no change to their scripts).
//
// translate_llama_args rewrites llama-server's spellings — short forms (-m -c -np
// -t -b -a -n -ngl …), its long names (--alias, --n-predict, --cache-ram,
// --temp, …) and its bare boolean flags (--jinja, --metrics, --no-slots) — into
// kvc-server's long options, which parse_config then reads like any other. A
// llama-server flag kvc cannot honour is an error that names the kvc equivalent
// or says why there is none; kvc's own options pass through unchanged.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "kvc/status.h"

namespace kvc::server {

// Reads an environment variable (nullptr when unset); injectable for tests.
using EnvLookup = std::function<const char*(const char* name)>;

Result<std::vector<std::string>> translate_llama_args(std::span<const std::string> args);

// The kvc options the LLAMA_ARG_* variables (and LLAMA_API_KEY) set, as
// "--name=value" arguments meant to go before the command line's own (so the
// command line wins). A variable of a flag kvc cannot honour is an error naming
// the variable.
Result<std::vector<std::string>> llama_env_args(const EnvLookup& env);

// One line per llama-server flag: how kvc-server takes it (for --help-llama and docs).
std::string llama_flags_help();

}  // namespace kvc::server
