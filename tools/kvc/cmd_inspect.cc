// kvc inspect FILE: everything a KVC file says about itself, and whether its
// structure, payload CRC and key verify (format.md §2.4).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kvc_dir.h"
#include "output.h"

namespace kvc::cli {
namespace {

struct InspectArgs {
  std::string file;
  bool json = false;
  std::size_t show_tokens = 16;
};

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string quant_label(std::uint8_t b) {
  const std::string_view n = quant_name(b);
  return (n.empty() ? std::string("?") : std::string(n)) + " (" + std::to_string(b) + ")";
}

std::string reason_name(const RawFixed& raw) {
  if (raw.raw_save_reason > 5) return "invalid";
  return std::string(format::save_reason_name(raw.header.save_reason));
}

std::string quoted(const std::string& s, std::size_t max) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const char c = s[i];
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '"') out += "\\\"";
    else if (static_cast<unsigned char>(c) < 0x20) out += '?';
    else out += c;
  }
  out += '"';
  if (s.size() > max) out += " … (" + std::to_string(s.size()) + " bytes)";
  return out;
}

nlohmann::json to_json(const FileReport& r) {
  using nlohmann::json;
  json j;
  j["file"] = r.path;
  j["file_size"] = r.size;
  j["valid"] = r.valid();
  j["error"] = r.error ? json(std::string(format::error_name(*r.error))) : json(nullptr);
  j["structure_ok"] = r.meta.has_value();
  j["crc_ok"] = r.crc_checked ? json(r.computed_crc == r.meta->payload_crc32c) : json(nullptr);
  j["computed_crc32c"] = r.crc_checked ? json(r.computed_crc) : json(nullptr);
  j["key"] = r.meta ? json(r.meta->key().hex()) : json(nullptr);
  j["file_name_key"] = r.name_key ? json(r.name_key->hex()) : json(nullptr);
  j["key_matches_name"] = (r.meta && r.name_key) ? json(*r.name_key == r.meta->key()) : json(nullptr);

  const RawFixed& raw = r.raw;
  const format::KvcHeader& h = r.meta ? r.meta->header : raw.header;
  const bool header = r.meta || raw.has_header;
  auto hv = [&](auto v) { return header ? json(v) : json(nullptr); };
  j["version"] = hv(h.version);
  j["save_reason"] = header ? json(reason_name(raw)) : json(nullptr);
  j["save_reason_code"] = hv(raw.raw_save_reason);
  j["quant_bits"] = hv(h.quant_bits);
  j["cached_token_count"] = hv(h.cached_token_count);
  j["hit_count"] = hv(h.hit_count);
  j["context_size"] = hv(h.context_size);
  j["creation_time"] = hv(h.creation_time);
  j["last_used_time"] = hv(h.last_used_time);
  j["payload_byte_count"] = hv(h.payload_byte_count);
  const bool trailer = r.meta || raw.has_trailer;
  auto tv = [&](auto v) { return trailer ? json(v) : json(nullptr); };
  j["payload_offset"] = tv(r.meta ? r.meta->payload_offset : raw.payload_offset);
  j["payload_length"] = tv(r.meta ? r.meta->payload_length : raw.payload_length);
  j["payload_crc32c"] = tv(r.meta ? r.meta->payload_crc32c : raw.payload_crc32c);

  const format::KvcMeta* m = r.meta ? &*r.meta : nullptr;
  auto mv = [&](auto f) { return m ? json(f(*m)) : json(nullptr); };
  j["fingerprint"] = mv([](const auto& x) { return to_hex(x.fingerprint); });
  j["fingerprint_mode"] = mv([](const auto& x) { return std::string(format::fingerprint_mode_name(x.fingerprint_mode)); });
  j["quant_type"] = mv([](const auto& x) {
    const std::string_view n = quant_name(x.quant_type);
    return n.empty() ? std::to_string(x.quant_type) : std::string(n);
  });
  j["quant_byte"] = mv([](const auto& x) { return x.quant_type; });
  j["ctx_params_hash"] = mv([](const auto& x) { return to_hex(x.ctx_params_hash); });
  j["tokens_count"] = mv([](const auto& x) { return x.tokens.size(); });
  j["tokens"] = mv([](const auto& x) { return x.tokens; });
  j["prompt_text"] = mv([](const auto& x) { return x.prompt_text; });
  j["hostname"] = mv([](const auto& x) { return x.hostname; });
  j["producer_version"] = mv([](const auto& x) { return x.producer_version; });
  j["save_reason_detail"] = mv([](const auto& x) { return x.save_reason_detail; });
  j["has_logits"] = mv([](const auto& x) { return !x.next_token_logits.empty(); });
  j["n_logits"] = mv([](const auto& x) { return x.next_token_logits.size(); });
  j["position_logits"] = mv([](const auto& x) {
    json a = json::array();
    for (const auto& r : x.position_logits) a.push_back({{"position", r.position}, {"n_logits", r.logits.size()}});
    return a;
  });
  if (m) {
    json tags = json::array();
    for (const auto& u : m->unknown_tlvs) tags.push_back({{"tag", u.tag}, {"length", u.value.size()}});
    j["unknown_tlvs"] = tags;
  } else {
    j["unknown_tlvs"] = nullptr;
  }
  // json() of a uint8 prints a number; strings in prompt/hostname may not be UTF-8.
  return j;
}

