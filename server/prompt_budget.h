// Tokenizing a prompt that may not fit: the context check comes before the full
// tokenization where it can. A text of at most `max_tokens` - 4 bytes cannot
// exceed the budget (a token covers at least one byte; BOS, EOS and a leading
// space add at most 3) and is tokenized at once. A longer one is first counted in
// windows of `window` bytes cut before whitespace, and refused as soon as the
// count (less 2 per window, for the space a tokenizer may prepend to each window)
// reaches the budget: a 900 KB prompt is refused after a few windows, with a few
// MB of memory, instead of after tokenizing it all. Only a text the count admits
// is tokenized whole, and its exact length is what the caller checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "kvc/status.h"

namespace kvc::server {

using TokenizeFn = std::function<Result<std::vector<std::int32_t>>(std::string_view text, bool add_bos)>;

struct BoundedTokens {
  std::vector<std::int32_t> tokens;  // the whole prompt (unless too_long)
  bool too_long = false;             // refused by the windowed count
  std::size_t at_least = 0;          // when too_long: a lower bound of its token count
};

Result<BoundedTokens> tokenize_bounded(const TokenizeFn& tokenize, std::string_view text, bool add_bos,
                                       std::size_t max_tokens, std::size_t window = 16384);

}  // namespace kvc::server
