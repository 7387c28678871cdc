// Prometheus text exposition format 0.0.4: "# HELP", "# TYPE", then samples
// `name{label="value",...} number`, label values escaped (backslash, double quote, newline).
#include "k8slb/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace k8slb {
namespace {

std::string Escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string LabelText(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ",";
    out += labels[i].first + "=\"" + Escape(labels[i].second) + "\"";
  }
  return out + "}";
}

// One metric family: HELP and TYPE once, then the samples of every channel.
class Family {
 public:
  Family(std::string name, std::string type, std::string help)
      : name_("k8slb_" + std::move(name)), type_(std::move(type)), help_(std::move(help)) {}
  void Add(const Labels& labels, double value) { samples_ += name_ + LabelText(labels) + " " + Number(value) + "\n"; }
  void AppendTo(std::string& out) const {
    if (samples_.empty()) return;
    out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " " + type_ + "\n" + samples_;
  }

 private:
  std::string name_, type_, help_, samples_;
};

}  // namespace

std::string_view ConnectivityName(Connectivity state) {
  switch (state) {
    case Connectivity::kIdle:
      return "IDLE";
    case Connectivity::kConnecting:
      return "CONNECTING";
    case Connectivity::kReady:
      return "READY";
    case Connectivity::kTransientFailure:
      return "TRANSIENT_FAILURE";
    case Connectivity::kShutdown:
      return "SHUTDOWN";
  }
  return "IDLE";
}

