// Filesystem hygiene (issue 5, security): the cache only ever touches its tier
// directories and files named by hex keys; it never follows a symlink or blocks on a
// FIFO planted under a row's name; files are created with the configured mode (0600
// by default) whatever the umask, and directories 0700.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

#include "cache_test_util.h"
#include "io/fault_env.h"
#include "support/temp_dir.h"

namespace kvc {
namespace {

namespace fs = std::filesystem;
using testing::cache_consistent;
using testing::make_request;
using testing::token_run;

CacheOptions options_for(std::vector<std::string> dirs, io::Env* env = nullptr) {
  CacheOptions o;
  o.tiers.push_back({TierKind::kRamFile, dirs.at(0), 1 << 30});
  if (dirs.size() > 1) o.tiers.push_back({TierKind::kDisk, dirs.at(1), 1 << 30});
  for (auto& t : o.tiers) t.min_tokens = 1;  // short test rows are kept
  o.env = env;
  o.watch_directories = false;
  o.sweep_interval = std::chrono::milliseconds(20);  // hit counts get written back during the test
  return o;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}
bool lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool alnum(char c) { return digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// `<64 lower hex>.kvc`
bool is_row_name(std::string_view n) {
  return n.size() == 68 && all_of(n.substr(0, 64), lower_hex) && n.substr(64) == ".kvc";
}

// `<64 lower hex>.kvc.<pid>-<n>-<alnum>.tmp`
bool is_temp_name(std::string_view n) {
  if (n.size() < 68 + 1 + 4 || !is_row_name(n.substr(0, 68)) || n[68] != '.' || !n.ends_with(".tmp")) return false;
  std::string_view mid = n.substr(69, n.size() - 69 - 4);
  const auto d1 = mid.find('-');
  if (d1 == std::string_view::npos) return false;
  const auto d2 = mid.find('-', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  return all_of(mid.substr(0, d1), digit) && all_of(mid.substr(d1 + 1, d2 - d1 - 1), digit) &&
         all_of(mid.substr(d2 + 1), alnum);
}

// Restores the umask on scope exit.
struct UmaskScope {
  explicit UmaskScope(mode_t m) : old(::umask(m)) {}
  ~UmaskScope() { ::umask(old); }
  mode_t old;
};

// Drives every operation that reaches the filesystem — synchronous and asynchronous
// saves, duplicate saves, loads, hit-count write-back, pin, remove, byte eviction, gc,
// rescan and a restart — and checks every path the Env saw: the tier directories
// themselves, `<dir>/<64 hex>.kvc`, or that name plus a `.<pid>-<n>-<random>.tmp`
// temp suffix. Nothing else, whatever the tokens were.
TEST(FsHygiene, EveryPathTouchedIsATierDirOrAHexNamedFile) {
  testing::TempDir ram("hyg-ram"), disk("hyg-disk");
  io::FaultEnv env(io::posix_env());
  {
    auto opened = Cache::open(options_for({ram.path(), disk.path()}, &env));
    ASSERT_TRUE(opened.ok()) << opened.status().to_string();
    auto& cache = **opened;
    std::vector<Key> keys;
    for (int i = 0; i < 6; ++i) {
      // Token ids that spell path characters ('/', '.', NUL) change nothing.
      std::vector<std::uint32_t> toks = {'/', '.', '.', '/', 0, static_cast<std::uint32_t>(i)};
      auto extra = token_run(40, 100 * static_cast<std::uint32_t>(i) + 1);
      toks.insert(toks.end(), extra.begin(), extra.end());
      auto r = cache.save(make_request(toks, 3000), std::chrono::seconds(5));
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      keys.push_back(*r);
      EXPECT_FALSE(cache.save(make_request(toks, 3000), std::chrono::seconds(5)).ok());  // duplicate
    }
    ASSERT_TRUE(cache.save_async(make_request(token_run(50, 9000), 2000)).ok());
    cache.flush();
    for (const auto& k : keys) {
      auto lease = cache.checkout(k);
      ASSERT_TRUE(lease.ok());
      ASSERT_TRUE(cache.load(*lease).ok());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // hit counts written back
    ASSERT_TRUE(cache.pin(keys[0]).ok());
    ASSERT_TRUE(cache.remove(keys[1]).ok());
    cache.evict_bytes(3000);
    cache.rescan();
    cache.gc();
  }
  {
    auto reopened = Cache::open(options_for({ram.path(), disk.path()}, &env));
    ASSERT_TRUE(reopened.ok());
  }
  std::size_t files_seen = 0;
  const auto trace = env.trace();
  ASSERT_FALSE(trace.empty());
  for (const auto& call : trace) {
    // link and rename record "from -> to"-style pairs as two calls or one joined path.
    std::vector<std::string> paths;
    std::string p = call.path;
    for (std::size_t at; (at = p.find(" -> ")) != std::string::npos; p = p.substr(at + 4)) paths.push_back(p.substr(0, at));
    paths.push_back(p);
    for (const auto& path : paths) {
      SCOPED_TRACE(std::string(io::fault_op_name(call.op)) + " " + call.path);
      if (path == ram.path() || path == disk.path()) continue;
      const fs::path fp(path);
      const std::string parent = fp.parent_path().string();
      EXPECT_TRUE(parent == ram.path() || parent == disk.path()) << "outside the tier directories";
      const std::string name = fp.filename().string();
      EXPECT_TRUE(is_row_name(name) || is_temp_name(name)) << "not a hex-key name";
      ++files_seen;
    }
  }
  EXPECT_GT(files_seen, 30u);
}

// Hostile directory contents: a symlink named like a row pointing at a valid KVC
// file outside the directory, a FIFO and a subdirectory with row names. The scan
// neither hangs nor registers them; saving the symlink's key replaces the link (the
// target is never written); loads and hit-count writes stay inside the directory.
TEST(FsHygiene, PlantedSymlinksFifosAndDirectoriesAreNeverFollowed) {
  testing::TempDir dir("hyg-dir"), outside("hyg-outside");
  const auto req = [](std::uint32_t start) { return make_request(token_run(48, start), 4000); };
  // A valid file for key A, made by a cache in another directory.
  std::string target;
  Key key_a;
  {
    auto other = Cache::open(options_for({outside.path()}));
    ASSERT_TRUE(other.ok());
    auto r = (*other)->save(req(1), std::chrono::seconds(5));
    ASSERT_TRUE(r.ok());
    key_a = *r;
    target = outside.file(key_a.hex() + ".kvc");
  }
  const std::string target_bytes = slurp(target);
  const Key key_b = derive_key(testing::ns_for_tests(), token_run(48, 500));
  const Key key_c = derive_key(testing::ns_for_tests(), token_run(48, 900));
  fs::create_symlink(target, dir.file(key_a.hex() + ".kvc"));
  ASSERT_EQ(::mkfifo(dir.file(key_b.hex() + ".kvc").c_str(), 0600), 0);
  fs::create_directory(dir.file(key_c.hex() + ".kvc"));

  auto opened = Cache::open(options_for({dir.path()}));
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  auto& cache = **opened;
  EXPECT_TRUE(cache.rows(0).empty()) << "a planted entry was registered";
  EXPECT_FALSE(cache.checkout(key_a).ok());

  // Saving key A publishes a real file in place of the symlink.
  auto saved = cache.save(req(1), std::chrono::seconds(5));
  ASSERT_TRUE(saved.ok()) << saved.status().to_string();
  EXPECT_FALSE(fs::is_symlink(dir.file(key_a.hex() + ".kvc")));
  EXPECT_TRUE(fs::is_regular_file(dir.file(key_a.hex() + ".kvc")));
  for (int i = 0; i < 3; ++i) {
    auto lease = cache.checkout(key_a);
    ASSERT_TRUE(lease.ok());
    ASSERT_TRUE(cache.load(*lease).ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // hit counts written back
  cache.rescan();
  EXPECT_TRUE(slurp(target) == target_bytes) << "the symlink's target was written";
  // The FIFO and directory are still not rows, and saving their keys fails cleanly or
  // replaces nothing it should not.
  EXPECT_FALSE(cache.checkout(key_b).ok());
  EXPECT_FALSE(cache.checkout(key_c).ok());
  EXPECT_EQ(cache.rows(0).size(), 1u);
}

TEST(FsHygiene, FilesGetTheConfiguredModeWhateverTheUmask) {
  for (unsigned configured : {0600u, 0640u, 0644u}) {
    for (mode_t mask : {mode_t{0}, mode_t{022}, mode_t{077}}) {
      SCOPED_TRACE("file_mode " + std::to_string(configured) + " umask " + std::to_string(mask));
      UmaskScope umask_scope(mask);
      testing::TempDir root("hyg-mode");
      const std::string dir = root.file("a/b/tier");  // created by the cache
      CacheOptions o = options_for({dir});
      o.file_mode = configured;
      auto opened = Cache::open(o);
      ASSERT_TRUE(opened.ok()) << opened.status().to_string();
      auto r = (*opened)->save(make_request(token_run(40), 1000), std::chrono::seconds(5));
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      // The umask can only take bits away, never add them: 0600 stays 0600 under umask 0.
      EXPECT_EQ(mode_of(dir + "/" + r->hex() + ".kvc"), configured & ~static_cast<unsigned>(mask));
      EXPECT_EQ(mode_of(dir), 0700u & ~static_cast<unsigned>(mask));
      EXPECT_EQ(mode_of(root.file("a")), 0700u & ~static_cast<unsigned>(mask));
    }
  }
  // The default is 0600; a mode with non-permission bits is refused, naming the setting.
  EXPECT_EQ(CacheOptions{}.file_mode, 0600u);
  testing::TempDir d;
  CacheOptions bad = options_for({d.path()});
  bad.file_mode = 04755;
  auto opened = Cache::open(bad);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find("file_mode"), std::string::npos);
}

}  // namespace
}  // namespace kvc
