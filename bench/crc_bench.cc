// CRC32C throughput: kvc::format::crc32c (ISA-L) against two baselines measured in
// the same run on the same buffers:
//   BM_Crc32cBaselineTable   a plain bytewise table-driven CRC32C (Castagnoli, reflected
//                            0x82F63B78), the textbook implementation: what ISA-L buys;
//   BM_Crc32cBaselineMemcpy  memcpy of the buffer into another buffer: the memory-bandwidth
//                            yardstick a checksum pass is compared with.
// Sizes: 4 KiB (L1-resident), 1 MiB (L2/LLC), 64 MiB (DRAM). Throughput is bytes/s.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "format/crc32c.h"

namespace {

// ---- baseline: bytewise table CRC32C ----
constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = make_table();

// Same convention as format::crc32c: `crc` is the value for earlier bytes, 0 to start.
std::uint32_t table_crc32c(std::span<const std::byte> data, std::uint32_t crc = 0) {
  std::uint32_t c = ~crc;
  for (std::byte b : data) c = kTable[(c ^ static_cast<std::uint8_t>(b)) & 0xffu] ^ (c >> 8);
  return ~c;
}

std::vector<std::byte> make_buffer(std::size_t n) {
  std::vector<std::byte> v(n);
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[i] = static_cast<std::byte>(x);
  }
  return v;
}

// Both implementations must agree (and match the check value) before anything is timed.
bool implementations_agree(std::span<const std::byte> buf) {
  static const char kCheck[] = "123456789";
  const auto check = std::as_bytes(std::span(kCheck, 9));
  if (kvc::format::crc32c(check) != 0xE3069283u || table_crc32c(check) != 0xE3069283u) return false;
  const auto head = buf.first(std::min<std::size_t>(buf.size(), 1 << 20));
  return kvc::format::crc32c(head) == table_crc32c(head);
}

void BM_Crc32c(benchmark::State& state) {
  const auto buf = make_buffer(static_cast<std::size_t>(state.range(0)));
  if (!implementations_agree(buf)) {
    state.SkipWithError("format::crc32c disagrees with the table CRC32C");
    return;
  }
  std::uint32_t crc = 0;
  for (auto _ : state) {
    crc = kvc::format::crc32c(buf);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_Crc32cBaselineTable(benchmark::State& state) {
  const auto buf = make_buffer(static_cast<std::size_t>(state.range(0)));
  std::uint32_t crc = 0;
  for (auto _ : state) {
    crc = table_crc32c(buf);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_Crc32cBaselineMemcpy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto src = make_buffer(n);
  std::vector<std::byte> dst(n);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), n);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

constexpr std::int64_t kKiB = 1024, kMiB = 1024 * 1024;

}  // namespace

BENCHMARK(BM_Crc32c)->ArgName("bytes")->Arg(4 * kKiB)->Arg(1 * kMiB)->Arg(64 * kMiB);
BENCHMARK(BM_Crc32cBaselineTable)->ArgName("bytes")->Arg(4 * kKiB)->Arg(1 * kMiB)->Arg(64 * kMiB);
BENCHMARK(BM_Crc32cBaselineMemcpy)->ArgName("bytes")->Arg(4 * kKiB)->Arg(1 * kMiB)->Arg(64 * kMiB);

BENCHMARK_MAIN();
