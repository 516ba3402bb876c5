// Generation through llama.cpp's common library (issue 11): grammars from a JSON
// schema, tool calls rendered by the chat template and parsed back, seeds,
// token probabilities, logit bias, penalties, cache_prompt false — on a
// random-weight model, where only a constraint can make the output well-formed.
#include <gtest/gtest.h>
#include <json.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

#include "engine/engine_test_util.h"
#include "kvc/llama_build.h"

namespace kvc::engine::testing {
namespace {

// llama.cpp's chat templates (models/templates, installed by scripts/llama-build).
std::string llama_template(const std::string& name) {
  std::ifstream in(std::string(KVC_LLAMA_TEMPLATES_DIR) + "/" + name);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Fixture {
  kvc::testing::TempDir dir{"kvc-gen"};
  std::string model = tiny_model();
  std::unique_ptr<Engine> engine;
  explicit Fixture(std::string chat_template = "") {
    if (model.empty()) return;
    auto o = test_options(model, dir.path());
    o.cache.policy.saves_enabled = false;
    o.sticky_sessions = false;
    o.model.chat_template = std::move(chat_template);
    engine = open_engine(o);
  }
};

#define KVC_FIXTURE(f, ...)                                                     \
  Fixture f{__VA_ARGS__};                                                       \
  if (f.model.empty()) GTEST_SKIP() << "KVC_MKMODEL is not set (run through ctest)"; \
  ASSERT_NE(f.engine, nullptr)

CompletionRequest text_request(Engine& e, const std::string& text, int max_tokens) {
  CompletionRequest r;
  r.prompt_tokens = e.tokenize(text, true).value();
  r.sampling.max_tokens = max_tokens;
  return r;
}

TEST(Generation, JsonSchemaGrammarYieldsValidJson) {
  KVC_FIXTURE(f);
  auto gbnf = json_schema_to_grammar(
      R"({"type":"object","properties":{"n":{"type":"integer"},"ok":{"type":"boolean"}},"required":["n","ok"],
          "additionalProperties":false})");
  ASSERT_TRUE(gbnf.ok()) << gbnf.status().to_string();
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    auto r = text_request(*f.engine, "Answer in JSON:", 96);
    r.sampling.grammar.gbnf = *gbnf;
    r.sampling.grammar.kind = GrammarConstraint::Kind::kOutputFormat;
    r.sampling.temperature = 1.0f;
    r.sampling.seed = seed;
    auto out = run(*f.engine, r);
    // The grammar ends the object; the end-of-generation token is then the only choice.
    ASSERT_EQ(out.report.finish_reason, FinishReason::kEndOfGeneration) << out.text;
    const common_json j = common_json::parse(out.text);
    ASSERT_TRUE(j.is_object()) << out.text;
    EXPECT_TRUE(j.at("n").is_number_integer()) << out.text;
    EXPECT_TRUE(j.at("ok").is_boolean()) << out.text;
  }
  EXPECT_FALSE(json_schema_to_grammar(R"({"type":"nonsense"})").ok());
  EXPECT_FALSE(json_schema_to_grammar("{not json").ok());
}

TEST(Generation, BadGrammarIsTheCallersError) {
  KVC_FIXTURE(f);
  auto r = text_request(*f.engine, "x", 4);
  r.sampling.grammar.gbnf = "root ::= (";
  auto res = f.engine->complete(r);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kInvalidArgument);
  EXPECT_NE(res.status().message().find("grammar"), std::string::npos) << res.status().message();
  auto lazy = text_request(*f.engine, "x", 4);
  lazy.sampling.grammar.gbnf = "root ::= \"a\"";
  lazy.sampling.grammar.lazy = true;  // and no trigger
  EXPECT_EQ(f.engine->complete(lazy).status().code(), Code::kInvalidArgument);
  auto bias = text_request(*f.engine, "x", 4);
  bias.sampling.logit_bias = {{f.engine->n_vocab(), 1.0f}};
  EXPECT_EQ(f.engine->complete(bias).status().code(), Code::kInvalidArgument);
  auto samplers = text_request(*f.engine, "x", 4);
  samplers.sampling.samplers = {"top_k", "warp_drive"};
  auto s = f.engine->complete(samplers);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("warp_drive"), std::string::npos);
}

