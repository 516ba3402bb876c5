#include "server/openai.h"

#include <gtest/gtest.h>

#include <string>

#include "server/metrics.h"
#include "server/sse.h"

namespace kvc::server {
namespace {

RequestLimits limits() {
  RequestLimits l;
  l.max_tokens_limit = 100;
  l.default_max_tokens = 16;
  l.model_names = {"tiny.gguf"};
  return l;
}

ParsedRequest ok(const std::string& body, bool chat = false) {
  auto r = parse_request(body, chat, limits());
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " → " << e->message;
  return std::get<ParsedRequest>(r);
}

ApiError fails(const std::string& body, bool chat = false) {
  auto r = parse_request(body, chat, limits());
  if (!std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << body << " was accepted";
    return {};
  }
  return std::get<ApiError>(r);
}

TEST(ParseRequest, Completion) {
  auto r = ok(R"({"model":"tiny.gguf","prompt":"hi","max_tokens":5,"temperature":0.5,"top_p":0.9,"top_k":3,
                  "seed":7,"stop":["\n"],"stream":true,"stream_options":{"include_usage":true},"user":"u",
                  "unknown_extension":{"x":1}})");
  EXPECT_EQ(r.prompt, "hi");
  EXPECT_EQ(r.model, "tiny.gguf");
  EXPECT_EQ(r.sampling.max_tokens, 5);
  EXPECT_FLOAT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_EQ(r.sampling.top_k, 3);
  EXPECT_EQ(r.sampling.seed, 7u);
  ASSERT_EQ(r.sampling.stop.size(), 1u);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_FALSE(r.parent_key);
}

TEST(ParseRequest, DefaultsAndPromptForms) {
  auto r = ok(R"({"prompt":"hi"})");
  EXPECT_EQ(r.sampling.max_tokens, 16);
  EXPECT_EQ(r.model, "tiny.gguf");
  EXPECT_EQ(ok(R"({"prompt":["one"]})").prompt, "one");
  auto t = ok(R"({"prompt":[1,2,3]})");
  ASSERT_TRUE(t.prompt_tokens);
  EXPECT_EQ(t.prompt_tokens->size(), 3u);
  EXPECT_TRUE(ok(R"({"prompt":[[5,6]]})").prompt_tokens);
}

TEST(ParseRequest, Chat) {
  auto r = ok(R"({"messages":[{"role":"system","content":"be brief"},
                              {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
                  "max_completion_tokens":9})",
              true);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_EQ(r.sampling.max_tokens, 9);
  EXPECT_TRUE(r.chat);
}

TEST(ParseRequest, ParentKey) {
  const std::string hex(64, 'a');
  auto r = ok(R"({"prompt":"x","parent_key":")" + hex + "\"}");
  ASSERT_TRUE(r.parent_key);
  EXPECT_EQ(r.parent_key->hex(), hex);
  EXPECT_EQ(fails(R"({"prompt":"x","parent_key":"abc"})").param, "parent_key");
  EXPECT_EQ(fails(R"({"prompt":"x","parent_key":12})").param, "parent_key");
  EXPECT_EQ(fails(R"({"prompt":"x","parent_key":")" + std::string(64, 'g') + "\"}").param, "parent_key");
}

