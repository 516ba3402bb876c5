// libFuzzer target: the kvc-server configuration (server/config.h). The input is
// written as a TOML file and read through parse_config("--config FILE"), the
// server's own path (toml++ parse, option setters, size parsing, validate); the
// input also goes to parse_size. Any input must yield a config or an error message.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/config.h"

namespace {

const std::string& config_path() {
  static const std::string path = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string p = std::string(tmp && *tmp ? tmp : "/tmp") + "/kvc-config-fuzz-" + std::to_string(::getpid()) + ".toml";
    return p;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)kvc::server::parse_size(text);
  std::FILE* f = std::fopen(config_path().c_str(), "wb");
  if (f == nullptr) return 0;
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);
  const char* argv[] = {"kvc-server", "--config", config_path().c_str()};
  const auto out = kvc::server::parse_config(3, argv);
  if (out.run) {
    if (!kvc::server::validate(out.config).ok()) std::abort();  // parse_config validated it
    (void)kvc::server::tier_names(out.config);
  } else if (out.exit_code != 0 && out.message.empty()) {
    std::abort();  // every error says what was wrong
  }
  std::remove(config_path().c_str());
  return 0;
}
