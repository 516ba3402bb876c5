#include "tiers/remote_layout.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include "format/crc32c.h"
#include "tiers/remote_test_util.h"

namespace kvc::tiers {
namespace {

using remotetest::make_file;

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

TEST(RemoteKeys, NamesFollowRemoteMd) {
  const Key k = make_file(1).key;
  RemoteKeys keys("kvc:");
  EXPECT_EQ(keys.row(k), "kvc:{" + k.hex() + "}:row");
  EXPECT_EQ(keys.chunk(k, 12), "kvc:{" + k.hex() + "}:c:12");
  EXPECT_EQ(keys.stream(), "kvc::pub");
  EXPECT_EQ(keys.row_pattern(), "kvc:{*}:row");
  EXPECT_EQ(keys.key_of_row(keys.row(k)), k);
  EXPECT_FALSE(keys.key_of_row(keys.chunk(k, 0)).has_value());
  EXPECT_FALSE(keys.key_of_row("kvc:{abc}:row").has_value());
  EXPECT_FALSE(keys.key_of_row("other:{" + k.hex() + "}:row").has_value());
  EXPECT_FALSE(keys.key_of_row("kvc:{" + std::string(64, 'g') + "}:row").has_value());
  EXPECT_EQ(RemoteKeys("a*b?[c]\\:").row_pattern(), "a\\*b\\?\\[c\\]\\\\:{*}:row");
}

TEST(RemoteLayout, ClassifiesValuesByMagic) {
  EXPECT_EQ(classify_row_value(bytes("KVC\x01rest")), RowValueKind::kFile);
  EXPECT_EQ(classify_row_value(bytes("KVCMxxxx")), RowValueKind::kManifest);
  EXPECT_EQ(classify_row_value(bytes("KVX")), RowValueKind::kForeign);
  EXPECT_EQ(classify_row_value(bytes("hello")), RowValueKind::kForeign);
  EXPECT_EQ(classify_row_value({}), RowValueKind::kForeign);
}

TEST(RemoteLayout, ManifestRoundTripAndByteLayout) {
  const auto f = make_file(2, 5000);
  const std::uint32_t crc = format::crc32c(f.whole());
  const auto m = encode_manifest(f.size(), 1024, crc, f.prefix);
  ASSERT_EQ(m.size(), kManifestHeaderSize + f.prefix.size());
  // "KVCM" ‖ u32 1 ‖ u64 size ‖ u32 chunk ‖ u32 count ‖ u32 crc ‖ prefix, little-endian.
  EXPECT_EQ(remotetest::as_string(std::span(m).first(8)), std::string("KVCM\x01\0\0\0", 8));
  auto p = parse_manifest(m);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->file_size, f.size());
  EXPECT_EQ(p->chunk_size, 1024u);
  EXPECT_EQ(p->chunk_count, (f.size() + 1023) / 1024);
  EXPECT_EQ(p->file_crc32c, crc);
  EXPECT_TRUE(std::equal(p->prefix.begin(), p->prefix.end(), f.prefix.begin(), f.prefix.end()));
  EXPECT_EQ(chunk_count_for(2048, 1024), 2u);
  EXPECT_EQ(chunk_count_for(2049, 1024), 3u);
}

TEST(RemoteLayout, ManifestDefectsAreNamed) {
  const auto f = make_file(3, 5000);
  const auto good = encode_manifest(f.size(), 1024, 7, f.prefix);
  auto broken = [&](std::size_t at, std::uint8_t v) {
    auto m = good;
    m[at] = std::byte{v};
    return m;
  };
  struct Case {
    std::vector<std::byte> value;
    const char* says;
  };
  const std::vector<Case> cases = {
      {std::vector<std::byte>(good.begin(), good.begin() + 27), "shorter"},
      {broken(3, 'X'), "magic"},
      {broken(4, 2), "version 2"},
      {broken(17, 0x08), "chunk_count"},  // chunk size 2048: the count no longer matches
      {broken(20, 99), "chunk_count"},
      {std::vector<std::byte>(good.begin(), good.begin() + kManifestHeaderSize), "prefix"},
  };
  for (const auto& c : cases) {
    auto p = parse_manifest(c.value);
    ASSERT_FALSE(p.ok()) << c.says;
    EXPECT_EQ(p.status().code(), Code::kCorrupt);
    EXPECT_NE(p.status().message().find(c.says), std::string::npos) << p.status().message();
  }
  auto zero_chunk = good;
  for (int i = 16; i < 20; ++i) zero_chunk[i] = std::byte{0};
  EXPECT_NE(parse_manifest(zero_chunk).status().message().find("chunk_size is 0"), std::string::npos);
  // More chunks than a reader accepts.
  const auto huge = encode_manifest(std::uint64_t{1} << 40, 4096, 0, f.prefix);
  EXPECT_NE(parse_manifest(huge).status().message().find("more than"), std::string::npos);
}

TEST(RemoteLayout, NamespaceHex) {
  const auto f = make_file(4);
  const std::string hex = namespace_hex(f.ns);
  EXPECT_EQ(hex.size(), 130u);
  EXPECT_EQ(hex.substr(0, 4), "1111");
  EXPECT_EQ(hex.substr(64, 2), "01");
  auto back = namespace_from_hex(hex);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, f.ns);
  EXPECT_FALSE(namespace_from_hex(hex.substr(1)).ok());
  EXPECT_FALSE(namespace_from_hex(std::string(130, 'z')).ok());
}

