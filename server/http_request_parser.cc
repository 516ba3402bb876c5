#include "server/http_request_parser.h"

#include <algorithm>
#include <cctype>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace kvc::server {
namespace http = boost::beast::http;

struct RequestParser::Beast {
  http::request_parser<http::string_body> parser;
};

namespace {

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// field-value characters: HTAB, SP, VCHAR, obs-text.
bool is_value_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || u == ' ' || (u >= 0x21 && u != 0x7f);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string shown(std::string_view s) {  // a value quoted in an error message, cut and printable
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return "'" + out + (s.size() > 40 ? "…'" : "'");
}

}  // namespace

RequestParser::RequestParser(const HttpLimits& limits) : limits_(limits), beast_(std::make_unique<Beast>()) {
  beast_->parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header_bytes + 4, UINT32_MAX)));
  beast_->parser.body_limit(boost::none);  // checked after admission (parse_body)
  beast_->parser.eager(false);
}

RequestParser::~RequestParser() = default;

RequestParser::Step RequestParser::fail(int status, std::string message) {
  failed_ = true;
  error_ = {status, std::move(message)};
  return Step::kError;
}

RequestParser::Step RequestParser::parse_head(std::string_view data, std::size_t& consumed) {
  consumed = 0;
  if (failed_) return Step::kError;
  if (scanned_ == skipped_) {  // blank lines before the request line are ignored (RFC 9112 §2.2)
    while (skipped_ + 1 < data.size() && data[skipped_] == '\r' && data[skipped_ + 1] == '\n') skipped_ += 2;
    scanned_ = skipped_;
  }
  const std::string too_large = "the request head exceeds " + std::to_string(limits_.max_header_bytes) +
                                " bytes (--max-header-bytes)";
  if (skipped_ > limits_.max_header_bytes) return fail(431, too_large);
  std::size_t end = 0;
  std::size_t i = scanned_;
  for (; i < data.size(); ++i) {
    if (i - skipped_ >= limits_.max_header_bytes) return fail(431, too_large);
    const char c = data[i];
    if (c == '\n') {
      if (i == skipped_ || data[i - 1] != '\r') return fail(400, "malformed request head: a line ends in a bare LF");
      if (i >= skipped_ + 3 && data[i - 2] == '\n' && data[i - 3] == '\r') {
        end = i + 1;
        break;
      }
    } else if (c == '\r') {
      if (i + 1 < data.size() && data[i + 1] != '\n') return fail(400, "malformed request head: a bare CR");
    } else if (c == '\0') {
      return fail(400, "malformed request head: a NUL byte");
    }
  }
  if (end == 0) {
    scanned_ = (!data.empty() && data.back() == '\r') ? data.size() - 1 : data.size();  // its LF is still to come
    if (scanned_ < skipped_) scanned_ = skipped_;
    return Step::kNeedMore;
  }
  const std::string_view head = data.substr(skipped_, end - skipped_);
  if (auto e = check_head(head.substr(0, head.size() - 2))) return fail(e->status, std::move(e->message));

  boost::system::error_code ec;
  const std::size_t n = beast_->parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec || n != head.size() || !beast_->parser.is_header_done()) {
    return fail(400, "malformed request head" + (ec ? ": " + ec.message() : std::string()));
  }
  const auto& msg = beast_->parser.get();
  request_.method = std::string(msg.method_string());
  request_.target = std::string(msg.target());
  request_.version = msg.version();
  const std::size_t q = request_.target.find('?');
  request_.path = request_.target.substr(0, q);
  request_.query = q == std::string::npos ? std::string() : request_.target.substr(q + 1);
  for (const auto& f : msg) request_.fields.emplace_back(std::string(f.name_string()), std::string(f.value()));
  consumed = end;
  return Step::kHead;
}

