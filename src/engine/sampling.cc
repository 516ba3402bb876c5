#include "engine/sampling.h"

#include <common.h>
#include <sampling.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <random>

namespace kvc::engine {
namespace {

Status bad(const std::string& what) { return Status(Code::kInvalidArgument, what); }

common_grammar_type grammar_type(GrammarConstraint::Kind k) {
  switch (k) {
    case GrammarConstraint::Kind::kOutputFormat: return COMMON_GRAMMAR_TYPE_OUTPUT_FORMAT;
    case GrammarConstraint::Kind::kToolCalls: return COMMON_GRAMMAR_TYPE_TOOL_CALLS;
    case GrammarConstraint::Kind::kUser: break;
  }
  return COMMON_GRAMMAR_TYPE_USER;
}

// The tokens of the template's generation prompt whose pieces spell it exactly,
// for advancing a grammar over it. common_sampler_init skips a first token that
// starts with a space the prompt lacks (tokenizers that add one before a special
// token); with a SentencePiece vocabulary that first token is "▁<" of a text
// marker such as "<|im_start|>", and skipping it would lose the "<": that token
// is replaced by the one whose piece is the text without the space.
std::vector<llama_token> prefill_tokens(const llama_vocab* vocab, const std::string& prompt) {
  std::vector<llama_token> ids = common_tokenize(vocab, prompt, false, true);
  if (ids.empty()) return ids;
  const std::string first = common_token_to_piece(vocab, ids[0], true);
  if (first.empty() || !std::isspace(static_cast<unsigned char>(first[0])) ||
      std::isspace(static_cast<unsigned char>(prompt[0])))
    return ids;
  const std::string bare = first.substr(1);
  if (!bare.empty()) {
    for (llama_token t = 0; t < llama_vocab_n_tokens(vocab); ++t) {
      if (common_token_to_piece(vocab, t, true) == bare) {
        ids[0] = t;
        return ids;
      }
    }
  }
  ids.erase(ids.begin());  // common's behaviour: a space before a special token
  return ids;
}

// The grammar sampler, with triggers turned into llama.cpp's lazy-grammar
// patterns and tokens the way common_sampler_init does.
Result<SamplerPtr> make_grammar(const llama_vocab* vocab, const GrammarConstraint& g) {
  std::vector<std::string> patterns;
  std::vector<llama_token> trigger_tokens;
  std::vector<llama_token> preserved;
  for (const std::string& t : g.preserved_tokens) {
    auto ids = common_tokenize(vocab, t, false, true);
    if (ids.size() == 1) preserved.push_back(ids[0]);
  }
  for (const GrammarTrigger& t : g.triggers) {
    switch (t.kind) {
      case GrammarTrigger::Kind::kWord: {
        auto ids = common_tokenize(vocab, t.value, false, true);
        if (ids.size() == 1) {
          if (std::find(preserved.begin(), preserved.end(), ids[0]) == preserved.end())
            return bad("grammar trigger word '" + t.value + "' is a single token: list it in preserved_tokens");
          trigger_tokens.push_back(ids[0]);
        } else {
          patterns.push_back(regex_escape(t.value));
        }
        break;
      }
      case GrammarTrigger::Kind::kPattern: patterns.push_back(t.value); break;
      case GrammarTrigger::Kind::kPatternFull: {
        std::string anchored = "^$";
        if (!t.value.empty())
          anchored = (t.value.front() != '^' ? "^" : "") + t.value + (t.value.back() != '$' ? "$" : "");
        patterns.push_back(anchored);
        break;
      }
      case GrammarTrigger::Kind::kToken:
        if (t.token < 0 || t.token >= llama_vocab_n_tokens(vocab))
          return bad("grammar trigger token " + std::to_string(t.token) + " is not in the vocabulary");
        trigger_tokens.push_back(t.token);
        break;
    }
  }
  if (g.lazy && patterns.empty() && trigger_tokens.empty()) return bad("a lazy grammar needs grammar triggers");
  std::vector<const char*> cpat;
  for (const auto& p : patterns) cpat.push_back(p.c_str());
  SamplerPtr s;
  try {
    s.reset(g.lazy ? llama_sampler_init_grammar_lazy_patterns(vocab, g.gbnf.c_str(), "root", cpat.data(), cpat.size(),
                                                               trigger_tokens.data(), trigger_tokens.size())
                   : llama_sampler_init_grammar(vocab, g.gbnf.c_str(), "root"));
  } catch (const std::exception& e) {
    return bad(std::string("the grammar is invalid: ") + e.what());
  }
  if (!s) {
    const std::string detail = last_llama_error();
    return bad("the grammar does not parse as GBNF" + (detail.empty() ? std::string() : ": " + detail));
  }
  // Output-format and tool-call grammars start after the generation prompt the
  // template already wrote: advance them over it (a user grammar is not).
  const common_grammar cg(grammar_type(g.kind), g.gbnf);
  if (!g.lazy && common_grammar_needs_prefill(cg) && !g.generation_prompt.empty()) {
    auto ids = prefill_tokens(vocab, g.generation_prompt);
    try {
      for (const llama_token id : ids) llama_sampler_accept(s.get(), id);
    } catch (const std::exception& e) {
      return bad(std::string("the grammar does not accept the template's generation prompt: ") + e.what());
    }
  }
  return s;
}

}  // namespace

void Sampler::ChainFree::operator()(common_sampler* s) const { common_sampler_free(s); }

Result<std::unique_ptr<Sampler>> Sampler::create(const llama_model* model, const SamplingParams& p,
                                                 std::span<const std::uint32_t> prompt, int n_ctx) {
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  auto finite = [](float v) { return std::isfinite(v); };
  if (!finite(p.temperature)) return bad("temperature must be a finite number");
  if (!finite(p.repeat_penalty) || p.repeat_penalty <= 0) return bad("repeat_penalty must be a finite number > 0");
  if (!finite(p.frequency_penalty)) return bad("frequency_penalty must be a finite number");
  if (!finite(p.presence_penalty)) return bad("presence_penalty must be a finite number");
  if (p.repeat_last_n < -1) return bad("repeat_last_n must be -1 (the context) or >= 0");
  if (p.dry_penalty_last_n < -1) return bad("dry_penalty_last_n must be -1 (the context) or >= 0");
  if (p.mirostat < 0 || p.mirostat > 2) return bad("mirostat must be 0, 1 or 2");
  if (p.n_probs < 0) return bad("n_probs must be >= 0");

  common_params_sampling c;
  c.seed = p.seed == SamplingParams::kRandomSeed ? std::random_device{}() : p.seed;
  if (c.seed == LLAMA_DEFAULT_SEED) c.seed = 0;  // a drawn seed must not mean "random" again
  c.n_probs = p.n_probs;
  c.min_keep = p.min_keep;
  c.top_k = p.top_k;
  c.top_p = p.top_p;
  c.min_p = p.min_p;
  c.xtc_probability = p.xtc_probability;
  c.xtc_threshold = p.xtc_threshold;
  c.typ_p = p.typical_p;
  c.temp = p.temperature;
  c.dynatemp_range = p.dynatemp_range;
  c.dynatemp_exponent = p.dynatemp_exponent;
  c.penalty_last_n = p.repeat_last_n < 0 ? n_ctx : p.repeat_last_n;
  c.penalty_repeat = p.repeat_penalty;
  c.penalty_freq = p.frequency_penalty;
  c.penalty_present = p.presence_penalty;
  c.dry_multiplier = p.dry_multiplier;
  c.dry_base = p.dry_base;
  c.dry_allowed_length = p.dry_allowed_length;
  c.dry_penalty_last_n = p.dry_penalty_last_n < 0 ? n_ctx : p.dry_penalty_last_n;
  c.dry_sequence_breakers = p.dry_sequence_breakers;
  c.top_n_sigma = p.top_n_sigma;
  c.adaptive_target = p.adaptive_target;
  c.adaptive_decay = p.adaptive_decay;
  c.mirostat = p.mirostat;
  c.mirostat_tau = p.mirostat_tau;
  c.mirostat_eta = p.mirostat_eta;
  c.ignore_eos = p.ignore_eos;
  c.no_perf = true;
  if (!p.samplers.empty()) {
    c.samplers = common_sampler_types_from_names(p.samplers);
    if (c.samplers.size() != p.samplers.size()) {
      for (const std::string& name : p.samplers) {
        if (common_sampler_types_from_names({name}).empty()) return bad("samplers: unknown sampler '" + name + "'");
      }
    }
  }
  for (const LogitBias& b : p.logit_bias) {
    if (b.token < 0 || b.token >= n_vocab) {
      return bad("logit_bias: token " + std::to_string(b.token) + " is not in the vocabulary (0.." +
                 std::to_string(n_vocab - 1) + ")");
    }
    if (std::isnan(b.bias)) return bad("logit_bias: the bias of token " + std::to_string(b.token) + " is not a number");
    c.logit_bias.push_back({b.token, b.bias});
  }
  if (p.ignore_eos) {
    for (llama_token t = 0; t < n_vocab; ++t)
      if (llama_vocab_is_eog(vocab, t)) c.logit_bias.push_back({t, -INFINITY});
  }

  std::unique_ptr<Sampler> s(new Sampler());
  s->vocab_ = vocab;
  s->n_probs_ = p.n_probs;
  s->report_probs_ = p.probs || p.n_probs > 0;
  s->post_sampling_probs_ = p.post_sampling_probs;
  // llama-server's rules: no backend sampling with a grammar (common_sampler_init
  // turns it off), nor when the raw logits' probabilities are to be reported.
  s->backend_wanted_ = p.backend_sampling && p.grammar.gbnf.empty() && !(s->report_probs_ && !p.post_sampling_probs);
  s->seed_ = c.seed;
  try {
    s->chain_.reset(common_sampler_init(model, c));
  } catch (const std::exception& e) {
    return bad(std::string("cannot build the sampler chain: ") + e.what());
  }
  if (!s->chain_) return bad("cannot build the sampler chain");
  for (const std::string& t : p.grammar.preserved_tokens) {
    auto ids = common_tokenize(vocab, t, false, true);
    if (ids.size() == 1) s->preserved_.push_back(ids[0]);
  }
  std::sort(s->preserved_.begin(), s->preserved_.end());
  if (!p.grammar.gbnf.empty()) {
    auto g = make_grammar(vocab, p.grammar);
    if (!g.ok()) return g.status();
    s->grammar_ = std::move(g.value());
  } else if (p.grammar.lazy) {
    return bad("a lazy grammar needs a grammar");
  }
  // Penalties and DRY look back at the prompt (llama-server accepts every prompt
  // token with is_generated = false; only the last window can matter).
  const std::size_t window = static_cast<std::size_t>(
      std::max({c.penalty_last_n, c.dry_penalty_last_n, c.n_prev, 0}));
  const std::size_t from = prompt.size() > window ? prompt.size() - window : 0;
  for (std::size_t i = from; i < prompt.size(); ++i)
    common_sampler_accept(s->chain_.get(), static_cast<llama_token>(prompt[i]), false);
  return s;
}

Sampler::~Sampler() { unbind_backend(); }

bool Sampler::bind_backend(llama_context* ctx, llama_seq_id seq) {
  if (!backend_wanted_ || bound()) return bound();
  if (!llama_set_sampler(ctx, seq, common_sampler_get(chain_.get()))) return false;
  bound_ctx_ = ctx;
  bound_seq_ = seq;
  return true;
}

void Sampler::unbind_backend() {
  if (!bound()) return;
  llama_set_sampler(bound_ctx_, bound_seq_, nullptr);
  bound_ctx_ = nullptr;
  bound_seq_ = -1;
}

llama_token Sampler::sample_decoded(int idx) {
  // common_sampler_sample takes the backend's token, or applies the rest of the
  // chain to the candidates the backend left.
  const llama_token id = common_sampler_sample(chain_.get(), bound_ctx_, idx, false);
  if (report_probs_) report(id, *common_sampler_get_candidates(chain_.get(), false), nullptr, 0);
  common_sampler_accept(chain_.get(), id, true);
  return id;
}

void Sampler::fill(const float* logits, int n_vocab, std::vector<llama_token_data>& scratch) {
  scratch.resize(static_cast<std::size_t>(n_vocab));
  for (int i = 0; i < n_vocab; ++i) scratch[static_cast<std::size_t>(i)] = {i, logits[i], 0.0f};
  cur_ = {scratch.data(), scratch.size(), -1, false};
}

llama_token Sampler::sample(const float* logits, int n_vocab, std::vector<llama_token_data>& scratch) {
  llama_sampler* chain = common_sampler_get(chain_.get());
  fill(logits, n_vocab, scratch);
  llama_sampler_apply(chain, &cur_);
  llama_token id = cur_.data[cur_.selected].id;
  if (grammar_) {
    llama_token_data single{id, 1.0f, 0.0f};
    llama_token_data_array one{&single, 1, -1, false};
    llama_sampler_apply(grammar_.get(), &one);
    if (single.logit == -INFINITY) {  // resample from the candidates the grammar allows
      fill(logits, n_vocab, scratch);
      llama_sampler_apply(grammar_.get(), &cur_);
      llama_sampler_apply(chain, &cur_);
      id = cur_.selected >= 0 ? cur_.data[cur_.selected].id : id;
    }
    llama_sampler_accept(grammar_.get(), id);
  }
  if (report_probs_) report(id, cur_, logits, n_vocab);
  common_sampler_accept(chain_.get(), id, true);
  return id;
}

// llama-server's populate_token_probs: post-sampling from the chain's candidates
// (sorted by probability, zeros dropped), else the softmax of the raw logits.
// `cur`: the chain's candidates (from the logits, or the backend's); `logits`
// is only read without post_sampling_probs (never with backend sampling).
void Sampler::report(llama_token token, const llama_token_data_array& cur, const float* logits, int n_vocab) {
  TokenProbs r;
  r.token = token;
  r.piece = token_piece(vocab_, token);
  const auto n = static_cast<std::size_t>(n_probs_);
  if (post_sampling_probs_ || logits == nullptr) {
    std::vector<llama_token_data> cand(cur.data, cur.data + cur.size);
    std::stable_sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) { return a.p > b.p; });
    for (const auto& c : cand) {
      if (c.id == token) r.prob = c.p;
    }
    for (std::size_t i = 0; i < std::min(n, cand.size()) && cand[i].p != 0.0f; ++i)
      r.top.push_back({cand[i].id, token_piece(vocab_, cand[i].id), cand[i].p});
  } else {
    float max_l = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < n_vocab; ++i) max_l = std::max(max_l, logits[i]);
    double sum = 0;
    for (int i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - max_l));
    std::vector<int> order(static_cast<std::size_t>(n_vocab));
    for (int i = 0; i < n_vocab; ++i) order[static_cast<std::size_t>(i)] = i;
    const std::size_t k = std::min(n, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](int a, int b) { return logits[a] > logits[b]; });
    auto prob = [&](int i) { return static_cast<float>(std::exp(static_cast<double>(logits[i] - max_l)) / sum); };
    r.prob = prob(token);
    for (std::size_t i = 0; i < k; ++i) r.top.push_back({order[i], token_piece(vocab_, order[i]), prob(order[i])});
  }
  last_probs_ = std::move(r);
}

