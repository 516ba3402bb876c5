// StateSnapshotter: one get_data pass per save once the size model is known, the
// bytes always those of a plain llama_state_seq_get_size + get_data, and a bound
// that turns out too small falls back to the exact size.
#include "engine/state_snapshot.h"

#include <gtest/gtest.h>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {

bool same_bytes(const ByteBuffer& a, const std::vector<std::byte>& b) {
  return a.size() == b.size() && std::equal(b.begin(), b.end(), a.data());
}

TEST(StateSnapshot, OneSerializationOnceTheSizeModelIsKnown) {
  KVC_REQUIRE_MODEL(model);
  Reference ref(model);
  auto ctx = ref.context();
  const auto tokens = random_prompt(300, 41);
  StateSnapshotter snap;
  EXPECT_EQ(snap.bound(100), 0u);
  std::size_t decoded = 0;
  for (std::size_t n : {100u, 160u, 230u, 300u}) {
    ref.decode(ctx.get(), tokens, decoded, n);
    decoded = n;
    const auto s = snap.take(ctx.get(), 0, n);
    EXPECT_TRUE(same_bytes(s.bytes, seq_state(ctx.get()))) << n;
    EXPECT_EQ(s.dry_run, n < 200) << n;  // the first two learn the model
    if (n >= 200) {
      EXPECT_GE(snap.bound(n), s.bytes.size());
      EXPECT_LE(snap.bound(n), s.bytes.size() + 16384 + s.bytes.size() / 128);
    }
  }
  // Fewer tokens (a truncated sequence): the bound still covers it.
  ASSERT_TRUE(llama_memory_seq_rm(llama_get_memory(ctx.get()), 0, 37, -1));
  const auto s = snap.take(ctx.get(), 0, 37);
  EXPECT_FALSE(s.dry_run);
  EXPECT_TRUE(same_bytes(s.bytes, seq_state(ctx.get())));
  EXPECT_EQ(snap.dry_runs(), 2u);
}

// A snapshot let go of (as the writer pool does after writing a save) goes back
// to the pool: the next one of that size reuses its already-faulted pages. The
// pool keeps buffers of 1 MiB and more: about 3 900 tokens of the tiny model.
TEST(StateSnapshot, ALargeSnapshotReusesAPooledBuffer) {
  KVC_REQUIRE_MODEL(model);
  Reference ref(model, 4608);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 4608;
  cp.n_batch = cp.n_ubatch = 512;
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = test_threads();
  cp.no_perf = true;
  ContextPtr ctx(llama_init_from_model(ref.model(), cp));
  ASSERT_TRUE(ctx);
  const auto tokens = random_prompt(4200, 44);
  Batch b(512);
  for (std::size_t start = 0; start < tokens.size(); start += 512) {
    b.clear();
    const std::size_t end = std::min(tokens.size(), start + 512);
    for (std::size_t i = start; i < end; ++i) b.add(tokens[i], static_cast<llama_pos>(i), 0, i + 1 == end);
    ASSERT_EQ(llama_decode(ctx.get(), b.get()), 0);
  }
  StateSnapshotter snap;
  ASSERT_TRUE(llama_memory_seq_rm(llama_get_memory(ctx.get()), 0, 4100, -1));
  snap.take(ctx.get(), 0, 4100);  // the two snapshots that learn the size model
  ASSERT_TRUE(llama_memory_seq_rm(llama_get_memory(ctx.get()), 0, 4000, -1));
  const auto first = snap.take(ctx.get(), 0, 4000);
  ASSERT_GE(first.bytes.size(), std::size_t{1} << 20);
  const auto before = BufferPool::shared().stats();
  { const auto dropped = snap.take(ctx.get(), 0, 4000); }
  const auto again = snap.take(ctx.get(), 0, 4000);
  EXPECT_FALSE(again.dry_run);
  EXPECT_GE(BufferPool::shared().stats().reused, before.reused + 1);
  EXPECT_TRUE(same_bytes(again.bytes, seq_state(ctx.get())));
}

TEST(StateSnapshot, ABoundTooSmallFallsBackToTheExactSize) {
  KVC_REQUIRE_MODEL(model);
  Reference ref(model);
  auto f16 = ref.context();
  const auto tokens = random_prompt(200, 42);
  StateSnapshotter snap;
  ref.decode(f16.get(), tokens, 0, 100);
  snap.take(f16.get(), 0, 100);
  ref.decode(f16.get(), tokens, 100, 200);
  snap.take(f16.get(), 0, 200);
  ASSERT_EQ(snap.dry_runs(), 2u);

  // A context with F32 K/V: twice the bytes per token the model learned.
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 1024;
  cp.n_batch = cp.n_ubatch = kBatch;
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = test_threads();
  cp.type_k = GGML_TYPE_F32;
  cp.type_v = GGML_TYPE_F32;
  cp.no_perf = true;
  ContextPtr f32(llama_init_from_model(ref.model(), cp));
  ASSERT_TRUE(f32);
  ref.decode(f32.get(), tokens, 0, 200);
  const auto s = snap.take(f32.get(), 0, 200);  // llama.cpp logs "error saving state" once: expected
  EXPECT_TRUE(s.dry_run);
  EXPECT_TRUE(same_bytes(s.bytes, seq_state(f32.get())));
  EXPECT_EQ(snap.dry_runs(), 3u);
}

TEST(StateSnapshot, RecurrentStateHasAConstantSize) {
  const std::string model = tiny_model_of("tiny-mamba");
  if (model.empty()) GTEST_SKIP() << "KVC_MKMODEL is not set (run through ctest)";
  Reference ref(model);
  auto ctx = ref.context();
  const auto tokens = random_prompt(120, 43);
  StateSnapshotter snap;
  std::size_t decoded = 0;
  for (std::size_t n : {30u, 60u, 90u, 120u}) {
    ref.decode(ctx.get(), tokens, decoded, n);
    decoded = n;
    const auto s = snap.take(ctx.get(), 0, n);
    EXPECT_TRUE(same_bytes(s.bytes, seq_state(ctx.get()))) << n;
  }
  EXPECT_EQ(snap.dry_runs(), 2u);
}

}  // namespace
}  // namespace kvc::engine::testing
