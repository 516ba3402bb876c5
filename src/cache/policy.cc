// SavePolicy (cache.md §5): validation and aligned-length arithmetic.
#include <string>

#include "kvc/options.h"

namespace kvc {
namespace {

Status bad(const char* setting, std::int64_t value, const char* rule) {
  return {Code::kInvalidArgument,
          std::string("save policy: ") + setting + " = " + std::to_string(value) + " is invalid: " + rule};
}

}  // namespace

Status SavePolicy::validate() const {
  if (min_tokens < 0) return bad("min_tokens", min_tokens, "must be >= 0");
  if (cold_min_tokens < min_tokens) return bad("cold_min_tokens", cold_min_tokens, "must be >= min_tokens");
  if (cold_max_tokens < cold_min_tokens) return bad("cold_max_tokens", cold_max_tokens, "must be >= cold_min_tokens");
  if (continued_interval <= 0) return bad("continued_interval", continued_interval, "must be > 0");
  if (boundary_trim_tokens < 0) return bad("boundary_trim_tokens", boundary_trim_tokens, "must be >= 0");
  if (boundary_align_tokens <= 0) return bad("boundary_align_tokens", boundary_align_tokens, "must be > 0");
  if (session_resume_wait_ms < 0) return bad("session_resume_wait_ms", session_resume_wait_ms, "must be >= 0");
  return Status::Ok();
}

std::optional<std::size_t> SavePolicy::aligned_length(std::size_t len) const {
  const auto trim = static_cast<std::size_t>(boundary_trim_tokens);
  const auto align = static_cast<std::size_t>(boundary_align_tokens);
  if (len < trim) return std::nullopt;
  const std::size_t a = len - trim;
  if (a < align) return std::nullopt;
  const std::size_t aligned = a / align * align;
  if (aligned < static_cast<std::size_t>(min_tokens)) return std::nullopt;
  return aligned;
}

bool SavePolicy::allows_cold(std::size_t prompt_len) const {
  return saves_enabled && prompt_len >= static_cast<std::size_t>(cold_min_tokens) &&
         prompt_len <= static_cast<std::size_t>(cold_max_tokens);
}

bool SavePolicy::continued_due(std::size_t generated_since_last) const {
  return saves_enabled && generated_since_last >= static_cast<std::size_t>(continued_interval);
}

}  // namespace kvc
