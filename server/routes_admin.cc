// The cache admin API: GET /v1/cache/stats, GET /v1/cache/rows (paged, by tier),
// POST /v1/cache/gc, /v1/cache/evict, /v1/cache/pin, /v1/cache/unpin.
#include <algorithm>
#include <charconv>

#include "server/app.h"

namespace kvc::server {
namespace {

std::uint64_t leases_held(const Cache& cache) {
  std::uint64_t n = 0;
  for (const auto& r : cache.rows()) n += r.leases;
  return n;
}

Json stats_json(App& app) {
  Cache& cache = app.engine.cache();
  Json tiers = Json::array();
  for (const auto& t : cache.tier_stats()) {
    Json counters = Json::object();
    for (const auto& [name, v] : t.counters.items()) counters[name] = v;
    tiers.push_back({{"name", t.name}, {"location", t.location}, {"used_bytes", t.used_bytes},
                     {"quota_bytes", t.quota_bytes}, {"rows", t.rows},
                     {"policy", t.policy == TierPolicy::kOnEvict ? "on-evict" : "write-through"},
                     {"min_tokens", t.min_tokens}, {"counters", counters}});
    if (t.remote) {
      const auto& r = *t.remote;
      tiers.back()["remote"] = {{"hits", r.hits}, {"misses", r.misses}, {"bytes_in", r.bytes_in},
                                {"bytes_out", r.bytes_out}, {"puts", r.puts}, {"put_duplicates", r.put_duplicates},
                                {"removes", r.removes}, {"errors", r.errors}, {"timeouts", r.timeouts},
                                {"fast_failures", r.fast_failures}, {"corrupt_rejected", r.corrupt_rejected},
                                {"moved", r.moved}, {"ask", r.ask}, {"slot_map_refreshes", r.slot_map_refreshes},
                                {"reconnects", r.reconnects}, {"publications_seen", r.publications_seen},
                                {"scanned_rows", r.scanned_rows}};
    }
  }
  Json counters = Json::object();
  for (const auto& [name, v] : cache.counters().items()) counters[name] = v;
  const PressureStatus p = cache.pressure_status();
  return {{"model", app.model_name},
          {"tiers", tiers},
          {"counters", counters},
          {"leases", leases_held(cache)},
          {"pressure", {{"enabled", p.enabled}, {"source", p.source}, {"last_ratio", p.last_ratio}}},
          {"requests", {{"running", app.queue.running()}, {"waiting", app.queue.waiting()},
                        {"parallel", app.queue.slots()}, {"queue_size", app.queue.queue_size()}}}};
}

std::optional<std::size_t> tier_index(const App& app, const std::string& name) {
  for (std::size_t i = 0; i < app.tier_names.size(); ++i) {
    if (app.tier_names[i] == name) return i;
  }
  return std::nullopt;
}

std::string tier_list(const App& app) {
  std::string s;
  for (const auto& n : app.tier_names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// A query parameter as an integer in [lo, hi]; `def` when absent.
std::variant<std::int64_t, ApiError> query_int(const HttpRequest& req, const char* name, std::int64_t def,
                                               std::int64_t lo, std::int64_t hi) {
  const std::optional<std::string> given = req.param(name);
  if (!given) return def;
  const std::string& v = *given;
  std::int64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || x < lo || x > hi) {
    return bad_request("query parameter '" + std::string(name) + "' must be an integer in " + std::to_string(lo) +
                           ".." + std::to_string(hi) + ", got '" + v + "'",
                       name);
  }
  return x;
}

void rows_route(App& app, const HttpRequest& req, const std::shared_ptr<Exchange>& res) {
  auto offset = query_int(req, "offset", 0, 0, INT64_MAX);
  if (auto* e = std::get_if<ApiError>(&offset)) return send_error(res, *e);
  auto limit = query_int(req, "limit", 100, 1, 1000);
  if (auto* e = std::get_if<ApiError>(&limit)) return send_error(res, *e);
  std::optional<std::size_t> tier;
  if (const std::optional<std::string> name = req.param("tier")) {
    tier = tier_index(app, *name);
    if (!tier) {
      return send_error(res, bad_request("unknown tier '" + *name + "' (configured: " + tier_list(app) + ")", "tier"));
    }
  }
  auto rows = app.engine.cache().rows(tier);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.info.key < b.info.key; });
  const auto off = static_cast<std::size_t>(std::get<std::int64_t>(offset));
  const auto lim = static_cast<std::size_t>(std::get<std::int64_t>(limit));
  Json out = Json::array();
  // Every tier of a mask, fastest first, by name.
  auto names_of = [&app](TierMask m) {
    Json a = Json::array();
    for (std::size_t t = 0; t < app.tier_names.size(); ++t)
      if (m & tier_bit(t)) a.push_back(app.tier_names[t]);
    return a;
  };
  for (std::size_t i = off; i < rows.size() && i < off + lim; ++i) {
    const auto& r = rows[i];
    // "tier": the tier asked for, else the fastest holding a copy (where a hit is served from).
    const auto fastest = fastest_tier(r.tiers);
    const std::string where = tier ? app.tier_names[*tier]
                                   : (fastest && *fastest < app.tier_names.size() ? app.tier_names[*fastest] : "");
    const char* status = r.status == RowStatus::kAvailable ? "available"
                         : r.status == RowStatus::kWriting ? "writing"
                                                           : "deleting";
    out.push_back({{"key", r.info.key.hex()},
                   {"tier", where},
                   {"tiers", names_of(r.tiers)},
                   {"pending", names_of(r.pending)},
                   {"bytes", r.info.size},
                   {"tokens", r.info.tokens ? r.info.tokens->size() : 0},
                   {"status", status},
                   {"save_reason", save_reason_name(r.info.header.save_reason)},
                   {"created", r.info.header.creation_time},
                   {"hits", r.hits},
                   {"leases", r.leases},
                   {"pinned", r.pinned}});
  }
  send_json(res, 200, {{"total", rows.size()}, {"offset", off}, {"limit", lim}, {"rows", out}});
}

void evict_route(App& app, const HttpRequest& req, const std::shared_ptr<Exchange>& res) {
  auto parsed = parse_object(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
  const Json& body = std::get<Json>(parsed);
  if (!body.contains("bytes")) return send_error(res, bad_request("'bytes' is required", "bytes", "missing_field"));
  std::uint64_t bytes = 0;
  const Json& b = body.at("bytes");
  if (b.is_number_unsigned() || (b.is_number_integer() && b.get<std::int64_t>() >= 0)) {
    bytes = b.get<std::uint64_t>();
  } else if (b.is_string()) {
    auto s = parse_size(b.get<std::string>());
    if (!s.ok()) return send_error(res, bad_request("'bytes': " + s.status().message(), "bytes"));
    bytes = s.value();
  } else {
    return send_error(res, bad_request("'bytes' must be a non-negative integer or a size like \"512M\"", "bytes",
                                       "invalid_type"));
  }
  std::vector<TierKind> kinds;
  if (body.contains("tiers") && !body.at("tiers").is_null()) {
    const Json& ts = body.at("tiers");
    if (!ts.is_array()) return send_error(res, bad_request("'tiers' must be an array of tier names", "tiers", "invalid_type"));
    for (const Json& t : ts) {
      if (!t.is_string()) return send_error(res, bad_request("'tiers' must be an array of tier names", "tiers", "invalid_type"));
      auto i = tier_index(app, t.get<std::string>());
      if (!i) {
        return send_error(res, bad_request("'tiers': unknown tier '" + t.get<std::string>() + "' (configured: " +
                                               tier_list(app) + ")", "tiers"));
      }
      kinds.push_back(app.engine.cache().options().tiers[*i].kind);
    }
  }
  const std::uint64_t freed = app.engine.cache().evict_bytes(bytes, kinds);
  send_json(res, 200, {{"requested_bytes", bytes}, {"freed_bytes", freed}});
}

void pin_route(App& app, bool pin, const HttpRequest& req, const std::shared_ptr<Exchange>& res) {
  auto parsed = parse_object(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
  const Json& body = std::get<Json>(parsed);
  if (!body.contains("key")) return send_error(res, bad_request("'key' is required", "key", "missing_field"));
  if (!body.at("key").is_string()) {
    return send_error(res, bad_request("'key' must be a string of 64 hex digits", "key", "invalid_type"));
  }
  auto key = Key::from_hex(body.at("key").get<std::string>());
  if (!key.ok()) return send_error(res, bad_request("'key': " + key.status().message(), "key"));
  Cache& cache = app.engine.cache();
  const Status st = pin ? cache.pin(key.value()) : cache.unpin(key.value());
  if (st.code() == Code::kNotFound) {
    return send_error(res, {404, "no row with key " + key->hex() + ": " + st.message(), "invalid_request_error", "key",
                            "row_not_found"});
  }
  if (!st.ok()) return send_error(res, {409, st.to_string(), "invalid_request_error", "key", "conflict"});
  send_json(res, 200, {{"key", key->hex()}, {"pinned", pin}});
}

}  // namespace

void add_admin_routes(Router& router, App& app) {
  // Every admin route takes the cache's locks or touches files: workers.
  const RouteOptions worker{.access = Access::kKey, .run_on = RunOn::kWorker};
  router.add("GET", {"/v1/cache/stats"}, [&app](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    send_json(ex, 200, stats_json(app));
  }, worker);
  router.add("GET", {"/v1/cache/rows"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    rows_route(app, req, ex);
  }, worker);
  router.add("POST", {"/v1/cache/gc"}, [&app](HttpRequest&, const std::shared_ptr<Exchange>& ex) {
    send_json(ex, 200, {{"freed_bytes", app.engine.cache().gc()}});
  }, worker);
  router.add("POST", {"/v1/cache/evict"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    evict_route(app, req, ex);
  }, worker);
  router.add("POST", {"/v1/cache/pin"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    pin_route(app, true, req, ex);
  }, worker);
  router.add("POST", {"/v1/cache/unpin"}, [&app](HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    pin_route(app, false, req, ex);
  }, worker);
}

}  // namespace kvc::server
