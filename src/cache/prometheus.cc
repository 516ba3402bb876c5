#include "cache/prometheus.h"

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

std::string metric_name(const std::string& counter) {
  const std::string suffix = "_total_ns";
  if (counter.size() > suffix.size() && counter.compare(counter.size() - suffix.size(), suffix.size(), suffix) == 0)
    return "kvc_" + counter.substr(0, counter.size() - suffix.size()) + "_ns_total";
  return "kvc_" + counter + "_total";
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
                              std::uint64_t leases, std::size_t writer_queue) {
  std::string out;
  for (const auto& [name, value] : counters.items()) {
    const std::string m = metric_name(name);
    out += "# HELP " + m + " " + std::string(counter_help(name)) + "\n";
    out += "# TYPE " + m + " counter\n";
    out += m + " " + std::to_string(value) + "\n";
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
  for (const auto& g : gauges) {
    gauge_header(out, g.name, g.help);
    for (std::size_t i = 0; i < tiers.size(); ++i) {
      out += std::string(g.name) + "{tier=\"" + prometheus_label_escape(tiers[i].name) + "\",index=\"" +
             std::to_string(i) + "\",dir=\"" + prometheus_label_escape(tiers[i].location) + "\"} " +
             std::to_string(g.get(tiers[i])) + "\n";
    }
  }
  gauge_header(out, "kvc_leases", "Leases currently held");
  out += "kvc_leases " + std::to_string(leases) + "\n";
  gauge_header(out, "kvc_writer_queue_depth", "Saves waiting for a writer thread");
  out += "kvc_writer_queue_depth " + std::to_string(writer_queue) + "\n";
  return out;
}

}  // namespace kvc
