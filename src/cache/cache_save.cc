// The save path of kvc::Cache (cache.md §2, §3, §4): reserve the key, build the
// prefix, land the row in the fastest tier that takes it, announce it, and write
// it through to the slower tiers.
#include <chrono>

#include "cache/cache_impl.h"
#include "kvc/version.h"

namespace kvc {
namespace {

using Clock = std::chrono::steady_clock;

StripedCounter& reason_counter(Counters& c, SaveReason r) {
  switch (r) {
    case SaveReason::kCold: return c.saves_cold;
    case SaveReason::kContinued: return c.saves_continued;
    case SaveReason::kFinish: return c.saves_finish;
    case SaveReason::kEvict: return c.saves_evict;
    case SaveReason::kShutdown: return c.saves_shutdown;
    case SaveReason::kUnknown: break;
  }
  return c.saves_cold;  // unknown reasons are counted with cold saves
}

std::uint64_t elapsed_ns(Clock::time_point since) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - since).count());
}

// The reservation, driven by a tier during its publication (cache.md §2 steps 3, 5).
class ReservationGuard final : public tiers::PublishGuard {
 public:
  ReservationGuard(index::Index& idx, index::Reservation& r, TierId t) : idx_(idx), r_(r), t_(t) {}
  bool still_ours() override { return idx_.check(r_); }
  bool published() override { return idx_.mark_linked(r_, t_); }

 private:
  index::Index& idx_;
  index::Reservation& r_;
  TierId t_;
};

// What a built file's buffers hang on: the prefix and the (moved-in) payload.
struct BuiltFile {
  std::vector<std::byte> prefix;
  ByteBuffer payload;
};

}  // namespace

Result<SaveTicket> Cache::Impl::reserve(const KeyNamespace& ns, std::span<const std::uint32_t> tokens) {
  if (tokens.size() > UINT32_MAX) return Status(Code::kInvalidArgument, "save: too many tokens for a KVC file");
  if (!quant_byte_valid(ns.quant))
    return Status(Code::kInvalidArgument, "save: quant byte " + std::to_string(ns.quant) + " is not in format.md §1.1");
  if (!options.policy.saves_enabled) {
    counters.add(counters.saves_dropped);
    return Status(Code::kDropped, "save: saves are disabled by the save policy");
  }
  bool some_tier = false;
  for (std::size_t t = 0; t < tiers.size(); ++t) some_tier = some_tier || takes(static_cast<TierId>(t), tokens.size());
  if (!some_tier) {
    counters.add(counters.saves_dropped);
    return Status(Code::kDropped, "save: " + std::to_string(tokens.size()) +
                                      " tokens is shorter than every tier's min_tokens");
  }
  const Key key = derive_key(ns, tokens);
  auto r = index.reserve(key);
  if (!r.ok()) {
    const Code code = r.status().code();
    if (code == Code::kAlreadyPresent || code == Code::kConflict) counters.add(counters.duplicate_dropped);
    return r.status();
  }
  SaveTicket ticket;
  ticket.state_ = std::make_unique<SaveTicket::State>(std::move(r.value()), tokens.size());
  return ticket;
}

