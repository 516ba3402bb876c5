#include "server/openai.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "server/metrics.h"
#include "server/sse.h"

namespace kvc::server {
namespace {

OpenAiRequest ok(const std::string& body, bool chat = false) {
  auto r = parse_openai_request(body, chat);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " → " << e->message;
  return std::holds_alternative<OpenAiRequest>(r) ? std::get<OpenAiRequest>(r) : OpenAiRequest{};
}

ApiError fails(const std::string& body, bool chat = false) {
  auto r = parse_openai_request(body, chat);
  if (!std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << body << " was accepted";
    return {};
  }
  return std::get<ApiError>(r);
}

TEST(OpenAiRequest, CompletionMapsOntoLlamaParams) {
  auto r = ok(R"({"model":"anything-at-all","prompt":"hi","max_tokens":5,"temperature":0.5,"stop":"END",
                  "stream":true,"user":"u","mirostat":2,"unknown_extension":{"x":1}})");
  EXPECT_FALSE(r.chat);
  EXPECT_EQ(r.model, "anything-at-all");  // any model name is served
  EXPECT_EQ(r.prompt, "hi");
  EXPECT_FALSE(r.llama_params.contains("prompt"));
  EXPECT_FALSE(r.llama_params.contains("model"));
  EXPECT_EQ(r.llama_params["stop"], Json::array({"END"}));  // a string stop becomes an array
  EXPECT_EQ(r.llama_params["max_tokens"], 5);
  EXPECT_EQ(r.llama_params["mirostat"], 2);  // llama-server's extra fields pass through
}

TEST(OpenAiRequest, CompletionRefusesWhatLlamaServerRefuses) {
  EXPECT_EQ(fails(R"({"prompt":"x","suffix":"y"})").param, "suffix");
  EXPECT_EQ(fails(R"({"prompt":"x","best_of":2})").param, "best_of");
  EXPECT_EQ(fails(R"({"prompt":"x","echo":true})").param, "echo");
  ok(R"({"prompt":"x","echo":false})");
  EXPECT_EQ(fails(R"({})").param, "prompt");
  EXPECT_EQ(fails(R"({"prompt":5})").param, "prompt");
  EXPECT_EQ(fails(R"({"prompt":[]})").param, "prompt");
  EXPECT_EQ(fails(R"({"prompt":[true]})").param, "prompt");
  ok(R"({"prompt":[1,2,"mixed"]})");
  ok(R"({"prompt":["several","prompts"]})");
}

TEST(OpenAiRequest, ChatRendersThroughTheEngine) {
  auto r = ok(R"({"messages":[{"role":"system","content":"be brief"},
                              {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
                  "max_completion_tokens":9,"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],
                  "tool_choice":"required","parallel_tool_calls":true,
                  "chat_template_kwargs":{"enable_thinking":false},"reasoning_format":"none"})",
              true);
  EXPECT_TRUE(r.chat);
  const ChatRequest& c = r.chat_request;
  EXPECT_EQ(Json::parse(c.messages_json).size(), 2u);
  EXPECT_EQ(Json::parse(c.tools_json)[0]["function"]["name"], "f");
  EXPECT_EQ(c.tool_choice, "required");
  EXPECT_EQ(c.parallel_tool_calls, true);
  EXPECT_EQ(c.chat_template_kwargs.at("enable_thinking"), "false");
  EXPECT_EQ(c.reasoning_format, "none");
  EXPECT_TRUE(c.add_generation_prompt);
  EXPECT_EQ(r.llama_params["max_completion_tokens"], 9);
  for (const char* k : {"messages", "tools", "tool_choice"}) EXPECT_FALSE(r.llama_params.contains(k)) << k;
}

TEST(OpenAiRequest, NamedToolChoiceKeepsThatTool) {
  auto r = ok(R"({"messages":[{"role":"user","content":"x"}],
                  "tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}],
                  "tool_choice":{"type":"function","function":{"name":"b"}}})",
              true);
  EXPECT_EQ(r.chat_request.tool_choice, "required");
  const Json tools = Json::parse(r.chat_request.tools_json);
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0]["function"]["name"], "b");
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}}],
                      "tool_choice":{"type":"function","function":{"name":"zz"}}})",
                  true)
                .param,
            "tool_choice");
}

