#include "server/http_router.h"

#include <gtest/gtest.h>

namespace kvc::server {
namespace {

Handler tag(std::string* out, std::string name) {
  return [out, name](HttpRequest&, const std::shared_ptr<Exchange>&) { *out = name; };
}

TEST(Router, MethodsPathsAndAliases) {
  std::string hit;
  Router r;
  r.add("GET", {"/v1/models", "/models"}, tag(&hit, "models"));
  r.add("POST", {"/v1/completions", "/completions"}, tag(&hit, "completions"), {.run_on = RunOn::kWorker});
  r.add("GET", {"/health"}, tag(&hit, "health"), {.access = Access::kPublic});
  r.add("OPTIONS", {"/v1/models"}, tag(&hit, "preflight"), {.access = Access::kPublic});

  for (const char* p : {"/v1/models", "/models"}) {
    const auto m = r.match("GET", p);
    ASSERT_NE(m.route, nullptr) << p;
    HttpRequest req;
    m.route->handler(req, nullptr);
    EXPECT_EQ(hit, "models");
    EXPECT_EQ(m.route->options.access, Access::kKey);
  }
  const auto c = r.match("POST", "/completions");
  ASSERT_NE(c.route, nullptr);
  EXPECT_EQ(c.route->options.run_on, RunOn::kWorker);
  EXPECT_EQ(r.match("GET", "/health").route->options.access, Access::kPublic);
  // The same path under another method: its own route.
  const auto pre = r.match("OPTIONS", "/v1/models");
  ASSERT_NE(pre.route, nullptr);
  EXPECT_EQ(pre.route->options.access, Access::kPublic);
}

TEST(Router, UnknownPathAndWrongMethod) {
  std::string hit;
  Router r;
  r.add("GET", {"/a"}, tag(&hit, "a"));
  r.add("POST", {"/a"}, tag(&hit, "a2"));
  const auto none = r.match("GET", "/b");
  EXPECT_EQ(none.route, nullptr);
  EXPECT_FALSE(none.path_known);
  const auto wrong = r.match("DELETE", "/a");
  EXPECT_EQ(wrong.route, nullptr);
  EXPECT_TRUE(wrong.path_known);
  EXPECT_EQ(wrong.allow, "GET, POST");
  // Exact paths: no prefix, suffix, case or percent-decoding matches.
  for (const char* p : {"/a/", "/A", "/%61", "/a?x", ""}) EXPECT_EQ(r.match("GET", p).route, nullptr) << p;
  EXPECT_TRUE(r.known_path("/a"));
  EXPECT_FALSE(r.known_path("/b"));
}

TEST(Router, PrefixPathsAndAnyPathMethods) {
  std::string hit;
  Router r;
  r.add("GET", {"/slots"}, tag(&hit, "slots"));
  r.add("POST", {"/slots/*"}, tag(&hit, "slot"));
  r.add_any_path("OPTIONS", tag(&hit, "preflight"), {.access = Access::kPublic});
  for (const char* p : {"/slots/0", "/slots/12", "/slots/x/y"}) {
    const auto m = r.match("POST", p);
    ASSERT_NE(m.route, nullptr) << p;
    HttpRequest req;
    m.route->handler(req, nullptr);
    EXPECT_EQ(hit, "slot");
    EXPECT_EQ(r.pattern(p), "/slots/*");
  }
  // The prefix needs a non-empty rest; the exact path is its own.
  EXPECT_EQ(r.match("POST", "/slots/").route, nullptr);
  EXPECT_EQ(r.match("POST", "/slots").allow, "GET");
  EXPECT_EQ(r.pattern("/slots"), "/slots");
  EXPECT_EQ(r.pattern("/nope"), "other");
  // OPTIONS on any path, known or not, public.
  for (const char* p : {"/slots", "/slots/3", "/anything"}) {
    const auto m = r.match("OPTIONS", p);
    ASSERT_NE(m.route, nullptr) << p;
    EXPECT_EQ(m.route->options.access, Access::kPublic);
  }
  EXPECT_EQ(r.match("DELETE", "/anything").route, nullptr);
  EXPECT_FALSE(r.match("DELETE", "/anything").path_known);
}

TEST(RouterDeathTest, TheSameRouteTwiceAborts) {
  Router r;
  r.add("GET", {"/a"}, nullptr);
  EXPECT_DEATH(r.add("GET", {"/b", "/a"}, nullptr), "registered twice");
}

}  // namespace
}  // namespace kvc::server
