// Slot files: one sequence's tokens and KV state written as a KVC v1 file under
// a caller-chosen name (llama-server's /slots?action=save), so `kvc inspect`
// and `kvc verify` read it like any cache row, and read back for restore.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "format/kvc_file.h"
#include "kvc/key.h"
#include "kvc/status.h"

namespace kvc::engine {

struct SlotFileContents {
  KeyNamespace ns;
  format::FingerprintMode fingerprint_mode = format::FingerprintMode::kSafe;
  std::vector<std::uint32_t> tokens;
  std::vector<std::byte> payload;
  std::vector<float> logits;  // after the last token; empty when unknown
  std::string prompt_text;
  std::uint8_t quant_bits = 0;
  std::uint32_t context_size = 0;
  unsigned file_mode = 0600;
  std::size_t n_bytes = 0;  // read_slot_file: the file's size
};

// kInvalidArgument unless `name` is a plain file name (no '/', not "." or "..").
Status check_slot_filename(const std::string& name);

// Writes `c` to `path` (a temporary beside it, synced, renamed over it).
// Returns the file's size.
Result<std::size_t> write_slot_file(const std::string& path, const SlotFileContents& c);

// Reads and fully checks (structure, CRC, key replay) a slot file.
Result<SlotFileContents> read_slot_file(const std::string& path);

}  // namespace kvc::engine