TEST(ParseRequest, BadInputNamesTheField) {
  struct Case {
    const char* body;
    bool chat;
    const char* param;
  };
  const Case cases[] = {
      {R"({"prompt":5})", false, "prompt"},
      {R"({})", false, "prompt"},
      {R"({"prompt":""})", false, "prompt"},
      {R"({"prompt":[]})", false, "prompt"},
      {R"({"prompt":["a","b"]})", false, "prompt"},
      {R"({"prompt":[1,-2]})", false, "prompt"},
      {R"({"prompt":[1,"x"]})", false, "prompt"},
      {R"({"prompt":"x","max_tokens":"5"})", false, "max_tokens"},
      {R"({"prompt":"x","max_tokens":0})", false, "max_tokens"},
      {R"({"prompt":"x","max_tokens":101})", false, "max_tokens"},
      {R"({"prompt":"x","max_tokens":1.5})", false, "max_tokens"},
      {R"({"prompt":"x","temperature":"hot"})", false, "temperature"},
      {R"({"prompt":"x","temperature":3})", false, "temperature"},
      {R"({"prompt":"x","top_p":-1})", false, "top_p"},
      {R"({"prompt":"x","top_k":-1})", false, "top_k"},
      {R"({"prompt":"x","seed":"s"})", false, "seed"},
      {R"({"prompt":"x","n":2})", false, "n"},
      {R"({"prompt":"x","stream":"yes"})", false, "stream"},
      {R"({"prompt":"x","stream_options":1})", false, "stream_options"},
      {R"({"prompt":"x","stop":[1]})", false, "stop"},
      {R"({"prompt":"x","stop":{}})", false, "stop"},
      {R"({"prompt":"x","model":7})", false, "model"},
      {R"({"prompt":"x","echo":true})", false, "echo"},
      {R"({"prompt":"x","logprobs":5})", false, "logprobs"},
      {R"({"prompt":"x","user":1})", false, "user"},
      {R"({"messages":"hi"})", true, "messages"},
      {R"({"messages":[]})", true, "messages"},
      {R"({})", true, "messages"},
      {R"({"messages":[{"content":"x"}]})", true, "messages[0].role"},
      {R"({"messages":[{"role":"user","content":5}]})", true, "messages[0].content"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", true, "messages[0].content"},
      {R"({"messages":[1]})", true, "messages[0]"},
  };
  for (const auto& c : cases) {
    ApiError e = fails(c.body, c.chat);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " → " << e.message;
    EXPECT_NE(e.message.find(c.param), std::string::npos) << c.body << " → " << e.message;
  }
}

TEST(ParseRequest, MalformedJsonAndUnknownModel) {
  for (const char* body : {"", "{", "[1,2]", "\"x\"", "{\"prompt\":\"x\",}", "nul"}) {
    ApiError e = fails(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.code, "invalid_json") << body;
  }
  ApiError e = fails(R"({"prompt":"x","model":"gpt-4"})");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_NE(e.message.find("gpt-4"), std::string::npos);
}

TEST(ErrorBody, OpenAiShape) {
  Json j = error_body(bad_request("'x' is bad", "x"));
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["message"], "'x' is bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "x");
  EXPECT_EQ(j["error"]["code"], "invalid_value");
  Json n = error_body(ApiError{500, "m", "server_error", "", ""});
  EXPECT_TRUE(n["error"]["param"].is_null());
  EXPECT_TRUE(n["error"]["code"].is_null());
  EXPECT_EQ(engine_error(Status(Code::kInvalidArgument, "x")).status, 400);
  EXPECT_EQ(engine_error(Status(Code::kCancelled, "x")).status, 503);
  EXPECT_EQ(engine_error(Status(Code::kIoError, "x")).status, 500);
}

TEST(Responses, CarryUsageAndKvc) {
  ParsedRequest req = ok(R"({"prompt":"x"})");
  CompletionResult res;
  res.text = "out\xff";  // invalid UTF-8 must not throw when dumped
  res.report.prompt_tokens = 10;
  res.report.cached_tokens = 8;
  res.report.generated_tokens = 2;
  res.report.path = LookupPath::kLongestPrefix;
  res.report.finish_reason = FinishReason::kLength;
  res.report.finish_key = Key{};
  Json j = completion_response(req, res, "cmpl-1", 5);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
  EXPECT_EQ(j["usage"]["total_tokens"], 12);
  EXPECT_EQ(j["kvc"]["path"], "longest_prefix");
  EXPECT_EQ(j["kvc"]["finish_key"], std::string(64, '0'));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_FALSE(dump(j).empty());

  ParsedRequest chat = ok(R"({"messages":[{"role":"user","content":"x"}]})", true);
  Json c = completion_response(chat, res, "chatcmpl-1", 5);
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["choices"][0]["message"]["role"], "assistant");
  Json first = stream_chunk(chat, "id", 5, "a", true);
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  Json last = stream_final_chunk(chat, res, "id", 5);
  EXPECT_EQ(last["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
  EXPECT_TRUE(last.contains("kvc"));
}

TEST(AdminBodies, ParseObject) {
  EXPECT_TRUE(std::holds_alternative<Json>(parse_object("")));
  EXPECT_TRUE(std::holds_alternative<Json>(parse_object("{\"bytes\":1}")));
  EXPECT_TRUE(std::holds_alternative<ApiError>(parse_object("[1]")));
  EXPECT_TRUE(std::holds_alternative<ApiError>(parse_object("{bytes:1}")));
}

TEST(Metrics, HistogramIsCumulative) {
  ServerMetrics m;
  m.time_to_first_token().observe(0.003);
  m.time_to_first_token().observe(100);
  m.count_request("/v1/completions", 200);
  const std::string t = m.render(1, 0);
  EXPECT_NE(t.find("kvc_server_time_to_first_token_seconds_bucket{le=\"0.005\"} 1"), std::string::npos) << t;
  EXPECT_NE(t.find("kvc_server_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2"), std::string::npos) << t;
  EXPECT_NE(t.find("kvc_server_requests_total{endpoint=\"/v1/completions\",code=\"200\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace kvc::server
