// The HTTP request and response as the routes see them: plain values, no I/O and
// no Boost types (the event loop lives in http_server.{h,cc}).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvc::server {

using HttpFields = std::vector<std::pair<std::string, std::string>>;

// ASCII case-insensitive equality (header names, tokens).
bool iequals(std::string_view a, std::string_view b);

struct HttpRequest {
  std::string method;  // as sent: "GET", "POST", …
  std::string target;  // as sent: "/v1/cache/rows?limit=5"
  std::string path;    // target before '?', not percent-decoded
  std::string query;   // target after '?' ("" when none)
  int version = 11;    // 10 (HTTP/1.0) or 11
  HttpFields fields;   // in arrival order, names as sent
  std::string body;    // the whole body (bounded by --max-body-bytes)

  // The first field named `name` (any case); "" when absent.
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // A query parameter, percent-decoded ('+' is a space); nullopt when absent.
  std::optional<std::string> param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HttpFields headers;  // Content-Length, Date, Connection and Server are added by the server
  std::string body;
  bool close = false;  // close the connection after this response

  void set(std::string name, std::string value);
  static HttpResponse text(int status, std::string body, std::string content_type);
};

// "%41b+c" → "Ab c". Invalid escapes are kept as they are.
std::string percent_decode(std::string_view s, bool plus_is_space);

// The reason phrase of a status code ("Not Found"); "Unknown" for others.
std::string_view reason_phrase(int status);

}  // namespace kvc::server
