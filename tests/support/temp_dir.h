// A unique temporary directory for a test, removed (recursively) on destruction.
#pragma once

#include <string>

namespace kvc::testing {

class TempDir {
 public:
  // Created under $TMPDIR (or /tmp); `tag` appears in the name for debugging.
  explicit TempDir(const std::string& tag = "kvc");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace kvc::testing
