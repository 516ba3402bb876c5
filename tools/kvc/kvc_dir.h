// Read-only access to KVC files and cache directories for the kvc tool.
//
// Nothing here modifies a directory: unlike Cache::open (whose scan deletes temp
// and corrupt files), these functions only list and read, so inspect, verify
// (without --fix), ls and stats are safe to run next to a live cache. Files that
// vanish between listing and reading (a sibling process evicted them) are
// reported as vanished, not as errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "format/kvc_file.h"
#include "io/env.h"
#include "kvc/key.h"
#include "kvc/status.h"

namespace kvc::cli {

// How much of a file to check.
enum class CheckDepth {
  kStructure,  // parse_meta on the prefix + key vs file name; never reads the payload
  kFull,       // kStructure plus the payload CRC32C (reads the whole file)
};

// Header and trailer decoded without validation, for showing what a damaged file
// says about itself.
struct RawFixed {
  bool has_magic = false;    // ≥ 3 bytes and "KVC"
  bool has_header = false;   // ≥ 48 bytes
  bool has_trailer = false;  // ≥ 72 bytes
  format::KvcHeader header;
  std::uint8_t raw_save_reason = 0;
  std::uint64_t payload_offset = 0;
  std::uint64_t payload_length = 0;
  std::uint32_t payload_crc32c = 0;
};

struct FileReport {
  std::string path;
  std::string name;  // file name without directory
  std::uint64_t size = 0;
  bool vanished = false;  // the file disappeared before it could be read
  std::string io_error;   // non-empty when it could not be read (checks did not run)
  std::optional<format::KvcError> error;  // the first format failure
  std::optional<format::KvcMeta> meta;    // set when parse_meta succeeded
  std::optional<Key> name_key;            // key spelled by a "<64 hex>.kvc" name
  RawFixed raw;
  bool crc_checked = false;
  std::uint32_t computed_crc = 0;

  bool readable() const { return !vanished && io_error.empty(); }
  bool valid() const { return readable() && !error; }
  // The computed key when the structure parsed.
  std::optional<Key> content_key() const;
};

// Reads and checks one file. Never throws; never modifies the file.
FileReport check_file(io::Env& env, const std::string& path, CheckDepth depth);

// A leftover temporary file of an unfinished save.
struct TempFile {
  std::string name;
  std::uint64_t size = 0;
};

struct DirListing {
  std::vector<io::DirEntry> kvc;   // regular *.kvc files, sorted by name
  std::vector<TempFile> temp;      // regular *.tmp files (unfinished saves), sorted by name
  std::size_t other = 0;           // anything else (ignored)
};

// Lists `dir`. Errors name the directory: kNotFound when it does not exist.
Result<DirListing> list_kvc_dir(io::Env& env, const std::string& dir);

// Every *.kvc file of `dir` checked to `depth` (files that vanished are dropped).
struct DirReport {
  std::vector<FileReport> files;  // sorted by name
  std::vector<TempFile> temp;
};
Result<DirReport> check_dir(io::Env& env, const std::string& dir, CheckDepth depth);

// Recency of a row from its header: last_used_time plus one second per hit (the
// hit bias of cache.md §1), so popular rows rank as more recent. ls sorts by this, most recent first; gc --dry-run evicts the lowest first.
std::uint64_t recency_score(const format::KvcHeader& h);

// The key spelled by a "<64 hex>.kvc" file name, else nullopt.
std::optional<Key> key_from_file_name(std::string_view name);

std::string join_path(const std::string& dir, const std::string& name);

// "not a KVC file: bad_header", "crc_mismatch", … — one line about a bad file.
std::string describe_problem(const FileReport& r);

// Message for a directory that could not be listed, naming it.
std::string describe_dir_error(const std::string& dir, const Status& s);

}  // namespace kvc::cli