// tools → the template's tool-call format and grammar; the text a model writes
// in that format → the chat parser's tool_calls, streamed deltas agreeing with
// the whole message; the tool's answer rendered back into the next prompt. (A
// random-weight model cannot be made to call: llama.cpp's "required" grammars
// of this version let free text come before the call.)
TEST(Generation, ToolCallRoundTrip) {
  // A template with tool support (ChatML, the default, has none: llama.cpp then
  // renders no tools, as llama-server does).
  const std::string qwen = llama_template("Qwen-Qwen2.5-7B-Instruct.jinja");
  if (qwen.empty()) GTEST_SKIP() << "no llama.cpp templates in " << KVC_LLAMA_TEMPLATES_DIR << " (scripts/llama-build)";
  KVC_FIXTURE(f, qwen);
  ChatRequest chat;
  chat.messages_json = R"([{"role":"user","content":"What is the weather in Paris?"}])";
  chat.tools_json = R"([{"type":"function","function":{"name":"get_weather","description":"Weather of a city",
      "parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12}},"required":["city"],
      "additionalProperties":false}}}])";
  chat.tool_choice = "required";
  auto prompt = f.engine->apply_chat(chat);
  ASSERT_TRUE(prompt.ok()) << prompt.status().to_string();
  EXPECT_NE(prompt->prompt.find("get_weather"), std::string::npos) << prompt->prompt;
  EXPECT_TRUE(prompt->parse_tool_calls);
  // required: the grammar applies from the first token and ends in the call.
  EXPECT_FALSE(prompt->grammar.lazy);
  EXPECT_EQ(prompt->grammar.kind, GrammarConstraint::Kind::kToolCalls);
  EXPECT_NE(prompt->grammar.gbnf.find("\"get_weather\""), std::string::npos);
  // auto: lazy, from a trigger on.
  ChatRequest automatic = chat;
  automatic.tool_choice = "auto";
  auto lazy = f.engine->apply_chat(automatic);
  ASSERT_TRUE(lazy.ok());
  EXPECT_TRUE(lazy->grammar.lazy);
  EXPECT_FALSE(lazy->grammar.triggers.empty());
  // The grammar builds (and advances over the generation prompt) in the sampler.
  auto r = text_request(*f.engine, prompt->prompt, 4);
  r.sampling.grammar = prompt->grammar;
  ASSERT_TRUE(f.engine->complete(r).ok());

  const std::string said = "I will look it up.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
                           "\"Paris\"}}\n</tool_call>";
  ChatOutputParser whole = f.engine->chat_parser(*prompt);
  ASSERT_TRUE(whole.update(said, false).ok());
  ASSERT_EQ(whole.output().tool_calls.size(), 1u);
  const ChatToolCall& call = whole.output().tool_calls[0];
  EXPECT_EQ(call.name, "get_weather");
  EXPECT_EQ(call.id.size(), 32u);
  EXPECT_EQ(common_json::parse(call.arguments).at("city").get<std::string>(), "Paris");
  EXPECT_EQ(whole.output().content, "I will look it up.\n");  // llama.cpp keeps the newline before the call

  // The same text in pieces: deltas rebuild the message, a call's name is sent once.
  ChatOutputParser inc = f.engine->chat_parser(*prompt);
  std::string content, name, arguments, id;
  int names = 0;
  auto take = [&](const std::vector<ChatDelta>& ds) {
    for (const ChatDelta& x : ds) {
      content += x.content;
      if (!x.tool_call_index) continue;
      EXPECT_EQ(*x.tool_call_index, 0u);
      if (!x.tool_call.name.empty()) ++names, name += x.tool_call.name, id = x.tool_call.id;
      arguments += x.tool_call.arguments;
    }
  };
  for (std::size_t i = 0; i < said.size(); i += 3) {
    auto d = inc.update(std::string_view(said).substr(i, 3), true);
    ASSERT_TRUE(d.ok());
    take(*d);
  }
  auto last = inc.update("", false);
  ASSERT_TRUE(last.ok());
  take(*last);
  EXPECT_EQ(content, "I will look it up.\n");
  EXPECT_EQ(names, 1);
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(common_json::parse(arguments).dump(), common_json::parse(call.arguments).dump());
  ASSERT_EQ(inc.output().tool_calls.size(), 1u);
  EXPECT_EQ(id, inc.output().tool_calls[0].id);  // the id the stream announced is the message's

  // Text that is no call is content.
  ChatOutputParser plain = f.engine->chat_parser(*lazy);
  ASSERT_TRUE(plain.update("Sunny, I think.", false).ok());
  EXPECT_TRUE(plain.output().tool_calls.empty());
  EXPECT_EQ(plain.output().content, "Sunny, I think.");

  // The tool's answer goes back as a "tool" message; the template renders it.
  ChatRequest turn2 = chat;
  turn2.tool_choice = "auto";
  turn2.messages_json = R"([{"role":"user","content":"What is the weather in Paris?"},
      {"role":"assistant","content":null,"tool_calls":[{"id":")" + call.id + R"(","type":"function",
        "function":{"name":"get_weather","arguments":)" + common_json(call.arguments).dump() + R"(}}]},
      {"role":"tool","tool_call_id":")" + call.id + R"(","content":"sunny, 21 C"}])";
  auto p2 = f.engine->apply_chat(turn2);
  ASSERT_TRUE(p2.ok()) << p2.status().to_string();
  EXPECT_NE(p2->prompt.find("sunny, 21 C"), std::string::npos);
  EXPECT_NE(p2->prompt.find("Paris"), std::string::npos);
}

