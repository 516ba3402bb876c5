// The responses of the OpenAI endpoints (openai.h): whole responses, stream
// chunks, usage, llama-server's timings, probabilities and the kvc object.
#include <cmath>
#include <limits>

#include "server/openai.h"

namespace kvc::server {
namespace {

std::vector<unsigned char> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

// The longest prefix of `s` that does not end inside a UTF-8 sequence (llama-server's validate_utf8).
std::string complete_utf8(const std::string& s) {
  std::size_t len = s.size();
  for (std::size_t i = 1; i <= 4 && i <= len; ++i) {
    const auto c = static_cast<unsigned char>(s[len - i]);
    if ((c & 0xE0) == 0xC0 && i < 2) return s.substr(0, len - i);
    if ((c & 0xF0) == 0xE0 && i < 3) return s.substr(0, len - i);
    if ((c & 0xF8) == 0xF0 && i < 4) return s.substr(0, len - i);
  }
  return s;
}

// log(p), with llama-server's floor for p = 0 (JSON has no -inf).
double logprob(float p) { return p == 0.0f ? std::numeric_limits<float>::lowest() : std::log(p); }

Json base(const ResponseContext& c, const char* object) {
  return Json{{"id", c.id}, {"created", c.created}, {"model", c.model}, {"system_fingerprint", c.system_fingerprint},
              {"object", object}};
}

}  // namespace

std::string_view openai_finish_reason(FinishReason r, bool has_tool_calls) {
  switch (r) {
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kStop:
    case FinishReason::kEndOfGeneration: break;
  }
  return has_tool_calls ? "tool_calls" : "stop";
}

std::size_t llama_cached_tokens(const RequestReport& r) {
  return r.prompt_tokens == 0 ? 0 : std::min(r.cached_tokens, r.prompt_tokens - 1);
}

Json usage_json(const RequestReport& r) {
  return Json{{"prompt_tokens", r.prompt_tokens},
              {"completion_tokens", r.generated_tokens},
              {"total_tokens", r.prompt_tokens + r.generated_tokens},
              {"prompt_tokens_details", {{"cached_tokens", llama_cached_tokens(r)}}}};
}

Json timings_fields(std::size_t cache_n, std::size_t prompt_n, double prompt_ms, std::size_t predicted_n,
                    double predicted_ms) {
  // llama-server's rates: the first token comes from the prompt's last logits
  // (no decode of its own), so generation is n - 1 decode steps.
  const std::size_t steps = predicted_n > 0 ? predicted_n - 1 : 0;
  auto per_token = [](double ms, std::size_t n) { return n > 0 ? ms / static_cast<double>(n) : 0.0; };
  auto per_second = [](double ms, std::size_t n) { return ms > 0 && n > 0 ? 1e3 * static_cast<double>(n) / ms : 0.0; };
  return Json{{"cache_n", cache_n},
              {"prompt_n", prompt_n},
              {"prompt_ms", prompt_ms},
              {"prompt_per_token_ms", per_token(prompt_ms, prompt_n)},
              {"prompt_per_second", per_second(prompt_ms, prompt_n)},
              {"predicted_n", predicted_n},
              {"predicted_ms", predicted_ms},
              {"predicted_per_token_ms", per_token(predicted_ms, steps)},
              {"predicted_per_second", per_second(predicted_ms, steps)}};
}

Json timings_json(const RequestReport& r) {
  const std::size_t cache_n = llama_cached_tokens(r);
  return timings_fields(cache_n, r.prompt_tokens - cache_n, r.prefill_ms, r.generated_tokens,
                        std::max(0.0, r.total_ms - r.time_to_first_token_ms));
}

Json kvc_json(const RequestReport& r, const std::vector<std::int32_t>& completion_tokens) {
  return Json{{"completion_token_ids", completion_tokens},
              {"path", lookup_path_name(r.path)},
              {"miss_reason", miss_reason_name(r.miss_reason)},
              {"tier", r.tier.empty() ? Json(nullptr) : Json(r.tier)},
              {"prompt_tokens", r.prompt_tokens},
              {"cached_tokens", r.cached_tokens},
              {"prefilled_tokens", r.prefilled_tokens},
              {"generated_tokens", r.generated_tokens},
              {"logits_from_cache", r.logits_from_cache},
              {"restore_ms", r.restore_ms},
              {"prefill_ms", r.prefill_ms},
              {"time_to_first_token_ms", r.time_to_first_token_ms},
              {"total_ms", r.total_ms},
              {"saves", r.saves},
              {"save_blocked_ms", r.save_blocked_ms},
              {"restored_key", r.restored_key ? Json(r.restored_key->hex()) : Json(nullptr)},
              {"finish_key", r.finish_key ? Json(r.finish_key->hex()) : Json(nullptr)},
              {"finish_reason", finish_reason_name(r.finish_reason)}};
}

Json probs_json(std::span<const TokenProbs> probs, bool post_sampling) {
  const char* p_key = post_sampling ? "prob" : "logprob";
  auto value = [&](float p) { return post_sampling ? Json(p) : Json(logprob(p)); };
  Json out = Json::array();
  for (const TokenProbs& t : probs) {
    Json top = Json::array();
    for (const TokenProbability& a : t.top)
      top.push_back({{"id", a.token}, {"token", complete_utf8(a.piece)}, {"bytes", bytes_of(a.piece)}, {p_key, value(a.prob)}});
    out.push_back({{"id", t.token},
                   {"token", complete_utf8(t.piece)},
                   {"bytes", bytes_of(t.piece)},
                   {p_key, value(t.prob)},
                   {post_sampling ? "top_probs" : "top_logprobs", top}});
  }
  return out;
}

Json chat_message_json(const ChatOutput& out) {
  Json m = {{"role", "assistant"}, {"content", out.content}};
  if (!out.reasoning_content.empty()) m["reasoning_content"] = out.reasoning_content;
  if (!out.tool_calls.empty()) {
    if (out.content.empty()) m["content"] = nullptr;
    Json calls = Json::array();
    for (const ChatToolCall& c : out.tool_calls) {
      Json tc = {{"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
      if (!c.id.empty()) tc["id"] = c.id;
      calls.push_back(tc);
    }
    m["tool_calls"] = calls;
  }
  return m;
}

Json chat_delta_json(const ChatDelta& d) {
  Json delta = Json::object();
  if (!d.reasoning_content.empty()) delta["reasoning_content"] = d.reasoning_content;
  if (!d.content.empty()) delta["content"] = d.content;
  if (d.tool_call_index) {
    Json tc = {{"index", *d.tool_call_index}};
    if (!d.tool_call.id.empty()) {
      tc["id"] = d.tool_call.id;
      tc["type"] = "function";
    }
    if (!d.tool_call.name.empty() || !d.tool_call.arguments.empty()) {
      Json f = Json::object();
      if (!d.tool_call.name.empty()) f["name"] = d.tool_call.name;
      if (!d.tool_call.arguments.empty()) f["arguments"] = d.tool_call.arguments;
      tc["function"] = f;
    }
    delta["tool_calls"] = Json::array({tc});
  }
  return delta;
}

Json completion_response(const ResponseContext& c, const CompletionResult& result) {
  Json logprobs = nullptr;
  if (!result.probs.empty()) logprobs = {{"content", probs_json(result.probs, c.post_sampling_probs)}};
  Json j = base(c, "text_completion");
  j["choices"] = Json::array({Json{{"text", result.text},
                                   {"index", 0},
                                   {"logprobs", logprobs},
                                   {"finish_reason", openai_finish_reason(result.report.finish_reason)}}});
  j["usage"] = usage_json(result.report);
  j["timings"] = timings_json(result.report);
  j["kvc"] = kvc_json(result.report, result.tokens);
  return j;
}

Json chat_response(const ResponseContext& c, const CompletionResult& result, const ChatOutput& message) {
  Json choice = {{"index", 0},
                 {"finish_reason", openai_finish_reason(result.report.finish_reason, !message.tool_calls.empty())},
                 {"message", chat_message_json(message)}};
  if (!result.probs.empty()) choice["logprobs"] = {{"content", probs_json(result.probs, c.post_sampling_probs)}};
  Json j = base(c, "chat.completion");
  j["choices"] = Json::array({choice});
  j["usage"] = usage_json(result.report);
  j["timings"] = timings_json(result.report);
  j["kvc"] = kvc_json(result.report, result.tokens);
  return j;
}

Json completion_chunk(const ResponseContext& c, std::string_view text, std::span<const TokenProbs> probs) {
  Json logprobs = nullptr;
  if (!probs.empty()) logprobs = {{"content", probs_json(probs, c.post_sampling_probs)}};
  Json j = base(c, "text_completion");
  j["choices"] = Json::array({Json{{"text", std::string(text)}, {"index", 0}, {"logprobs", logprobs}, {"finish_reason", nullptr}}});
  return j;
}

Json completion_final_chunk(const ResponseContext& c, const CompletionResult& result, bool with_timings) {
  Json j = completion_chunk(c, "", {});
  j["choices"][0]["finish_reason"] = openai_finish_reason(result.report.finish_reason);
  j["usage"] = usage_json(result.report);
  j["kvc"] = kvc_json(result.report, result.tokens);
  if (with_timings) j["timings"] = timings_json(result.report);
  return j;
}

Json chat_role_chunk(const ResponseContext& c) {
  Json j = base(c, "chat.completion.chunk");
  j["choices"] = Json::array({Json{{"index", 0}, {"finish_reason", nullptr}, {"delta", {{"role", "assistant"}, {"content", nullptr}}}}});
  return j;
}

Json chat_delta_chunk(const ResponseContext& c, const ChatDelta& d, std::span<const TokenProbs> probs) {
  Json choice = {{"index", 0}, {"finish_reason", nullptr}, {"delta", chat_delta_json(d)}};
  if (!probs.empty()) choice["logprobs"] = {{"content", probs_json(probs, c.post_sampling_probs)}};
  Json j = base(c, "chat.completion.chunk");
  j["choices"] = Json::array({choice});
  return j;
}

Json chat_final_chunk(const ResponseContext& c, const CompletionResult& result, bool has_tool_calls, bool with_timings) {
  Json j = base(c, "chat.completion.chunk");
  j["choices"] = Json::array({Json{{"index", 0},
                                   {"finish_reason", openai_finish_reason(result.report.finish_reason, has_tool_calls)},
                                   {"delta", Json::object()}}});
  j["usage"] = usage_json(result.report);  // kvc's last chunk always carries usage (llama-server's: with include_usage)
  j["kvc"] = kvc_json(result.report, result.tokens);
  if (with_timings) j["timings"] = timings_json(result.report);
  return j;
}

Json usage_chunk(const ResponseContext& c, const CompletionResult& result, bool chat) {
  Json j = base(c, chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = Json::array();
  j["usage"] = usage_json(result.report);
  j["timings"] = timings_json(result.report);
  return j;
}

}  // namespace kvc::server