LoadedFile Cache::Impl::build_file(SaveRequest& request) {
  const auto now_s = static_cast<std::uint64_t>(unix_now_ns() / 1'000'000'000);
  format::KvcBuildInput in;
  in.quant_bits = request.quant_bits;
  in.save_reason = request.reason;
  in.context_size = request.context_size;
  in.creation_time = now_s;
  in.last_used_time = now_s;
  in.prompt_text = request.prompt_text;
  in.ns = request.ns;
  in.fingerprint_mode = request.fingerprint_mode;
  in.tokens = request.tokens;
  in.hostname = hostname;
  in.producer_version = KVC_PRODUCER;
  in.save_reason_detail = request.reason_detail;
  in.next_token_logits = request.next_token_logits;
  in.position_logits = request.position_logits;
  auto built = std::make_shared<BuiltFile>();
  built->prefix = format::build_prefix(in, request.payload.span());  // one CRC pass; the payload is not copied
  built->payload = std::move(request.payload);
  LoadedFile file;
  // The metadata the file describes, without parsing it back (it is ours).
  auto meta = std::make_shared<format::KvcMeta>();
  auto parsed = format::parse_meta(built->prefix, built->prefix.size() + built->payload.size());
  if (parsed.ok()) *meta = std::move(*parsed.value);
  file.meta = std::move(meta);
  file.bytes.prefix = built->prefix;
  file.bytes.payload = built->payload.span();
  file.bytes.owner = std::move(built);
  return file;
}

Result<TierId> Cache::Impl::land(index::Reservation& r, const LoadedFile& file, std::size_t tokens,
                                 Clock::time_point deadline) {
  const Key& key = r.key();
  const std::uint64_t size = file.bytes.size();
  Status last(Code::kQuotaExceeded, "save " + key.hex() + ": no tier takes rows of " + std::to_string(tokens) +
                                        " tokens");
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    const auto t = static_cast<TierId>(i);
    if (!takes(t, tokens)) continue;
    if (Clock::now() > deadline) return Status(Code::kTimeout, "save " + key.hex() + ": deadline passed before writing");
    TierSlot& s = slot(t);
    // Quota: evict this tier's least valuable idle copies (they move down), or
    // try the next tier, writing nothing here.
    if (!make_room(t, size)) {
      last = Status(Code::kQuotaExceeded, "save " + key.hex() + ": " + std::to_string(size) +
                                              " bytes do not fit in tier " + s.tier->describe() + " (quota " +
                                              std::to_string(s.tier->quota()) + ", used " +
                                              std::to_string(s.tier->used()) + ")");
      continue;
    }
    ReservationGuard guard(index, r, t);
    Status st = s.tier->put(key, file, &guard);
    if (!st.ok()) {
      s.tier->credit(size);
      s.counters.add(st.code() == Code::kTimeout ? s.counters.timeouts : s.counters.errors);
      last = st;
      if (st.code() == Code::kCancelled) return st;  // the reservation is gone: nothing to publish
      continue;  // this tier failed (no space, I/O): a slower one may take it
    }
    index::RowInfo info;
    info.key = key;
    info.ns = file.meta->key_namespace();
    info.size = size;
    info.header = file.meta->header;
    info.tokens = std::make_shared<const std::vector<std::uint32_t>>(file.meta->tokens);
    if (Status p = index.publish(r, std::move(info), t); !p.ok()) {
      // The reservation expired while we wrote: the sweeper adopts the copy (and
      // charges it) or discards it.
      s.tier->credit(size);
      return p;
    }
    s.counters.add(s.counters.bytes_out, size);
    return t;
  }
  return last;
}

void Cache::Impl::write_through(const Key& key, TierId landed, const LoadedFile& file, bool inline_writes) {
  const std::size_t n = file.meta->tokens.size();
  for (std::size_t i = landed + 1; i < tiers.size(); ++i) {
    const auto t = static_cast<TierId>(i);
    if (slot(t).policy != TierPolicy::kWriteThrough || !takes(t, n)) continue;
    if (inline_writes) {
      if (index.begin_copy(key, t)) write_copy(key, t, file, false);
    } else {
      queue_copy(key, t, file, false);
    }
  }
}

void Cache::Impl::report_save_error(const Key& key, const Status& error) const {
  if (options.on_save_error) options.on_save_error(key, error);
}

SaveTicket::SaveTicket() = default;
SaveTicket::~SaveTicket() = default;  // an unused reservation is cancelled by its destructor
SaveTicket::SaveTicket(SaveTicket&&) noexcept = default;
SaveTicket& SaveTicket::operator=(SaveTicket&&) noexcept = default;
SaveTicket::operator bool() const { return state_ != nullptr && static_cast<bool>(state_->reservation); }
const Key& SaveTicket::key() const { return state_->reservation.key(); }

Result<SaveTicket> Cache::reserve_save(const KeyNamespace& ns, std::span<const std::uint32_t> tokens) {
  return impl_->reserve(ns, tokens);
}

