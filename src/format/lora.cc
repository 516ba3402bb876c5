// LoRA effective fingerprint (format.md §1.3).
#include "format/lora.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "format/le.h"
#include "format/sha256.h"
#include "kvc/key.h"

namespace kvc {
namespace format {

std::optional<std::int64_t> lora_scale_fixed(double scale) {
  if (!std::isfinite(scale)) return std::nullopt;
  // × 2^32 is exact in binary floating point (barring overflow to inf, caught below);
  // std::round rounds half away from zero.
  const double v = std::round(std::ldexp(scale, 32));
  constexpr double kTwo63 = 9223372036854775808.0;  // 2^63, exactly representable
  if (!(v >= -kTwo63 && v < kTwo63)) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

}  // namespace format

Result<Digest> lora_effective_fingerprint(const Digest& base, std::span<const LoraAdapter> adapters) {
  if (adapters.empty()) return base;

  struct Entry {
    Digest sha;
    double scale;
    std::int64_t fixed;
  };
  std::vector<Entry> entries;
  entries.reserve(adapters.size());
  for (std::size_t i = 0; i < adapters.size(); ++i) {
    const auto fixed = format::lora_scale_fixed(adapters[i].scale);
    if (!fixed) {
      return Status(Code::kInvalidArgument, "LoRA adapter " + std::to_string(i) + " (sha256 " +
                                                to_hex(adapters[i].sha256) + ") has scale " +
                                                std::to_string(adapters[i].scale) +
                                                ", which is not finite or too large; use a finite scale");
    }
    entries.push_back({adapters[i].sha256, adapters[i].scale, *fixed});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.sha != b.sha) return a.sha < b.sha;
    return a.scale < b.scale;
  });

  format::Sha256 h;
  h.update(base.data(), base.size());
  std::vector<std::byte> buf;
  buf.reserve(40);
  for (const Entry& e : entries) {
    buf.clear();
    for (std::uint8_t b : e.sha) format::le::put_u8(buf, b);
    format::le::put_u64(buf, static_cast<std::uint64_t>(e.fixed));
    h.update(buf);
  }
  return h.digest();
}

}  // namespace kvc
