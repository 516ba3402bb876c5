#include <gtest/gtest.h>

#include "kvc/key.h"

namespace kvc {
namespace {

// format.md §1.1, transcribed by hand.
TEST(Quant, Table) {
  const std::pair<const char*, int> table[] = {
      {"f32", 0},      {"f16", 1},      {"q4_0", 2},    {"q4_1", 3},    {"q5_0", 4},     {"q5_1", 5},
      {"q8_0", 6},     {"q4_k_m", 7},   {"q4_k_s", 8},  {"q5_k_m", 9},  {"q5_k_s", 10},  {"q6_k", 11},
      {"q8_k", 12},    {"q2_k", 13},    {"q3_k_s", 14}, {"q3_k_m", 15}, {"q3_k_l", 16},  {"iq2_xxs", 17},
      {"iq2_xs", 18},  {"iq2_s", 19},   {"iq2_m", 20},  {"iq3_xxs", 21}, {"iq3_xs", 22}, {"iq3_s", 23},
      {"iq3_m", 24},   {"iq1_s", 25},   {"iq1_m", 26},  {"iq4_nl", 27}, {"iq4_xs", 28},  {"bf16", 29},
  };
  for (const auto& [name, byte] : table) {
    EXPECT_EQ(quant_byte(name), byte) << name;
    EXPECT_EQ(quant_name(static_cast<std::uint8_t>(byte)), name);
    EXPECT_TRUE(quant_byte_valid(static_cast<std::uint8_t>(byte)));
  }
}

TEST(Quant, OtherNamesAre255) {
  EXPECT_EQ(quant_byte("q1_0_weird"), kQuantOther);
  EXPECT_EQ(quant_byte(""), kQuantOther);
  EXPECT_EQ(quant_byte("q4_k"), kQuantOther);
  EXPECT_EQ(quant_name(kQuantOther), "other");
  EXPECT_TRUE(quant_byte_valid(kQuantOther));
}

TEST(Quant, NamesMatchCaseInsensitively) {
  EXPECT_EQ(quant_byte("Q4_K_M"), 7);
  EXPECT_EQ(quant_byte("BF16"), 29);
}

TEST(Quant, Bytes30To254HaveNoName) {
  for (int b = 30; b <= 254; ++b) {
    EXPECT_EQ(quant_name(static_cast<std::uint8_t>(b)), "") << b;
    EXPECT_FALSE(quant_byte_valid(static_cast<std::uint8_t>(b))) << b;
  }
}

}  // namespace
}  // namespace kvc
