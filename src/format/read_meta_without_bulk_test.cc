// The metadata-only reader (read_meta_without_bulk, parse_meta with kWithoutBulk):
// it decides exactly what the full parse decides, reads none of the bulk, and never
// looks at a byte it skipped.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "format/kvc_file.h"

namespace kvc::format {
namespace {

// A file read through read_at, recording each read.
struct Reader {
  std::span<const std::byte> file;
  std::size_t fail_at = SIZE_MAX;  // a read that reaches this offset fails (returns 0)
  std::vector<std::pair<std::uint64_t, std::size_t>> reads;  // (offset, bytes)

  std::size_t operator()(std::uint64_t offset, std::span<std::byte> out) {
    reads.emplace_back(offset, out.size());
    if (offset + out.size() > fail_at || offset >= file.size()) return 0;
    const std::size_t n = std::min<std::size_t>(out.size(), file.size() - offset);
    std::memcpy(out.data(), file.data() + offset, n);
    return n;
  }
  std::uint64_t bytes_read() const {
    std::uint64_t n = 0;
    for (const auto& r : reads) n += r.second;
    return n;
  }
};

// Reads `file` (claimed to be `file_size` bytes) with scratch full of garbage, so a
// result that depended on a skipped byte would differ from parse_meta's.
Parsed<KvcMeta> read_sparse(std::span<const std::byte> file, std::uint64_t file_size, Reader* reader = nullptr,
                            std::uint8_t garbage = 0xA5) {
  Reader local{file};
  Reader& r = reader != nullptr ? *reader : local;
  r.file = file;
  std::vector<std::byte> scratch(file.size() + 8192, std::byte{garbage});
  return read_meta_without_bulk(std::ref(r), file_size, scratch);
}

void expect_same(const Parsed<KvcMeta>& a, const Parsed<KvcMeta>& b) {
  RC_ASSERT(a.ok() == b.ok());
  if (!a.ok()) {
    RC_ASSERT(error_name(a.error) == error_name(b.error));
    return;
  }
  const KvcMeta& x = *a.value;
  const KvcMeta& y = *b.value;
  RC_ASSERT(x.key() == y.key());
  RC_ASSERT(x.tokens == y.tokens);
  RC_ASSERT(x.header.quant_bits == y.header.quant_bits);
  RC_ASSERT(x.header.save_reason == y.header.save_reason);
  RC_ASSERT(x.header.cached_token_count == y.header.cached_token_count);
  RC_ASSERT(x.header.hit_count == y.header.hit_count);
  RC_ASSERT(x.header.context_size == y.header.context_size);
  RC_ASSERT(x.header.creation_time == y.header.creation_time);
  RC_ASSERT(x.header.last_used_time == y.header.last_used_time);
  RC_ASSERT(x.header.payload_byte_count == y.header.payload_byte_count);
  RC_ASSERT(x.payload_offset == y.payload_offset);
  RC_ASSERT(x.payload_length == y.payload_length);
  RC_ASSERT(x.payload_crc32c == y.payload_crc32c);
  RC_ASSERT(x.fingerprint_mode == y.fingerprint_mode);
  RC_ASSERT(x.hostname == y.hostname);
  RC_ASSERT(x.producer_version == y.producer_version);
  RC_ASSERT(x.save_reason_detail == y.save_reason_detail);
  RC_ASSERT(x.unknown_tlvs.size() == y.unknown_tlvs.size());
  for (std::size_t i = 0; i < x.unknown_tlvs.size(); ++i) {
    RC_ASSERT(x.unknown_tlvs[i].tag == y.unknown_tlvs[i].tag);
    RC_ASSERT(x.unknown_tlvs[i].value == y.unknown_tlvs[i].value);
  }
}

std::vector<std::byte> random_file(std::size_t n_vocab_max) {
  KvcBuildInput in;
  const std::string prompt = *rc::gen::resize(40, rc::gen::string<std::string>());
  const std::string host = *rc::gen::resize(6, rc::gen::string<std::string>());
  const auto tokens = *rc::gen::resize(20, rc::gen::arbitrary<std::vector<std::uint32_t>>());
  std::vector<float> logits(*rc::gen::inRange<std::size_t>(0, n_vocab_max));
  for (float& f : logits) f = std::bit_cast<float>(*rc::gen::arbitrary<std::uint32_t>());
  std::vector<PositionLogits> records;
  std::uint32_t next = *rc::gen::inRange<std::uint32_t>(0, 8);
  for (int i = 0, n = *rc::gen::inRange(0, 5); i < n; ++i) {
    PositionLogits r{next, std::vector<float>(*rc::gen::inRange<std::size_t>(1, n_vocab_max + 1))};
    for (float& f : r.logits) f = std::bit_cast<float>(*rc::gen::arbitrary<std::uint32_t>());
    records.push_back(std::move(r));
    next += *rc::gen::inRange<std::uint32_t>(1, 100);
  }
  const auto payload_bytes = *rc::gen::resize(16, rc::gen::arbitrary<std::vector<std::uint8_t>>());
  std::vector<std::byte> payload;
  for (auto b : payload_bytes) payload.push_back(std::byte{b});
  in.prompt_text = prompt;
  in.hostname = host;
  in.tokens = tokens;
  in.ns.fingerprint = *rc::gen::arbitrary<std::array<std::uint8_t, 32>>();
  in.ns.quant = *rc::gen::inRange<std::uint8_t>(0, 30);
  in.next_token_logits = logits;
  in.position_logits = records;
  auto file = build_prefix(in, payload);
  file.insert(file.end(), payload.begin(), payload.end());
  return file;
}

// What a scan read before the sparse reader: the first 4 KiB, or exactly the prefix
// when the trailer gives its length. The error names can depend on where a parse
// stops (a payload_offset moved into the TLVs is bad_section over the prefix,
// bad_layout over the whole file), so the sparse reader is held to this.
std::span<const std::byte> prefix_as_read(std::span<const std::byte> f, std::uint64_t size) {
  const auto first = f.first(std::min<std::size_t>(f.size(), 4096));
  const auto need = prefix_length(first, size);
  return need ? f.first(std::min<std::size_t>(f.size(), *need)) : first;
}

// Valid files, single-byte changes and truncations: the sparse reader agrees with
// parse_meta over the prefix, which (but for the bulk) agrees with the full parse.
RC_GTEST_PROP(ReadMetaWithoutBulk, AgreesWithTheFullParse, ()) {
  std::vector<std::byte> file = random_file(*rc::gen::element<std::size_t>(4, 1500));
  const auto check = [](std::span<const std::byte> f, std::uint64_t size) {
    const auto lean = parse_meta(prefix_as_read(f, size), size, MetaParts::kWithoutBulk);
    const auto full = parse_meta(prefix_as_read(f, size), size, MetaParts::kAll);
    expect_same(lean, full);
    expect_same(read_sparse(f, size, nullptr, 0x00), lean);
    expect_same(read_sparse(f, size, nullptr, 0xFF), lean);
    if (lean.ok()) {
      RC_ASSERT(lean.value->prompt_text.empty());
      RC_ASSERT(lean.value->next_token_logits.empty());
      RC_ASSERT(lean.value->position_logits.empty());
    }
  };
  check(file, file.size());
  const auto n_changes = *rc::gen::inRange<std::size_t>(1, 40);
  for (std::size_t i = 0; i < n_changes; ++i) {
    const auto pos = *rc::gen::inRange<std::size_t>(0, file.size());
    const auto delta = std::byte(*rc::gen::inRange<std::uint8_t>(1, 255));
    file[pos] ^= delta;
    check(file, file.size());
    file[pos] ^= delta;
  }
  for (std::size_t n = 0; n < file.size(); n += 1 + n / 8) check(std::span(file).first(n), n);
}

// A row of a 32 000-token vocabulary with its five logits records (~625 KiB) and a
// 20 KB prompt: the reader reads tens of KiB in a few reads (the fixed part, the
// 8 KiB of token ids, a 4 KiB read-ahead at each record), not the floats.
TEST(ReadMetaWithoutBulk, ReadsNoneOfTheLogits) {
  constexpr std::size_t kVocab = 32'000;
  const std::vector<std::uint32_t> tokens(2048, 7);
  const std::vector<float> logits(kVocab, 1.5f);
  std::vector<PositionLogits> records;
  for (std::uint32_t p : {100u, 900u, 1500u, 2000u}) records.push_back({p, std::vector<float>(kVocab, -2.0f)});
  const std::string prompt(20'000, 'p');
  KvcBuildInput in;
  in.prompt_text = prompt;
  in.tokens = tokens;
  in.next_token_logits = logits;
  in.position_logits = records;
  const std::vector<std::byte> payload(1 << 20, std::byte{3});
  auto file = build_prefix(in, payload);
  const std::uint64_t prefix_size = file.size();
  ASSERT_GT(prefix_size, 5 * kVocab * 4);
  file.insert(file.end(), payload.begin(), payload.end());

  Reader reader;
  const auto meta = read_sparse(file, file.size(), &reader);
  ASSERT_TRUE(meta.ok()) << error_name(meta.error);
  EXPECT_EQ(meta.value->tokens, tokens);
  EXPECT_EQ(meta.value->key(), derive_key(in.ns, tokens));
  // 4 KiB first read + 4 KiB after the prompt + the token ids + 5 × 4 KiB.
  EXPECT_LT(reader.bytes_read(), 48u * 1024) << reader.reads.size() << " reads";
  EXPECT_LE(reader.reads.size(), 10u);
  for (const auto& [off, n] : reader.reads) EXPECT_LE(off + n, prefix_size) << "read into the payload";

  // The same row with its last record's position out of order: a skipped float
  // never hides what the full parse rejects.
  auto bad = file;
  const std::size_t last_record = prefix_size - (4 + kVocab * 4) - 5;
  ASSERT_EQ(bad[last_record], std::byte{kTagPositionLogits});
  bad[last_record + 5] = std::byte{0};  // position 2000 (d0 07 00 00) → 0: not above 1500
  bad[last_record + 6] = std::byte{0};
  const auto r = read_sparse(bad, bad.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_name(r.error), "bad_tlv");
  EXPECT_EQ(parse_meta(bad, bad.size()).error, r.error);
}

// A read that fails or comes up short is reported as the truncated prefix it is.
TEST(ReadMetaWithoutBulk, AShortReadFailsTheParse) {
  const std::vector<std::uint32_t> tokens(3000, 9);  // token ids past the first 4 KiB
  KvcBuildInput in;
  in.tokens = tokens;
  const std::vector<std::byte> payload(64, std::byte{1});
  auto file = build_prefix(in, payload);
  file.insert(file.end(), payload.begin(), payload.end());
  ASSERT_TRUE(read_sparse(file, file.size()).ok());
  for (std::size_t fail_at : {std::size_t{0}, std::size_t{100}, std::size_t{4096}, std::size_t{9000}}) {
    Reader reader;
    reader.fail_at = fail_at;
    EXPECT_FALSE(read_sparse(file, file.size(), &reader).ok()) << fail_at;
  }
}

}  // namespace
}  // namespace kvc::format
