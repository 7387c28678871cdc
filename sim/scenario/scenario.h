// The simulator's scenario: what a scenario file (scenarios/*.yaml) describes. It wraps the
// cluster half (fake::ClusterScenario: service, cluster, pods, timeline), which the cluster model
// plays and k8slb-fakeapi replays, with the clients, the strategies to compare and the checks.
// Plain values; ParseScenario and LoadScenario are thread-safe. Field names, units and defaults
// are documented in scenarios/README.md; every time is in seconds from the scenario's start.
#ifndef K8SLB_SIM_SCENARIO_SCENARIO_H_
#define K8SLB_SIM_SCENARIO_SCENARIO_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "fakeapi/model/cluster_scenario.h"
#include "k8slb/slow_start.h"
#include "k8slb/topology.h"
#include "report/schema.h"

namespace k8slb::scenario {

// The cluster half (service, cluster, pods, timeline) is the cluster model's; these names keep
// the simulator's spelling of it.
using fake::ClusterSpec;
using fake::EventKindName;
using fake::LatencyModel;
using fake::PodSpec;
using fake::ServiceSpec;
using EventKind = fake::TimelineEventKind;
using Event = fake::TimelineEvent;

// Explicit overrides of the k8slb clients' discovery settings (k8slb::DiscoveryOptions); an
// absent field keeps the library's default, so a run measures what users get.
struct DiscoveryOverrides {
  std::optional<double> backoff_initial_s;  // DiscoveryOptions::backoff_initial
  std::optional<double> backoff_max_s;      // DiscoveryOptions::backoff_max
};

struct ClientSpec {
  int count = 1;
  std::optional<std::string> zone;  // the client's zone (topology-aware picking)
  std::optional<std::string> node;  // the client's node (node hints), e.g. "zone-a-node-1"
  double rate_rps = 100;            // per client; 0 = closed loop at `concurrency`
  int concurrency = 4;
  double duration_s = 30;           // traffic runs from t=0 to duration_s
  DiscoveryOverrides discovery;
  // Slow start per k8slb strategy (clients.slowStart: strategy name → options); a strategy
  // without an entry runs without it, as the library's default.
  std::map<std::string, SlowStartOptions> slow_start;
  // Zone spill for every k8slb strategy (clients.topologySpill); absent: the library's default
  // (on, HAZL's band 0.8 to 2.0).
  TopologySpillOptions topology_spill;
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
  // Slow start: every pod that became usable after t=0 got at most this share of the strategy's
  // ok RPCs in its first early_s seconds (timeline buckets starting in [start, start + early_s)).
  std::optional<double> max_early_share;
  double early_s = 2;
  int line = 0;
};

// A client program as a strategy (live only): `strategies: [{name, command, env}]`. The live
// engine starts `command` once per simulated client, with these placeholders in its arguments
// replaced: {rps} and {duration} (the client's rate and the run's length, in wall time: the
// scenario's values scaled by --speed), {concurrency}, {client} (0-based index), {target}
// (kubernetes:///SVC-NAME.NS:PORTNAME, a Service of this strategy's own on the same pods),
// {dns_target} (dns://CLUSTER-DNS/SVC-NAME.NS.svc.cluster.local:PORT, its headless DNS name),
// {port} and {kubeconfig} (a kubeconfig with the run's API server, CA and a service-account
// token; also in $KUBECONFIG). `env` is added to the program's environment.
struct ExternalStrategy {
  std::string name;                   // a DNS label, not a built-in strategy's name
  std::vector<std::string> command;   // program (found on $PATH unless it has a '/') and arguments
  std::map<std::string, std::string> env;
  int line = 0;
};

// The placeholders an external command may use, for messages: "{rps}, {duration}, ...".
inline constexpr std::string_view kExternalPlaceholders[] = {
    "{rps}", "{duration}", "{concurrency}", "{client}", "{target}", "{dns_target}", "{port}", "{kubeconfig}"};

// A whole scenario file: the cluster half it extends (seed, service, cluster, pods, timeline,
// token rotation, source file) plus what the simulator adds.
struct Scenario : fake::ClusterScenario {
  std::string name;         // from the file name unless given
  std::string description;
  ClientSpec clients;
  std::vector<std::string> strategies = report::DefaultStrategies();
  // The external strategies among `strategies`, in their order.
  std::vector<ExternalStrategy> external;
  std::vector<Expectation> expect;
  // Live-only scenarios (e.g. token rotation) set this; the virtual engine refuses them clearly.
  bool live_only = false;

  // The external strategy named `name`, or null.
  const ExternalStrategy* FindExternal(std::string_view name) const;
};

// Parses and validates, including events that name pods which cannot exist at their time
// (fake::FindImpossiblePodEvent). Errors read "FILE:LINE: FIELD: problem" (one message, nothing
// runs).
absl::StatusOr<Scenario> ParseScenario(std::string_view yaml_text, std::string_view file_name);
absl::StatusOr<Scenario> LoadScenario(const std::string& path);

}  // namespace k8slb::scenario

#endif  // K8SLB_SIM_SCENARIO_SCENARIO_H_
