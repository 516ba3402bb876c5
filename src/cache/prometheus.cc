#include "cache/prometheus.h"

#include <cstdio>

namespace kvc {

std::string prometheus_label_escape(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char ch : v) {
    if (ch == '\\') out += "\\\\";
    else if (ch == '"') out += "\\\"";
    else if (ch == '\n') out += "\\n";
    else out += ch;
  }
  return out;
}

namespace {

// Counters named `<x>_total_ns` or `<x>_ns` are durations: exported in seconds as
// `kvc_<x>_seconds_total` (Prometheus base units); the rest as `kvc_<name>_total`.
bool is_duration(const std::string& counter, std::string* base) {
  for (const std::string suffix : {"_total_ns", "_ns"}) {
    if (counter.size() > suffix.size() &&
        counter.compare(counter.size() - suffix.size(), suffix.size(), suffix) == 0) {
      *base = counter.substr(0, counter.size() - suffix.size());
      return true;
    }
  }
  return false;
}

std::string format_seconds(std::uint64_t ns) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9f", static_cast<double>(ns) / 1e9);
  return buf;
}

void gauge_header(std::string& out, const char* name, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " gauge\n";
}

}  // namespace

std::string render_prometheus(const CounterSnapshot& counters, const std::vector<TierStats>& tiers,
                              std::uint64_t leases, std::size_t writer_queue, std::uint64_t writer_queue_bytes) {
  std::string out;
  for (const auto& [name, value] : counters.items()) {
    std::string base;
    const bool seconds = is_duration(name, &base);
    const std::string m = seconds ? "kvc_" + base + "_seconds_total" : "kvc_" + name + "_total";
    out += "# HELP " + m + " " + std::string(counter_help(name)) + "\n";
    out += "# TYPE " + m + " counter\n";
    out += m + " " + (seconds ? format_seconds(value) : std::to_string(value)) + "\n";
  }
  struct TierGauge {
    const char* name;
    const char* help;
    std::uint64_t (*get)(const TierStats&);
  };
  const TierGauge gauges[] = {
      {"kvc_tier_used_bytes", "Bytes stored on the tier", [](const TierStats& t) { return t.used_bytes; }},
      {"kvc_tier_quota_bytes", "Byte quota of the tier", [](const TierStats& t) { return t.quota_bytes; }},
      {"kvc_tier_rows", "Available rows on the tier", [](const TierStats& t) { return std::uint64_t{t.rows}; }},
  };
  auto labels = [&tiers](std::size_t i) {
    return "{tier=\"" + prometheus_label_escape(tiers[i].name) + "\",index=\"" + std::to_string(i) + "\",dir=\"" +
           prometheus_label_escape(tiers[i].location) + "\"}";
  };
  for (const auto& g : gauges) {
    gauge_header(out, g.name, g.help);
    for (std::size_t i = 0; i < tiers.size(); ++i) out += std::string(g.name) + labels(i) + " " + std::to_string(g.get(tiers[i])) + "\n";
  }
  const auto names = TierCounterSnapshot{}.items();
  for (std::size_t k = 0; k < names.size(); ++k) {
    const std::string m = "kvc_tier_" + names[k].first + "_total";
    out += "# HELP " + m + " " + std::string(tier_counter_help(names[k].first)) + "\n";
    out += "# TYPE " + m + " counter\n";
    for (std::size_t i = 0; i < tiers.size(); ++i)
      out += m + labels(i) + " " + std::to_string(tiers[i].counters.items()[k].second) + "\n";
  }
  // The remote tier's own counters (Redis / Redis Cluster).
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    if (!tiers[i].remote) continue;
    const auto& r = *tiers[i].remote;
    const std::pair<const char*, std::uint64_t> items[] = {
        {"hits", r.hits}, {"misses", r.misses}, {"bytes_in", r.bytes_in}, {"bytes_out", r.bytes_out},
        {"puts", r.puts}, {"put_duplicates", r.put_duplicates}, {"removes", r.removes}, {"errors", r.errors},
        {"timeouts", r.timeouts}, {"fast_failures", r.fast_failures}, {"corrupt_rejected", r.corrupt_rejected},
        {"moved", r.moved}, {"ask", r.ask}, {"slot_map_refreshes", r.slot_map_refreshes},
        {"reconnects", r.reconnects}, {"publications_seen", r.publications_seen}, {"scanned_rows", r.scanned_rows}};
    for (const auto& [name, v] : items) {
      const std::string m = std::string("kvc_remote_") + name + "_total";
      out += "# TYPE " + m + " counter\n" + m + labels(i) + " " + std::to_string(v) + "\n";
    }
  }
  gauge_header(out, "kvc_leases", "Leases currently held");
  out += "kvc_leases " + std::to_string(leases) + "\n";
  gauge_header(out, "kvc_writer_queue_depth", "Saves waiting for a writer thread");
  out += "kvc_writer_queue_depth " + std::to_string(writer_queue) + "\n";
  gauge_header(out, "kvc_writer_queue_bytes", "Bytes held by jobs waiting for a writer thread");
  out += "kvc_writer_queue_bytes " + std::to_string(writer_queue_bytes) + "\n";
  return out;
}

}  // namespace kvc
