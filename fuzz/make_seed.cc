// Writes small valid KVC files into a directory (the kvc_parse fuzz corpus):
//   kvc_fuzz_seed DIR
// Keys use the namespace and tokens of kvc_parse_fuzz.cc's fixed key.
#include <cstdio>
#include <string>
#include <vector>

#include "format/kvc_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: kvc_fuzz_seed DIR\n");
    return 2;
  }
  kvc::KeyNamespace ns;
  ns.fingerprint.fill(1);
  ns.quant = 1;
  ns.ctx_hash.fill(0x42);
  std::vector<std::uint32_t> toks(16);
  for (std::uint32_t i = 0; i < 16; ++i) toks[i] = i + 1;
  const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f};
  // TLV 0x0B records (position-tagged logits) at turn boundaries 5 and 11.
  const std::vector<kvc::format::PositionLogits> positions = {{5, {1.0f, -2.0f, 0.25f, 8.0f}},
                                                              {11, {-0.5f, 3.0f, 0.0f, 1.0f}}};
  struct Seed {
    const char* name;
    std::size_t payload;
    bool extras;
    bool position_logits;
  };
  for (const Seed& s : {Seed{"empty.kvc", 0, false, false}, Seed{"small.kvc", 64, false, false},
                        Seed{"tlvs.kvc", 200, true, false}, Seed{"positions.kvc", 96, true, true}}) {
    std::vector<std::byte> payload(s.payload);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte(static_cast<unsigned char>(i * 31 + 7));
    kvc::format::KvcBuildInput in;
    in.save_reason = kvc::format::SaveReason::kCold;
    in.creation_time = 1'700'000'000;
    in.last_used_time = 1'700'000'000;
    in.ns = ns;
    in.tokens = toks;
    if (s.extras) {
      in.prompt_text = "hello";
      in.hostname = "fuzz";
      in.producer_version = "kvc 0.1.0";
      in.save_reason_detail = "seed";
      in.next_token_logits = logits;
      in.quant_bits = 8;
      in.context_size = 512;
    }
    if (s.position_logits) in.position_logits = positions;
    auto bytes = kvc::format::build_prefix(in, payload);
    bytes.insert(bytes.end(), payload.begin(), payload.end());
    const std::string path = std::string(argv[1]) + "/" + s.name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return 1;
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  return 0;
}
