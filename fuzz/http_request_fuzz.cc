// libFuzzer target: kvc-server's HTTP request parsing as the connection drives
// it (server/http_request_parser.h, server/http_session.cc): bytes arrive in
// pieces (sizes taken from the input), each request's head is parsed, then its
// body, and what is left is the next pipelined request. Any input must end in
// requests or a refusal (400/413/417/431/501/505), never a crash, a sanitizer
// report, a body over the limit or a read past the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/http_request_parser.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Byte 0: the piece size the "network" delivers (1..256); the rest: the stream.
  const std::size_t piece = static_cast<std::size_t>(data[0]) + 1;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  kvc::server::HttpLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_header_fields = 16;
  limits.max_body_bytes = 4096;

  std::string buffer;
  std::size_t delivered = 0;
  auto deliver = [&] {
    const std::size_t n = std::min(piece, input.size() - delivered);
    buffer.append(input.substr(delivered, n));
    delivered += n;
    return n > 0;
  };
  for (int requests = 0; requests < 64; ++requests) {
    kvc::server::RequestParser parser(limits);
    using Step = kvc::server::RequestParser::Step;
    std::size_t used = 0;
    Step step;
    while ((step = parser.parse_head(buffer, used)) == Step::kNeedMore) {
      check(used == 0);
      if (!deliver()) return 0;
    }
    if (step == Step::kError) {
      const int s = parser.error().status;
      check(s == 400 || s == 413 || s == 417 || s == 431 || s == 501 || s == 505);
      check(!parser.error().message.empty());
      return 0;
    }
    check(step == Step::kHead && used <= buffer.size());
    buffer.erase(0, used);
    const kvc::server::HttpRequest& req = parser.request();
    check(!req.method.empty() && !req.path.empty());
    (void)req.param("limit");
    (void)req.header("Authorization");
    while ((step = parser.parse_body(buffer, used)) == Step::kNeedMore) {
      check(used <= buffer.size());
      buffer.erase(0, used);
      if (!deliver()) return 0;
    }
    check(used <= buffer.size());
    buffer.erase(0, used);
    if (step == Step::kError) return 0;
    check(step == Step::kBody && parser.request().body.size() <= limits.max_body_bytes);
  }
  return 0;
}
