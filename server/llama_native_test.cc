#include "server/llama_native.h"

#include <gtest/gtest.h>

#include <string>

namespace kvc::server {
namespace {

std::vector<PromptInput> prompts(const std::string& json) {
  auto r = parse_prompts(Json::parse(json), "prompt");
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << json << " → " << e->message;
  return std::holds_alternative<std::vector<PromptInput>>(r) ? std::get<std::vector<PromptInput>>(r)
                                                           : std::vector<PromptInput>{};
}

TEST(NativePrompts, Forms) {
  EXPECT_EQ(prompts(R"("hi")").size(), 1u);
  auto ids = prompts("[1,2,3]");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0].pieces.size(), 3u);
  auto mixed = prompts(R"([1,"a",2])");  // one prompt: ids and text mixed
  ASSERT_EQ(mixed.size(), 1u);
  EXPECT_EQ(mixed[0].pieces.size(), 3u);
  auto several = prompts(R"(["a",[1,2],"b"])");  // no number at the top: several prompts
  EXPECT_EQ(several.size(), 3u);
  EXPECT_EQ(prompts(R"({"prompt_string":"x"})").size(), 1u);  // llama-server's JSON prompt
  EXPECT_EQ(prompts(R"([[1,2],{"prompt_string":"x"}])").size(), 2u);
  EXPECT_EQ(prompts(R"("")").size(), 1u);  // "" is a prompt (BOS only), as in llama-server
  for (const char* bad : {"5", "[]", R"({"a":1})", "[-1]", "[[{}]]", "[true]",
                          R"({"prompt_string":"x","multimodal_data":["aGk="]})"}) {
    auto r = parse_prompts(Json::parse(bad), "prompt");
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << bad;
    EXPECT_EQ(std::get<ApiError>(r).param, "prompt") << bad;
  }
}

TEST(NativePrompts, TokenizeMixedAddsBosOnlyBeforeTheFirstText) {
  std::vector<std::pair<std::string, bool>> calls;
  const TextTokenizer tok = [&](const std::string& t, bool special) {
    calls.emplace_back(t, special);
    return std::vector<std::int32_t>{special ? 1 : 0, 42};
  };
  ASSERT_EQ(prompts(R"(["a",7,"b"])").size(), 1u);  // a number at the top: one mixed prompt
  auto mixed = prompts(R"([5,"a","b"])")[0];
  EXPECT_EQ(tokenize_prompt(mixed, true, tok), (std::vector<std::int32_t>{5, 0, 42, 0, 42}));
  calls.clear();
  auto text_first = prompts(R"(["a",9])")[0];
  EXPECT_EQ(tokenize_prompt(text_first, true, tok), (std::vector<std::int32_t>{1, 42, 9}));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].second);
}

TEST(NativeCompletion, RequestAndResponse) {
  auto r = parse_native_completion(R"({"prompt":"What is","n_predict":4,"id_slot":1,"cache_prompt":true})");
  ASSERT_TRUE(std::holds_alternative<NativeCompletionRequest>(r));
  EXPECT_EQ(std::get<NativeCompletionRequest>(r).prompts.size(), 1u);
  EXPECT_EQ(std::get<ApiError>(parse_native_completion("{}")).param, "prompt");
  EXPECT_EQ(std::get<ApiError>(parse_native_completion("[1]")).code, "invalid_json");

  CompletionResult res;
  res.text = "a\nb";
  res.tokens = {3, 4};
  res.stop_word = "";
  res.probs = {{3, "a", 0.5f, {}}, {4, "b", 0.25f, {}}};
  res.report.prompt_tokens = 6;
  res.report.cached_tokens = 5;
  res.report.prefilled_tokens = 1;
  res.report.generated_tokens = 2;
  res.report.finish_reason = FinishReason::kLength;
  GenerationParams p;
  p.return_tokens = true;
  p.sampling.n_probs = 1;
  NativeContext c{"tinyllama-2", 1, "What is", 2};
  Json j = native_completion_json(c, res, p, false);
  EXPECT_EQ(j["content"], "a\nb");
  EXPECT_EQ(j["tokens"], Json::array({3, 4}));
  EXPECT_EQ(j["id_slot"], 1);
  EXPECT_EQ(j["stop"], true);
  EXPECT_EQ(j["stop_type"], "limit");
  EXPECT_EQ(j["truncated"], false);  // the request's own limit, not the context
  EXPECT_EQ(j["tokens_predicted"], 2);
  EXPECT_EQ(j["tokens_evaluated"], 6);
  EXPECT_EQ(j["tokens_cached"], 8);
  EXPECT_EQ(j["has_new_line"], true);
  EXPECT_EQ(j["timings"]["cache_n"], 5);
  EXPECT_EQ(j["timings"]["prompt_n"], 1);
  EXPECT_EQ(j["completion_probabilities"].size(), 2u);
  EXPECT_EQ(j["generation_settings"]["n_probs"], 1);
  EXPECT_EQ(native_completion_json({"m", 0, "", 8}, res, p, false)["truncated"], true);  // the context filled
  EXPECT_FALSE(native_completion_json(c, res, p, true).contains("completion_probabilities"));
  EXPECT_EQ(native_stop_type(FinishReason::kStop), "word");
  EXPECT_EQ(native_stop_type(FinishReason::kEndOfGeneration), "eos");
  const std::int32_t toks[] = {3};
  Json chunk = native_chunk_json(c, "a", toks, std::span(res.probs).first(1), res.report, false);
  EXPECT_EQ(chunk["stop"], false);
  EXPECT_EQ(chunk["content"], "a");
  EXPECT_EQ(chunk["completion_probabilities"].size(), 1u);
  Json prog = prompt_progress_json({77, 50, 60, 1.5});
  EXPECT_EQ(prog["total"], 77);
  EXPECT_EQ(prog["cache"], 50);
  EXPECT_EQ(prog["processed"], 60);
}

