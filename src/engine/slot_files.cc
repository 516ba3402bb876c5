// Sequences as llama-server's slots: snapshot, load and clear one sequence on the
// scheduler thread, and the slot files (KVC v1, the cache's own row format) the
// engine writes and reads for /slots?action=save|restore.
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <future>

#include "engine/scheduler.h"
#include "engine/slot_files.h"
#include "format/kvc_file.h"
#include "io/env.h"
#include "kvc/version.h"

namespace kvc::engine {

namespace {
Status busy(int slot) {
  return Status(Code::kUnavailable, "slot " + std::to_string(slot) + " is processing a request; retry when it is idle");
}
}  // namespace

Result<Scheduler::SlotSnapshot> Scheduler::snapshot_slot(int id) {
  Slot& slot = slots_.at(static_cast<std::size_t>(id));
  if (slot.busy()) return busy(id);
  if (slot.tokens.empty()) return Status(Code::kNotFound, "slot " + std::to_string(id) + " holds no tokens");
  SlotSnapshot snap;
  const std::size_t size = llama_state_seq_get_size(env_.ctx, slot.seq);
  snap.payload.resize(size);
  if (size == 0 ||
      llama_state_seq_get_data(env_.ctx, reinterpret_cast<std::uint8_t*>(snap.payload.data()), size, slot.seq) != size)
    return Status(Code::kUnavailable, "llama_state_seq_get_data failed for slot " + std::to_string(id));
  snap.tokens = slot.tokens;
  if (const float* at_end = slot.boundaries.at(slot.tokens.size()))
    snap.logits.assign(at_end, at_end + static_cast<std::size_t>(env_.n_vocab));
  snap.prompt_text = slot.prompt_text;
  return snap;
}

Status Scheduler::load_slot(int id, std::vector<std::uint32_t> tokens, std::span<const std::byte> payload,
                            std::vector<float> logits) {
  Slot& slot = slots_.at(static_cast<std::size_t>(id));
  if (slot.busy()) return busy(id);
  if (!env_.sticky_sessions)
    return Status(Code::kInvalidArgument, "restoring a slot needs sticky sessions (they are off with a unified KV cache)");
  if (tokens.empty() || tokens.size() >= static_cast<std::size_t>(env_.n_ctx_seq))
    return Status(Code::kInvalidArgument, "the saved sequence has " + std::to_string(tokens.size()) +
                                              " tokens; a slot holds 1.." + std::to_string(env_.n_ctx_seq - 1));
  if (slot.phase == SlotPhase::kParked) set_parked_entry(slot, false);
  release(slot);
  const std::size_t read = llama_state_seq_set_data(env_.ctx, reinterpret_cast<const std::uint8_t*>(payload.data()),
                                                    payload.size(), slot.seq);
  if (read != payload.size()) {
    llama_memory_seq_rm(llama_get_memory(env_.ctx), slot.seq, -1, -1);
    return Status(Code::kCorrupt, "the saved state does not fit this context (llama_state_seq_set_data read " +
                                      std::to_string(read) + " of " + std::to_string(payload.size()) + " bytes)");
  }
  slot.tokens = std::move(tokens);
  slot.phase = SlotPhase::kParked;
  slot.parked_key = derive_key(env_.ns, slot.tokens);
  if (logits.size() == static_cast<std::size_t>(env_.n_vocab)) slot.boundaries.record(slot.tokens.size(), logits.data());
  slot.parked_order = ++park_counter_;
  set_parked_entry(slot, true);
  return Status::Ok();
}

Result<std::size_t> Scheduler::clear_slot(int id) {
  Slot& slot = slots_.at(static_cast<std::size_t>(id));
  if (slot.busy()) return busy(id);
  const std::size_t n = slot.tokens.size();
  if (slot.phase == SlotPhase::kParked) set_parked_entry(slot, false);
  release(slot);
  return n;
}

std::vector<SlotInfo> Scheduler::slot_infos() const {
  std::vector<SlotInfo> out;
  for (const Slot& s : slots_) {
    out.push_back({static_cast<int>(s.seq), s.busy(), s.phase == SlotPhase::kParked, s.tokens.size()});
  }
  return out;
}

Status check_slot_filename(const std::string& name) {
  if (name.empty() || name.size() > 255 || name == "." || name == ".." ||
      name.find_first_of("/\\") != std::string::npos || name.find('\0') != std::string::npos)
    return Status(Code::kInvalidArgument, "slot filename '" + name + "' must be a plain file name (no directories)");
  return Status::Ok();
}

Result<std::size_t> write_slot_file(const std::string& path, const SlotFileContents& c) {
  const auto now = static_cast<std::uint64_t>(std::time(nullptr));
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  format::KvcBuildInput in;
  in.quant_bits = c.quant_bits;
  in.save_reason = SaveReason::kUnknown;
  in.context_size = c.context_size;
  in.creation_time = in.last_used_time = now;
  in.prompt_text = c.prompt_text;
  in.ns = c.ns;
  in.fingerprint_mode = c.fingerprint_mode;
  in.tokens = c.tokens;
  in.hostname = host;
  in.producer_version = KVC_PRODUCER;
  in.save_reason_detail = "slot save";
  in.next_token_logits = c.logits;
  const std::vector<std::byte> prefix = format::build_prefix(in, c.payload);
  io::Env* env = io::posix_env();
  // Written next to its final name, then renamed over it: a reader never sees half a file.
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  (void)env->remove(tmp);
  auto f = env->new_exclusive_file(tmp, c.file_mode);
  if (!f.ok()) return f.status();
  const std::span<const std::byte> parts[] = {prefix, c.payload};
  Status st = (*f)->append(parts);
  if (st.ok()) st = (*f)->sync();
  if (st.ok()) st = (*f)->close();
  if (st.ok()) st = env->rename(tmp, path);
  if (!st.ok()) {
    (void)env->remove(tmp);
    return st;
  }
  return prefix.size() + c.payload.size();
}

Result<SlotFileContents> read_slot_file(const std::string& path) {
  auto bytes = io::posix_env()->read_file(path);
  if (!bytes.ok()) return bytes.status();
  auto meta = format::parse_meta(*bytes, bytes->size());
  if (!meta.ok())
    return Status(Code::kCorrupt, path + " is not a KVC file (" + std::string(format::error_name(meta.error)) + ")");
  auto full = format::parse(*bytes, meta.value->key());
  if (!full.ok())
    return Status(Code::kCorrupt, path + " is damaged (" + std::string(format::error_name(full.error)) + ")");
  const format::KvcMeta& m = *full.value;
  SlotFileContents c;
  c.ns = m.key_namespace();
  c.fingerprint_mode = m.fingerprint_mode;
  c.tokens = m.tokens;
  c.logits = m.next_token_logits;
  c.prompt_text = m.prompt_text;
  c.quant_bits = m.header.quant_bits;
  c.context_size = m.header.context_size;
  c.payload.assign(bytes->begin() + static_cast<std::ptrdiff_t>(m.payload_offset),
                   bytes->begin() + static_cast<std::ptrdiff_t>(m.payload_offset + m.payload_length));
  c.n_bytes = bytes->size();
  return c;
}

}  // namespace kvc::engine
