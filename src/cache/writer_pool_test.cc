#include "cache/writer_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace kvc {
namespace {

TEST(WriterPool, RunsEveryQueuedJob) {
  std::atomic<int> ran{0};
  {
    WriterPool pool(2, 100);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.submit([&] { ran.fetch_add(1); }));
    pool.drain();
    EXPECT_EQ(ran.load(), 50);
  }
}

TEST(WriterPool, FullQueueRefusesWithoutBlocking) {
  WriterPool pool(1, 2);
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  std::atomic<int> started{0};
  ASSERT_TRUE(pool.submit([&, opened] { started = 1; opened.wait(); }));
  while (started.load() == 0) std::this_thread::yield();  // the worker holds job 1
  EXPECT_TRUE(pool.submit([] {}));
  EXPECT_TRUE(pool.submit([] {}));
  EXPECT_FALSE(pool.submit([] {}));  // queue of 2 is full
  EXPECT_EQ(pool.queued(), 2u);
  gate.set_value();
  pool.drain();
  EXPECT_EQ(pool.queued(), 0u);
  EXPECT_TRUE(pool.submit([] {}));
}

TEST(WriterPool, DestructionFinishesQueuedJobs) {
  std::atomic<int> ran{0};
  {
    WriterPool pool(1, 10);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.submit([&] { ran.fetch_add(1); }));
  }
  EXPECT_EQ(ran.load(), 10);
}

}  // namespace
}  // namespace kvc
