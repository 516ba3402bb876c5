// Remote tier throughput: RemoteStore::put / get of 16 MiB and 256 MiB KVC files
// against raw hiredis SET / GET of the same bytes, same redis-server, same run.
//
//   BM_RemotePut/bytes:N          put(): EXISTS, the file sent from the caller's
//                                 memory (64 MiB chunks + manifest above 64 MiB),
//                                 XADD of the publication.
//     BM_RemotePutBaseline        redisCommandArgv(SET key <file>) on a blocking
//                                 hiredis context: the file pre-built in one buffer.
//   BM_RemoteGet/bytes:N          get(): GET :row (and the chunks), rebuild, full
//                                 format.md validation (CRC32C of the payload, key).
//     BM_RemoteGetBaseline        redisCommandArgv(GET key): the bytes, no checks.
//
// Wall time around the operation only (manual time); building inputs and deleting
// keys between iterations are outside. A redis-server is started on a free
// loopback port (tests/support/redis_server.h) and stopped at exit. The stall
// timeout is raised to 10 s: this measures throughput, not degradation.
// At exit it prints each ratio (raw time / kvc time: ≥ 0.8 is the goal) and the
// load average before and after (the machine is "idle" when load < 0.5).
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "bench_common.h"
#include "format/crc32c.h"
#include "format/kvc_file.h"
#include "support/redis_server.h"
#include "tiers/remote_store.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::int64_t kMiB = 1 << 20;

struct Fixture {
  std::unique_ptr<kvc::testing::RedisServer> server;
  std::unique_ptr<kvc::tiers::RemoteStore> store;
  redisContext* raw = nullptr;
  std::string error;
  Fixture() {
    server = kvc::testing::RedisServer::start({}, &error);
    if (!server) return;
    kvc::tiers::RemoteOptions o;
    o.url = server->url();
    o.timeout = std::chrono::seconds(10);
    auto s = kvc::tiers::RemoteStore::open(o);
    if (!s.ok()) {
      error = s.status().to_string();
      return;
    }
    store = std::move(s).value();
    raw = redisConnect("127.0.0.1", server->port());
    if (raw == nullptr || raw->err != 0) error = "hiredis connect failed";
  }
  ~Fixture() {
    if (raw != nullptr) redisFree(raw);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// A KVC file of `payload_bytes` (prefix built once per size; tokens vary by seed).
struct File {
  kvc::Key key;
  std::vector<std::byte> prefix;
  const std::vector<std::byte>* payload;
};

const std::vector<std::byte>& payload(std::size_t n) {
  static std::map<std::size_t, std::vector<std::byte>> cache;
  auto it = cache.find(n);
  if (it == cache.end()) it = cache.emplace(n, kvc::bench::random_bytes(n, n)).first;
  return it->second;
}

File make_file(std::size_t n, std::uint64_t seed) {
  File f;
  f.payload = &payload(n);
  const auto tokens = kvc::bench::random_tokens(512, seed);
  kvc::format::KvcBuildInput in;
  in.ns = kvc::bench::bench_ns();
  in.tokens = tokens;
  in.producer_version = "kvc bench";
  static std::map<std::size_t, std::uint32_t> crcs;  // the payload CRC, once per size
  if (!crcs.contains(n)) crcs[n] = kvc::format::crc32c(*f.payload);
  f.prefix = kvc::format::build_prefix(in, n, crcs[n]);
  f.key = kvc::derive_key(in.ns, tokens);
  return f;
}

std::map<std::string, double>& seconds_per_op() {
  static std::map<std::string, double> m;
  return m;
}

void record(benchmark::State& state, const std::string& name, double total) {
  state.SetBytesProcessed(state.iterations() * state.range(0));
  if (state.iterations() > 0) seconds_per_op()[name + "/" + std::to_string(state.range(0) / kMiB)] = total / state.iterations();
}

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void BM_RemotePut(benchmark::State& state) {
  auto& fx = fixture();
  if (!fx.store) return state.SkipWithError(fx.error.c_str());
  const auto n = static_cast<std::size_t>(state.range(0));
  double total = 0;
  std::uint64_t seed = 1;
  for (auto _ : state) {
    const File f = make_file(n, seed++);
    const auto t0 = Clock::now();
    const kvc::Status s = fx.store->put(f.key, f.prefix, *f.payload);
    const double t = since(t0);
    state.SetIterationTime(t);
    total += t;
    if (!s.ok()) return state.SkipWithError(s.to_string().c_str());
    (void)fx.store->remove(f.key);
  }
  record(state, "put", total);
}

void BM_RemotePutBaseline(benchmark::State& state) {
  auto& fx = fixture();
  if (!fx.store) return state.SkipWithError(fx.error.c_str());
  const auto n = static_cast<std::size_t>(state.range(0));
  double total = 0;
  std::uint64_t seed = 1;
  for (auto _ : state) {
    const File f = make_file(n, seed++);
    std::string value(reinterpret_cast<const char*>(f.prefix.data()), f.prefix.size());
    value.append(reinterpret_cast<const char*>(f.payload->data()), f.payload->size());
    const std::string key = "raw:" + f.key.hex();
    const char* argv[] = {"SET", key.c_str(), value.data()};
    const std::size_t lens[] = {3, key.size(), value.size()};
    const auto t0 = Clock::now();
    auto* r = static_cast<redisReply*>(redisCommandArgv(fx.raw, 3, argv, lens));
    const double t = since(t0);
    state.SetIterationTime(t);
    total += t;
    if (r == nullptr) return state.SkipWithError("raw SET failed");
    freeReplyObject(r);
    freeReplyObject(redisCommand(fx.raw, "DEL %s", key.c_str()));
  }
  record(state, "set", total);
}

void BM_RemoteGet(benchmark::State& state) {
  auto& fx = fixture();
  if (!fx.store) return state.SkipWithError(fx.error.c_str());
  const auto n = static_cast<std::size_t>(state.range(0));
  const File f = make_file(n, 999);
  if (auto s = fx.store->put(f.key, f.prefix, *f.payload); !s.ok() && s.code() != kvc::Code::kAlreadyPresent)
    return state.SkipWithError(s.to_string().c_str());
  double total = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    auto got = fx.store->get(f.key, kvc::tiers::kNoDeadline);
    const double t = since(t0);
    state.SetIterationTime(t);
    total += t;
    if (!got.ok()) return state.SkipWithError(got.status().to_string().c_str());
  }
  (void)fx.store->remove(f.key);
  record(state, "get", total);
}

void BM_RemoteGetBaseline(benchmark::State& state) {
  auto& fx = fixture();
  if (!fx.store) return state.SkipWithError(fx.error.c_str());
  const auto n = static_cast<std::size_t>(state.range(0));
  const File f = make_file(n, 999);
  std::string value(reinterpret_cast<const char*>(f.prefix.data()), f.prefix.size());
  value.append(reinterpret_cast<const char*>(f.payload->data()), f.payload->size());
  const std::string key = "raw:" + f.key.hex();
  freeReplyObject(redisCommand(fx.raw, "SET %s %b", key.c_str(), value.data(), value.size()));
  value = std::string();
  double total = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    auto* r = static_cast<redisReply*>(redisCommand(fx.raw, "GET %s", key.c_str()));
    const double t = since(t0);
    state.SetIterationTime(t);
    total += t;
    if (r == nullptr || r->type != REDIS_REPLY_STRING) return state.SkipWithError("raw GET failed");
    freeReplyObject(r);
  }
  freeReplyObject(redisCommand(fx.raw, "DEL %s", key.c_str()));
  record(state, "raw_get", total);
}