std::optional<HttpError> RequestParser::check_head(std::string_view head) {
  // Request line: method SP target SP version.
  std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return HttpError{400, "malformed request line " + shown(line) + ": want 'METHOD /path HTTP/1.1'"};
  }
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (!is_token(method)) return HttpError{400, "malformed request method " + shown(method)};
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    const bool looks = version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[6] == '.' &&
                       std::isdigit(static_cast<unsigned char>(version[5])) &&
                       std::isdigit(static_cast<unsigned char>(version[7]));
    return HttpError{looks ? 505 : 400, "unsupported HTTP version " + shown(version) + ": use HTTP/1.1"};
  }
  if (target.empty()) return HttpError{400, "empty request target"};
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return HttpError{400, "the request target holds a byte that must be percent-encoded"};
  }
  if (target.front() != '/' && !(target == "*" && method == "OPTIONS")) {
    return HttpError{400, "request target " + shown(target) + " is not a path ('/…')"};
  }
  const bool http10 = version == "HTTP/1.0";

  std::size_t fields = 0, hosts = 0, te_count = 0;
  while (eol != std::string_view::npos) {
    const std::size_t start = eol + 2;
    if (start >= head.size()) break;
    eol = head.find("\r\n", start);
    const std::string_view f = head.substr(start, eol == std::string_view::npos ? head.size() - start : eol - start);
    if (++fields > limits_.max_header_fields) {
      return HttpError{431, "the request has more than " + std::to_string(limits_.max_header_fields) +
                           " header fields (--max-header-fields)"};
    }
    if (f.empty()) return HttpError{400, "malformed request head: an empty line inside the header"};
    if (f.front() == ' ' || f.front() == '\t') {
      return HttpError{400, "malformed request head: a folded header line (obs-fold) is not accepted"};
    }
    const std::size_t colon = f.find(':');
    if (colon == std::string_view::npos) return HttpError{400, "malformed header line " + shown(f) + ": no ':'"};
    const std::string_view name = f.substr(0, colon);
    if (!is_token(name)) {
      return HttpError{400, "malformed header field name " + shown(name) +
                           " (no whitespace is allowed between the name and ':')"};
    }
    const std::string_view raw = f.substr(colon + 1);
    for (char c : raw) {
      if (!is_value_char(c)) return HttpError{400, "header field '" + std::string(name) + "' holds a control character"};
    }
    const std::string_view value = trim_ows(raw);
    if (iequals(name, "Content-Length")) {
      if (content_length_) return HttpError{400, "Content-Length is given more than once"};
      bool digits = !value.empty() && value.size() <= 18;
      for (char c : value) digits = digits && c >= '0' && c <= '9';
      if (!digits) return HttpError{400, "Content-Length " + shown(value) + " is not a non-negative integer"};
      content_length_ = std::stoull(std::string(value));
    } else if (iequals(name, "Transfer-Encoding")) {
      if (++te_count > 1) return HttpError{400, "Transfer-Encoding is given more than once"};
      if (!iequals(value, "chunked")) {
        return HttpError{501, "Transfer-Encoding " + shown(value) + " is not supported: only 'chunked'"};
      }
      chunked_ = true;
    } else if (iequals(name, "Host")) {
      ++hosts;
    } else if (iequals(name, "Expect")) {
      if (!iequals(value, "100-continue")) return HttpError{417, "Expect " + shown(value) + " is not supported"};
      expect_continue_ = true;
    }
  }
  if (chunked_ && content_length_) {
    return HttpError{400, "both Content-Length and Transfer-Encoding are given: send one"};
  }
  if (chunked_ && http10) return HttpError{400, "Transfer-Encoding is not allowed in HTTP/1.0"};
  if (hosts > 1) return HttpError{400, "Host is given more than once"};
  if (hosts == 0 && !http10) return HttpError{400, "an HTTP/1.1 request needs a Host header"};
  return std::nullopt;
}

bool RequestParser::has_body() const { return chunked_ || (content_length_ && *content_length_ > 0); }

bool RequestParser::keep_alive() const { return beast_->parser.is_header_done() && beast_->parser.get().keep_alive(); }

RequestParser::Step RequestParser::parse_body(std::string_view data, std::size_t& consumed) {
  consumed = 0;
  if (failed_) return Step::kError;
  const std::string too_large = "the request body exceeds the limit of " + std::to_string(limits_.max_body_bytes) +
                                " bytes (--max-body-bytes)";
  if (!body_started_) {
    body_started_ = true;
    if (content_length_ && *content_length_ > limits_.max_body_bytes) return fail(413, too_large);
    beast_->parser.body_limit(limits_.max_body_bytes);
    beast_->parser.eager(true);
  }
  if (beast_->parser.is_done()) return Step::kBody;
  if (data.empty()) return Step::kNeedMore;
  boost::system::error_code ec;
  consumed = beast_->parser.put(boost::asio::buffer(data.data(), data.size()), ec);
  if (ec == http::error::body_limit) return fail(413, too_large);
  if (ec && ec != http::error::need_more) return fail(400, "malformed request body: " + ec.message());
  if (!beast_->parser.is_done()) return Step::kNeedMore;
  request_.body = std::move(beast_->parser.get().body());
  return Step::kBody;
}

}  // namespace kvc::server