void print_human(const FileReport& r, std::size_t show_tokens, std::ostream& out) {
  FieldList f;
  f.add("file", r.path);
  f.add("file_size", std::to_string(r.size) + " (" + format_size(r.size) + ")");
  f.add("status", r.valid() ? "VALID" : "INVALID: " + describe_problem(r));
  f.add("structure", r.meta ? "ok" : "failed: " + std::string(format::error_name(*r.error)));
  if (r.crc_checked) {
    f.add("crc32c", r.computed_crc == r.meta->payload_crc32c
                        ? "ok"
                        : "MISMATCH: stored " + hex32(r.meta->payload_crc32c) + ", computed " + hex32(r.computed_crc));
  } else {
    f.add("crc32c", "not checked");
  }
  if (r.meta) {
    const Key k = r.meta->key();
    std::string check;
    if (!r.name_key) check = " (computed; the file name is not <64 hex>.kvc)";
    else if (*r.name_key == k) check = " (matches the file name)";
    else check = " (MISMATCH: the file name says " + r.name_key->hex() + ")";
    f.add("key", k.hex() + check);
  } else if (r.name_key) {
    f.add("key", r.name_key->hex() + " (from the file name; content not parsed)");
  }

  const RawFixed& raw = r.raw;
  if (r.meta || raw.has_header) {
    const format::KvcHeader& h = r.meta ? r.meta->header : raw.header;
    const std::uint64_t now = now_unix_s();
    f.add("version", std::to_string(h.version));
    f.add("save_reason", reason_name(raw) + " (" + std::to_string(raw.raw_save_reason) + ")");
    f.add("quant_bits", std::to_string(h.quant_bits));
    f.add("cached_token_count", std::to_string(h.cached_token_count));
    f.add("hit_count", std::to_string(h.hit_count));
    f.add("context_size", std::to_string(h.context_size));
    f.add("creation_time", format_time(h.creation_time) + "  (" + std::to_string(h.creation_time) + ", " +
                               format_age(h.creation_time, now) + " ago)");
    f.add("last_used_time", format_time(h.last_used_time) + "  (" + std::to_string(h.last_used_time) + ", " +
                                format_age(h.last_used_time, now) + " ago)");
    f.add("payload_byte_count", std::to_string(h.payload_byte_count));
  }
  if (r.meta || raw.has_trailer) {
    f.add("payload_offset", std::to_string(r.meta ? r.meta->payload_offset : raw.payload_offset));
    f.add("payload_length", std::to_string(r.meta ? r.meta->payload_length : raw.payload_length));
    f.add("payload_crc32c", hex32(r.meta ? r.meta->payload_crc32c : raw.payload_crc32c));
  }
  if (r.meta) {
    const format::KvcMeta& m = *r.meta;
    f.add("fingerprint", to_hex(m.fingerprint));
    f.add("fingerprint_mode", std::string(format::fingerprint_mode_name(m.fingerprint_mode)));
    f.add("quant_type", quant_label(m.quant_type));
    f.add("ctx_params_hash", to_hex(m.ctx_params_hash));
    f.add("tokens_count", std::to_string(m.tokens.size()));
    std::string toks;
    for (std::size_t i = 0; i < m.tokens.size() && i < show_tokens; ++i) toks += (i ? " " : "") + std::to_string(m.tokens[i]);
    if (m.tokens.size() > show_tokens) toks += " …";
    f.add("tokens", m.tokens.empty() ? "(none)" : toks);
    f.add("prompt_text", quoted(m.prompt_text, 120));
    f.add("hostname", m.hostname.empty() ? "-" : m.hostname);
    f.add("producer_version", m.producer_version.empty() ? "-" : m.producer_version);
    f.add("save_reason_detail", m.save_reason_detail.empty() ? "-" : m.save_reason_detail);
    f.add("next_token_logits", m.next_token_logits.empty() ? "absent" : std::to_string(m.next_token_logits.size()) + " floats");
    std::string positions;
    for (const auto& r : m.position_logits)
      positions += (positions.empty() ? "" : ", ") + std::to_string(r.position) + " (" + std::to_string(r.logits.size()) + " floats)";
    f.add("position_logits", positions.empty() ? "absent" : positions);
    std::string unknown;
    for (const auto& u : m.unknown_tlvs) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s0x%02x (%zu bytes)", unknown.empty() ? "" : ", ", u.tag, u.value.size());
      unknown += buf;
    }
    f.add("unknown_tlvs", unknown.empty() ? "none" : unknown);
  }
  f.print(out);
}