TEST(Generation, ChatErrorsNameTheField) {
  KVC_FIXTURE(f);
  ChatRequest c;
  c.messages_json = "[1]";
  auto r = f.engine->apply_chat(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("messages"), std::string::npos);
  c.messages_json = R"([{"role":"user","content":"x"}])";
  c.tool_choice = "sometimes";
  EXPECT_NE(f.engine->apply_chat(c).status().message().find("tool_choice"), std::string::npos);
  c.tool_choice = "auto";
  c.tools_json = R"([{"type":"function"}])";
  EXPECT_NE(f.engine->apply_chat(c).status().message().find("tools"), std::string::npos);
  c.tools_json.clear();
  c.json_schema = R"({"type":"object"})";
  c.grammar = "root ::= \"a\"";
  EXPECT_FALSE(f.engine->apply_chat(c).ok());
  c.grammar.clear();
  auto schema = f.engine->apply_chat(c);
  ASSERT_TRUE(schema.ok()) << schema.status().to_string();
  EXPECT_FALSE(schema->grammar.gbnf.empty());
}

TEST(Generation, SeedsAndRandomSeeds) {
  KVC_FIXTURE(f);
  auto r = text_request(*f.engine, "Once upon a time", 16);
  r.sampling.temperature = 1.5f;
  r.sampling.top_k = 0;
  r.sampling.top_p = 1.0f;
  r.sampling.min_p = 0.0f;
  r.sampling.seed = 1234;
  const auto a = run(*f.engine, r);
  const auto b = run(*f.engine, r);
  EXPECT_EQ(a.tokens, b.tokens);  // a given seed repeats
  EXPECT_EQ(a.seed, 1234u);
  r.sampling.seed = SamplingParams::kRandomSeed;
  std::set<std::vector<std::int32_t>> outs;
  std::set<std::uint32_t> seeds;
  for (int i = 0; i < 4; ++i) {
    const auto o = run(*f.engine, r);
    outs.insert(o.tokens);
    seeds.insert(o.seed);
  }
  EXPECT_GT(outs.size(), 1u) << "no seed must not mean the same text every time";
  EXPECT_GT(seeds.size(), 1u);
}

