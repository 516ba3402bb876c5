#include "output.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace kvc::cli {

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "K", "M", "G", "T", "P", "E"};
  if (bytes < 1024) return std::to_string(bytes) + "B";
  double v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(kUnits)) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (v < 10.0) {
    std::snprintf(buf, sizeof buf, "%.1f%s", v, kUnits[u]);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f%s", v, kUnits[u]);
  }
  return buf;
}

std::string format_age(std::uint64_t then_unix_s, std::uint64_t now_unix_s) {
  if (then_unix_s >= now_unix_s) return "0s";
  const std::uint64_t d = now_unix_s - then_unix_s;
  if (d < 60) return std::to_string(d) + "s";
  if (d < 3600) return std::to_string(d / 60) + "m";
  if (d < 86400) return std::to_string(d / 3600) + "h";
  return std::to_string(d / 86400) + "d";
}

std::string format_time(std::uint64_t unix_s) {
  if (unix_s == 0) return "-";
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_s);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string rest;
  for (char c : text.substr(i)) rest += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (rest.empty() || rest == "b") return v;
  int shift = 0;
  switch (rest[0]) {
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    default: return std::nullopt;
  }
  const std::string_view unit_tail = std::string_view(rest).substr(1);
  if (!(unit_tail.empty() || unit_tail == "b" || unit_tail == "ib")) return std::nullopt;
  if (v > (UINT64_MAX >> shift)) return std::nullopt;
  return v << shift;
}

std::uint64_t now_unix_s() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

Table::Table(std::vector<std::string> header, std::vector<std::size_t> right_aligned)
    : header_(std::move(header)), right_(std::move(right_aligned)) {}

void Table::add(std::vector<std::string> row) {
  row.resize(header_.size());
  rows_.push_back(std::move(row));
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> width(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& r) {
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  auto emit = [&](const std::vector<std::string>& r) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      const bool right = std::find(right_.begin(), right_.end(), c) != right_.end();
      const std::string pad(width[c] - r[c].size(), ' ');
      if (c > 0) line += "  ";
      if (right) {
        line += pad + r[c];
      } else if (c + 1 < r.size()) {
        line += r[c] + pad;
      } else {
        line += r[c];  // no trailing blanks on the last column
      }
    }
    out << line << '\n';
  };
  emit(header_);
  for (const auto& r : rows_) emit(r);
}

void FieldList::print(std::ostream& out) const {
  std::size_t width = 0;
  for (const auto& [name, value] : fields_) width = std::max(width, name.size());
  for (const auto& [name, value] : fields_) {
    out << name << std::string(width - name.size() + 2, ' ') << value << '\n';
  }
}

std::string dump_json(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }

}  // namespace kvc::cli
