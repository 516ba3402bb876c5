// The engine's chat templates: llama.cpp's common chat engine (Jinja, per-model
// tool-call formats) behind kvc's JSON-as-text types (include/kvc/chat.h).
#pragma once

#include <memory>
#include <string>

#include "kvc/chat.h"
#include "kvc/status.h"

struct llama_model;
struct common_chat_templates;

namespace kvc::engine {

class ChatTemplates {
 public:
  // The model's template, or `override_template` (a Jinja text, or with jinja
  // off a built-in name such as "chatml"). A template that does not parse is
  // kInvalidArgument naming the setting.
  static Result<std::unique_ptr<ChatTemplates>> open(const llama_model* model, const std::string& override_template,
                                                     bool jinja);
  ~ChatTemplates();

  Result<ChatPrompt> apply(const ChatRequest& request) const;
  ChatTemplateInfo info() const;

 private:
  ChatTemplates() = default;
  struct Free {
    void operator()(common_chat_templates* t) const;
  };
  std::unique_ptr<common_chat_templates, Free> tmpls_;
  bool jinja_ = true;
};

// A parser for the text generated for `prompt`.
ChatOutputParser make_chat_parser(const ChatPrompt& prompt);

}  // namespace kvc::engine
