#include "server/admission.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace kvc::server {
namespace {

TEST(AdmissionQueue, RunsUpToSlotsThenQueuesThenRefuses) {
  AdmissionQueue q(2, 1);
  auto a = q.enter();
  auto b = q.enter();
  ASSERT_TRUE(a.ticket);
  ASSERT_TRUE(b.ticket);
  EXPECT_EQ(q.running(), 2);
  std::atomic<bool> third_in{false};
  std::thread waiter([&] {
    auto c = q.enter();
    EXPECT_TRUE(c.ticket);
    third_in = true;
  });
  while (q.waiting() != 1) std::this_thread::yield();
  auto refused = q.enter();  // 2 running + 1 waiting: full
  EXPECT_FALSE(refused.ticket);
  EXPECT_EQ(refused.refusal, AdmissionQueue::Refusal::kQueueFull);
  EXPECT_FALSE(third_in);
  a.ticket.release();
  waiter.join();
  EXPECT_TRUE(third_in);
  EXPECT_EQ(q.running(), 1);  // the waiter's ticket died with its thread
}

TEST(AdmissionQueue, CloseRefusesWaitersAndNewcomers) {
  AdmissionQueue q(1, 4);
  auto a = q.enter();
  ASSERT_TRUE(a.ticket);
  std::thread waiter([&] {
    auto c = q.enter();
    EXPECT_FALSE(c.ticket);
    EXPECT_EQ(c.refusal, AdmissionQueue::Refusal::kClosed);
  });
  while (q.waiting() != 1) std::this_thread::yield();
  q.close();
  waiter.join();
  auto late = q.enter();
  EXPECT_FALSE(late.ticket);
  EXPECT_EQ(late.refusal, AdmissionQueue::Refusal::kClosed);
}

TEST(AdmissionQueue, TicketsReleaseOnce) {
  AdmissionQueue q(1, 0);
  {
    auto a = q.enter();
    ASSERT_TRUE(a.ticket);
    AdmissionQueue::Ticket moved = std::move(a.ticket);
    EXPECT_FALSE(q.enter().ticket);
    moved.release();
    moved.release();
  }
  EXPECT_EQ(q.running(), 0);
  EXPECT_TRUE(q.enter().ticket);
}

TEST(AdmissionQueue, ACancelledWaiterLeavesAndTheNextOneKeepsItsTurn) {
  AdmissionQueue q(1, 4);
  auto running = q.enter();
  ASSERT_TRUE(running.ticket);
  std::atomic<bool> cancel_first{false};
  AdmissionQueue::Refusal first_refusal = AdmissionQueue::Refusal::kQueueFull;
  std::thread first([&] {
    auto e = q.enter(&cancel_first);
    EXPECT_FALSE(e.ticket);
    first_refusal = e.refusal;
  });
  while (q.waiting() != 1) std::this_thread::yield();
  std::atomic<bool> second_in{false};
  std::thread second([&] {
    auto e = q.enter();
    EXPECT_TRUE(e.ticket);
    second_in = true;
  });
  while (q.waiting() != 2) std::this_thread::yield();
  cancel_first = true;
  q.wake();
  first.join();  // left at once, though the slot is still taken
  EXPECT_EQ(first_refusal, AdmissionQueue::Refusal::kCancelled);
  EXPECT_EQ(q.waiting(), 1);
  EXPECT_FALSE(second_in);
  running.ticket.release();  // the second waiter is first now and runs
  second.join();
  EXPECT_TRUE(second_in);
  EXPECT_EQ(q.running(), 0);
}

}  // namespace
}  // namespace kvc::server
