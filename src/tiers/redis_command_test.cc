#include "tiers/redis_command.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>
#include <vector>

namespace kvc::tiers {
namespace {

std::string flatten(const RedisCommand& c) {
  std::vector<iovec> iov;
  c.encode(iov);
  std::string out;
  for (const auto& v : iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  return out;
}

// The reference: hiredis' own encoder of the same arguments.
std::string hiredis_encoding(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), argv.data(), lens.data());
  std::string out(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
  return out;
}

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(RedisCommand, EncodesAsHiredisDoes) {
  const std::string binary("a\0b\r\nc", 6);
  RedisCommand c({"SET", "kvc:{abc}:row"});
  c.arg(binary).arg("EX").arg(std::uint64_t{3600});
  EXPECT_EQ(flatten(c), hiredis_encoding({"SET", "kvc:{abc}:row", binary, "EX", "3600"}));
  EXPECT_EQ(c.encoded_size(), flatten(c).size());
  EXPECT_EQ(c.argc(), 5u);
  EXPECT_EQ(c.name(), "SET");
  EXPECT_EQ(flatten(RedisCommand({"PING"})), hiredis_encoding({"PING"}));
  EXPECT_EQ(flatten(RedisCommand({"SET", "k", ""})), hiredis_encoding({"SET", "k", ""}));
}

TEST(RedisCommand, ReferencedPiecesAreOneArgumentAndAreNotCopied) {
  std::string prefix(100, 'p');
  std::string payload(1 << 20, 'x');
  RedisCommand c({"SET", "k"});
  c.arg_ref(bytes(prefix), bytes(payload));
  c.arg("EX").arg(std::uint64_t{5});
  EXPECT_EQ(flatten(c), hiredis_encoding({"SET", "k", prefix + payload, "EX", "5"}));
  // The iovecs point into the caller's buffers.
  std::vector<iovec> iov;
  c.encode(iov);
  bool saw_prefix = false, saw_payload = false;
  for (const auto& v : iov) {
    saw_prefix = saw_prefix || v.iov_base == prefix.data();
    saw_payload = saw_payload || v.iov_base == payload.data();
  }
  EXPECT_TRUE(saw_prefix);
  EXPECT_TRUE(saw_payload);
  // One piece, or an empty one, is an argument too.
  RedisCommand one({"SET", "k"});
  one.arg_ref(bytes(payload));
  EXPECT_EQ(flatten(one), hiredis_encoding({"SET", "k", payload}));
  RedisCommand empty({"SET", "k"});
  empty.arg_ref({}, {});
  EXPECT_EQ(flatten(empty), hiredis_encoding({"SET", "k", ""}));
}

}  // namespace
}  // namespace kvc::tiers
