#include "server/http_request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace kvc::server {
namespace {

HttpLimits small_limits() {
  HttpLimits l;
  l.max_header_bytes = 1024;
  l.max_header_fields = 8;
  l.max_body_bytes = 100;
  return l;
}

struct Parsed {
  RequestParser::Step step;
  int status = 0;
  std::string message;
  std::size_t used = 0;  // bytes of the input this request took
  HttpRequest request;
};

// Parses one request (head, then body if any) from `in`.
Parsed parse(const std::string& in, const HttpLimits& limits = small_limits()) {
  RequestParser p(limits);
  Parsed out;
  std::size_t used = 0;
  out.step = p.parse_head(in, used);
  out.used = used;
  if (out.step == RequestParser::Step::kHead) {
    std::size_t body_used = 0;
    out.step = p.parse_body(std::string_view(in).substr(used), body_used);
    out.used += body_used;
  }
  out.status = p.error().status;
  out.message = p.error().message;
  out.request = p.request();
  return out;
}

void expect_refused(const std::string& in, int status, const std::string& why) {
  const Parsed r = parse(in);
  EXPECT_EQ(r.step, RequestParser::Step::kError) << why;
  EXPECT_EQ(r.status, status) << why << ": " << r.message;
  EXPECT_FALSE(r.message.empty()) << why;
}

TEST(RequestParser, ReadsAGetWithQueryAndHeaders) {
  const Parsed r = parse("GET /v1/cache/rows?limit=5&tier=disk HTTP/1.1\r\nHost: x\r\nX-A: b \r\n\r\n");
  ASSERT_EQ(r.step, RequestParser::Step::kBody) << r.message;
  EXPECT_EQ(r.request.method, "GET");
  EXPECT_EQ(r.request.path, "/v1/cache/rows");
  EXPECT_EQ(r.request.param("limit"), "5");
  EXPECT_EQ(r.request.param("tier"), "disk");
  EXPECT_FALSE(r.request.param("offset"));
  EXPECT_EQ(r.request.header("x-a"), "b");
  EXPECT_EQ(r.request.version, 11);
}

TEST(RequestParser, ContentLengthAndChunkedBodies) {
  Parsed r = parse("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET");
  ASSERT_EQ(r.step, RequestParser::Step::kBody) << r.message;
  EXPECT_EQ(r.request.body, "hello");
  EXPECT_EQ(r.used, std::string("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello").size());
  r = parse("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n");
  ASSERT_EQ(r.step, RequestParser::Step::kBody) << r.message;
  EXPECT_EQ(r.request.body, "abcde");
}

TEST(RequestParser, BytesArrivingOneAtATime) {
  const std::string in = "\r\nPOST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\nNEXT";
  RequestParser p(small_limits());
  std::string buf;
  std::size_t i = 0, used = 0;
  RequestParser::Step step = RequestParser::Step::kNeedMore;
  while (step == RequestParser::Step::kNeedMore && i < in.size()) {
    buf += in[i++];
    step = p.parse_head(buf, used);
  }
  ASSERT_EQ(step, RequestParser::Step::kHead);
  buf.erase(0, used);
  step = RequestParser::Step::kNeedMore;
  while (step == RequestParser::Step::kNeedMore) {
    step = p.parse_body(buf, used);
    buf.erase(0, used);
    if (step == RequestParser::Step::kNeedMore) {
      ASSERT_LT(i, in.size());
      buf += in[i++];
    }
  }
  ASSERT_EQ(step, RequestParser::Step::kBody) << p.error().message;
  EXPECT_EQ(p.request().body, "wxyz");
  EXPECT_EQ(buf + in.substr(i), "NEXT");  // the next pipelined request is left alone
}

TEST(RequestParser, HeadLimits) {
  expect_refused("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 431, "long target");
  std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 8; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  expect_refused(many + "\r\n", 431, "9 fields");
  // An endless head is refused once it passes the limit, without waiting for its end.
  RequestParser p(small_limits());
  std::size_t used = 0;
  const std::string flood = "GET / HTTP/1.1\r\n" + std::string(1100, 'a');
  EXPECT_EQ(p.parse_head(flood, used), RequestParser::Step::kError);
  EXPECT_EQ(p.error().status, 431);
}

TEST(RequestParser, SmugglingShapesAreRefused) {
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\n";
  expect_refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "CL+TE");
  expect_refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, "TE+CL");
  expect_refused(get + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400, "duplicate CL");
  expect_refused(get + "Content-Length: 3, 3\r\n\r\nabc", 400, "CL list");
  expect_refused(get + "Content-Length: -5\r\n\r\n", 400, "negative CL");
  expect_refused(get + "Content-Length: +5\r\n\r\n", 400, "signed CL");
  expect_refused(get + "Content-Length: 99999999999999999999\r\n\r\n", 400, "huge CL");
  expect_refused(get + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "TE twice");
  expect_refused(get + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501, "TE gzip");
  expect_refused(get + "Transfer-Encoding : chunked\r\n\r\n", 400, "space before colon");
  expect_refused(get + "X-A: a\r\n b\r\n\r\n", 400, "obs-fold");
  expect_refused(get + "X-A: a\r\n\tb\r\n\r\n", 400, "obs-fold tab");
  expect_refused("GET / HTTP/1.1\nHost: x\n\n", 400, "bare LF");
  expect_refused("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400, "one bare LF");
  expect_refused("GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400, "bare CR");
  expect_refused(get + "X-A: a\x01" "b\r\n\r\n", 400, "control character");
  expect_refused(std::string("GET / HTTP/1.1\r\nHost: x\r\nX: \0\r\n\r\n", 30), 400, "NUL");
  expect_refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "TE in HTTP/1.0");
  expect_refused("GET / HTTP/1.1\r\n\r\n", 400, "no Host");
  expect_refused(get + "Host: y\r\n\r\n", 400, "two Hosts");
  expect_refused("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0");
  expect_refused("GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400, "not HTTP");
  expect_refused("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, "absolute form");
  expect_refused("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "two spaces");
  expect_refused("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method not a token");
  expect_refused(get + "Expect: 200-ok\r\n\r\n", 417, "unknown expectation");
}

TEST(RequestParser, BodyLimitOnEveryFraming) {
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\n";
  Parsed r = parse(head + "Content-Length: 101\r\n\r\n");
  EXPECT_EQ(r.step, RequestParser::Step::kError);
  EXPECT_EQ(r.status, 413);
  std::string chunked = head + "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 11; ++i) chunked += "a\r\n0123456789\r\n";
  r = parse(chunked + "0\r\n\r\n");
  EXPECT_EQ(r.step, RequestParser::Step::kError);
  EXPECT_EQ(r.status, 413);
  r = parse(head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n");
  EXPECT_EQ(r.step, RequestParser::Step::kError);
  EXPECT_EQ(r.status, 400);
}

TEST(RequestParser, FramingFlags) {
  RequestParser p(small_limits());
  std::size_t used = 0;
  ASSERT_EQ(p.parse_head("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", used),
            RequestParser::Step::kHead);
  EXPECT_TRUE(p.expects_continue());
  EXPECT_TRUE(p.has_body());
  EXPECT_EQ(p.content_length(), 4u);
  EXPECT_TRUE(p.keep_alive());

  RequestParser q(small_limits());
  ASSERT_EQ(q.parse_head("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", used), RequestParser::Step::kHead);
  EXPECT_FALSE(q.keep_alive());
  EXPECT_FALSE(q.has_body());
  RequestParser r10(small_limits());
  ASSERT_EQ(r10.parse_head("GET / HTTP/1.0\r\n\r\n", used), RequestParser::Step::kHead);
  EXPECT_FALSE(r10.keep_alive());
  RequestParser k10(small_limits());
  ASSERT_EQ(k10.parse_head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", used), RequestParser::Step::kHead);
  EXPECT_TRUE(k10.keep_alive());
  RequestParser star(small_limits());
  EXPECT_EQ(star.parse_head("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", used), RequestParser::Step::kHead);
}

TEST(HttpMessage, PercentDecodingAndHeaders) {
  EXPECT_EQ(percent_decode("a%2Fb+c%zz%4", true), "a/b c%zz%4");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  HttpRequest r;
  r.query = "tier=%2E%2E%2Fdisk&x&y=1";
  EXPECT_EQ(r.param("tier"), "../disk");
  EXPECT_EQ(r.param("x"), "");
  HttpResponse resp;
  resp.set("Content-Type", "a");
  resp.set("content-type", "b");
  ASSERT_EQ(resp.headers.size(), 1u);
  EXPECT_EQ(resp.headers[0].second, "b");
}

}  // namespace
}  // namespace kvc::server