TEST(NativeCompletion, ProgressTimings) {
  // The first event: nothing decoded beyond the cache, so nothing timed yet
  // (elapsed time is the lookup's, not the prompt's).
  Json first = progress_timings_json({77, 50, 50, 2.0});
  EXPECT_EQ(first["cache_n"], 50);
  EXPECT_EQ(first["prompt_n"], 0);
  EXPECT_EQ(first["prompt_ms"], 0.0);
  EXPECT_EQ(first["prompt_per_token_ms"], 0.0);
  EXPECT_EQ(first["prompt_per_second"], 0.0);
  EXPECT_EQ(first["predicted_n"], 0);
  EXPECT_EQ(first["predicted_ms"], 0.0);
  // After a batch: the tokens decoded so far and the time to the batch's end.
  Json later = progress_timings_json({77, 50, 60, 5.0});
  EXPECT_EQ(later["prompt_n"], 10);
  EXPECT_EQ(later["prompt_ms"], 5.0);
  EXPECT_DOUBLE_EQ(later["prompt_per_token_ms"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(later["prompt_per_second"].get<double>(), 2000.0);
  for (const auto& [k, v] : later.items()) EXPECT_TRUE(v.is_number()) << k;
  // A zero elapsed time (a clock tick) gives rate 0, never inf.
  Json instant = progress_timings_json({77, 0, 10, 0.0});
  EXPECT_EQ(instant["prompt_per_second"], 0.0);
}

TEST(Tokenize, RequestsAndResponses) {
  auto r = parse_tokenize(R"({"content":"x","add_special":true,"with_pieces":true})");
  ASSERT_TRUE(std::holds_alternative<TokenizeRequest>(r));
  EXPECT_TRUE(std::get<TokenizeRequest>(r).add_special);
  EXPECT_TRUE(std::get<TokenizeRequest>(r).parse_special);
  EXPECT_TRUE(std::get<TokenizeRequest>(parse_tokenize("{}")).content.pieces.empty());
  EXPECT_EQ(std::get<ApiError>(parse_tokenize(R"({"content":5})")).param, "content");
  EXPECT_EQ(std::get<ApiError>(parse_tokenize(R"({"content":"x","with_pieces":"y"})")).param, "with_pieces");
  const TokenPiece pieces[] = {{1, "<s>"}, {2, "\xe5"}};
  EXPECT_EQ(tokenize_response(pieces, false)["tokens"], Json::array({1, 2}));
  Json wp = tokenize_response(pieces, true);
  EXPECT_EQ(wp["tokens"][0]["piece"], "<s>");
  EXPECT_EQ(wp["tokens"][1]["piece"], Json::array({0xe5}));  // not UTF-8: its bytes
  EXPECT_EQ(std::get<std::vector<std::int32_t>>(parse_detokenize(R"({"tokens":[1,2]})")).size(), 2u);
  EXPECT_TRUE(std::get<std::vector<std::int32_t>>(parse_detokenize("{}")).empty());
  EXPECT_EQ(std::get<ApiError>(parse_detokenize(R"({"tokens":"x"})")).param, "tokens");
  EXPECT_EQ(std::get<ApiError>(parse_detokenize(R"({"tokens":[1.5]})")).param, "tokens");
  EXPECT_EQ(std::get<ApiError>(parse_detokenize(R"({"tokens":[99999999999]})")).param, "tokens");
}

TEST(Slots, FilenamesAndResponses) {
  EXPECT_EQ(std::get<std::string>(parse_slot_filename(R"({"filename":"slot1.bin"})")), "slot1.bin");
  for (const char* bad : {R"({})", R"({"filename":5})", R"({"filename":"../x"})", R"({"filename":"a/b"})",
                          R"({"filename":".."})", R"({"filename":""})", R"({"filename":".hidden"})"}) {
    auto r = parse_slot_filename(bad);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r)) << bad;
    EXPECT_EQ(std::get<ApiError>(r).param, "filename") << bad;
  }
  SlotFileReport rep{1, "slot1.bin", 84, 1000, 2.5};
  EXPECT_EQ(slot_save_json(rep)["n_saved"], 84);
  EXPECT_EQ(slot_save_json(rep)["n_written"], 1000);
  EXPECT_EQ(slot_restore_json(rep)["n_restored"], 84);
  EXPECT_EQ(slot_restore_json(rep)["timings"]["restore_ms"], 2.5);
  EXPECT_EQ(slot_erase_json(rep)["n_erased"], 84);
  const SlotInfo infos[] = {{0, true, false, 10}, {1, false, true, 84}};
  Json s = slots_json(infos, 256, GenerationParams{}, "m");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0]["is_processing"], true);
  EXPECT_EQ(s[1]["n_ctx"], 256);
}