TEST(Generation, ProbabilitiesMatchTheSampledTokens) {
  KVC_FIXTURE(f);
  auto r = text_request(*f.engine, "The cache keeps", 10);
  r.sampling.n_probs = 5;
  const auto out = run(*f.engine, r);
  ASSERT_EQ(out.probs.size(), out.tokens.size());
  for (std::size_t i = 0; i < out.tokens.size(); ++i) {
    const TokenProbs& p = out.probs[i];
    EXPECT_EQ(p.token, out.tokens[i]);
    ASSERT_EQ(p.top.size(), 5u);
    EXPECT_EQ(p.top[0].token, p.token);  // greedy: the most probable one
    EXPECT_FLOAT_EQ(p.top[0].prob, p.prob);
    EXPECT_GT(p.prob, 0.0f);
    EXPECT_LE(p.prob, 1.0f);
    for (std::size_t k = 1; k < p.top.size(); ++k) EXPECT_GE(p.top[k - 1].prob, p.top[k].prob);
  }
  // Pre-sampling probabilities are the raw softmax: a warm run (logits from the
  // cache path or a decode) gives the same numbers as the same run again.
  EXPECT_EQ(run(*f.engine, r).probs[0].prob, out.probs[0].prob);

  auto post = r;
  post.sampling.post_sampling_probs = true;
  const auto pout = run(*f.engine, post);
  ASSERT_FALSE(pout.probs.empty());
  EXPECT_FLOAT_EQ(pout.probs[0].prob, 1.0f);  // temperature 0 keeps one candidate
  EXPECT_EQ(pout.probs[0].top.size(), 1u);     // zero-probability ones are dropped

  auto flag = r;
  flag.sampling.n_probs = 0;
  flag.sampling.probs = true;  // OpenAI's logprobs without top_logprobs
  const auto fout = run(*f.engine, flag);
  ASSERT_EQ(fout.probs.size(), fout.tokens.size());
  EXPECT_TRUE(fout.probs[0].top.empty());
}

// Backend sampling (llama.cpp's sampler chain in the decode graph) samples what
// the CPU samples: the same tokens for a seed, the same post-sampling
// probabilities; with a grammar or raw-logit probabilities it is not used (as in
// llama-server), and the request still works.
TEST(Generation, BackendSamplingMatchesCpuSampling) {
  KVC_FIXTURE(f);
  // Longer than the save policy's minimum (16 tokens), so the warm run finds a row.
  auto r = text_request(*f.engine, "The countries of Europe, in random order, are: France, Spain, Italy, Poland, and then", 12);
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 4242;
  r.sampling.n_probs = 10;
  r.sampling.post_sampling_probs = true;
  const auto cpu = run(*f.engine, r);
  auto b = r;
  b.sampling.backend_sampling = true;
  const auto backend = run(*f.engine, b);
  ASSERT_EQ(backend.tokens, cpu.tokens);
  ASSERT_EQ(backend.probs.size(), cpu.probs.size());
  std::size_t alternatives = 0;
  for (std::size_t i = 0; i < cpu.probs.size(); ++i) {
    const TokenProbs& x = backend.probs[i];
    const TokenProbs& y = cpu.probs[i];
    EXPECT_EQ(x.token, y.token);
    EXPECT_NEAR(x.prob, y.prob, 0.01);
    ASSERT_EQ(x.top.size(), y.top.size()) << "token " << i;
    for (std::size_t k = 0; k < x.top.size(); ++k) {
      EXPECT_EQ(x.top[k].token, y.top[k].token);
      EXPECT_NEAR(x.top[k].prob, y.top[k].prob, 0.01);
    }
    alternatives += x.top.size();
  }
  EXPECT_GE(alternatives, 2 * cpu.probs.size()) << "the test needs a spread of probabilities";

  // Warm: the first token from a cache row's logits (CPU), the rest in the graph.
  kvc::testing::TempDir dir("kvc-gen-backend");
  auto e = open_engine(test_options(f.model, dir.path()));
  EXPECT_EQ(run(*e, r).tokens, cpu.tokens);
  e->cache().flush();
  const auto warm = run(*e, b);
  EXPECT_NE(warm.report.path, LookupPath::kMiss);
  EXPECT_EQ(warm.tokens, cpu.tokens);

  auto raw = b;
  raw.sampling.post_sampling_probs = false;  // raw-logit probabilities: the CPU samples
  const auto rout = run(*f.engine, raw);
  EXPECT_EQ(rout.tokens, cpu.tokens);
  EXPECT_EQ(rout.probs.size(), rout.tokens.size());
  auto g = b;
  g.sampling.grammar.gbnf = R"(root ::= "a"{3,3})";
  const auto gout = run(*f.engine, g);
  EXPECT_EQ(gout.text, "aaa");
}

