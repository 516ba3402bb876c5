#include "kvc/status.h"

#include <gtest/gtest.h>

namespace kvc {
namespace {

TEST(Status, OkByDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.to_string(), "ok");
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  Status s(Code::kQuotaExceeded, "tier disk: 10 bytes do not fit");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.to_string(), "quota_exceeded: tier disk: 10 bytes do not fit");
}

TEST(Result, HoldsValueOrStatus) {
  Result<int> a(7);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 7);
  EXPECT_TRUE(a.status().ok());
  Result<int> b(Code::kNotFound, "key abc");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace kvc