TEST(OpenAiRequest, ResponseFormat) {
  auto any = ok(R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}})", true);
  EXPECT_EQ(Json::parse(any.chat_request.json_schema), Json({{"type", "object"}}));  // any object
  auto s = ok(R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema",
                  "json_schema":{"name":"n","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}})",
              true);
  EXPECT_EQ(Json::parse(s.chat_request.json_schema)["properties"]["a"]["type"], "integer");
  auto text = ok(R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"text"}})", true);
  EXPECT_TRUE(text.chat_request.json_schema.empty());
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}})", true).param,
            "response_format");
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"}],"response_format":"json"})", true).param,
            "response_format");
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"}],"json_schema":{},"grammar":"root ::= \"a\""})", true).param,
            "json_schema");
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"}],"grammar":"root ::= \"a\"",
                      "tools":[{"type":"function","function":{"name":"f"}}]})",
                  true)
                .param,
            "grammar");
}

TEST(OpenAiRequest, Logprobs) {
  auto r = ok(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":3})", true);
  EXPECT_EQ(r.llama_params["n_probs"], 3);
  EXPECT_EQ(r.llama_params["logprobs"], true);
  auto d = ok(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true})", true);
  EXPECT_EQ(d.llama_params["n_probs"], 20);  // llama-server's default
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":3})", true).param, "top_logprobs");
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21})", true).param,
            "top_logprobs");
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"}],"logprobs":"yes"})", true).param, "logprobs");
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"stream":true,
                      "tools":[{"type":"function","function":{"name":"f"}}]})",
                  true)
                .param,
            "logprobs");
}

TEST(OpenAiRequest, AssistantPrefillContinues) {
  auto r = ok(R"({"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"Sure"}]})", true);
  EXPECT_EQ(r.chat_request.continue_final_message, "true");
  EXPECT_FALSE(r.chat_request.add_generation_prompt);
  EXPECT_EQ(fails(R"({"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"a"},
                      {"role":"assistant","content":"b"}]})",
                  true)
                .param,
            "messages");
}

TEST(OpenAiRequest, BadChatInputNamesTheField) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"({"messages":"hi"})", "messages"},
      {R"({"messages":[]})", "messages"},
      {R"({})", "messages"},
      {R"({"messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"messages":[{"role":"assistant"}]})", "messages[0]"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content"},
      {R"({"messages":[1]})", "messages[0]"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":{}})", "tools"},
      {R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"})", "tool_choice"},
      {R"({"messages":[{"role":"user","content":"x"}],"tool_choice":5})", "tool_choice"},
      {R"({"messages":[{"role":"user","content":"x"}],"parallel_tool_calls":"y"})", "parallel_tool_calls"},
      {R"({"messages":[{"role":"user","content":"x"}],"chat_template_kwargs":[1]})", "chat_template_kwargs"},
      {R"({"messages":[{"role":"user","content":"x"}],"add_generation_prompt":1})", "add_generation_prompt"},
      {R"({"messages":[{"role":"user","content":"x"}],"model":7})", "model"},
      {R"({"messages":[{"role":"user","content":"x"}],"user":1})", "user"},
  };
  for (const auto& c : cases) {
    ApiError e = fails(c.body, true);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " → " << e.message;
  }
}

TEST(OpenAiRequest, MalformedJson) {
  for (const char* body : {"", "{", "[1,2]", "\"x\"", "{\"prompt\":\"x\",}", "nul"}) {
    ApiError e = fails(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.code, "invalid_json") << body;
  }
}

TEST(ErrorBody, Shapes) {
  Json j = error_body(bad_request("'x' is bad", "x"));
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["message"], "'x' is bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "x");
  EXPECT_EQ(j["error"]["code"], "invalid_value");
  Json n = error_body(ApiError{500, "m", "server_error", "", ""});
  EXPECT_TRUE(n["error"]["param"].is_null());
  EXPECT_TRUE(n["error"]["code"].is_null());
  Json x = error_body(exceed_context_error(900, 256));
  EXPECT_EQ(x["error"]["type"], "exceed_context_size_error");
  EXPECT_EQ(x["error"]["n_prompt_tokens"], 900);
  EXPECT_EQ(x["error"]["n_ctx"], 256);
  EXPECT_EQ(exceed_context_error(900, 256).status, 400);
  EXPECT_NE(x["error"]["message"].get<std::string>().find("exceeds the available context size"), std::string::npos);
  EXPECT_EQ(not_supported("no").status, 501);
  EXPECT_EQ(error_body(not_supported("no"))["error"]["type"], "not_supported_error");
  EXPECT_EQ(engine_error(Status(Code::kInvalidArgument, "x")).status, 400);
  EXPECT_EQ(engine_error(Status(Code::kCancelled, "x")).status, 503);
  EXPECT_EQ(engine_error(Status(Code::kIoError, "x")).status, 500);
}

