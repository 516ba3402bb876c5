#include "server/prompt_budget.h"

namespace kvc::server {
namespace {

// The end of the window starting at `pos`: before the last whitespace in it, else
// at a UTF-8 character boundary, else the window's end.
std::size_t window_end(std::string_view text, std::size_t pos, std::size_t window) {
  if (text.size() - pos <= window) return text.size();
  const std::size_t end = pos + window;
  for (std::size_t i = end; i > pos + window / 2; --i) {
    const char c = text[i];
    if (c == ' ' || c == '\n' || c == '\t') return i;
  }
  std::size_t i = end;
  while (i > pos + 1 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
  return i;
}

}  // namespace

Result<BoundedTokens> tokenize_bounded(const TokenizeFn& tokenize, std::string_view text, bool add_bos,
                                       std::size_t max_tokens, std::size_t window) {
  BoundedTokens out;
  if (text.size() + 4 > max_tokens && window > 0) {
    std::size_t counted = 0, windows = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t end = window_end(text, pos, window);
      auto part = tokenize(text.substr(pos, end - pos), false);
      if (!part.ok()) return part.status();
      counted += part->size();
      ++windows;
      pos = end;
      const std::size_t lower = counted > 2 * windows ? counted - 2 * windows : 0;
      if (lower >= max_tokens) {
        out.too_long = true;
        out.at_least = lower;
        return out;
      }
    }
  }
  auto all = tokenize(text, add_bos);
  if (!all.ok()) return all.status();
  out.tokens = std::move(all.value());
  return out;
}

}  // namespace kvc::server
