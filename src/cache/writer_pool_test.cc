#include "cache/writer_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace kvc {
namespace {

WriterPool::Job job(std::function<void()> run, std::uint64_t bytes = 0, std::function<void()> drop = {}) {
  return WriterPool::Job{std::move(run), std::move(drop), bytes};
}

TEST(WriterPool, RunsEveryQueuedJob) {
  std::atomic<int> ran{0};
  {
    WriterPool pool(2, 100, 1 << 20);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.submit(job([&] { ran.fetch_add(1); })));
    pool.drain();
    EXPECT_EQ(ran.load(), 50);
  }
}

TEST(WriterPool, FullQueueRefusesWithoutBlocking) {
  WriterPool pool(1, 2, 1 << 20);
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  std::atomic<int> started{0};
  ASSERT_TRUE(pool.submit(job([&, opened] { started = 1; opened.wait(); })));
  while (started.load() == 0) std::this_thread::yield();  // the worker holds job 1
  EXPECT_TRUE(pool.submit(job([] {})));
  EXPECT_TRUE(pool.submit(job([] {})));
  EXPECT_FALSE(pool.submit(job([] {})));  // queue of 2 is full
  EXPECT_EQ(pool.queued(), 2u);
  gate.set_value();
  pool.drain();
  EXPECT_EQ(pool.queued(), 0u);
  EXPECT_TRUE(pool.submit(job([] {})));
}

TEST(WriterPool, QueueIsBoundedInBytesButTakesOneBigJobAlone) {
  WriterPool pool(1, 100, 1000);
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  std::atomic<int> started{0};
  ASSERT_TRUE(pool.submit(job([&, opened] { started = 1; opened.wait(); })));
  while (started.load() == 0) std::this_thread::yield();
  EXPECT_TRUE(pool.submit(job([] {}, 5000)));   // larger than the bound, but the queue is empty
  EXPECT_FALSE(pool.submit(job([] {}, 1)));     // now nothing more fits
  EXPECT_EQ(pool.queued_bytes(), 5000u);
  gate.set_value();
  pool.drain();
  EXPECT_TRUE(pool.submit(job([] {}, 600)));
  EXPECT_EQ(pool.queued_bytes() <= 600u, true);
}

TEST(WriterPool, DrainWithDeadlineDropsWhatIsQueuedAndRunsTheirDropPaths) {
  WriterPool pool(1, 100, 1 << 20);
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  std::atomic<int> started{0}, ran{0}, dropped{0};
  ASSERT_TRUE(pool.submit(job([&, opened] { started = 1; opened.wait(); ran.fetch_add(1); })));
  while (started.load() == 0) std::this_thread::yield();
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(pool.submit(job([&] { ran.fetch_add(1); }, 10, [&] { dropped.fetch_add(1); })));
  // The running job is waited for (released after the deadline), the queued ones dropped.
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    gate.set_value();
  });
  const std::size_t n = pool.drain(std::chrono::steady_clock::now() + std::chrono::milliseconds(10));
  opener.join();
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(dropped.load(), 5);
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(pool.queued(), 0u);
  EXPECT_EQ(pool.queued_bytes(), 0u);
}

TEST(WriterPool, DestructionFinishesQueuedJobs) {
  std::atomic<int> ran{0};
  {
    WriterPool pool(1, 10, 1 << 20);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.submit(job([&] { ran.fetch_add(1); })));
  }
  EXPECT_EQ(ran.load(), 10);
}

}  // namespace
}  // namespace kvc