TEST(Generation, LogitBiasPenaltiesAndStopWord) {
  KVC_FIXTURE(f);
  auto r = text_request(*f.engine, "Tell me a story", 24);
  const auto plain = run(*f.engine, r);
  ASSERT_FALSE(plain.tokens.empty());
  auto banned = r;
  banned.sampling.logit_bias = {{plain.tokens[0], -INFINITY}};
  EXPECT_NE(run(*f.engine, banned).tokens[0], plain.tokens[0]);
  auto forced = r;
  forced.sampling.logit_bias = {{1234, 1000.0f}};
  forced.sampling.max_tokens = 3;
  EXPECT_EQ(run(*f.engine, forced).tokens, (std::vector<std::int32_t>{1234, 1234, 1234}));

  auto present = r;
  present.sampling.presence_penalty = 1000.0f;  // every token seen in the last 64 is pushed out
  present.sampling.repeat_last_n = 64;
  const auto p = run(*f.engine, present);
  const std::set<std::int32_t> distinct(p.tokens.begin(), p.tokens.end());
  EXPECT_EQ(distinct.size(), p.tokens.size());
  for (std::int32_t t : p.tokens)
    EXPECT_EQ(std::count(r.prompt_tokens->begin(), r.prompt_tokens->end(), t), 0) << "prompt tokens are penalised too";

  auto stop = r;
  const std::string piece = f.engine->token_pieces(std::span(&plain.tokens[2], 1))[0].piece;
  stop.sampling.stop = {piece};
  const auto s = run(*f.engine, stop);
  if (!piece.empty() && plain.text.find(piece) != std::string::npos) {
    EXPECT_EQ(s.report.finish_reason, FinishReason::kStop);
    EXPECT_EQ(s.stop_word, piece);
  }
}

TEST(Generation, CachePromptFalseStartsCold) {
  kvc::testing::TempDir dir("kvc-gen-cold");
  KVC_REQUIRE_MODEL(model);
  auto e = open_engine(test_options(model, dir.path()));
  const auto prompt = random_prompt(200, 3);
  run(*e, greedy(prompt, 4));
  e->cache().flush();
  auto warm = run(*e, greedy(prompt, 4));
  EXPECT_NE(warm.report.path, LookupPath::kMiss);
  auto cold_req = greedy(prompt, 4);
  cold_req.use_cache = false;
  auto cold = run(*e, cold_req);
  EXPECT_EQ(cold.report.path, LookupPath::kMiss);
  EXPECT_EQ(cold.report.miss_reason, MissReason::kPolicy);
  EXPECT_EQ(cold.report.cached_tokens, 0u);
  EXPECT_EQ(cold.tokens, warm.tokens);
}

// on_progress: a first event once the cached prefix is known (before any
// decode), then one after each prefill batch, the last at the whole prompt; a
// warm request's first event already counts what the cache gave.
TEST(Generation, ProgressStartsBeforeTheFirstDecode) {
  kvc::testing::TempDir dir("kvc-gen-progress");
  KVC_REQUIRE_MODEL(model);
  auto e = open_engine(test_options(model, dir.path()));
  const auto prompt = random_prompt(3 * kBatch + 5, 4);
  auto events_of = [&](CompletionRequest r) {
    std::vector<PromptProgress> events;
    r.on_progress = [&](const PromptProgress& p) { events.push_back(p); };
    run(*e, r);
    return events;
  };
  auto cold = events_of(greedy(prompt, 2));
  ASSERT_GE(cold.size(), 4u);  // the first, and one per batch
  EXPECT_EQ(cold[0].cached, 0u);
  EXPECT_EQ(cold[0].processed, 0u);
  for (std::size_t i = 0; i < cold.size(); ++i) {
    EXPECT_EQ(cold[i].total, prompt.size());
    if (i > 0) {
      EXPECT_GT(cold[i].processed, cold[i - 1].processed);
      EXPECT_GE(cold[i].elapsed_ms, cold[i - 1].elapsed_ms);
    }
  }
  EXPECT_EQ(cold.back().processed, prompt.size());
  e->cache().flush();
  auto warm = events_of(greedy(prompt, 2));
  ASSERT_FALSE(warm.empty());
  EXPECT_GT(warm[0].cached, 0u);
  EXPECT_EQ(warm[0].processed, warm[0].cached);
  EXPECT_EQ(warm.back().processed, prompt.size());
}

}  // namespace
}  // namespace kvc::engine::testing
