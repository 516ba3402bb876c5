#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "kvc/options.h"

namespace kvc {
namespace {

TEST(SavePolicy, DefaultsAreValid) { EXPECT_TRUE(SavePolicy{}.validate().ok()); }

TEST(SavePolicy, EachBadSettingIsNamed) {
  struct Case {
    void (*mutate)(SavePolicy&);
    const char* setting;
  };
  const Case cases[] = {
      {[](SavePolicy& p) { p.min_tokens = -1; }, "min_tokens"},
      {[](SavePolicy& p) { p.cold_min_tokens = 100; }, "cold_min_tokens"},
      {[](SavePolicy& p) { p.cold_max_tokens = 511; }, "cold_max_tokens"},
      {[](SavePolicy& p) { p.continued_interval = 0; }, "continued_interval"},
      {[](SavePolicy& p) { p.boundary_trim_tokens = -5; }, "boundary_trim_tokens"},
      {[](SavePolicy& p) { p.boundary_align_tokens = 0; }, "boundary_align_tokens"},
      {[](SavePolicy& p) { p.session_resume_wait_ms = -1; }, "session_resume_wait_ms"},
  };
  for (const auto& c : cases) {
    SavePolicy p;
    c.mutate(p);
    Status s = p.validate();
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.setting;
    EXPECT_NE(s.message().find(c.setting), std::string::npos) << s.message();
  }
}

TEST(SavePolicy, AlignedLengthExamples) {
  SavePolicy p;  // trim 32, align 2048, min 512
  EXPECT_EQ(p.aligned_length(0), std::nullopt);
  EXPECT_EQ(p.aligned_length(2079), std::nullopt);  // 2047 after trim
  EXPECT_EQ(p.aligned_length(2080), 2048u);
  EXPECT_EQ(p.aligned_length(4127), 2048u);
  EXPECT_EQ(p.aligned_length(4128), 4096u);
  p.boundary_align_tokens = 256;
  p.min_tokens = 512;
  EXPECT_EQ(p.aligned_length(300), std::nullopt);  // 256 < min_tokens
  EXPECT_EQ(p.aligned_length(600), 512u);
}

TEST(SavePolicy, Gates) {
  SavePolicy p;
  EXPECT_FALSE(p.allows_cold(511));
  EXPECT_TRUE(p.allows_cold(512));
  EXPECT_TRUE(p.allows_cold(30000));
  EXPECT_FALSE(p.allows_cold(30001));
  EXPECT_FALSE(p.continued_due(2047));
  EXPECT_TRUE(p.continued_due(2048));
  p.saves_enabled = false;
  EXPECT_FALSE(p.allows_cold(1000));
  EXPECT_FALSE(p.continued_due(5000));
}

RC_GTEST_PROP(SavePolicyProp, AlignedLengthArithmetic, ()) {
  SavePolicy p;
  p.min_tokens = 0;
  p.cold_min_tokens = 0;
  p.boundary_trim_tokens = *rc::gen::inRange<std::int64_t>(0, 100);
  p.boundary_align_tokens = *rc::gen::inRange<std::int64_t>(1, 5000);
  const auto len = *rc::gen::inRange<std::size_t>(0, 100000);
  RC_ASSERT(p.validate().ok());
  const auto got = p.aligned_length(len);
  const auto trim = static_cast<std::size_t>(p.boundary_trim_tokens);
  const auto align = static_cast<std::size_t>(p.boundary_align_tokens);
  if (len < trim || len - trim < align) {
    RC_ASSERT(!got.has_value());
  } else {
    RC_ASSERT(got.has_value());
    RC_ASSERT(*got % align == 0);
    RC_ASSERT(*got <= len - trim);
    RC_ASSERT(*got + align > len - trim);
  }
}

}  // namespace
}  // namespace kvc
