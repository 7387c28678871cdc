// The cluster half of a scenario: the Service, the cluster, the pods and the timeline of what
// happens to them and to the API server. The cluster model plays it (Cluster::FromScenario,
// Cluster::ApplyScenarioEvent), k8slb-fakeapi replays it in real time, and the simulator's
// scenario (sim/scenario) wraps it with clients, strategies and checks. Plain values, no I/O; the
// file format, units and defaults are in scenarios/README.md (every time is in seconds from the
// scenario's start). fakeapi/scenario reads these sections from YAML.
#ifndef K8SLB_FAKEAPI_MODEL_CLUSTER_SCENARIO_H_
#define K8SLB_FAKEAPI_MODEL_CLUSTER_SCENARIO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace k8slb::fake {

struct ServiceSpec {
  std::string name = "echo";  // also the Deployment's name: pods are `<name>-N`
  std::string namespace_name = "default";
  int port = 50051;
  std::string port_name = "grpc";
  std::string traffic_distribution;  // "", PreferClose, PreferSameZone or PreferSameNode
};

struct ClusterSpec {
  std::vector<std::string> zones = {"zone-a"};
  int nodes_per_zone = 1;
  int max_endpoints_per_slice = 100;
  double slice_batching_s = 0;  // EndpointSlice controller batching period
  std::string pod_cidr = "127.0.1.0/24";  // pod addresses are taken from here (live: loopback)
  // How long the model takes to notice a crashed pod (readiness probe period × failure threshold).
  double crash_detect_s = 3;
};

struct LatencyModel {
  double mean_ms = 1.0;   // mean service time
  double jitter_ms = 0.0; // exponential jitter with this mean added to mean_ms
};

struct PodSpec {
  int replicas = 5;
  double startup_s = 1.0;             // from pod creation to ready
  LatencyModel latency;
  double error_rate = 0.0;            // fraction of RPCs answered with UNAVAILABLE by the app
  double termination_grace_s = 30.0;  // terminationGracePeriodSeconds
  double drain_s = 1.0;               // preStop delay: keeps serving while terminating
};

enum class TimelineEventKind {
  kScale,       // replicas
  kEvict,       // pod, or count random pods
  kRollout,     // max_surge, max_unavailable (new pod template)
  kNotReady,    // pod, for_s
  kSlow,        // pod, factor (for_s optional: 0 = until the end)
  kCrash,       // pod: process dies, no slice change until the model notices
  kZoneDown,    // zone: its pods crash and its nodes go away
  kDisconnect,  // API: close all watch streams
  kExpire,      // API: expire history (next watch from an old version gets 410)
  kErrors,      // API: answer `status` (429 with Retry-After, 500, ...) for duration_s
  kStall,       // API: streams send nothing for duration_s
};

// Every kind, in declaration order.
inline constexpr TimelineEventKind kAllTimelineEventKinds[] = {
    TimelineEventKind::kScale,      TimelineEventKind::kEvict,  TimelineEventKind::kRollout,
    TimelineEventKind::kNotReady,   TimelineEventKind::kSlow,   TimelineEventKind::kCrash,
    TimelineEventKind::kZoneDown,   TimelineEventKind::kDisconnect, TimelineEventKind::kExpire,
    TimelineEventKind::kErrors,     TimelineEventKind::kStall};

std::string_view EventKindName(TimelineEventKind kind);  // the YAML spelling: "scale", "notReady", ...
std::optional<TimelineEventKind> EventKindFromName(std::string_view name);
// True for the kinds that act on the API server rather than the cluster (disconnect, expire,
// errors, stall): the API front applies them, the model does not.
bool IsApiFault(TimelineEventKind kind);

struct TimelineEvent {
  double t_s = 0;
  TimelineEventKind kind = TimelineEventKind::kScale;
  int replicas = 0;                 // scale
  std::string pod;                  // evict, notReady, slow, crash: a pod name ("echo-3")
  int count = 0;                    // evict: N random pods when pod is empty
  int max_surge = 1;                // rollout
  int max_unavailable = 0;          // rollout
  double for_s = 0;                 // notReady, slow
  double factor = 1;                // slow: latency multiplier
  std::string zone;                 // zoneDown
  int status = 500;                 // errors
  double duration_s = 0;            // errors, stall
  int line = 0;                     // line in the file, for messages
  // Human-readable summary for reports: "scale to 8", "evict echo-3", ...
  std::string Describe() const;
};

struct ClusterScenario {
  std::string source_file;  // path it was loaded from ("" when built in code)
  uint64_t seed = 1;
  ServiceSpec service;
  ClusterSpec cluster;
  PodSpec pods;
  std::vector<TimelineEvent> timeline;  // sorted by t_s (stable)
  double token_rotation_s = 0;  // the API server rotates the service-account token every this often
};

}  // namespace k8slb::fake

#endif  // K8SLB_FAKEAPI_MODEL_CLUSTER_SCENARIO_H_
