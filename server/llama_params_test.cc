#include "server/llama_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace kvc::server {
namespace {

GenerationDefaults defaults() {
  GenerationDefaults d;
  d.sampling.temperature = 0.8f;
  d.n_predict = 16;
  d.n_parallel = 2;
  return d;
}

// Any text tokenizes to {5, 6}.
const Tokenizer kTok = [](const std::string&) { return std::vector<std::int32_t>{5, 6}; };

GenerationParams ok(const std::string& body) {
  auto r = parse_generation(Json::parse(body), defaults(), 100, kTok);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " → " << e->message;
  return std::holds_alternative<GenerationParams>(r) ? std::get<GenerationParams>(r) : GenerationParams{};
}

ApiError fails(const std::string& body) {
  auto r = parse_generation(Json::parse(body), defaults(), 100, kTok);
  if (!std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << body << " was accepted";
    return {};
  }
  return std::get<ApiError>(r);
}

TEST(LlamaParams, DefaultsComeFromTheServer) {
  auto p = ok("{}");
  EXPECT_FLOAT_EQ(p.sampling.temperature, 0.8f);
  EXPECT_EQ(p.sampling.max_tokens, 16);
  EXPECT_EQ(p.sampling.seed, SamplingParams::kRandomSeed);  // no seed: a random one per request
  EXPECT_EQ(p.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(p.sampling.min_p, 0.05f);
  EXPECT_TRUE(p.cache_prompt);
  EXPECT_FALSE(p.stream);
  EXPECT_FALSE(p.include_usage);
  EXPECT_EQ(p.n_cmpl, 1);
  EXPECT_EQ(p.id_slot, -1);
  EXPECT_FALSE(p.verbose);
}

TEST(LlamaParams, VerboseDefaultsToTheServersAndARequestOverridesIt) {
  GenerationDefaults d = defaults();
  d.verbose = true;  // --verbose
  auto parse = [&](const std::string& body) {
    auto r = parse_generation(Json::parse(body), d, 100, kTok);
    return std::holds_alternative<GenerationParams>(r) && std::get<GenerationParams>(r).verbose;
  };
  EXPECT_TRUE(parse("{}"));
  EXPECT_FALSE(parse(R"({"verbose":false})"));
  EXPECT_TRUE(ok(R"({"verbose":true})").verbose);  // without --verbose, a request turns it on
  EXPECT_EQ(fails(R"({"verbose":"yes"})").param, "verbose");
}

TEST(LlamaParams, BackendSamplingDefaultsToTheServersAndARequestOverridesIt) {
  EXPECT_FALSE(ok("{}").sampling.backend_sampling);
  EXPECT_TRUE(ok(R"({"backend_sampling":true})").sampling.backend_sampling);
  GenerationDefaults d = defaults();
  d.sampling.backend_sampling = true;  // --backend-sampling
  auto r = parse_generation(Json::parse(R"({"backend_sampling":false})"), d, 100, kTok);
  ASSERT_TRUE(std::holds_alternative<GenerationParams>(r));
  EXPECT_FALSE(std::get<GenerationParams>(r).sampling.backend_sampling);
  EXPECT_EQ(fails(R"({"backend_sampling":1})").param, "backend_sampling");
  EXPECT_EQ(generation_settings_json(ok(R"({"backend_sampling":true})"), "m")["backend_sampling"], true);
}

TEST(LlamaParams, EveryFieldIsRead) {
  auto p = ok(R"({"n_predict":7,"temperature":1.5,"top_k":3,"top_p":0.5,"min_p":0.1,"typical_p":0.9,
                  "top_n_sigma":1.0,"xtc_probability":0.2,"xtc_threshold":0.3,"dynatemp_range":0.1,
                  "dynatemp_exponent":2,"repeat_last_n":8,"repeat_penalty":1.1,"frequency_penalty":0.5,
                  "presence_penalty":-0.5,"dry_multiplier":0.8,"dry_base":2,"dry_allowed_length":3,
                  "dry_penalty_last_n":16,"dry_sequence_breakers":["x"],"mirostat":2,"mirostat_tau":4,
                  "mirostat_eta":0.2,"seed":42,"n_probs":3,"post_sampling_probs":true,"min_keep":1,
                  "ignore_eos":true,"stop":["a",""],"samplers":["top_k","temperature"],"stream":true,
                  "stream_options":{"include_usage":true},"cache_prompt":false,"return_tokens":true,
                  "return_progress":true,"timings_per_token":true,"n":2,"id_slot":1,
                  "response_fields":["content"],"adaptive_target":0.5,"adaptive_decay":0.5})");
  const SamplingParams& s = p.sampling;
  EXPECT_EQ(s.max_tokens, 7);
  EXPECT_FLOAT_EQ(s.temperature, 1.5f);
  EXPECT_EQ(s.top_k, 3);
  EXPECT_FLOAT_EQ(s.top_p, 0.5f);
  EXPECT_FLOAT_EQ(s.min_p, 0.1f);
  EXPECT_FLOAT_EQ(s.typical_p, 0.9f);
  EXPECT_FLOAT_EQ(s.top_n_sigma, 1.0f);
  EXPECT_FLOAT_EQ(s.xtc_probability, 0.2f);
  EXPECT_FLOAT_EQ(s.xtc_threshold, 0.3f);
  EXPECT_EQ(s.repeat_last_n, 8);
  EXPECT_FLOAT_EQ(s.repeat_penalty, 1.1f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, 0.5f);
  EXPECT_FLOAT_EQ(s.presence_penalty, -0.5f);
  EXPECT_FLOAT_EQ(s.dry_multiplier, 0.8f);
  EXPECT_FLOAT_EQ(s.dry_base, 2.0f);
  EXPECT_EQ(s.dry_allowed_length, 3);
  EXPECT_EQ(s.dry_penalty_last_n, 16);
  EXPECT_EQ(s.dry_sequence_breakers, std::vector<std::string>{"x"});
  EXPECT_EQ(s.mirostat, 2);
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(s.n_probs, 3);
  EXPECT_TRUE(s.post_sampling_probs);
  EXPECT_EQ(s.min_keep, 1);
  EXPECT_TRUE(s.ignore_eos);
  EXPECT_EQ(s.stop, std::vector<std::string>{"a"});  // empty stop strings are dropped
  EXPECT_EQ(s.samplers, (std::vector<std::string>{"top_k", "temperature"}));
  EXPECT_FLOAT_EQ(s.adaptive_target, 0.5f);
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
  EXPECT_FALSE(p.cache_prompt);
  EXPECT_TRUE(p.return_tokens);
  EXPECT_TRUE(p.return_progress);
  EXPECT_TRUE(p.timings_per_token);
  EXPECT_EQ(p.n_cmpl, 2);
  EXPECT_EQ(p.id_slot, 1);
  EXPECT_EQ(p.response_fields, std::vector<std::string>{"content"});
}

TEST(LlamaParams, AliasesInLlamaServersOrder) {
  EXPECT_EQ(ok(R"({"max_tokens":5})").sampling.max_tokens, 5);
  EXPECT_EQ(ok(R"({"max_completion_tokens":6,"max_tokens":5})").sampling.max_tokens, 6);
  EXPECT_EQ(ok(R"({"n_predict":4,"max_tokens":5})").sampling.max_tokens, 4);
  EXPECT_EQ(ok(R"({"n_predict":-1})").sampling.max_tokens, -1);
  EXPECT_EQ(ok(R"({"logprobs":4})").sampling.n_probs, 4);  // /completion's logprobs is a count
  auto b = ok(R"({"logprobs":true,"n_probs":0})");     // chat's is a switch
  EXPECT_TRUE(b.sampling.probs);
  EXPECT_EQ(b.sampling.n_probs, 0);
  EXPECT_EQ(ok(R"({"n":2})").n_cmpl, 2);
  EXPECT_EQ(ok(R"({"seed":-1})").sampling.seed, SamplingParams::kRandomSeed);
  EXPECT_EQ(ok(R"({"stop":"x"})").sampling.stop, std::vector<std::string>{"x"});
  EXPECT_FLOAT_EQ(ok(R"({"dry_base":0.5})").sampling.dry_base, 1.75f);  // below 1: the default
  EXPECT_EQ(ok(R"({"samplers":"kt"})").sampling.samplers, (std::vector<std::string>{"top_k", "temperature"}));
  EXPECT_EQ(ok(R"({"temperature":null})").sampling.temperature, 0.8f);  // null: the server default
}

TEST(LlamaParams, LogitBiasForms) {
  auto a = ok(R"({"logit_bias":[[3,-1.5],[4,false],["hi",2]]})");
  ASSERT_EQ(a.sampling.logit_bias.size(), 4u);
  EXPECT_EQ(a.sampling.logit_bias[0].token, 3);
  EXPECT_FLOAT_EQ(a.sampling.logit_bias[0].bias, -1.5f);
  EXPECT_TRUE(std::isinf(a.sampling.logit_bias[1].bias));  // false bans
  EXPECT_EQ(a.sampling.logit_bias[2].token, 5);            // a text: every one of its tokens
  EXPECT_EQ(a.sampling.logit_bias[3].token, 6);
  auto o = ok(R"({"logit_bias":{"7":1,"word":-2}})");
  ASSERT_EQ(o.sampling.logit_bias.size(), 3u);
  EXPECT_EQ(o.sampling.logit_bias[0].token, 7);
  EXPECT_EQ(fails(R"({"logit_bias":{"100":1}})").param, "logit_bias");  // out of the vocabulary
  EXPECT_EQ(fails(R"({"logit_bias":[[-1,1]]})").param, "logit_bias");
  EXPECT_EQ(fails(R"({"logit_bias":[[1,"x"]]})").param, "logit_bias");
  EXPECT_EQ(fails(R"({"logit_bias":[[1,true]]})").param, "logit_bias");
  EXPECT_EQ(fails(R"({"logit_bias":[1,2]})").param, "logit_bias");
  EXPECT_EQ(fails(R"({"logit_bias":"x"})").param, "logit_bias");
}

TEST(LlamaParams, GrammarAndJsonSchema) {
  auto g = ok(R"({"grammar":"root ::= \"a\""})");
  EXPECT_EQ(g.sampling.grammar.gbnf, "root ::= \"a\"");
  EXPECT_EQ(g.sampling.grammar.kind, GrammarConstraint::Kind::kUser);
  auto s = ok(R"({"json_schema":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}})");
  EXPECT_NE(s.sampling.grammar.gbnf.find("root"), std::string::npos);
  EXPECT_EQ(s.sampling.grammar.kind, GrammarConstraint::Kind::kOutputFormat);
  EXPECT_FALSE(ok(R"({"json_schema":{}})").sampling.grammar.gbnf.empty());  // {}: any object
  EXPECT_EQ(fails(R"({"json_schema":"x"})").param, "json_schema");
  EXPECT_EQ(fails(R"({"json_schema":{"type":"no-such-type"}})").param, "json_schema");
  EXPECT_EQ(fails(R"({"grammar":5})").param, "grammar");
  EXPECT_EQ(fails(R"({"grammar":"root ::= \"a\"","grammar_lazy":true})").param, "grammar_lazy");
  auto lazy = ok(R"({"grammar":"root ::= \"a\"","grammar_lazy":true,"grammar_triggers":[{"type":1,"value":"<t>"}],
                     "preserved_tokens":["<t>"]})");
  EXPECT_TRUE(lazy.sampling.grammar.lazy);
  ASSERT_EQ(lazy.sampling.grammar.triggers.size(), 1u);
  EXPECT_EQ(lazy.sampling.grammar.triggers[0].kind, GrammarTrigger::Kind::kWord);
  EXPECT_EQ(fails(R"({"grammar_triggers":[{"type":9,"value":"x"}]})").param, "grammar_triggers");
}

