// The save path of kvc::Cache (cache.md §2, §4): build the prefix, reserve the key,
// make room under the tier's quota, let the tier write and link, announce.
#include <chrono>

#include "cache/cache_impl.h"
#include "kvc/version.h"

namespace kvc {
namespace {

std::atomic<std::uint64_t>& reason_counter(Counters& c, SaveReason r) {
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

std::uint64_t elapsed_ns(std::chrono::steady_clock::time_point since) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - since).count());
}

Status validate_request(const SaveRequest& r, std::size_t tier_count) {
  if (r.tier && *r.tier >= tier_count)
    return {Code::kInvalidArgument, "save: tier " + std::to_string(*r.tier) + " is not configured"};
  if (r.tokens.size() > UINT32_MAX) return {Code::kInvalidArgument, "save: too many tokens for a KVC file"};
  if (!quant_byte_valid(r.ns.quant))
    return {Code::kInvalidArgument, "save: quant byte " + std::to_string(r.ns.quant) + " is not in format.md §1.1"};
  return Status::Ok();
}

}  // namespace

Result<index::Reservation> Cache::Impl::reserve_for(const SaveRequest& request, const Key& key) {
  const auto tier_id = static_cast<index::TierId>(request.tier.value_or(options.save_tier));
  auto reservation = index.reserve(key, tier_id);
  if (!reservation.ok()) {
    const Code code = reservation.status().code();
    if (code == Code::kAlreadyPresent || code == Code::kConflict) counters.add(counters.duplicate_dropped);
  }
  return reservation;
}

Result<Key> Cache::Impl::save_reserved(SaveRequest& request, const Key& key, index::Reservation& reservation,
                                       std::chrono::steady_clock::time_point deadline) {
  const auto start = std::chrono::steady_clock::now();
  const auto tier_id = reservation.tier();
  tiers::Tier& t = tier(tier_id);

  // Build the prefix (one CRC pass over the payload, which is never copied).
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
  auto prefix = std::make_shared<const std::vector<std::byte>>(format::build_prefix(in, request.payload));
  const std::uint64_t size = prefix->size() + request.payload.size();

  if (std::chrono::steady_clock::now() > deadline)
    return Status(Code::kTimeout, "save " + key.hex() + ": deadline passed before writing");

  // Quota: evict this tier's least valuable idle rows, or fail writing nothing.
  if (!make_room(t, size))
    return Status(Code::kQuotaExceeded, "save " + key.hex() + ": " + std::to_string(size) + " bytes do not fit in tier " +
                                            std::string(t.name()) + " (quota " + std::to_string(t.quota()) +
                                            ", used " + std::to_string(t.used()) + ")");

  // 2–5: the tier writes, checks the reservation, links and syncs.
  auto payload = std::make_shared<const std::vector<std::byte>>(std::move(request.payload));
  auto location = t.write(index, reservation, prefix, payload);
  if (!location.ok()) {
    t.credit(size);
    return location.status();  // the Reservation's destructor cancels it
  }

  // 6. announce
  auto meta = format::parse_meta(*prefix, size);
  index::RowInfo info;
  info.key = key;
  info.ns = request.ns;
  info.tier = tier_id;
  info.size = size;
  info.header = meta.ok() ? meta.value->header : format::KvcHeader{};
  info.location = *location;
  info.tokens = std::make_shared<const std::vector<std::uint32_t>>(std::move(request.tokens));
  if (Status s = index.publish(reservation, info); !s.ok()) {
    // The reservation expired while we wrote: the sweeper adopted the file (fine)
    // or discarded it (then our bytes are gone too).
    auto snap = index.get(key);
    if (snap && snap->status == index::RowStatus::kAvailable && snap->info.location == info.location) {
      // adopted: our charge stays with the row
    } else {
      t.credit(size);
      return s;
    }
  }
  counters.add(reason_counter(counters, request.reason));
  counters.add(counters.pack_total_ns, elapsed_ns(start));
  return key;
}

Result<index::Reservation> Cache::Impl::admit_save(const SaveRequest& request, const Key& key) {
  if (Status s = validate_request(request, tiers.size()); !s.ok()) return s;
  if (!options.policy.saves_enabled) {
    counters.add(counters.saves_dropped);
    return Status(Code::kDropped, "save: saves are disabled by the save policy");
  }
  return reserve_for(request, key);
}

void Cache::Impl::report_save_error(const Key& key, const Status& error) const {
  if (options.on_save_error) options.on_save_error(key, error);
}

Result<Key> Cache::save(SaveRequest request, std::chrono::milliseconds deadline) {
  const Key key = derive_key(request.ns, request.tokens);
  auto reservation = impl_->admit_save(request, key);
  if (!reservation.ok()) return reservation.status();
  auto r = impl_->save_reserved(request, key, reservation.value(), std::chrono::steady_clock::now() + deadline);
  if (!r.ok()) impl_->report_save_error(key, r.status());
  return r;
}

Result<Key> Cache::save_async(SaveRequest request) {
  Impl& c = *impl_;
  // Reserve on the caller's thread: from the moment the key is returned it is
  // "writing", so a parent_key resume waits for it instead of missing.
  const Key key = derive_key(request.ns, request.tokens);
  auto reservation = c.admit_save(request, key);
  if (!reservation.ok()) return reservation.status();
  struct Job {
    SaveRequest request;
    index::Reservation reservation;
  };
  auto job = std::make_shared<Job>(Job{std::move(request), std::move(reservation.value())});
  Impl* cp = &c;
  const bool queued = c.writers->submit([cp, job, key] {
    auto r = cp->save_reserved(job->request, key, job->reservation, std::chrono::steady_clock::time_point::max());
    if (!r.ok()) {
      cp->counters.add(cp->counters.saves_dropped);
      cp->report_save_error(key, r.status());
    }
  });
  if (!queued) {
    job->reservation = index::Reservation();  // cancels: waiters are answered with a miss
    c.counters.add(c.counters.saves_dropped);
    return Status(Code::kDropped, "save " + key.hex() + ": writer queue is full (" +
                                      std::to_string(c.options.writers.queue_capacity) + " saves queued)");
  }
  return key;
}

void Cache::flush() { impl_->writers->drain(); }

}  // namespace kvc
