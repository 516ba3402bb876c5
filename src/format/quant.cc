// Quant byte table of format.md §1.1.
#include <array>
#include <string_view>

#include "kvc/key.h"

namespace kvc {
namespace {

// Index = quant byte.
constexpr std::array<std::string_view, 30> kQuantNames = {
    "f32",     "f16",    "q4_0",   "q4_1",   "q5_0",    "q5_1",   "q8_0",    "q4_k_m", "q4_k_s",  "q5_k_m",
    "q5_k_s",  "q6_k",   "q8_k",   "q2_k",   "q3_k_s",  "q3_k_m", "q3_k_l",  "iq2_xxs", "iq2_xs", "iq2_s",
    "iq2_m",   "iq3_xxs", "iq3_xs", "iq3_s",  "iq3_m",   "iq1_s",  "iq1_m",   "iq4_nl", "iq4_xs",  "bf16",
};

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_ignore_case(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != lower[i]) return false;
  }
  return true;
}

}  // namespace

// Names match ASCII case-insensitively ("Q4_K_M" is q4_k_m); anything else is 255.
std::uint8_t quant_byte(std::string_view name) {
  for (std::size_t i = 0; i < kQuantNames.size(); ++i) {
    if (equals_ignore_case(name, kQuantNames[i])) return static_cast<std::uint8_t>(i);
  }
  return kQuantOther;
}

std::string_view quant_name(std::uint8_t byte) {
  if (byte < kQuantNames.size()) return kQuantNames[byte];
  if (byte == kQuantOther) return "other";
  return "";
}

bool quant_byte_valid(std::uint8_t byte) { return byte < kQuantNames.size() || byte == kQuantOther; }

}  // namespace kvc
