// Reads the cluster half of a scenario file (fake::ClusterScenario: seed, tokenRotationSeconds,
// service, cluster, pods, timeline; format in scenarios/README.md) for k8slb-fakeapi --scenario.
// The simulator reads the whole file with its own parser (sim/scenario), which reads these same
// sections through cluster_sections.h, so both accept and refuse the cluster half alike. Errors
// read "FILE:LINE: FIELD: problem" (one message). Thread-safe (no shared state).
#ifndef K8SLB_FAKEAPI_SCENARIO_CLUSTER_SCENARIO_YAML_H_
#define K8SLB_FAKEAPI_SCENARIO_CLUSTER_SCENARIO_YAML_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "fakeapi/model/cluster_scenario.h"

namespace k8slb::fake {

// Top-level keys of a scenario file that hold the cluster half.
inline constexpr std::string_view kClusterScenarioKeys[] = {"seed",    "tokenRotationSeconds", "service",
                                                            "cluster", "pods",                 "timeline"};
// Top-level keys the simulator reads (clients, strategies, checks; scenarios/README.md). A
// cluster-half read accepts them without reading them, so a simulator scenario replays as is;
// `k8slb-sim validate` checks them.
inline constexpr std::string_view kSimulatorScenarioKeys[] = {"name",    "description", "liveOnly",
                                                              "clients", "strategies",  "expect"};

// Parses and validates the cluster half; events are not bounded by a run's end (the simulator
// bounds them by clients.durationSeconds).
absl::StatusOr<ClusterScenario> ParseClusterScenario(std::string_view yaml_text, std::string_view file_name);
absl::StatusOr<ClusterScenario> LoadClusterScenario(const std::string& path);

}  // namespace k8slb::fake

#endif  // K8SLB_FAKEAPI_SCENARIO_CLUSTER_SCENARIO_YAML_H_
