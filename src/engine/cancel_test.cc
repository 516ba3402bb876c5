// CompletionRequest::cancel: a request is stopped wherever it is — queued behind
// another one, prefilling, or generating with no on_text — and its sequence and
// lease are free when complete() returns.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "engine/engine_test_util.h"

namespace kvc::engine::testing {
namespace {

using Flag = std::shared_ptr<std::atomic<bool>>;

Flag new_flag() { return std::make_shared<std::atomic<bool>>(false); }

std::uint64_t leases(Cache& c) {
  std::uint64_t n = 0;
  for (const auto& r : c.rows()) n += r.leases;
  return n;
}

// A request that would generate until the sequence is full (~900 tokens).
CompletionRequest long_request(std::uint32_t seed, const Flag& cancel) {
  CompletionRequest r = greedy(random_prompt(100, seed), 4000);
  r.cancel = cancel;
  return r;
}

TEST(Cancel, RunningRequestWithoutTextCallbackStops) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));
  ASSERT_TRUE(e);
  // Let the first request start: a second request's on_text tells us it generates.
  const Flag cancel = new_flag();
  std::atomic<bool> started{false};
  CompletionRequest probe = long_request(1, cancel);
  probe.on_text = [&](std::string_view) {
    started = true;
    return true;
  };
  auto running = std::async(std::launch::async, [&] { return e->complete(std::move(probe)); });
  while (!started) std::this_thread::yield();
  cancel->store(true);
  auto r = running.get();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->report.finish_reason, FinishReason::kCancelled);
  EXPECT_LT(r->report.generated_tokens, 900u);

  // Now without any on_text at all: cancelled while generating silently.
  const Flag silent = new_flag();
  auto quiet = std::async(std::launch::async, [&] { return e->complete(long_request(2, silent)); });
  // The request holds the only sequence until it is cancelled; cancel it as soon
  // as the scheduler has it (a lookup-time cancel is also a valid outcome).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  silent->store(true);
  auto q = quiet.get();
  if (q.ok()) {
    EXPECT_EQ(q->report.finish_reason, FinishReason::kCancelled);
    EXPECT_LT(q->report.generated_tokens, 900u);
  } else {
    EXPECT_EQ(q.status().code(), Code::kCancelled);
  }
  EXPECT_EQ(leases(e->cache()), 0u);
  // The sequence is free: a normal request runs to its end.
  auto after = e->complete(greedy(random_prompt(20, 3), 4));
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  EXPECT_EQ(after->report.generated_tokens, 4u);
}

TEST(Cancel, QueuedRequestFailsWhileTheRunningOneContinues) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto e = open_engine(test_options(model, dir.path()));  // one sequence
  ASSERT_TRUE(e);
  const Flag first_cancel = new_flag();
  std::atomic<bool> started{false};
  std::atomic<bool> first_done{false};
  CompletionRequest first = long_request(4, first_cancel);
  first.on_text = [&](std::string_view) {
    started = true;
    return true;
  };
  auto running = std::async(std::launch::async, [&] {
    auto r = e->complete(std::move(first));
    first_done = true;
    return r;
  });
  while (!started) std::this_thread::yield();

  const Flag second_cancel = new_flag();
  auto queued = std::async(std::launch::async, [&] { return e->complete(long_request(5, second_cancel)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // usually queued by now; either way it must stop
  second_cancel->store(true);
  auto q = queued.get();
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), Code::kCancelled) << q.status().to_string();
  EXPECT_FALSE(first_done.load()) << "the queued request ended only because the running one did";

  first_cancel->store(true);
  auto r = running.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->report.finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(leases(e->cache()), 0u);
}

TEST(Cancel, PrefillingRequestClearsItsSequence) {
  KVC_REQUIRE_MODEL(model);
  kvc::testing::TempDir dir("kvc-engine");
  auto o = test_options(model, dir.path());
  o.cache.policy.saves_enabled = false;
  o.sticky_sessions = false;  // a cancelled generation is not parked either
  auto e = open_engine(o);
  ASSERT_TRUE(e);
  // 1000 prompt tokens are 16 batches of 64: cancelled already, the request never
  // reaches generation.
  const Flag cancel = new_flag();
  cancel->store(true);
  CompletionRequest r = greedy(random_prompt(1000, 6), 8);
  r.cancel = cancel;
  auto out = e->complete(std::move(r));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), Code::kCancelled);

  // Cancelled while prefilling: whatever it reached, no tokens beyond the prompt.
  const Flag mid = new_flag();
  std::atomic<bool> go{false};
  CompletionRequest r2 = greedy(random_prompt(1000, 7), 8);
  r2.cancel = mid;
  auto pending = std::async(std::launch::async, [&] {
    go = true;
    return e->complete(std::move(r2));
  });
  while (!go) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  mid->store(true);
  auto res = pending.get();
  if (res.ok()) {
    EXPECT_EQ(res->report.finish_reason, FinishReason::kCancelled);
  } else {
    EXPECT_EQ(res.status().code(), Code::kCancelled);
  }
  // The same prompt afterwards starts cold and is exact: nothing of the cancelled
  // request was left on the sequence.
  auto again = e->complete(greedy(random_prompt(1000, 7), 4));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->report.cached_tokens, 0u);
  EXPECT_EQ(again->tokens, cold_reference(model, random_prompt(1000, 7), 4));
}

}  // namespace
}  // namespace kvc::engine::testing
