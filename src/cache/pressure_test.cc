#include "cache/pressure.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir.h"

namespace kvc {
namespace {

TEST(PressureSources, MeminfoParsesTotalAndAvailable) {
  testing::TempDir dir;
  const auto path = dir.file("meminfo");
  std::ofstream(path) << "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n";
  auto src = make_meminfo_source(path);
  auto r = src->read();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->total_bytes, 1000u * 1024);
  EXPECT_EQ(r->used_bytes, 750u * 1024);
  EXPECT_EQ(src->name(), "meminfo");
}

TEST(PressureSources, MeminfoUnreadableIsUnavailable) {
  auto src = make_meminfo_source("/nonexistent/meminfo");
  EXPECT_FALSE(src->read().has_value());
}

TEST(PressureSources, RealMeminfoReads) {
  auto r = make_meminfo_source()->read();
  ASSERT_TRUE(r.has_value());
  EXPECT_GT(r->total_bytes, 0u);
  EXPECT_LE(r->used_bytes, r->total_bytes);
}

TEST(PressureSources, NvidiaIsUnavailableWithoutAGpuOrSane) {
  auto r = make_nvidia_source()->read();
  if (r) {
    EXPECT_LE(r->used_bytes, r->total_bytes);  // a machine with a GPU
  }
  // On machines without an NVIDIA driver this is nullopt, which status() reports.
}

TEST(PressureOptionsTest, ValidationNamesTheProblem) {
  PressureOptions o;
  o.low = 0.9;
  o.high = 0.8;
  EXPECT_NE(validate_pressure_options(o).message().find("low < high"), std::string::npos);
  o = PressureOptions{};
  o.interval = std::chrono::milliseconds(0);
  EXPECT_NE(validate_pressure_options(o).message().find("interval_ms"), std::string::npos);
  o = PressureOptions{};
  o.source = PressureOptions::Source::kCallback;
  EXPECT_FALSE(validate_pressure_options(o).ok());
}

struct Fixture {
  MemoryReading reading{0, 1000};
  std::vector<std::uint64_t> asked;
  std::unique_ptr<PressureScheduler> make(PressureOptions o) {
    return std::make_unique<PressureScheduler>(
        o, make_callback_source([this]() -> std::optional<MemoryReading> { return reading; }),
        [this](std::uint64_t n) {
          asked.push_back(n);
          return n;
        });
  }
};

TEST(PressureScheduler, BelowHighEvictsNothing) {
  Fixture f;
  PressureOptions o;
  o.enabled = true;
  o.min_evict_bytes = 1;
  auto s = f.make(o);
  f.reading = {849, 1000};
  EXPECT_EQ(s->tick(), 0u);
  EXPECT_TRUE(f.asked.empty());
  EXPECT_NEAR(s->status().last_ratio, 0.849, 1e-9);
  EXPECT_TRUE(s->status().source_available);
}

TEST(PressureScheduler, AtHighEvictsDownToLow) {
  Fixture f;
  PressureOptions o;
  o.enabled = true;
  o.min_evict_bytes = 1;
  auto s = f.make(o);
  f.reading = {900, 1000};
  EXPECT_EQ(s->tick(), 150u);  // 900 − 0.75·1000
  ASSERT_EQ(f.asked.size(), 1u);
  EXPECT_EQ(f.asked[0], 150u);
  EXPECT_EQ(s->status().last_evicted_bytes, 150u);
}

TEST(PressureScheduler, AtLeastMinEvictBytes) {
  Fixture f;
  PressureOptions o;
  o.enabled = true;
  o.min_evict_bytes = 1 << 20;
  auto s = f.make(o);
  f.reading = {850, 1000};
  s->tick();
  ASSERT_EQ(f.asked.size(), 1u);
  EXPECT_EQ(f.asked[0], 1u << 20);
}

TEST(PressureScheduler, UnavailableSourceIsReported) {
  PressureOptions o;
  o.enabled = true;
  PressureScheduler s(o, make_callback_source([] { return std::optional<MemoryReading>{}; }),
                      [](std::uint64_t) -> std::uint64_t { return 0; });
  EXPECT_EQ(s.tick(), 0u);
  EXPECT_FALSE(s.status().source_available);
  EXPECT_EQ(s.status().source, "callback");
}

}  // namespace
}  // namespace kvc
