// Formatting shared by the kvc subcommands: sizes, ages, aligned tables, and
// the parsing of size arguments ("512M").
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kvc::cli {

// Binary units, one decimal below 10: "512B", "1.5K", "12M", "3.0G".
std::string format_size(std::uint64_t bytes);

// Coarse age of a unix time relative to `now`: "42s", "3m", "2h", "5d".
// Times in the future (clock skew) read "0s".
std::string format_age(std::uint64_t then_unix_s, std::uint64_t now_unix_s);

// "2024-05-01T12:00:00Z" (UTC), or "-" for 0.
std::string format_time(std::uint64_t unix_s);

// Decimal bytes with an optional binary suffix K, M, G or T (case-insensitive,
// optionally followed by "B" or "iB"): "4096", "512M", "2GiB". nullopt when the
// text is malformed or overflows 64 bits.
std::optional<std::uint64_t> parse_size(std::string_view text);

// Current unix time in seconds.
std::uint64_t now_unix_s();

// A table printed with columns padded to their widest cell. Columns listed in
// `right_aligned` (by index) are right-aligned (numbers); the rest left-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header, std::vector<std::size_t> right_aligned = {});
  void add(std::vector<std::string> row);
  void print(std::ostream& out) const;
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::size_t> right_;
  std::vector<std::vector<std::string>> rows_;
};

// Two-column "name  value" listing used by inspect and stats.
class FieldList {
 public:
  void add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// Pretty JSON with invalid UTF-8 (e.g. from an untrusted prompt or a path) replaced,
// never thrown on.
std::string dump_json(const nlohmann::json& j);

// Whether stderr is a terminal (progress output defaults to on there).
bool stderr_is_tty();

}  // namespace kvc::cli