std::string Sampler::text_of(llama_token token) const {
  return common_token_to_piece(vocab_, token, std::binary_search(preserved_.begin(), preserved_.end(), token));
}

std::string token_piece(const llama_vocab* vocab, llama_token token) { return common_token_to_piece(vocab, token, true); }

llama_token sample_from_logits(Sampler* sampler, const float* logits, int n_vocab,
                               std::vector<llama_token_data>& scratch) {
  return sampler->sample(logits, n_vocab, scratch);
}

bool TextStream::append(std::string_view piece) {
  if (stopped_) return true;
  const std::size_t before = text_.size();
  text_ += piece;
  // Only a stop string that ends inside the new piece can be new.
  const std::size_t from = before > max_stop_ ? before - max_stop_ : 0;
  std::size_t cut = std::string::npos;
  for (const auto& s : stop_) {
    if (s.empty()) continue;
    const std::size_t at = text_.find(s, from);
    if (at != std::string::npos && at < cut) {
      cut = at;
      stop_word_ = s;
    }
  }
  if (cut != std::string::npos) {
    text_.resize(std::max(cut, emitted_));
    stopped_ = true;
  }
  return stopped_;
}

std::string_view TextStream::take_emittable(bool final) {
  std::size_t end = text_.size();
  if (!final && !stopped_) {
    // Hold back what could be the start of a stop string…
    end = max_stop_ > 1 && end >= max_stop_ - 1 ? end - (max_stop_ - 1) : (max_stop_ > 1 ? 0 : end);
    // …and an incomplete UTF-8 sequence at the end.
    std::size_t i = end, back = 0;
    while (i > emitted_ && back < 4 && (static_cast<unsigned char>(text_[i - 1]) & 0xC0) == 0x80) --i, ++back;
    if (i > emitted_) {
      const auto lead = static_cast<unsigned char>(text_[i - 1]);
      const std::size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (need > 1 && back + 1 < need) end = i - 1;
    }
  }
  if (end <= emitted_) return {};
  std::string_view out(text_.data() + emitted_, end - emitted_);
  emitted_ = end;
  return out;
}

}  // namespace kvc::engine
