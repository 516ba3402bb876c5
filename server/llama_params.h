// llama-server's generation parameters: the one schema every completion
// endpoint shares (llama-server's eval_llama_cmpl_schema). /completion reads it
// straight from the body; /v1/completions and /v1/chat/completions first map
// OpenAI's fields onto it (openai.h). Defaults come from the server's flags
// (--temp, --seed, --n-predict, …). Every field of the wrong type or out of
// range is a 400 naming the field — llama-server clamps some ranges silently,
// kvc refuses them (docs/api-server.md, differences). No I/O, no Engine.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kvc/engine.h"
#include "server/openai.h"

namespace kvc::server {

// What the server's flags say a request gets when it says nothing.
struct GenerationDefaults {
  SamplingParams sampling;   // llama-server's defaults: temperature 0.8, seed random, …
  int n_predict = -1;        // --n-predict (-1: until the context is full or max_tokens_limit)
  int n_parallel = 1;        // upper bound of n / n_cmpl
  std::vector<std::string> stop;  // stop strings of every request (--reverse-prompt has no kvc flag: empty)
  bool verbose = false;      // --verbose: responses carry "__verbose" unless a request says "verbose": false
};

// The parsed parameters of one completion request.
struct GenerationParams {
  SamplingParams sampling;
  bool stream = false;
  bool include_usage = false;      // stream_options.include_usage
  bool cache_prompt = true;
  bool return_tokens = false;
  bool return_progress = false;
  bool timings_per_token = false;
  bool verbose = false;            // the "__verbose" object (llama-server's native response) in OpenAI responses
  int n_cmpl = 1;                  // n: completions of the prompt
  int id_slot = -1;                // -1: any sequence
  int n_keep = 0;                  // accepted; kvc does no context shift
  std::vector<std::string> response_fields;
  std::optional<Key> parent_key;   // kvc: resume from a finish_key
};

// Tokenizes a logit_bias string key (the server passes Engine::tokenize without
// BOS and without special parsing).
using Tokenizer = std::function<std::vector<std::int32_t>(const std::string&)>;

// Parses every generation field of `body` (an object). `n_vocab` bounds token
// ids in logit_bias. Errors name the field (ApiError::param).
std::variant<GenerationParams, ApiError> parse_generation(const Json& body, const GenerationDefaults& defaults,
                                                          int n_vocab, const Tokenizer& tokenize);

// Merges a rendered chat (Engine::apply_chat) into the parameters: its grammar
// (tools, response_format), preserved tokens and the stop strings its format adds.
void apply_chat_prompt(const ChatPrompt& chat, GenerationParams& params);

// The sampler names of llama.cpp's one-letter forms ("dkypmxt"); an unknown
// letter is an error naming it.
std::variant<std::vector<std::string>, ApiError> sampler_names_from_chars(const std::string& chars);

// llama-server's generation_settings object (native responses, /props).
Json generation_settings_json(const GenerationParams& p, const std::string& model);

}  // namespace kvc::server
