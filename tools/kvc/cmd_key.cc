// kvc key: the 64-hex cache key of a namespace and a token list (format.md §1).
#include <cctype>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "kvc/key.h"
#include "output.h"

namespace kvc::cli {
namespace {

struct KeyArgs {
  std::string fingerprint;
  std::string quant;
  std::string ctx;
  std::vector<std::string> loras;
  std::string tokens;
  std::string tokens_file;
  bool json = false;
};

// Decimal ids separated by commas and/or whitespace. Errors name the 0-based index
// of the offending id and the text of it.
Result<std::vector<std::uint32_t>> parse_token_list(std::string_view text, const std::string& source) {
  std::vector<std::uint32_t> out;
  std::size_t i = 0;
  auto is_sep = [](char c) { return c == ',' || std::isspace(static_cast<unsigned char>(c)); };
  while (i < text.size()) {
    if (is_sep(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && !is_sep(text[j])) ++j;
    const std::string_view field = text.substr(i, j - i);
    const std::string where = source + ": token at index " + std::to_string(out.size()) + " ('" +
                              std::string(field.substr(0, 32)) + (field.size() > 32 ? "…" : "") + "')";
    std::size_t k = 0;
    if (field[0] == '+') k = 1;
    if (field[0] == '-') {
      bool digits = field.size() > 1;
      for (std::size_t d = 1; d < field.size(); ++d) digits = digits && std::isdigit(static_cast<unsigned char>(field[d]));
      if (digits) return Result<std::vector<std::uint32_t>>(Code::kInvalidArgument, where + " is negative; token ids are uint32 (0..4294967295)");
      return Result<std::vector<std::uint32_t>>(Code::kInvalidArgument, where + " is not a decimal number");
    }
    if (k == field.size()) return Result<std::vector<std::uint32_t>>(Code::kInvalidArgument, where + " is not a decimal number");
    std::uint64_t v = 0;
    bool overflow = false;
    for (; k < field.size(); ++k) {
      const char c = field[k];
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        return Result<std::vector<std::uint32_t>>(Code::kInvalidArgument, where + " is not a decimal number");
      }
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
      if (v > UINT32_MAX) overflow = true;
      if (overflow) v = UINT32_MAX + 1ull;  // keep scanning for non-digits, no wraparound
    }
    if (overflow) {
      return Result<std::vector<std::uint32_t>>(Code::kInvalidArgument, where + " is out of range of uint32 (0..4294967295)");
    }
    out.push_back(static_cast<std::uint32_t>(v));
    i = j;
  }
  return out;
}

Result<LoraAdapter> parse_lora(const std::string& spec) {
  const auto colon = spec.rfind(':');
  if (colon == std::string::npos) {
    return Result<LoraAdapter>(Code::kInvalidArgument, "--lora '" + spec + "': expected SHA256HEX:SCALE");
  }
  LoraAdapter a;
  auto sha = digest_from_hex(std::string_view(spec).substr(0, colon));
  if (!sha.ok()) {
    return Result<LoraAdapter>(Code::kInvalidArgument,
                               "--lora '" + spec + "': the adapter SHA-256 must be 64 hex characters");
  }
  a.sha256 = *sha;
  const std::string scale = spec.substr(colon + 1);
  char* end = nullptr;
  errno = 0;
  a.scale = std::strtod(scale.c_str(), &end);
  if (scale.empty() || end != scale.c_str() + scale.size() || errno != 0 || !std::isfinite(a.scale)) {
    return Result<LoraAdapter>(Code::kInvalidArgument, "--lora '" + spec + "': scale '" + scale + "' is not a finite number");
  }
  return a;
}

int run_key(const KeyArgs& a) {
  auto fp = digest_from_hex(a.fingerprint);
  if (!fp.ok()) return fail("key", "--fingerprint '" + a.fingerprint + "': expected 64 hex characters (32 bytes)");
  auto ctx = digest_from_hex(a.ctx);
  if (!ctx.ok()) return fail("key", "--ctx '" + a.ctx + "': expected 64 hex characters (32 bytes)");

  std::vector<LoraAdapter> adapters;
  for (const auto& spec : a.loras) {
    auto l = parse_lora(spec);
    if (!l.ok()) return fail("key", l.status().message());
    adapters.push_back(*l);
  }
  auto effective = lora_effective_fingerprint(*fp, adapters);
  if (!effective.ok()) return fail("key", "--lora: " + effective.status().message());

  std::string quant_lower;
  for (char c : a.quant) quant_lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::uint8_t qb = quant_byte(quant_lower);
  if (qb == kQuantOther && quant_lower != "other") {
    std::cerr << "kvc key: note: quant '" << a.quant << "' is not in the quant table; it encodes as 255 (other)\n";
  }

  Result<std::vector<std::uint32_t>> tokens = std::vector<std::uint32_t>{};
  if (!a.tokens_file.empty()) {
    std::ifstream in(a.tokens_file, std::ios::binary);
    if (!in) return fail("key", "cannot read --tokens-file " + a.tokens_file + ": " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return fail("key", "cannot read --tokens-file " + a.tokens_file);
    tokens = parse_token_list(ss.str(), a.tokens_file);
  } else {
    tokens = parse_token_list(a.tokens, "--tokens");
  }
  if (!tokens.ok()) return fail("key", tokens.status().message());

  const KeyNamespace ns{*effective, qb, *ctx};
  const Key key = derive_key(ns, *tokens);
  if (a.json) {
    nlohmann::json j;
    j["key"] = key.hex();
    j["fingerprint"] = to_hex(*fp);
    j["effective_fingerprint"] = to_hex(*effective);
    j["lora_adapters"] = adapters.size();
    j["quant"] = quant_lower;
    j["quant_byte"] = qb;
    j["ctx_params_hash"] = to_hex(*ctx);
    j["tokens_count"] = tokens->size();
    std::cout << dump_json(j) << '\n';
  } else {
    std::cout << key.hex() << '\n';
  }
  return kExitOk;
}

}  // namespace

Command add_key_command(CLI::App& root) {
  auto args = std::make_shared<KeyArgs>();
  CLI::App* app = root.add_subcommand("key", "Print the 64-hex cache key of a namespace and a token list (format.md §1)");
  app->add_option("--fingerprint", args->fingerprint, "Model fingerprint: 64 hex characters (32 bytes), before LoRA mixing")
      ->required();
  app->add_option("--quant", args->quant,
                  "Quant type name from the table of format.md §1.1 (f32, f16, q4_0, q4_k_m, q8_0, bf16, ...), "
                  "case-insensitive. Names not in the table are accepted and encode as 255 (\"other\")")
      ->required();
  app->add_option("--ctx", args->ctx, "Context-parameters hash: 64 hex characters (32 bytes)")->required();
  app->add_option("--lora", args->loras,
                  "LoRA adapter as SHA256HEX:SCALE (SHA-256 of the adapter file, decimal scale); repeatable. "
                  "The effective fingerprint is mixed as in format.md §1.3")
      ;
  auto* tok = app->add_option("--tokens", args->tokens,
                              "Token ids: decimal uint32 values separated by commas (e.g. 1,2,3); '' is the empty list");
  auto* file = app->add_option("--tokens-file", args->tokens_file,
                               "File of decimal uint32 token ids separated by whitespace and/or commas");
  tok->excludes(file);
  file->excludes(tok);
  app->add_flag("--json", args->json, "Print a JSON object (key, effective fingerprint, quant byte, token count)");
  app->footer("Exactly one of --tokens or --tokens-file is required. Ids outside 0..4294967295 are errors naming\n"
              "their index; they are never truncated.\n");
  app->callback([tok, file] {
    if (tok->count() + file->count() != 1) {
      throw CLI::RequiredError("kvc key needs exactly one of --tokens or --tokens-file");
    }
  });
  return {app, [args] { return run_key(*args); }};
}

}  // namespace kvc::cli
