#include "engine/model_identity.h"

#include <fcntl.h>
#include <gguf.h>
#include <llama.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <tuple>

#include "format/sha256.h"

namespace kvc::engine {
namespace {

// What a remembered fingerprint is valid for. (path, size, mtime) alone is not
// enough: a file of the same size copied over the model with its mtime preserved
// (cp -p, rsync -t, touch -r) would keep the old fingerprint and restore the old
// model's states. Its ctime cannot be set from user space and changes on every
// write, truncate, chmod, rename or utimensat; a replaced file also has another
// inode. So a stamp is the file's identity (device, inode) plus size, mtime and
// ctime, and any change of either misses the memo.
struct FileStamp {
  std::string path;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::string mode;  // "safe" or "gguf_chunked"
  auto tie() const { return std::tie(path, dev, ino, size, mtime_ns, ctime_ns, mode); }
  friend bool operator<(const FileStamp& a, const FileStamp& b) { return a.tie() < b.tie(); }
  // The memo line's fields before the digest (see memo_lookup).
  std::string key_text() const {
    return "v2\t" + path + "\t" + std::to_string(dev) + "\t" + std::to_string(ino) + "\t" + std::to_string(size) +
           "\t" + std::to_string(mtime_ns) + "\t" + std::to_string(ctime_ns) + "\t" + mode;
  }
};

std::mutex g_memo_mu;
std::map<FileStamp, Digest>& memo() {
  static std::map<FileStamp, Digest> m;
  return m;
}

std::string memo_file_path() {
  std::string dir;
  if (const char* d = std::getenv("KVC_CACHE_DIR"); d != nullptr && *d != '\0') {
    dir = d;
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    dir = std::string(h) + "/.cache/kvc";
  } else {
    return {};
  }
  return dir + "/fingerprints.tsv";
}

Result<FileStamp> stamp_of(const std::string& path, std::string_view mode) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status(Code::kNotFound, "model file " + path + ": " + std::strerror(errno));
  std::error_code ec;
  std::string abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) abs = path;
  auto ns = [](const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; };
  return FileStamp{abs,
                   static_cast<std::uint64_t>(st.st_dev),
                   static_cast<std::uint64_t>(st.st_ino),
                   static_cast<std::uint64_t>(st.st_size),
                   ns(st.st_mtim),
                   ns(st.st_ctim),
                   std::string(mode)};
}

// Lines: "v2" \t path \t dev \t ino \t size \t mtime_ns \t ctime_ns \t mode \t hex.
// The last matching line wins. Lines of the first format (path \t size \t
// mtime_ns \t mode \t hex, keyed too weakly) never match.
std::optional<Digest> memo_lookup(const FileStamp& s) {
  std::lock_guard lock(g_memo_mu);
  if (auto it = memo().find(s); it != memo().end()) return it->second;
  const std::string file = memo_file_path();
  if (file.empty()) return std::nullopt;
  std::ifstream in(file);
  std::optional<Digest> found;
  const std::string key = s.key_text() + "\t";
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() <= key.size() || line.compare(0, key.size(), key) != 0) continue;
    if (auto d = digest_from_hex(line.substr(key.size())); d.ok()) found = *d;
  }
  if (found) memo()[s] = *found;
  return found;
}

void memo_store(const FileStamp& s, const Digest& d) {
  std::lock_guard lock(g_memo_mu);
  memo()[s] = d;
  const std::string file = memo_file_path();
  if (file.empty() || s.path.find_first_of("\t\n") != std::string::npos) return;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
  const std::string line = s.key_text() + "\t" + to_hex(d) + "\n";
  // One O_APPEND write per line: concurrent processes do not interleave lines.
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  [[maybe_unused]] const ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
}