void sizes(benchmark::internal::Benchmark* b) {
  b->ArgName("bytes")->UseManualTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_RemotePut)->Apply(sizes)->Arg(16 * kMiB)->Iterations(20);
BENCHMARK(BM_RemotePutBaseline)->Apply(sizes)->Arg(16 * kMiB)->Iterations(20);
BENCHMARK(BM_RemoteGet)->Apply(sizes)->Arg(16 * kMiB)->Iterations(20);
BENCHMARK(BM_RemoteGetBaseline)->Apply(sizes)->Arg(16 * kMiB)->Iterations(20);
BENCHMARK(BM_RemotePut)->Apply(sizes)->Arg(256 * kMiB)->Iterations(5);
BENCHMARK(BM_RemotePutBaseline)->Apply(sizes)->Arg(256 * kMiB)->Iterations(5);
BENCHMARK(BM_RemoteGet)->Apply(sizes)->Arg(256 * kMiB)->Iterations(5);
BENCHMARK(BM_RemoteGetBaseline)->Apply(sizes)->Arg(256 * kMiB)->Iterations(5);

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string before = loadavg();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const std::string after = loadavg();
  auto& m = seconds_per_op();
  std::printf("\nremote vs raw hiredis, same redis-server, same run (raw time / kvc time; goal >= 0.8):\n");
  for (const char* mib : {"16", "256"}) {
    auto ratio = [&](const char* kvc, const char* raw) {
      const auto k = m.find(std::string(kvc) + "/" + mib), r = m.find(std::string(raw) + "/" + mib);
      if (k == m.end() || r == m.end() || k->second <= 0) return;
      std::printf("  %-4s %3s MiB: kvc %8.1f ms, raw %8.1f ms, ratio %.2f\n", kvc, mib, k->second * 1e3,
                  r->second * 1e3, r->second / k->second);
    };
    ratio("put", "set");
    ratio("get", "raw_get");
  }
  const bool idle = std::stod(before) < 0.5 && std::stod(after) < 0.5;
  std::printf("load average (1 min) before %s, after %s: machine %s\n", before.c_str(), after.c_str(),
              idle ? "idle" : "NOT idle (figures are noisy)");
  return 0;
}
