#include "server/save_error_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kvc::server {
namespace {

Key key_of(std::uint8_t b) {
  Key k;
  for (auto& x : k.bytes) x = b;
  return k;
}

TEST(SaveErrorLog, FirstFailureAtOnceThenOneLinePerIntervalWithTheCount) {
  std::vector<std::string> lines;
  SaveErrorLog log([&](const std::string& l) { lines.push_back(l); }, std::chrono::seconds(10));
  const auto t0 = SaveErrorLog::Clock::time_point{} + std::chrono::hours(1);
  const Status no_space(Code::kNoSpace, "append /d/x.tmp: No space left on device");
  log.report(key_of(0xab), no_space, t0);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("no_space"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("No space left on device"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("abababab"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[0].find("more failed"), std::string::npos);
  for (int i = 1; i <= 5; ++i) log.report(key_of(1), no_space, t0 + std::chrono::seconds(i));
  EXPECT_EQ(lines.size(), 1u) << "flooded the log";
  log.report(key_of(2), Status(Code::kIoError, "fdatasync: EIO"), t0 + std::chrono::seconds(10));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("io_error"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("(5 more failed saves since the last report)"), std::string::npos) << lines[1];
  log.report(key_of(3), no_space, t0 + std::chrono::seconds(30));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2].find("more failed"), std::string::npos) << lines[2];
}

}  // namespace
}  // namespace kvc::server