TEST(LlamaParams, BadValuesNameTheField) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"({"n_predict":-2})", "n_predict"},
      {R"({"max_tokens":"5"})", "max_tokens"},
      {R"({"max_tokens":1.5})", "max_tokens"},
      {R"({"temperature":"hot"})", "temperature"},
      {R"({"temperature":-0.1})", "temperature"},
      {R"({"top_p":1.5})", "top_p"},
      {R"({"top_p":-1})", "top_p"},
      {R"({"min_p":2})", "min_p"},
      {R"({"top_k":-1})", "top_k"},
      {R"({"xtc_probability":2})", "xtc_probability"},
      {R"({"xtc_threshold":-1})", "xtc_threshold"},
      {R"({"repeat_last_n":-1})", "repeat_last_n"},
      {R"({"repeat_penalty":0})", "repeat_penalty"},
      {R"({"frequency_penalty":"x"})", "frequency_penalty"},
      {R"({"presence_penalty":[1]})", "presence_penalty"},
      {R"({"mirostat":3})", "mirostat"},
      {R"({"dry_allowed_length":-1})", "dry_allowed_length"},
      {R"({"dry_sequence_breakers":[]})", "dry_sequence_breakers"},
      {R"({"dry_sequence_breakers":[1]})", "dry_sequence_breakers"},
      {R"({"adaptive_decay":1})", "adaptive_decay"},
      {R"({"seed":"s"})", "seed"},
      {R"({"seed":-2})", "seed"},
      {R"({"seed":4294967296})", "seed"},
      {R"({"n_probs":-1})", "n_probs"},
      {R"({"logprobs":"x"})", "logprobs"},
      {R"({"min_keep":-1})", "min_keep"},
      {R"({"n":3})", "n"},
      {R"({"n":0})", "n"},
      {R"({"id_slot":2})", "id_slot"},
      {R"({"stream":"yes"})", "stream"},
      {R"({"stream_options":1})", "stream_options"},
      {R"({"stream_options":{"include_usage":1}})", "stream_options.include_usage"},
      {R"({"cache_prompt":1})", "cache_prompt"},
      {R"({"return_progress":"y"})", "return_progress"},
      {R"({"ignore_eos":0})", "ignore_eos"},
      {R"({"stop":[1]})", "stop"},
      {R"({"stop":{}})", "stop"},
      {R"({"samplers":"kz"})", "samplers"},
      {R"({"samplers":[1]})", "samplers"},
      {R"({"response_fields":"x"})", "response_fields"},
      {R"({"parent_key":"abc"})", "parent_key"},
      {R"({"parent_key":12})", "parent_key"},
      {R"({"lora":[{"id":0,"scale":1}]})", "lora"},
      {R"({"n_indent":4})", "n_indent"},
      {R"({"t_max_predict_ms":100})", "t_max_predict_ms"},
      {R"({"n_cache_reuse":8})", "n_cache_reuse"},
      {R"({"n_keep":-2})", "n_keep"},
  };
  for (const auto& c : cases) {
    ApiError e = fails(c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body << " → " << e.message;
    EXPECT_NE(e.message.find(std::string(c.param).substr(0, std::string(c.param).find('.'))), std::string::npos)
        << c.body << " → " << e.message;
  }
}

