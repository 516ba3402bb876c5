#include "server/demo_model.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "server/config.h"

namespace kvc::server {
namespace fs = std::filesystem;

std::string demo_model_path() { return kvc_cache_dir() + "/models/tinyllama-1.1b-q8_0.gguf"; }

std::string find_mkmodel() {
  if (const char* e = std::getenv("KVC_MKMODEL"); e != nullptr && *e != '\0') return e;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (const fs::path& p : {self.parent_path() / "kvc-mkmodel", self.parent_path() / "../tools/mkmodel/kvc-mkmodel"}) {
    if (fs::exists(p, ec)) return fs::weakly_canonical(p, ec).string();
  }
  return {};
}

Result<std::string> ensure_demo_model() {
  const std::string path = demo_model_path();
  std::error_code ec;
  if (fs::exists(path, ec)) return path;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Status(Code::kIoError, "cannot create " + fs::path(path).parent_path().string() + ": " + ec.message());
  std::string mk = find_mkmodel();
  const bool via_path = mk.empty();
  if (via_path) mk = "kvc-mkmodel";
  std::fprintf(stderr, "kvc-server: generating the demo model %s with %s (once; about a minute)\n", path.c_str(),
               mk.c_str());
  std::vector<std::string> args = {mk, "--shape", "tinyllama-1.1b", "--type", "q8_0", "--quiet", "--out", path};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return Status(Code::kIoError, "fork failed while running kvc-mkmodel");
  if (pid == 0) {
    if (via_path) execvp(argv[0], argv.data());
    else execv(argv[0], argv.data());
    std::fprintf(stderr, "kvc-server: cannot run %s\n", argv[0]);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(path, ec)) {
    return Status(Code::kUnavailable, "could not generate the demo model with '" + mk +
                                          "' (set KVC_MKMODEL to the kvc-mkmodel binary, or pass --model PATH)");
  }
  return path;
}

}  // namespace kvc::server