int run_inspect(const InspectArgs& a) {
  // The operator named this file: follow a symlink to it (the Env itself never does).
  std::error_code ec;
  const auto resolved = std::filesystem::canonical(a.file, ec);
  FileReport r = check_file(*io::posix_env(), ec ? a.file : resolved.string(), CheckDepth::kFull);
  if (r.vanished) return fail("inspect", a.file + ": no such file");
  if (!r.io_error.empty()) return fail("inspect", "cannot read " + a.file + ": " + r.io_error);
  if (a.json) {
    std::cout << dump_json(to_json(r)) << '\n';
  } else {
    print_human(r, a.show_tokens, std::cout);
  }
  if (!r.valid()) {
    std::cerr << "kvc inspect: " << a.file << ": " << describe_problem(r) << '\n';
    return kExitInvalid;
  }
  return kExitOk;
}

}  // namespace

Command add_inspect_command(CLI::App& root) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* app = root.add_subcommand(
      "inspect", "Show the header, trailer and TLV fields of a KVC file and verify its structure, CRC and key");
  app->add_option("file", args->file, "The KVC file")->required();
  app->add_flag("--json", args->json,
                "Print one JSON object: valid, error (null or the format.md error name), key, header, trailer and "
                "TLV fields (fields a damaged file does not provide are null)");
  app->add_option("--show-tokens", args->show_tokens, "How many token ids the table shows (default 16; --json lists all)");
  app->footer("The key is checked against the file name when the name is <64 hex>.kvc; otherwise the computed\n"
              "key is reported. Exit status: 0 valid, 1 invalid (the error is also printed on stderr),\n"
              "2 the file is missing or unreadable.\n");
  return {app, [args] { return run_inspect(*args); }};
}

}  // namespace kvc::cli
