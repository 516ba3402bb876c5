// kvc::Engine: the vocabulary (tokenize, pieces, detokenize) and chats (the
// template through llama.cpp's common chat engine, the output parser).
#include <algorithm>

#include "engine/engine_impl.h"
#include "engine/sampling.h"

namespace kvc {

Result<std::vector<std::int32_t>> Engine::tokenize(std::string_view text, bool add_bos, bool parse_special) const {
  const auto len = static_cast<std::int32_t>(text.size());
  std::vector<llama_token> out(text.size() + 8);
  int n = llama_tokenize(impl_->vocab, text.data(), len, out.data(), static_cast<std::int32_t>(out.size()), add_bos,
                         parse_special);
  if (n < 0) {
    out.resize(static_cast<std::size_t>(-n));
    n = llama_tokenize(impl_->vocab, text.data(), len, out.data(), static_cast<std::int32_t>(out.size()), add_bos,
                       parse_special);
  }
  if (n < 0) return Status(Code::kInvalidArgument, "cannot tokenize the prompt (" + std::to_string(text.size()) + " bytes)");
  out.resize(static_cast<std::size_t>(n));
  return std::vector<std::int32_t>(out.begin(), out.end());
}

std::vector<TokenPiece> Engine::token_pieces(std::span<const std::int32_t> tokens) const {
  std::vector<TokenPiece> out;
  out.reserve(tokens.size());
  for (const std::int32_t t : tokens) {
    const bool known = t >= 0 && t < impl_->n_vocab;
    out.push_back({t, known ? engine::token_piece(impl_->vocab, t) : std::string()});
  }
  return out;
}

Result<std::string> Engine::detokenize(std::span<const std::int32_t> tokens, bool render_special) const {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= impl_->n_vocab) {
      return Status(Code::kInvalidArgument, "token " + std::to_string(i) + " = " + std::to_string(tokens[i]) +
                                                " is not in the vocabulary (0.." + std::to_string(impl_->n_vocab - 1) +
                                                ")");
    }
  }
  std::string out(tokens.size() * 8 + 16, '\0');
  const auto n_tok = static_cast<std::int32_t>(tokens.size());
  int n = llama_detokenize(impl_->vocab, tokens.data(), n_tok, out.data(), static_cast<std::int32_t>(out.size()), false,
                           render_special);
  if (n < 0) {
    out.resize(static_cast<std::size_t>(-n));
    n = llama_detokenize(impl_->vocab, tokens.data(), n_tok, out.data(), static_cast<std::int32_t>(out.size()), false,
                         render_special);
  }
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

Result<ChatPrompt> Engine::apply_chat(const ChatRequest& request) const { return impl_->chat->apply(request); }

ChatOutputParser Engine::chat_parser(const ChatPrompt& prompt) const { return engine::make_chat_parser(prompt); }

ChatTemplateInfo Engine::chat_template_info() const { return impl_->chat->info(); }

}  // namespace kvc
