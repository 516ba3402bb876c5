#include "server/sse.h"

#include <gtest/gtest.h>

#include <thread>

namespace kvc::server {
namespace {

TEST(Sse, EventFraming) {
  EXPECT_EQ(sse_event("{\"a\":1}"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(kSseComment.front(), ':');
}

TEST(PieceBuffer, OneScheduleUntilTaken) {
  PieceBuffer b;
  EXPECT_TRUE(b.push("a"));
  EXPECT_FALSE(b.push("b"));
  EXPECT_EQ(b.take(), "ab");
  EXPECT_EQ(b.take(), "");
  EXPECT_TRUE(b.push("c"));
  EXPECT_EQ(b.take(), "c");
}

TEST(PieceBuffer, NothingIsLostAcrossThreads) {
  PieceBuffer b;
  std::string got;
  std::atomic<int> schedules{0};
  std::thread producer([&] {
    for (int i = 0; i < 10000; ++i) {
      if (b.push("x")) ++schedules;
    }
  });
  while (got.size() < 10000) got += b.take();
  producer.join();
  got += b.take();
  EXPECT_EQ(got, std::string(10000, 'x'));
  EXPECT_GE(schedules.load(), 1);
}

}  // namespace
}  // namespace kvc::server
