// LoRA effective fingerprint internals (format.md §1.3), exposed for tests.
#pragma once

#include <cstdint>
#include <optional>

namespace kvc::format {

// round(scale × 2^32), half away from zero, as the i64 written into the hash;
// nullopt when scale is not finite or the result does not fit an i64.
std::optional<std::int64_t> lora_scale_fixed(double scale);

}  // namespace kvc::format