Result<Key> Cache::save(SaveTicket ticket, SaveRequest request, std::chrono::milliseconds deadline) {
  Impl& c = *impl_;
  if (!ticket) return Status(Code::kInvalidArgument, "save: empty ticket");
  const Key key = ticket.key();
  if (request.tokens.size() != ticket.state_->tokens || derive_key(request.ns, request.tokens) != key)
    return Status(Code::kInvalidArgument, "save: the request's tokens are not those of its ticket " + key.hex());
  const auto start = Clock::now();
  const auto until = deadline == std::chrono::milliseconds::max() ? Clock::time_point::max() : start + deadline;
  LoadedFile file = c.build_file(request);
  auto landed = c.land(ticket.state_->reservation, file, ticket.state_->tokens, until);
  if (!landed.ok()) {
    c.report_save_error(key, landed.status());
    return landed.status();  // the ticket's destructor cancels the reservation
  }
  c.write_through(key, *landed, file, /*inline_writes=*/false);
  c.counters.add(reason_counter(c.counters, request.reason));
  c.counters.add(c.counters.pack_total_ns, elapsed_ns(start));
  return key;
}

Result<Key> Cache::save_async(SaveTicket ticket, SaveRequest request) {
  Impl& c = *impl_;
  if (!ticket) return Status(Code::kInvalidArgument, "save: empty ticket");
  const Key key = ticket.key();
  if (request.tokens.size() != ticket.state_->tokens || derive_key(request.ns, request.tokens) != key)
    return Status(Code::kInvalidArgument, "save: the request's tokens are not those of its ticket " + key.hex());
  struct Job {
    SaveTicket ticket;
    SaveRequest request;
  };
  const std::uint64_t bytes = request.payload.size();
  auto job = std::make_shared<Job>(Job{std::move(ticket), std::move(request)});
  Impl* cp = &c;
  WriterPool::Job w;
  w.bytes = bytes;
  w.run = [cp, job, key] {
    const auto start = Clock::now();
    LoadedFile file = cp->build_file(job->request);
    auto landed = cp->land(job->ticket.state_->reservation, file, job->ticket.state_->tokens, Clock::time_point::max());
    job->ticket = SaveTicket();  // published or cancelled: waiters are answered now
    if (!landed.ok()) {
      cp->counters.add(cp->counters.saves_dropped);
      cp->report_save_error(key, landed.status());
      return;
    }
    cp->counters.add(reason_counter(cp->counters, job->request.reason));
    cp->counters.add(cp->counters.pack_total_ns, elapsed_ns(start));
    // Already on a writer thread: the slower copies are written here, in order.
    cp->write_through(key, *landed, file, /*inline_writes=*/true);
  };
  w.drop = [cp, job] {
    job->ticket = SaveTicket();  // cancels: waiters are answered with a miss
    cp->counters.add(cp->counters.saves_dropped);
  };
  if (!c.writers->submit(std::move(w))) {
    job->ticket = SaveTicket();
    c.counters.add(c.counters.saves_dropped);
    return Status(Code::kDropped, "save " + key.hex() + ": writer queue is full (" +
                                      std::to_string(c.writers->queued()) + " jobs, " +
                                      std::to_string(c.writers->queued_bytes()) + " bytes queued)");
  }
  return key;
}

Result<Key> Cache::save(SaveRequest request, std::chrono::milliseconds deadline) {
  auto ticket = reserve_save(request.ns, request.tokens);
  if (!ticket.ok()) return ticket.status();
  return save(std::move(ticket.value()), std::move(request), deadline);
}

Result<Key> Cache::save_async(SaveRequest request) {
  auto ticket = reserve_save(request.ns, request.tokens);
  if (!ticket.ok()) return ticket.status();
  return save_async(std::move(ticket.value()), std::move(request));
}

std::size_t Cache::flush(std::chrono::milliseconds deadline) {
  const auto until = deadline == std::chrono::milliseconds::max() ? Clock::time_point::max() : Clock::now() + deadline;
  return impl_->writers->drain(until);
}

}  // namespace kvc