TEST(LlamaParams, ParentKey) {
  const std::string hex(64, 'a');
  auto p = ok(R"({"parent_key":")" + hex + "\"}");
  ASSERT_TRUE(p.parent_key);
  EXPECT_EQ(p.parent_key->hex(), hex);
}

TEST(LlamaParams, ChatPromptMerges) {
  GenerationParams p = ok(R"({"stop":["x"]})");
  ChatPrompt chat;
  chat.grammar.gbnf = "root ::= \"a\"";
  chat.grammar.kind = GrammarConstraint::Kind::kToolCalls;
  chat.grammar.lazy = true;
  chat.grammar.triggers = {{GrammarTrigger::Kind::kWord, "<tool_call>", -1}};
  chat.additional_stops = {"<|im_end|>"};
  apply_chat_prompt(chat, p);
  EXPECT_EQ(p.sampling.grammar.gbnf, "root ::= \"a\"");
  EXPECT_TRUE(p.sampling.grammar.lazy);
  EXPECT_EQ(p.sampling.stop, (std::vector<std::string>{"x", "<|im_end|>"}));
}

TEST(LlamaParams, GenerationSettings) {
  Json j = generation_settings_json(ok(R"({"seed":3,"logit_bias":[[1,false]]})"), "m");
  EXPECT_EQ(j["seed"], 3);
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["logit_bias"][0]["bias"], false);
  EXPECT_EQ(j["n_predict"], 16);
}

}  // namespace
}  // namespace kvc::server
