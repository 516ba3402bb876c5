#include "kvc_dir.h"

#include <algorithm>
#include <cstring>

#include "format/crc32c.h"

namespace kvc::cli {
namespace {

constexpr std::size_t kCrcChunk = 4u << 20;

std::uint32_t le32(const std::byte* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}
std::uint64_t le64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

RawFixed decode_raw(std::span<const std::byte> b) {
  RawFixed r;
  r.has_magic = b.size() >= 3 && std::memcmp(b.data(), "KVC", 3) == 0;
  if (!r.has_magic || b.size() < format::kHeaderSize) return r;
  r.has_header = true;
  r.header.version = static_cast<std::uint8_t>(b[3]);
  r.header.quant_bits = static_cast<std::uint8_t>(b[4]);
  r.raw_save_reason = static_cast<std::uint8_t>(b[5]);
  r.header.save_reason = static_cast<format::SaveReason>(r.raw_save_reason);
  r.header.cached_token_count = le32(b.data() + 8);
  r.header.hit_count = le32(b.data() + 12);
  r.header.context_size = le32(b.data() + 16);
  r.header.creation_time = le64(b.data() + 24);
  r.header.last_used_time = le64(b.data() + 32);
  r.header.payload_byte_count = le64(b.data() + 40);
  if (b.size() < format::kFixedSize) return r;
  r.has_trailer = true;
  r.payload_offset = le64(b.data() + 48);
  r.payload_length = le64(b.data() + 56);
  r.payload_crc32c = le32(b.data() + 64);
  return r;
}

// Reads exactly out.size() bytes at offset; a short read is reported as the file
// having changed underneath us.
Status read_exact(io::ReadableFile& f, const std::string& path, std::uint64_t offset, std::span<std::byte> out) {
  auto n = f.read_at(offset, out);
  if (!n.ok()) return n.status();
  if (*n != out.size()) {
    return {Code::kIoError, path + ": file shrank while being read (expected " + std::to_string(out.size()) +
                                " bytes at offset " + std::to_string(offset) + ", got " + std::to_string(*n) + ")"};
  }
  return Status::Ok();
}

void set_io_error(FileReport& r, const Status& s) {
  if (s.code() == Code::kNotFound) {
    r.vanished = true;
    r.io_error = "file vanished";
  } else {
    r.io_error = s.message().empty() ? s.to_string() : s.message();
  }
}

}  // namespace

std::optional<Key> FileReport::content_key() const {
  if (!meta) return std::nullopt;
  return meta->key();
}

std::uint64_t recency_score(const format::KvcHeader& h) {
  const std::uint64_t hits = h.hit_count;
  return h.last_used_time > UINT64_MAX - hits ? UINT64_MAX : h.last_used_time + hits;
}

std::optional<Key> key_from_file_name(std::string_view name) {
  if (name.size() != 64 + 4 || !ends_with(name, ".kvc")) return std::nullopt;
  auto k = Key::from_hex(name.substr(0, 64));
  if (!k.ok()) return std::nullopt;
  return *k;
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

FileReport check_file(io::Env& env, const std::string& path, CheckDepth depth) {
  FileReport r;
  r.path = path;
  const auto slash = path.find_last_of('/');
  r.name = slash == std::string::npos ? path : path.substr(slash + 1);
  r.name_key = key_from_file_name(r.name);

  auto opened = env.open_readable(path);
  if (!opened.ok()) {
    set_io_error(r, opened.status());
    return r;
  }
  io::ReadableFile& f = **opened;
  r.size = f.size();

  std::vector<std::byte> prefix(static_cast<std::size_t>(std::min<std::uint64_t>(r.size, format::kFixedSize)));
  if (Status s = read_exact(f, path, 0, prefix); !s.ok()) {
    set_io_error(r, s);
    return r;
  }
  r.raw = decode_raw(prefix);
  if (auto want = format::prefix_length(prefix, r.size); want && *want > prefix.size()) {
    const std::size_t have = prefix.size();
    prefix.resize(static_cast<std::size_t>(*want));
    if (Status s = read_exact(f, path, have, std::span(prefix).subspan(have)); !s.ok()) {
      set_io_error(r, s);
      return r;
    }
  }
  auto parsed = format::parse_meta(prefix, r.size);
  if (!parsed.ok()) {
    r.error = parsed.error;
    return r;
  }
  r.meta = std::move(parsed.value);

  if (depth == CheckDepth::kFull) {
    std::vector<std::byte> buf(static_cast<std::size_t>(std::min<std::uint64_t>(r.meta->payload_length, kCrcChunk)));
    std::uint32_t crc = 0;
    std::uint64_t off = r.meta->payload_offset;
    std::uint64_t left = r.meta->payload_length;
    while (left > 0) {
      auto chunk = std::span(buf).first(static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size())));
      if (Status s = read_exact(f, path, off, chunk); !s.ok()) {
        set_io_error(r, s);
        return r;
      }
      crc = format::crc32c(chunk, crc);
      off += chunk.size();
      left -= chunk.size();
    }
    r.crc_checked = true;
    r.computed_crc = crc;
    if (crc != r.meta->payload_crc32c) {
      r.error = format::KvcError::kCrcMismatch;
      return r;
    }
  }
  if (r.name_key && *r.name_key != r.meta->key()) r.error = format::KvcError::kKeyMismatch;
  return r;
}

Result<DirListing> list_kvc_dir(io::Env& env, const std::string& dir) {
  auto entries = env.list_dir(dir);
  if (!entries.ok()) return entries.status();
  DirListing out;
  for (auto& e : *entries) {
    if (e.is_regular && ends_with(e.name, ".kvc")) {
      out.kvc.push_back(std::move(e));
    } else if (e.is_regular && ends_with(e.name, ".tmp")) {
      auto size = env.file_size(join_path(dir, e.name));  // 0 when it vanished meanwhile
      out.temp.push_back(TempFile{std::move(e.name), size.ok() ? *size : 0});
    } else if (e.name != "." && e.name != "..") {
      ++out.other;
    }
  }
  auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(out.kvc.begin(), out.kvc.end(), by_name);
  std::sort(out.temp.begin(), out.temp.end(), by_name);
  return out;
}

Result<DirReport> check_dir(io::Env& env, const std::string& dir, CheckDepth depth) {
  auto listing = list_kvc_dir(env, dir);
  if (!listing.ok()) return listing.status();
  DirReport out;
  out.temp = std::move(listing->temp);
  out.files.reserve(listing->kvc.size());
  for (const auto& e : listing->kvc) {
    FileReport r = check_file(env, join_path(dir, e.name), depth);
    if (!r.vanished) out.files.push_back(std::move(r));
  }
  return out;
}

std::string describe_problem(const FileReport& r) {
  if (r.vanished) return "file vanished while being read";
  if (!r.io_error.empty()) return "unreadable: " + r.io_error;
  if (!r.error) return "ok";
  const std::string name(format::error_name(*r.error));
  if (*r.error == format::KvcError::kBadHeader) return "not a KVC file: " + name;
  if (*r.error == format::KvcError::kKeyMismatch && r.meta) {
    return name + " (content key " + r.meta->key().hex() + ")";
  }
  return name;
}

std::string describe_dir_error(const std::string& dir, const Status& s) {
  if (s.code() == Code::kNotFound) return dir + ": no such directory";
  return "cannot read directory " + dir + ": " + (s.message().empty() ? s.to_string() : s.message());
}

}  // namespace kvc::cli
