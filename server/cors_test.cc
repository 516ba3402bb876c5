// CORS fields of kvc-server's responses (app.h cors_fields): llama-server's rules.
#include <gtest/gtest.h>

#include "server/app.h"

namespace kvc::server {
namespace {

HttpRequest head(std::string method, std::string origin) {
  HttpRequest r;
  r.method = std::move(method);
  if (!origin.empty()) r.fields.emplace_back("Origin", std::move(origin));
  return r;
}

std::string field(const HttpFields& f, const std::string& name) {
  for (const auto& [k, v] : f)
    if (k == name) return v;
  return "<absent>";
}

TEST(Cors, AnyOriginIsEchoedAndAPreflightGetsTheRest) {
  const HttpFields get = cors_fields("*", head("GET", "https://web.example"));
  EXPECT_EQ(field(get, "Access-Control-Allow-Origin"), "https://web.example");
  EXPECT_EQ(field(get, "Access-Control-Allow-Methods"), "<absent>");
  EXPECT_EQ(field(cors_fields("*", head("GET", "")), "Access-Control-Allow-Origin"), "*");
  const HttpFields pre = cors_fields("*", head("OPTIONS", "x"));
  EXPECT_EQ(field(pre, "Access-Control-Allow-Origin"), "x");
  EXPECT_EQ(field(pre, "Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(field(pre, "Access-Control-Allow-Methods"), "GET, POST, DELETE, OPTIONS");
  EXPECT_EQ(field(pre, "Access-Control-Allow-Headers"), "*");
}

TEST(Cors, LocalhostOnlyEchoesLocalOrigins) {
  for (const char* o : {"http://localhost", "http://localhost:8080", "http://127.0.0.1", "http://127.0.0.1:3000",
                        "http://[::1]", "http://[::1]:3000"}) {
    EXPECT_EQ(field(cors_fields("localhost", head("OPTIONS", o)), "Access-Control-Allow-Origin"), o) << o;
  }
  for (const char* o : {"http://web.mydomain.fr", "http://evil.com", "http://notlocalhost", "http://localhost.evil.com",
                        "localhost", ""}) {
    EXPECT_EQ(field(cors_fields("localhost", head("OPTIONS", o)), "Access-Control-Allow-Origin"), "<absent>") << o;
  }
  EXPECT_EQ(field(cors_fields("https://app.example", head("GET", "http://evil.com")), "Access-Control-Allow-Origin"),
            "https://app.example");
}

}  // namespace
}  // namespace kvc::server