TEST(Props, Shape) {
  PropsContext c;
  c.model_alias = "tinyllama-2";
  c.total_slots = 2;
  c.n_ctx_per_slot = 256;
  c.build_info = "b1-abc";
  c.chat_template.source = "{{ x }}";
  c.chat_template.caps = {{"supports_tools", false}};
  Json j = props_json(c, GenerationParams{});
  EXPECT_EQ(j["total_slots"], 2);
  EXPECT_EQ(j["default_generation_settings"]["n_ctx"], 256);
  EXPECT_EQ(j["chat_template"], "{{ x }}");
  EXPECT_EQ(j["chat_template_caps"]["supports_tools"], false);
  EXPECT_EQ(j["model_alias"], "tinyllama-2");
  EXPECT_FALSE(j.contains("chat_template_tool_use"));
}

TEST(Embeddings, RequestsAndResponses) {
  auto r = parse_embedding(R"({"input":["a","b"],"encoding_format":"base64"})", true);
  ASSERT_TRUE(std::holds_alternative<EmbeddingRequest>(r));
  const EmbeddingRequest& e = std::get<EmbeddingRequest>(r);
  EXPECT_EQ(e.inputs.size(), 2u);
  EXPECT_TRUE(e.base64);
  EXPECT_TRUE(e.oai);
  EXPECT_FALSE(std::get<EmbeddingRequest>(parse_embedding(R"({"content":"a"})", true)).oai);
  EXPECT_EQ(std::get<ApiError>(parse_embedding("{}", true)).param, "input");
  EXPECT_EQ(std::get<ApiError>(parse_embedding(R"({"input":"a","encoding_format":"hex"})", true)).param,
            "encoding_format");
  EXPECT_EQ(std::get<ApiError>(parse_embedding(R"({"input":"a","embd_normalize":"x"})", true)).param,
            "embd_normalize");
  Engine::Embedding one{{{1.0f, 0.0f}}, 3};
  const Engine::Embedding results[] = {one};
  Json oai = embeddings_oai_json(results, EmbeddingRequest{{}, true, false, 2, ""}, "m");
  EXPECT_EQ(oai["object"], "list");
  EXPECT_EQ(oai["data"][0]["embedding"], Json::array({1.0, 0.0}));
  EXPECT_EQ(oai["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(oai["model"], "m");
  Json b64 = embeddings_oai_json(results, EmbeddingRequest{{}, true, true, 2, "x"}, "m");
  EXPECT_EQ(b64["data"][0]["embedding"], "AACAPwAAAAA=");  // little-endian 1.0f, 0.0f
  EXPECT_EQ(b64["model"], "x");
  EXPECT_EQ(embeddings_native_json(results)[0]["embedding"][0], Json::array({1.0, 0.0}));
}

}  // namespace
}  // namespace kvc::server
