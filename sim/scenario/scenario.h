// The scenario model: what a scenario file (scenarios/*.yaml) describes. Shared by the simulator
// (both engines), the cluster model (which applies timeline events) and fakeapi (--scenario).
// Plain values; LoadScenario is thread-safe. Field names, units and defaults are documented in
// scenarios/README.md; every time is in seconds from the scenario's start.
#ifndef K8SLB_SIM_SCENARIO_SCENARIO_H_
#define K8SLB_SIM_SCENARIO_SCENARIO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb::scenario {

struct ServiceSpec {
  std::string name = "echo";
  std::string namespace_name = "default";
  int port = 50051;
  std::string port_name = "grpc";
  std::string traffic_distribution;  // "" or "PreferClose"
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

struct ClientSpec {
  int count = 1;
  std::optional<std::string> zone;  // the client's zone (zone-aware picking)
  double rate_rps = 100;            // per client; 0 = closed loop at `concurrency`
  int concurrency = 4;
  double duration_s = 30;           // traffic runs from t=0 to duration_s
};

enum class EventKind {
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

std::string_view EventKindName(EventKind kind);  // the YAML spelling: "scale", "notReady", ...

struct Event {
  double t_s = 0;
  EventKind kind = EventKind::kScale;
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

// Checks a report against: each field is optional; `strategy` is a name or "*" for all.
struct Expectation {
  std::string strategy = "*";
  std::optional<uint64_t> max_failed;        // rpcs.failed <= this
  std::optional<double> max_failed_ratio;    // rpcs.failed / (ok + failed) <= this
  std::optional<double> max_imbalance;       // max/mean of per-pod counts among pods alive all along
  std::optional<double> max_reaction_s;      // new-pod first-RPC reaction time
  std::optional<double> max_removal_reaction_s;  // removed-pod last-RPC reaction time
  std::optional<int> min_pods_used;          // distinct pods that served at least one RPC
  std::optional<int> max_pods_used;
  std::optional<double> max_p99_ms;
  int line = 0;
};

struct Scenario {
  std::string name;         // from the file name unless given
  std::string description;
  std::string source_file;  // path it was loaded from
  uint64_t seed = 1;
  ServiceSpec service;
  ClusterSpec cluster;
  PodSpec pods;
  ClientSpec clients;
  std::vector<std::string> strategies = {"clusterip", "headless-dns", "round-robin", "least-request"};
  std::vector<Event> timeline;  // sorted by t_s (stable)
  std::vector<Expectation> expect;
  // Live-only scenarios (e.g. token rotation) set this; the virtual engine refuses them clearly.
  bool live_only = false;
  double token_rotation_s = 0;  // fakeapi rotates the service-account token every this often
};

// Parses and validates. Errors read "FILE:LINE: FIELD: problem" (one message, nothing runs).
absl::StatusOr<Scenario> ParseScenario(std::string_view yaml_text, std::string_view file_name);
absl::StatusOr<Scenario> LoadScenario(const std::string& path);

}  // namespace k8slb::scenario

#endif  // K8SLB_SIM_SCENARIO_SCENARIO_H_
