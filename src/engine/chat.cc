#include "engine/chat.h"

#include <chat.h>
#include <json-schema-to-grammar.h>
#include <json.h>

#include <exception>
#include <random>
#include <set>

namespace kvc {
namespace {

Status bad(const std::string& what) { return Status(Code::kInvalidArgument, what); }

GrammarTrigger from_common(const common_grammar_trigger& t) {
  GrammarTrigger g;
  g.value = t.value;
  switch (t.type) {
    case COMMON_GRAMMAR_TRIGGER_TYPE_TOKEN:
      g.kind = GrammarTrigger::Kind::kToken;
      g.token = t.token;
      break;
    case COMMON_GRAMMAR_TRIGGER_TYPE_WORD: g.kind = GrammarTrigger::Kind::kWord; break;
    case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN: g.kind = GrammarTrigger::Kind::kPattern; break;
    case COMMON_GRAMMAR_TRIGGER_TYPE_PATTERN_FULL: g.kind = GrammarTrigger::Kind::kPatternFull; break;
  }
  return g;
}

// llama-server's tool-call ids: 32 random alphanumerics.
std::string random_tool_call_id() {
  static const char kChars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937 gen(std::random_device{}());
  std::uniform_int_distribution<int> pick(0, 61);
  std::string id(32, ' ');
  for (char& c : id) c = kChars[pick(gen)];
  return id;
}

ChatToolCall to_kvc(const common_chat_tool_call& c) { return {c.id, c.name, c.arguments}; }

}  // namespace

std::string chat_messages_json(std::span<const ChatMessage> messages) {
  common_json arr = common_json::array();
  for (const ChatMessage& m : messages) arr.push_back({{"role", m.role}, {"content", m.content}});
  return arr.dump();
}

Result<std::string> json_schema_to_grammar(std::string_view schema_json) {
  try {
    common_json schema = common_json::parse(std::string(schema_json));
    if (schema.is_object() && schema.empty()) schema["type"] = "object";  // an empty schema: any object
    return ::json_schema_to_grammar(schema);
  } catch (const std::exception& e) {
    return bad(std::string("json_schema: ") + e.what());
  }
}

// ---- ChatOutputParser ----

struct ChatOutputParser::Impl {
  common_chat_parser_params params;
  std::string text;
  common_chat_msg msg;
  std::vector<std::string> ids;
  std::set<std::size_t> sent_names;
  ChatOutput out;
};

ChatOutputParser::ChatOutputParser() : impl_(std::make_unique<Impl>()) {}
ChatOutputParser::ChatOutputParser(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatOutputParser::~ChatOutputParser() = default;
ChatOutputParser::ChatOutputParser(ChatOutputParser&&) noexcept = default;
ChatOutputParser& ChatOutputParser::operator=(ChatOutputParser&&) noexcept = default;

const ChatOutput& ChatOutputParser::output() const { return impl_->out; }

// llama-server's task_result_state::update_chat_msg with the stream filter: a
// tool call's id and name go out once, before any of its arguments.
Result<std::vector<ChatDelta>> ChatOutputParser::update(std::string_view text_added, bool partial) {
  Impl& s = *impl_;
  s.text += text_added;
  common_chat_msg next;
  try {
    next = common_chat_parse(s.text, partial, s.params);
  } catch (const std::exception& e) {
    if (partial) return std::vector<ChatDelta>{};
    // The final text does not follow the format (a model may write anything):
    // it is all content, as when no tools were asked for.
    next = common_chat_msg();
    next.role = "assistant";
    next.content = s.text;
  }
  std::vector<ChatDelta> out;
  if (next.empty()) return out;
  next.set_tool_call_ids(s.ids, random_tool_call_id);
  const common_chat_msg prev = s.msg;
  s.msg = next;
  auto header = [&](std::size_t i) {
    ChatDelta d;
    d.tool_call_index = i;
    d.tool_call.id = s.msg.tool_calls[i].id;
    d.tool_call.name = s.msg.tool_calls[i].name;
    s.sent_names.insert(i);
    return d;
  };
  for (auto& d : common_chat_msg_diff::compute_diffs(prev, s.msg)) {
    for (std::size_t i = 0; i < s.msg.tool_calls.size(); ++i) {
      if (s.sent_names.count(i) || s.msg.tool_calls[i].name.empty()) continue;
      if (d.tool_call_index != i || !d.tool_call_delta.arguments.empty()) out.push_back(header(i));
    }
    ChatDelta cd;
    cd.content = d.content_delta;
    cd.reasoning_content = d.reasoning_content_delta;
    if (d.tool_call_index == std::string::npos) {
      out.push_back(std::move(cd));
      continue;
    }
    const std::size_t i = d.tool_call_index;
    cd.tool_call_index = i;
    if (s.sent_names.count(i)) {
      if (d.tool_call_delta.arguments.empty()) continue;
      cd.tool_call.arguments = d.tool_call_delta.arguments;
      out.push_back(std::move(cd));
    } else if (!d.tool_call_delta.arguments.empty() || !partial) {
      cd.tool_call = {s.msg.tool_calls[i].id, s.msg.tool_calls[i].name, d.tool_call_delta.arguments};
      s.sent_names.insert(i);
      out.push_back(std::move(cd));
    }
  }
  if (!partial) {
    for (std::size_t i = 0; i < s.msg.tool_calls.size(); ++i)
      if (!s.sent_names.count(i) && !s.msg.tool_calls[i].name.empty()) out.push_back(header(i));
  }
  s.out.content = s.msg.content;
  s.out.reasoning_content = s.msg.reasoning_content;
  s.out.tool_calls.clear();
  for (const auto& c : s.msg.tool_calls) s.out.tool_calls.push_back(to_kvc(c));
  return out;
}

namespace engine {

void ChatTemplates::Free::operator()(common_chat_templates* t) const { common_chat_templates_free(t); }

ChatTemplates::~ChatTemplates() = default;

Result<std::unique_ptr<ChatTemplates>> ChatTemplates::open(const llama_model* model,
                                                           const std::string& override_template, bool jinja) {
  std::unique_ptr<ChatTemplates> t(new ChatTemplates());
  t->jinja_ = jinja;
  try {
    if (!override_template.empty() && !common_chat_verify_template(override_template, jinja)) {
      return bad("--chat-template: the template is not one llama.cpp can render" +
                 std::string(jinja ? " (Jinja parse failed)" : " (not a built-in template name; pass --jinja for Jinja text)"));
    }
    t->tmpls_.reset(common_chat_templates_init(model, override_template).release());
  } catch (const std::exception& e) {
    return bad(std::string("the chat template does not parse: ") + e.what() +
               (override_template.empty() ? " (the model's tokenizer.chat_template; override it with --chat-template)"
                                          : " (--chat-template)"));
  }
  if (!t->tmpls_) return bad("cannot initialise the chat templates");
  return t;
}

Result<ChatPrompt> ChatTemplates::apply(const ChatRequest& r) const {
  common_chat_templates_inputs in;
  try {
    const common_json messages = common_json::parse(r.messages_json);
    if (!messages.is_array()) return bad("messages: must be an array");
    in.messages = common_chat_msgs_parse_oaicompat(messages);
  } catch (const std::exception& e) {
    return bad(std::string("messages: ") + e.what());
  }
  if (!r.tools_json.empty()) {
    try {
      const common_json tools = common_json::parse(r.tools_json);
      if (!tools.is_null()) in.tools = common_chat_tools_parse_oaicompat(tools);
    } catch (const std::exception& e) {
      return bad(std::string("tools: ") + e.what());
    }
  }
  try {
    in.tool_choice = common_chat_tool_choice_parse_oaicompat(r.tool_choice);
  } catch (const std::exception& e) {
    return bad(std::string("tool_choice: ") + e.what());
  }
  if (!jinja_) {
    if (!in.tools.empty()) return bad("tools: the tools param requires --jinja");
    if (r.tool_choice != "auto") return bad("tool_choice: the tool_choice param requires --jinja");
  }
  if (!r.json_schema.empty() && !r.grammar.empty()) return bad("json_schema: cannot use both json_schema and grammar");
  if (!in.tools.empty() && in.tool_choice != COMMON_CHAT_TOOL_CHOICE_NONE && !r.grammar.empty())
    return bad("grammar: cannot use custom grammar constraints with tools");
  in.json_schema = r.json_schema;
  in.grammar = r.grammar;
  in.use_jinja = jinja_;
  const auto caps = common_chat_templates_get_caps(tmpls_.get());
  const auto parallel = caps.find("supports_parallel_tool_calls");
  in.parallel_tool_calls = r.parallel_tool_calls.value_or(parallel != caps.end() && parallel->second);
  in.add_generation_prompt = r.add_generation_prompt;
  if (!r.continue_final_message.empty()) {
    try {
      in.continue_final_message = common_chat_continuation_parse(common_json::parse(r.continue_final_message));
    } catch (const std::exception& e) {
      return bad(std::string("continue_final_message: ") + e.what());
    }
  }
  if (in.continue_final_message != COMMON_CHAT_CONTINUATION_NONE && in.add_generation_prompt)
    return bad("continue_final_message: cannot set both add_generation_prompt and continue_final_message to true");
  if (in.continue_final_message != COMMON_CHAT_CONTINUATION_NONE && !in.messages.empty() &&
      in.messages.back().role == "assistant" && !in.messages.back().tool_calls.empty())
    return bad("continue_final_message: cannot continue an assistant message that contains tool calls");
  try {
    in.reasoning_format = r.reasoning_format.empty() ? COMMON_REASONING_FORMAT_NONE
                                                     : common_reasoning_format_from_name(r.reasoning_format);
  } catch (const std::exception& e) {
    return bad(std::string("reasoning_format: ") + e.what());
  }
  in.chat_template_kwargs = r.chat_template_kwargs;
  if (r.enable_thinking) in.enable_thinking = *r.enable_thinking;
  if (auto it = in.chat_template_kwargs.find("enable_thinking"); it != in.chat_template_kwargs.end()) {
    if (it->second == "true") in.enable_thinking = true;
    else if (it->second == "false") in.enable_thinking = false;
    else return bad("chat_template_kwargs.enable_thinking: must be a boolean");
  }

  common_chat_params out;
  try {
    out = common_chat_templates_apply(tmpls_.get(), in);
  } catch (const std::exception& e) {
    return bad(std::string("cannot apply the chat template: ") + e.what());
  }
  ChatPrompt p;
  p.prompt = std::move(out.prompt);
  p.additional_stops = std::move(out.additional_stops);
  p.format = static_cast<int>(out.format);
  p.format_name = common_chat_format_name(out.format);
  p.parser = std::move(out.parser);
  p.reasoning_format = common_reasoning_format_name(in.reasoning_format);
  p.parse_tool_calls = !in.tools.empty() && in.tool_choice != COMMON_CHAT_TOOL_CHOICE_NONE;
  p.is_continuation = in.continue_final_message != COMMON_CHAT_CONTINUATION_NONE;
  GrammarConstraint& g = p.grammar;
  if (!out.grammar.empty()) {
    // llama-server marks a template's grammar as the tool-call kind (prefilled
    // over the generation prompt), also when it came from a json_schema.
    g.kind = GrammarConstraint::Kind::kToolCalls;
    g.gbnf = std::move(out.grammar);
  } else if (!r.grammar.empty()) {
    g.kind = GrammarConstraint::Kind::kUser;
    g.gbnf = r.grammar;
  } else if (!r.json_schema.empty()) {
    auto gbnf = json_schema_to_grammar(r.json_schema);
    if (!gbnf.ok()) return gbnf.status();
    g.kind = GrammarConstraint::Kind::kOutputFormat;
    g.gbnf = std::move(gbnf.value());
  }
  g.lazy = out.grammar_lazy && !g.gbnf.empty();
  for (const auto& t : out.grammar_triggers) g.triggers.push_back(from_common(t));
  g.preserved_tokens = std::move(out.preserved_tokens);
  g.generation_prompt = std::move(out.generation_prompt);
  return p;
}

ChatTemplateInfo ChatTemplates::info() const {
  ChatTemplateInfo i;
  i.source = common_chat_templates_source(tmpls_.get());
  i.tool_use_source = common_chat_templates_source(tmpls_.get(), "tool_use");
  i.explicit_template = common_chat_templates_was_explicit(tmpls_.get());
  i.caps = common_chat_templates_get_caps(tmpls_.get());
  i.jinja = jinja_;
  return i;
}

ChatOutputParser make_chat_parser(const ChatPrompt& prompt) {
  auto impl = std::make_unique<ChatOutputParser::Impl>();
  common_chat_parser_params& p = impl->params;
  p.format = static_cast<common_chat_format>(prompt.format);
  p.generation_prompt = prompt.grammar.generation_prompt;
  p.parse_tool_calls = prompt.parse_tool_calls;
  p.is_continuation = prompt.is_continuation;
  try {
    p.reasoning_format = prompt.reasoning_format.empty() ? COMMON_REASONING_FORMAT_NONE
                                                         : common_reasoning_format_from_name(prompt.reasoning_format);
    if (!prompt.parser.empty()) p.parser.load(prompt.parser);
  } catch (const std::exception&) {
    // A prompt made by apply() always loads; a hand-made one falls back to the format's default.
  }
  if (p.is_continuation) {
    try {
      impl->msg = common_chat_parse("", true, p);
    } catch (const std::exception&) {
    }
  }
  return ChatOutputParser(std::move(impl));
}

}  // namespace engine
}  // namespace kvc
