// Metrics of a BalancedChannel: a plain snapshot struct (BalancedChannel::Metrics()) and a
// renderer for the Prometheus text exposition format (version 0.0.4), so a service can serve
// /metrics without a new dependency. Plain values and pure functions; thread-safe.
//
// Families (all prefixed "k8slb_", labels channel/address/pod/zone on per-endpoint ones):
//   endpoint_picks_total, endpoint_in_flight, endpoint_successes_total, endpoint_failures_total,
//   endpoint_ejections_total, endpoint_ejected, endpoint_connection_failing, endpoint_connectivity
//   (state label, value 1), endpoint_latency_ewma_seconds (latency policies only), channel_endpoints,
//   channel_known_endpoints, channel_draining_endpoints, channel_pending_endpoints,
//   channel_no_endpoint_failures_total, channel_endpoint_set_version, channel_topology_spilled
//   (zone-aware channels only), discovery_synced,
//   discovery_healthy, discovery_resource_version_info (resource_version label, value 1),
//   discovery_last_sync_timestamp_seconds, discovery_staleness_seconds,
//   discovery_events_total, discovery_relists_total, discovery_reconnects_total,
//   discovery_errors_total. Freshness follows kuberesolver's last-update gauge
//   (https://github.com/sercand/kuberesolver/pull/52).
#ifndef K8SLB_METRICS_H_
#define K8SLB_METRICS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "k8slb/discovery.h"

namespace k8slb {

// gRPC connectivity state of an endpoint's channel.
enum class Connectivity { kIdle, kConnecting, kReady, kTransientFailure, kShutdown };
std::string_view ConnectivityName(Connectivity state);  // "IDLE", "CONNECTING", "READY", ...

struct EndpointMetrics {
  std::string address;  // host:port
  std::string pod_name;
  std::string zone;
  uint64_t picks = 0;
  int64_t in_flight = 0;
  uint64_t successes = 0;
  uint64_t failures = 0;
  uint64_t ejections = 0;
  uint32_t consecutive_failures = 0;
  bool ejected = false;
  double ejected_remaining_s = 0;
  Connectivity connectivity = Connectivity::kIdle;
  bool connection_failing = false;
  double latency_ewma_ms = 0;  // the latency policies' EWMA (load_signal.h); 0 under the others
  uint64_t orca_reports = 0;    // well-formed ORCA load reports received (orca.h)
  uint64_t orca_malformed = 0;  // reports that did not decode, ignored
  double orca_weight = 0;       // the reports' gRFC A58 weight now; 0: none (new, stale or none)
};

struct ChannelMetrics {
  std::string name;    // the channel's source, e.g. "default/echo:grpc"
  std::string policy;  // "least-request" | "round-robin"
  std::optional<std::string> client_zone;
  // Picks have left the preferred (same-node or same-zone) endpoints: they are overloaded
  // (PickerOptions::topology_spill).
  bool topology_spilled = false;
  uint64_t endpoint_set_version = 0;
  size_t known_endpoints = 0;     // in the slices, usable or not
  std::vector<EndpointMetrics> endpoints;  // the current usable set, sorted by address
  size_t draining_endpoints = 0;  // left the set, channel kept until their in-flight RPCs end
  size_t pending_endpoints = 0;   // in the latest snapshot, channel not created yet (not pickable)
  uint64_t no_endpoint_failures = 0;  // picks that failed: no endpoint within the deadline
  std::optional<DiscoveryStats> discovery;
  int64_t collected_unix_ms = 0;  // wall clock when the snapshot was taken
};

// Renders one or more channels; each family's HELP/TYPE lines appear once.
std::string RenderPrometheus(const std::vector<ChannelMetrics>& channels);
std::string RenderPrometheus(const ChannelMetrics& channel);

}  // namespace k8slb

#endif  // K8SLB_METRICS_H_