// The XADD encoding parsed back as a stream entry's field array.
TEST(RemoteLayout, PublicationRoundTrip) {
  const auto f = make_file(5, 100, 300);
  RemoteRow row{f.key, f.ns, f.tokens, f.size(), "host-a", {}};
  const RedisCommand xadd = publication_command("kvc::pub", 1000, row);
  std::vector<iovec> iov;
  xadd.encode(iov);
  std::string resp;
  for (const auto& v : iov) resp.append(static_cast<const char*>(v.iov_base), v.iov_len);
  // The command's arguments form an array of bulk strings: drop XADD key MAXLEN ~ N *.
  redisReader* reader = redisReaderCreate();
  redisReaderFeed(reader, resp.data(), resp.size());
  void* out = nullptr;
  ASSERT_EQ(redisReaderGetReply(reader, &out), REDIS_OK);
  redisReaderFree(reader);
  RedisReply all(static_cast<redisReply*>(out));
  const auto args = reply_elements(all.get());
  ASSERT_EQ(args.size(), 6u + 10u);
  EXPECT_EQ(reply_str(args[0]), "XADD");
  EXPECT_EQ(reply_str(args[2]), "MAXLEN");
  EXPECT_EQ(reply_str(args[3]), "~");
  EXPECT_EQ(reply_str(args[4]), "1000");
  EXPECT_EQ(reply_str(args[5]), "*");
  EXPECT_EQ(reply_str(args[6]), "key");
  EXPECT_EQ(reply_str(args[9]).size(), 130u);
  EXPECT_EQ(reply_str(args[11]).size(), 300u * 4);
  // Re-pack the fields as a stream entry would carry them.
  redisReply fields{};
  fields.type = REDIS_REPLY_ARRAY;
  fields.elements = 10;
  std::vector<redisReply*> elems(args.begin() + 6, args.end());
  fields.element = elems.data();
  auto parsed = parse_publication(&fields);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->key, f.key);
  EXPECT_EQ(parsed->ns, f.ns);
  EXPECT_EQ(parsed->tokens, f.tokens);
  EXPECT_EQ(parsed->bytes, f.size());
  EXPECT_EQ(parsed->host, "host-a");
  // A record whose key does not match its tokens is refused.
  std::string other_tokens(reply_str(args[11]));
  other_tokens[0] ^= 1;
  redisReply tampered = *args[11];
  tampered.str = other_tokens.data();
  elems[5] = &tampered;
  auto bad = parse_publication(&fields);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("does not match"), std::string::npos);
}

}  // namespace
}  // namespace kvc::tiers
