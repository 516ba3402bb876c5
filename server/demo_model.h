// The default model of kvc-server: tinyllama-1.1b q8_0 random weights in
// ${KVC_CACHE_DIR:-~/.cache/kvc}/models/, generated with kvc-mkmodel when missing.
#pragma once

#include <string>

#include "kvc/status.h"

namespace kvc::server {

std::string demo_model_path();

// kvc-mkmodel: $KVC_MKMODEL, next to this executable, in the build tree beside it
// (../tools/mkmodel/), else "" (then PATH is tried).
std::string find_mkmodel();

// Returns the demo model's path, generating it first if it does not exist.
Result<std::string> ensure_demo_model();

}  // namespace kvc::server
