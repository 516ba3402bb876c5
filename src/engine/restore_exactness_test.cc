// llama.cpp facts the engine relies on (engine.md §2, llama-cpp.md), checked
// bitwise on the tiny model: restore(N)+decode(t) == prefill(N)+decode(t), and a
// longer state truncated to M serves M like a prefill of M.
#include <gtest/gtest.h>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {

TEST(RestoreExactness, RestoreThenDecodeEqualsPrefillThenDecode) {
  KVC_REQUIRE_MODEL(model);
  Reference ref(model);
  std::mt19937 rng(42);
  for (int round = 0; round < 3; ++round) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(20, 300)(rng);
    const std::size_t t = std::uniform_int_distribution<std::size_t>(1, 12)(rng);
    const auto tokens = random_prompt(n + t, 100 + static_cast<std::uint32_t>(round));
    auto a = ref.context();
    ref.decode(a.get(), tokens, 0, n);
    const auto state = seq_state(a.get());
    const auto direct = ref.decode(a.get(), tokens, n, n + t);

    auto b = ref.context();
    ASSERT_EQ(llama_state_seq_set_data(b.get(), reinterpret_cast<const std::uint8_t*>(state.data()), state.size(), 0),
              state.size());
    const auto restored = ref.decode(b.get(), tokens, n, n + t);
    EXPECT_TRUE(bitwise_equal(direct, restored)) << "n=" << n << " t=" << t;
  }
}

// KV values depend on the prefill chunk shapes (a position computed in a batch of
// 64 may differ in the last bit from the same position in a batch of 37), so the
// like-for-like reference truncates the original context the same way.
TEST(RestoreExactness, TruncatedStateEqualsTruncatedOriginal) {
  KVC_REQUIRE_MODEL(model);
  Reference ref(model);
  const auto tokens = random_prompt(260, 7);
  auto a = ref.context();
  ref.decode(a.get(), tokens, 0, 250);
  const auto state = seq_state(a.get());
  for (std::size_t m : {37u, 128u, 249u}) {
    auto b = ref.context();
    ASSERT_EQ(llama_state_seq_set_data(b.get(), reinterpret_cast<const std::uint8_t*>(state.data()), state.size(), 0),
              state.size());
    ASSERT_TRUE(llama_memory_seq_rm(llama_get_memory(b.get()), 0, static_cast<llama_pos>(m), -1));
    const auto truncated = ref.decode(b.get(), tokens, m, m + 1);

    auto c = ref.context();
    ref.decode(c.get(), tokens, 0, 250);
    ASSERT_TRUE(llama_memory_seq_rm(llama_get_memory(c.get()), 0, static_cast<llama_pos>(m), -1));
    const auto original = ref.decode(c.get(), tokens, m, m + 1);
    EXPECT_TRUE(bitwise_equal(truncated, original)) << "m=" << m;

    if (m % kBatch == 0) {  // on the chunk grid, a plain prefill of m computes the same KV
      auto d = ref.context();
      ref.decode(d.get(), tokens, 0, m);
      EXPECT_TRUE(bitwise_equal(truncated, ref.decode(d.get(), tokens, m, m + 1))) << "m=" << m;
    }
  }
}

}  // namespace
}  // namespace kvc::engine::testing