std::string RenderPrometheus(const std::vector<ChannelMetrics>& channels) {
  Family picks("endpoint_picks_total", "counter", "RPCs the balancer sent to the endpoint.");
  Family in_flight("endpoint_in_flight", "gauge", "RPCs started on the endpoint and not finished.");
  Family successes("endpoint_successes_total", "counter", "RPCs to the endpoint that finished OK.");
  Family failures("endpoint_failures_total", "counter", "RPCs to the endpoint that finished with an error.");
  Family ejections("endpoint_ejections_total", "counter", "Outlier ejections of the endpoint.");
  Family ejected("endpoint_ejected", "gauge", "1 while the endpoint is ejected.");
  Family failing("endpoint_connection_failing", "gauge", "1 while the endpoint's connection is in TRANSIENT_FAILURE.");
  Family connectivity("endpoint_connectivity", "gauge", "gRPC connectivity state of the endpoint's channel (1 = current).");
  Family ewma("endpoint_latency_ewma_seconds", "gauge", "Latency EWMA of successful RPCs under the latency policies (peak-ewma: latency; latency-ewma: latency per call in flight at the start).");
  Family orca_reports("endpoint_load_reports_total", "counter", "Well-formed ORCA load reports received from the endpoint.");
  Family orca_malformed("endpoint_load_reports_malformed_total", "counter",
                        "ORCA load reports from the endpoint that did not decode (ignored).");
  Family orca_weight("endpoint_load_report_weight", "gauge",
                     "The endpoint's weight from its ORCA reports (gRFC A58: qps / (utilization + eps/qps)).");
  Family endpoints("channel_endpoints", "gauge", "Usable endpoints in the current set.");
  Family known("channel_known_endpoints", "gauge", "Endpoints in the service's slices, usable or not.");
  Family draining("channel_draining_endpoints", "gauge", "Endpoints that left the set and still have RPCs in flight.");
  Family pending("channel_pending_endpoints", "gauge", "Endpoints of the latest set whose channel is not created yet.");
  Family no_endpoint("channel_no_endpoint_failures_total", "counter", "Picks that failed because no endpoint was usable.");
  Family version("channel_endpoint_set_version", "gauge", "Version of the endpoint set in use.");
  Family spilled("channel_topology_spilled", "gauge",
                 "1 while picks spill out of the overloaded same-zone or same-node endpoints.");
  Family synced("discovery_synced", "gauge", "1 once discovery completed its first list.");
  Family healthy("discovery_healthy", "gauge", "1 when discovery's last operation succeeded.");
  Family resource_version("discovery_resource_version_info", "gauge",
                          "1, labelled with the resourceVersion discovery last listed or watched.");
  Family last_sync("discovery_last_sync_timestamp_seconds", "gauge", "Unix time of the last successful list or event.");
  Family staleness("discovery_staleness_seconds", "gauge", "Seconds since the last successful list or event.");
  Family events("discovery_events_total", "counter", "Watch events applied.");
  Family relists("discovery_relists_total", "counter", "Full relists.");
  Family reconnects("discovery_reconnects_total", "counter", "Watch reconnects.");
  Family errors("discovery_errors_total", "counter", "Discovery errors.");

  for (const ChannelMetrics& c : channels) {
    Labels ch = {{"channel", c.name}};
    for (const EndpointMetrics& e : c.endpoints) {
      Labels l = {{"channel", c.name}, {"address", e.address}, {"pod", e.pod_name}, {"zone", e.zone}};
      picks.Add(l, static_cast<double>(e.picks));
      in_flight.Add(l, static_cast<double>(e.in_flight));
      successes.Add(l, static_cast<double>(e.successes));
      failures.Add(l, static_cast<double>(e.failures));
      ejections.Add(l, static_cast<double>(e.ejections));
      ejected.Add(l, e.ejected ? 1 : 0);
      failing.Add(l, e.connection_failing ? 1 : 0);
      Labels s = l;
      s.emplace_back("state", std::string(ConnectivityName(e.connectivity)));
      connectivity.Add(s, 1);
      if (e.latency_ewma_ms > 0) ewma.Add(l, e.latency_ewma_ms / 1000.0);
      // Only for endpoints that send reports: the families stay out of a scrape without ORCA.
      if (e.orca_reports > 0 || e.orca_malformed > 0) {
        orca_reports.Add(l, static_cast<double>(e.orca_reports));
        orca_malformed.Add(l, static_cast<double>(e.orca_malformed));
        if (e.orca_weight > 0) orca_weight.Add(l, e.orca_weight);
      }
    }
    endpoints.Add(ch, static_cast<double>(c.endpoints.size()));
    known.Add(ch, static_cast<double>(c.known_endpoints));
    draining.Add(ch, static_cast<double>(c.draining_endpoints));
    pending.Add(ch, static_cast<double>(c.pending_endpoints));
    no_endpoint.Add(ch, static_cast<double>(c.no_endpoint_failures));
    version.Add(ch, static_cast<double>(c.endpoint_set_version));
    if (c.client_zone.has_value()) spilled.Add(ch, c.topology_spilled ? 1 : 0);
    if (c.discovery.has_value()) {
      const DiscoveryStats& d = *c.discovery;
      synced.Add(ch, d.synced ? 1 : 0);
      healthy.Add(ch, d.last_error.empty() ? 1 : 0);
      if (!d.resource_version.empty()) resource_version.Add({{"channel", c.name}, {"resource_version", d.resource_version}}, 1);
      if (d.last_sync_unix_ms > 0) {
        last_sync.Add(ch, static_cast<double>(d.last_sync_unix_ms) / 1000.0);
        staleness.Add(ch, static_cast<double>(std::max<int64_t>(0, c.collected_unix_ms - d.last_sync_unix_ms)) / 1000.0);
      }
      events.Add(ch, static_cast<double>(d.events_applied));
      relists.Add(ch, static_cast<double>(d.relists));
      reconnects.Add(ch, static_cast<double>(d.reconnects));
      errors.Add(ch, static_cast<double>(d.errors));
    }
  }
  std::string out;
  for (const Family* f : {&picks, &in_flight, &successes, &failures, &ejections, &ejected, &failing, &connectivity, &ewma,
                          &orca_reports, &orca_malformed, &orca_weight,
                          &endpoints, &known, &draining, &pending, &no_endpoint, &version, &spilled, &synced, &healthy, &resource_version, &last_sync,
                          &staleness, &events, &relists, &reconnects, &errors}) {
    f->AppendTo(out);
  }
  return out;
}

std::string RenderPrometheus(const ChannelMetrics& channel) {
  return RenderPrometheus(std::vector<ChannelMetrics>{channel});
}

}  // namespace k8slb