CompletionResult sample_result() {
  CompletionResult res;
  res.text = "out\xff";  // invalid UTF-8 must not throw when dumped
  res.tokens = {7, 8};
  res.report.prompt_tokens = 10;
  res.report.cached_tokens = 8;
  res.report.prefilled_tokens = 2;
  res.report.generated_tokens = 2;
  res.report.prefill_ms = 4;
  res.report.time_to_first_token_ms = 5;
  res.report.total_ms = 9;
  res.report.path = LookupPath::kLongestPrefix;
  res.report.finish_reason = FinishReason::kLength;
  res.report.finish_key = Key{};
  return res;
}

const ResponseContext kCtx{"cmpl-1", 5, "tinyllama-2", "b1-abc-kvc0.1.0", false};

TEST(Responses, AWholePromptFromTheCacheCountsLikeLlamaServer) {
  // kvc reused all 77 tokens (the row's stored logits); llama-server would have
  // decoded the last one: usage and timings say 76 cached, 1 processed.
  CompletionResult res = sample_result();
  res.report.prompt_tokens = 77;
  res.report.cached_tokens = 77;
  res.report.prefilled_tokens = 0;
  res.report.logits_from_cache = true;
  Json j = completion_response(ResponseContext{"cmpl-1", 5, "m", "fp", false}, res);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 76);
  EXPECT_EQ(j["timings"]["cache_n"], 76);
  EXPECT_EQ(j["timings"]["prompt_n"], 1);
  EXPECT_EQ(j["kvc"]["cached_tokens"], 77);  // kvc's own report says what happened
  EXPECT_EQ(j["kvc"]["logits_from_cache"], true);
  res.report.prompt_tokens = 0;
  res.report.cached_tokens = 0;
  EXPECT_EQ(llama_cached_tokens(res.report), 0u);
}

TEST(Responses, CompletionCarriesUsageTimingsFingerprintAndKvc) {
  CompletionResult res = sample_result();
  Json j = completion_response(kCtx, res);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["model"], "tinyllama-2");
  EXPECT_EQ(j["system_fingerprint"], "b1-abc-kvc0.1.0");
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
  EXPECT_EQ(j["usage"]["total_tokens"], 12);
  EXPECT_EQ(j["timings"]["cache_n"], 8);
  EXPECT_EQ(j["timings"]["prompt_n"], 2);
  EXPECT_EQ(j["timings"]["predicted_n"], 2);
  EXPECT_DOUBLE_EQ(j["timings"]["predicted_ms"].get<double>(), 4.0);
  EXPECT_EQ(j["kvc"]["path"], "longest_prefix");
  EXPECT_EQ(j["kvc"]["finish_key"], std::string(64, '0'));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_FALSE(dump(j).empty());
}

TEST(Responses, ChatMessageWithToolCalls) {
  CompletionResult res = sample_result();
  res.report.finish_reason = FinishReason::kEndOfGeneration;
  ChatOutput out;
  out.tool_calls = {{"id1", "get_weather", "{\"city\":\"Paris\"}"}};
  Json j = chat_response(kCtx, res, out);
  EXPECT_EQ(j["object"], "chat.completion");
  const Json& m = j["choices"][0]["message"];
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_TRUE(m["content"].is_null());
  EXPECT_EQ(m["tool_calls"][0]["id"], "id1");
  EXPECT_EQ(m["tool_calls"][0]["type"], "function");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  ChatOutput plain;
  plain.content = "hi";
  plain.reasoning_content = "think";
  Json p = chat_response(kCtx, res, plain);
  EXPECT_EQ(p["choices"][0]["message"]["content"], "hi");
  EXPECT_EQ(p["choices"][0]["message"]["reasoning_content"], "think");
  EXPECT_EQ(p["choices"][0]["finish_reason"], "stop");
}

