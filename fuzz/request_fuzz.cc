// libFuzzer target: the OpenAI request bodies of kvc-server (server/openai.h):
// parse_object and parse_request for /v1/completions and /v1/chat/completions.
// Any body must yield a request or an ApiError, never a crash or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/openai.h"

// openai.cc's response builders name engine enums; the engine library is not in
// the fuzz build and parse_request never reaches them.
namespace kvc {
std::string_view lookup_path_name(LookupPath) { return "fuzz"; }
std::string_view miss_reason_name(MissReason) { return "fuzz"; }
std::string_view finish_reason_name(FinishReason) { return "fuzz"; }
}  // namespace kvc

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  kvc::server::RequestLimits limits;
  (void)kvc::server::parse_object(body);
  (void)kvc::server::parse_request(body, false, limits);
  (void)kvc::server::parse_request(body, true, limits);
  return 0;
}