// Feeds [offset, offset + length) of an open file into `h`.
Status hash_range(int fd, std::uint64_t offset, std::uint64_t length, format::Sha256& h, const std::string& path) {
  std::vector<char> buf(1 << 20);
  while (length > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, buf.size()));
    const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status(Code::kIoError, "reading " + path + ": " + std::strerror(errno));
    }
    if (n == 0) return Status(Code::kCorrupt, "model file " + path + " is shorter than its GGUF header says");
    h.update(buf.data(), static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
    length -= static_cast<std::uint64_t>(n);
  }
  return Status::Ok();
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Result<Digest> compute_whole(const FileStamp& s) {
  Fd f{::open(s.path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return Status(Code::kNotFound, "model file " + s.path + ": " + std::strerror(errno));
  format::Sha256 h;
  if (Status st = hash_range(f.fd, 0, s.size, h, s.path); !st.ok()) return st;
  return h.digest();
}

Result<Digest> compute_chunked(const FileStamp& s) {
  gguf_init_params params{.no_alloc = true, .ctx = nullptr};
  gguf_context* g = gguf_init_from_file(s.path.c_str(), params);
  if (g == nullptr) return Status(Code::kCorrupt, "model file " + s.path + " is not a readable GGUF file");
  const std::uint64_t data_offset = gguf_get_data_offset(g);
  const std::int64_t n = gguf_get_n_tensors(g);
  std::int64_t first = -1, last = -1;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::size_t off = gguf_get_tensor_offset(g, i);
    if (first < 0 || off < gguf_get_tensor_offset(g, first)) first = i;
    if (last < 0 || off > gguf_get_tensor_offset(g, last)) last = i;
  }
  struct Range {
    std::uint64_t offset, size;
  };
  std::vector<Range> ranges{{0, data_offset}};
  if (first >= 0) ranges.push_back({data_offset + gguf_get_tensor_offset(g, first), gguf_get_tensor_size(g, first)});
  if (last >= 0 && last != first)
    ranges.push_back({data_offset + gguf_get_tensor_offset(g, last), gguf_get_tensor_size(g, last)});
  gguf_free(g);

  Fd f{::open(s.path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return Status(Code::kNotFound, "model file " + s.path + ": " + std::strerror(errno));
  format::Sha256 h;
  h.update("kvc-gguf-chunked-v1", 19);
  for (const Range& r : ranges) {
    if (r.offset + r.size > s.size)
      return Status(Code::kCorrupt, "model file " + s.path + " is truncated (tensor data past the end)");
    if (Status st = hash_range(f.fd, r.offset, r.size, h, s.path); !st.ok()) return st;
  }
  return h.digest();
}

Result<Digest> memoised(const std::string& path, std::string_view mode, Result<Digest> (*compute)(const FileStamp&)) {
  auto s = stamp_of(path, mode);
  if (!s.ok()) return s.status();
  if (auto d = memo_lookup(*s)) return *d;
  auto d = compute(*s);
  if (d.ok()) memo_store(*s, *d);
  return d;
}

void put(std::string& out, std::string_view name, std::string_view value) {
  auto u32 = [&](std::size_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  u32(name.size());
  out += name;
  u32(value.size());
  out += value;
}

std::string float_bits(float f) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", std::bit_cast<std::uint32_t>(f));
  return buf;
}

std::vector<std::pair<std::string, std::string>> fields(const ContextParams& p) {
  auto b = [](bool v) { return std::string(v ? "1" : "0"); };
  auto n = [](auto v) { return std::to_string(v); };
  return {
      {"architecture", p.architecture},
      {"n_ctx", n(p.n_ctx)},
      {"n_ctx_seq", n(p.n_ctx_seq)},
      {"n_seq_max", n(p.n_seq_max)},
      {"kv_unified", b(p.kv_unified)},
      {"swa_full", b(p.swa_full)},
      {"type_k", p.type_k},
      {"type_v", p.type_v},
      {"flash_attn", b(p.flash_attn)},
      {"rope_type", n(p.rope_type)},
      {"rope_scaling_type", n(p.rope_scaling_type)},
      {"rope_freq_base", float_bits(p.rope_freq_base)},
      {"rope_freq_scale", float_bits(p.rope_freq_scale)},
      {"rope_freq_scale_train", float_bits(p.rope_freq_scale_train)},
      {"yarn_ext_factor", float_bits(p.yarn_ext_factor)},
      {"yarn_attn_factor", float_bits(p.yarn_attn_factor)},
      {"yarn_beta_fast", float_bits(p.yarn_beta_fast)},
      {"yarn_beta_slow", float_bits(p.yarn_beta_slow)},
      {"yarn_orig_ctx", n(p.yarn_orig_ctx)},
      {"state_seq_version", n(p.state_seq_version)},
      {"llama_commit", p.llama_commit},
  };
}

}  // namespace

Result<Digest> file_sha256(const std::string& path) { return memoised(path, "safe", compute_whole); }

Result<Digest> gguf_chunked_sha256(const std::string& path) { return memoised(path, "gguf_chunked", compute_chunked); }

Result<Digest> effective_fingerprint(const ModelOptions& options) {
  Result<Digest> base = Digest{};
  switch (options.fingerprint_mode) {
    case format::FingerprintMode::kSafe: base = file_sha256(options.path); break;
    case format::FingerprintMode::kGgufChunked: base = gguf_chunked_sha256(options.path); break;
    case format::FingerprintMode::kFastUnsafe:
      if (!options.fingerprint)
        return Status(Code::kInvalidArgument,
                      "model.fingerprint is required with fingerprint_mode fast_unsafe (32 bytes, caller-trusted)");
      base = *options.fingerprint;
      break;
    default: return Status(Code::kInvalidArgument, "model.fingerprint_mode: unknown mode");
  }
  if (!base.ok()) return base;
  std::vector<LoraAdapter> adapters;
  for (const LoraSpec& l : options.loras) {
    auto sha = file_sha256(l.path);
    if (!sha.ok()) return Status(sha.status().code(), "LoRA adapter " + l.path + ": " + sha.status().message());
    adapters.push_back({*sha, static_cast<double>(l.scale)});
  }
  return lora_effective_fingerprint(*base, adapters);
}

std::string_view ftype_quant_name(int ftype) {
  switch (ftype & ~LLAMA_FTYPE_GUESSED) {
    case LLAMA_FTYPE_ALL_F32: return "f32";
    case LLAMA_FTYPE_MOSTLY_F16: return "f16";
    case LLAMA_FTYPE_MOSTLY_Q4_0: return "q4_0";
    case LLAMA_FTYPE_MOSTLY_Q4_1: return "q4_1";
    case LLAMA_FTYPE_MOSTLY_Q8_0: return "q8_0";
    case LLAMA_FTYPE_MOSTLY_Q5_0: return "q5_0";
    case LLAMA_FTYPE_MOSTLY_Q5_1: return "q5_1";
    case LLAMA_FTYPE_MOSTLY_Q2_K: return "q2_k";
    case LLAMA_FTYPE_MOSTLY_Q3_K_S: return "q3_k_s";
    case LLAMA_FTYPE_MOSTLY_Q3_K_M: return "q3_k_m";
    case LLAMA_FTYPE_MOSTLY_Q3_K_L: return "q3_k_l";
    case LLAMA_FTYPE_MOSTLY_Q4_K_S: return "q4_k_s";
    case LLAMA_FTYPE_MOSTLY_Q4_K_M: return "q4_k_m";
    case LLAMA_FTYPE_MOSTLY_Q5_K_S: return "q5_k_s";
    case LLAMA_FTYPE_MOSTLY_Q5_K_M: return "q5_k_m";
    case LLAMA_FTYPE_MOSTLY_Q6_K: return "q6_k";
    case LLAMA_FTYPE_MOSTLY_IQ2_XXS: return "iq2_xxs";
    case LLAMA_FTYPE_MOSTLY_IQ2_XS: return "iq2_xs";
    case LLAMA_FTYPE_MOSTLY_IQ3_XS: return "iq3_xs";
    case LLAMA_FTYPE_MOSTLY_IQ3_XXS: return "iq3_xxs";
    case LLAMA_FTYPE_MOSTLY_IQ1_S: return "iq1_s";
    case LLAMA_FTYPE_MOSTLY_IQ4_NL: return "iq4_nl";
    case LLAMA_FTYPE_MOSTLY_IQ3_S: return "iq3_s";
    case LLAMA_FTYPE_MOSTLY_IQ3_M: return "iq3_m";
    case LLAMA_FTYPE_MOSTLY_IQ2_S: return "iq2_s";
    case LLAMA_FTYPE_MOSTLY_IQ2_M: return "iq2_m";
    case LLAMA_FTYPE_MOSTLY_IQ4_XS: return "iq4_xs";
    case LLAMA_FTYPE_MOSTLY_IQ1_M: return "iq1_m";
    case LLAMA_FTYPE_MOSTLY_BF16: return "bf16";
    default: return "";
  }
}

std::uint8_t quant_byte_for_model(const llama_model* model) {
  const std::string_view name = ftype_quant_name(static_cast<int>(llama_model_ftype(model)));
  return name.empty() ? kQuantOther : quant_byte(name);
}

std::uint8_t quant_bits_for(std::string_view q) {
  if (q == "f32") return 32;
  if (q == "f16" || q == "bf16") return 16;
  const std::size_t digit = q.find_first_of("12345678");
  if (digit == std::string_view::npos) return 0;
  return static_cast<std::uint8_t>(q[digit] - '0');
}

Digest context_hash(const ContextParams& p) {
  std::string enc = "kvc-ctx-v1";
  for (const auto& [name, value] : fields(p)) put(enc, name, value);
  Digest d = format::sha256(std::as_bytes(std::span(enc.data(), enc.size())));
  if (d == Digest{}) d[0] = 1;  // astronomically unlikely; the contract says never all zero
  return d;
}

std::string context_params_text(const ContextParams& p) {
  std::string out;
  for (const auto& [name, value] : fields(p)) out += name + "=" + value + " ";
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace kvc::engine
