// Chats for kvc::Engine: the request a chat template renders (messages, tools,
// a response schema), the prompt and generation constraints it yields, and the
// parser that turns generated text back into an assistant message with
// tool_calls — all through llama.cpp's `common` chat engine (Jinja templates,
// per-model tool-call formats), so a model's chats look exactly as they do in
// llama-server. JSON travels as text: this header depends on no JSON library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/status.h"

namespace kvc {

// A constraint on generation: a GBNF grammar, applied from the first token or
// (lazy) from the first trigger on.
struct GrammarTrigger {
  enum class Kind { kWord, kPattern, kPatternFull, kToken };
  Kind kind = Kind::kWord;
  std::string value;        // the word or regex (kToken: the token's text)
  std::int32_t token = -1;  // kToken only
};
struct GrammarConstraint {
  // kUser: a grammar given by the client (never advanced over the generation
  // prompt); kOutputFormat: from response_format/json_schema; kToolCalls: from
  // the chat template's tool-call format.
  enum class Kind { kUser, kOutputFormat, kToolCalls };
  Kind kind = Kind::kUser;
  std::string gbnf;  // "" = no grammar
  bool lazy = false;
  std::vector<GrammarTrigger> triggers;       // required when lazy
  std::vector<std::string> preserved_tokens;  // texts that must stay single tokens
  std::string generation_prompt;              // what the template put after the last turn
};

// JSON schema (text) → GBNF, llama.cpp's json_schema_to_grammar. An empty
// object means "any object". kInvalidArgument names what is wrong.
Result<std::string> json_schema_to_grammar(std::string_view schema_json);

// A plain text message (for callers that have no JSON of their own).
struct ChatMessage {
  std::string role;
  std::string content;
};
// [{"role": …, "content": …}, …] as JSON text, for ChatRequest::messages_json.
std::string chat_messages_json(std::span<const ChatMessage> messages);

// What to render. JSON fields are JSON text in OpenAI's chat-completions shapes.
struct ChatRequest {
  std::string messages_json;           // the "messages" array
  std::string tools_json;              // the "tools" array; "" = none
  std::string tool_choice = "auto";    // "auto", "none" or "required"
  std::optional<bool> parallel_tool_calls;  // unset: what the template supports
  std::string json_schema;             // a schema the reply must match; "" = none
  std::string grammar;                 // a GBNF the reply must match; "" = none (not with json_schema)
  bool add_generation_prompt = true;
  std::string continue_final_message;  // JSON value of that field; "" = absent
  std::map<std::string, std::string> chat_template_kwargs;  // extra template variables, values as JSON text
  std::string reasoning_format;        // "" = none; "auto", "deepseek", "deepseek-legacy", "none"
  std::optional<bool> enable_thinking;
};

// A rendered chat: the prompt text and what generation must respect.
struct ChatPrompt {
  std::string prompt;
  GrammarConstraint grammar;                 // from tools or json_schema/grammar
  std::vector<std::string> additional_stops;  // stop strings the format adds
  // For the output parser (Engine::chat_parser); opaque to callers.
  int format = 0;
  std::string format_name;
  std::string parser;  // serialized PEG parser of the format ("" = the format's default)
  std::string reasoning_format;
  bool parse_tool_calls = false;
  bool is_continuation = false;
};

struct ChatToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text as the model wrote it
};

// The assistant message parsed from generated text.
struct ChatOutput {
  std::string content;
  std::string reasoning_content;
  std::vector<ChatToolCall> tool_calls;
};

// One streamed change of the message (OpenAI's "delta"): text appended to
// content or reasoning_content, or a piece of tool call `tool_call_index`: its id
// and name on the first delta of that call, arguments appended on later ones.
struct ChatDelta {
  std::string content;
  std::string reasoning_content;
  std::optional<std::size_t> tool_call_index;
  ChatToolCall tool_call;
};

// Parses the text generated for one ChatPrompt, as it grows. Tool calls get
// stable random ids (llama-server's scheme). Not thread-safe; cheap to move.
class ChatOutputParser {
 public:
  ChatOutputParser();
  ~ChatOutputParser();
  ChatOutputParser(ChatOutputParser&&) noexcept;
  ChatOutputParser& operator=(ChatOutputParser&&) noexcept;

  // Feeds `text_added` (appended to everything fed before); `partial`: more
  // text may follow (false on the last call). Returns the deltas since the
  // previous call; in a stream a tool call's name is sent once, before its
  // arguments. A malformed final message is kInvalidArgument (partial ones
  // never fail: they wait for more text).
  Result<std::vector<ChatDelta>> update(std::string_view text_added, bool partial);
  // The message as parsed so far.
  const ChatOutput& output() const;

  struct Impl;
  explicit ChatOutputParser(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// The chat template in use, for llama-server's /props.
struct ChatTemplateInfo {
  std::string source;             // the template text ("" when none)
  std::string tool_use_source;    // the model's tool_use variant, if any
  bool explicit_template = false;  // from ModelOptions::chat_template rather than the GGUF
  std::map<std::string, bool> caps;  // supports_tools, supports_parallel_tool_calls, …
  bool jinja = true;
};

}  // namespace kvc