TEST(Responses, LogprobsAreLogsOfTheProbabilities) {
  CompletionResult res = sample_result();
  res.probs = {{7, "a", 0.5f, {{7, "a", 0.5f}, {9, "b", 0.25f}}}, {8, "\xe5", 0.0f, {}}};
  Json j = completion_response(kCtx, res);
  const Json& c = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0]["id"], 7);
  EXPECT_EQ(c[0]["token"], "a");
  EXPECT_EQ(c[0]["bytes"], Json::array({97}));
  EXPECT_NEAR(c[0]["logprob"].get<double>(), std::log(0.5), 1e-6);
  EXPECT_NEAR(c[0]["top_logprobs"][1]["logprob"].get<double>(), std::log(0.25), 1e-6);
  EXPECT_LT(c[1]["logprob"].get<double>(), -1e30);  // log(0): JSON has no -inf
  EXPECT_EQ(c[1]["token"], "");                      // an incomplete UTF-8 sequence is cut
  EXPECT_EQ(c[1]["bytes"], Json::array({0xe5}));
  ResponseContext post = kCtx;
  post.post_sampling_probs = true;
  Json p = completion_response(post, res);
  EXPECT_FLOAT_EQ(p["choices"][0]["logprobs"]["content"][0]["prob"].get<float>(), 0.5f);
  EXPECT_TRUE(p["choices"][0]["logprobs"]["content"][0].contains("top_probs"));
}

TEST(Responses, ChatStreamShapes) {
  CompletionResult res = sample_result();
  Json role = chat_role_chunk(kCtx);
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(role["choices"][0]["delta"]["content"].is_null());
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  ChatDelta name;
  name.tool_call_index = 0;
  name.tool_call = {"id1", "f", ""};
  Json n = chat_delta_chunk(kCtx, name, {});
  EXPECT_EQ(n["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
  EXPECT_EQ(n["choices"][0]["delta"]["tool_calls"][0]["id"], "id1");
  EXPECT_EQ(n["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "f");
  EXPECT_FALSE(n["choices"][0]["delta"]["tool_calls"][0]["function"].contains("arguments"));
  ChatDelta args;
  args.tool_call_index = 0;
  args.tool_call.arguments = "{\"";
  Json a = chat_delta_chunk(kCtx, args, {});
  EXPECT_FALSE(a["choices"][0]["delta"]["tool_calls"][0].contains("id"));
  EXPECT_EQ(a["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"], "{\"");
  Json fin = chat_final_chunk(kCtx, res, true, true);
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(fin["choices"][0]["delta"].empty());
  EXPECT_TRUE(fin.contains("timings"));
  EXPECT_EQ(fin["usage"]["completion_tokens"], 2);  // kvc: the last chunk carries usage
  Json u = usage_chunk(kCtx, res, true);
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["completion_tokens"], 2);
  EXPECT_TRUE(u.contains("timings"));
  EXPECT_FALSE(chat_final_chunk(kCtx, res, false, false).contains("timings"));
  Json c = completion_chunk(kCtx, "x", {});
  EXPECT_EQ(c["choices"][0]["text"], "x");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
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

TEST(Metrics, LlamaServersExposition) {
  ServerMetrics m;
  m.count_llama(10, 5, 0.5, 8, 2.0, 23);
  m.count_llama(2, 20, 0.1, 1, 0.0, 30);
  const std::string t = m.render_llama(1, 2, {4, 6});
  for (const char* line : {"llamacpp:prompt_tokens_total 12", "llamacpp:prompt_tokens_cached_total 25",
                           "llamacpp:tokens_predicted_total 9", "llamacpp:n_decode_total 4", "llamacpp:n_tokens_max 30",
                           "llamacpp:requests_processing 1", "llamacpp:requests_deferred 2",
                           "llamacpp:n_busy_slots_per_decode 1.5", "llamacpp:prompt_tokens_seconds 20",
                           "# TYPE llamacpp:n_decode_total counter", "# TYPE llamacpp:requests_deferred gauge",
                           "# HELP llamacpp:spec_decode_num_drafts_total "})
    EXPECT_NE(t.find(line), std::string::npos) << line << "\n" << t;
}

}  // namespace
}  // namespace kvc::server
