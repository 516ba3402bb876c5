// libFuzzer target: the request bodies of kvc-server (server/openai.h,
// llama_params.h, llama_native.h): parse_object, the OpenAI mapping of
// /v1/completions and /v1/chat/completions, llama-server's generation
// parameters, and the native /completion, /tokenize, /detokenize, /embeddings
// and /slots bodies. Any body must yield a request or an ApiError, never a crash
// or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/llama_native.h"
#include "server/llama_params.h"
#include "server/openai.h"

// The response builders name engine functions; the engine library is not in the
// fuzz build and the parsers never reach them (json_schema_to_grammar: a schema
// is refused here, which parse_generation reports as an ApiError).
namespace kvc {
std::string_view lookup_path_name(LookupPath) { return "fuzz"; }
std::string_view miss_reason_name(MissReason) { return "fuzz"; }
std::string_view finish_reason_name(FinishReason) { return "fuzz"; }
Result<std::string> json_schema_to_grammar(std::string_view) {
  return Status(Code::kInvalidArgument, "json_schema_to_grammar is not in the fuzz build");
}
}  // namespace kvc

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kvc::server;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)parse_object(body);
  const GenerationDefaults defaults;
  const Tokenizer tok = [](const std::string& t) { return std::vector<std::int32_t>(t.size() % 4, 7); };
  for (bool chat : {false, true}) {
    auto r = parse_openai_request(body, chat);
    if (auto* req = std::get_if<OpenAiRequest>(&r)) (void)parse_generation(req->llama_params, defaults, 100, tok);
  }
  if (auto n = parse_native_completion(body); auto* req = std::get_if<NativeCompletionRequest>(&n))
    (void)parse_generation(req->llama_params, defaults, 100, tok);
  (void)parse_tokenize(body);
  (void)parse_detokenize(body);
  (void)parse_embedding(body, true);
  (void)parse_slot_filename(body);
  return 0;
}
