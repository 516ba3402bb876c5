// The HTTP/1.1 request parser in front of kvc-server's routes: Boost.Beast's
// parser, behind a strict check of the request head that refuses what request
// smuggling and header floods rely on. One parser per request; the session feeds
// it the bytes it has buffered for the connection and keeps what it does not
// consume (the next pipelined request). No I/O here: the fuzzer drives it as is.
//
// The head is refused (status, and the connection is closed) when:
//   431  it exceeds max_header_bytes (request line included) or max_header_fields;
//   400  a line ends in a bare LF or a bare CR, a field is folded (obs-fold), a
//        field name is not a token or is followed by whitespace, a value holds a
//        control character, Content-Length is not a single run of digits or comes
//        twice, Transfer-Encoding comes twice or with Content-Length or in
//        HTTP/1.0, Host is missing (HTTP/1.1) or repeated, the target is not
//        origin-form ("/…") or "*";
//   501  Transfer-Encoding is anything but "chunked";
//   505  the version is not HTTP/1.0 or HTTP/1.1.
// The body is read only when the caller asks (after its own admission checks),
// bounded by max_body_bytes on every framing (413).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "server/http_message.h"

namespace kvc::server {

struct HttpLimits {
  std::size_t max_header_bytes = 64 * 1024;  // request line + fields + the blank line
  std::size_t max_header_fields = 100;
  std::uint64_t max_body_bytes = 1 << 20;
};

struct HttpError {
  int status = 400;
  std::string message;  // says what was wrong, and the limit or rule
};

class RequestParser {
 public:
  explicit RequestParser(const HttpLimits& limits);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  enum class Step { kNeedMore, kHead, kBody, kError };

  // `data`: the connection's buffered bytes from the start of this request (the
  // same start on every call, more bytes each time). kHead: the head is complete
  // and valid, its `consumed` bytes (leading blank lines included) are used up.
  // kNeedMore: consumed is 0. kError: see error().
  Step parse_head(std::string_view data, std::size_t& consumed);

  // After kHead: the request (body empty) and its framing.
  HttpRequest& request() { return request_; }
  bool has_body() const;
  std::optional<std::uint64_t> content_length() const { return content_length_; }
  bool chunked() const { return chunked_; }
  bool keep_alive() const;
  bool expects_continue() const { return expect_continue_; }

  // After kHead: feeds body bytes (the buffer after the head). kBody: complete,
  // request().body holds it; kNeedMore: more bytes needed (`consumed` may be > 0:
  // drop them); kError: malformed framing (400) or over max_body_bytes (413).
  Step parse_body(std::string_view data, std::size_t& consumed);

  const HttpError& error() const { return error_; }

 private:
  Step fail(int status, std::string message);
  // Checks the complete head text (without the final CRLF CRLF); records the framing.
  std::optional<HttpError> check_head(std::string_view head);

  struct Beast;
  HttpLimits limits_;
  std::unique_ptr<Beast> beast_;
  HttpRequest request_;
  HttpError error_;
  std::size_t scanned_ = 0;  // head bytes already scanned for the end (no rescans)
  std::size_t skipped_ = 0;  // leading CRLFs
  std::optional<std::uint64_t> content_length_;
  bool chunked_ = false;
  bool expect_continue_ = false;
  bool body_started_ = false;
  bool failed_ = false;
};

}  // namespace kvc::server
