// For parsers of a whole scenario document (the simulator's, sim/scenario): reads the cluster
// half's sections from the document's root mapping with the same rules and messages as
// ParseClusterScenario. The caller Check()s the root's keys (kClusterScenarioKeys plus its own)
// and calls these in document order between its own sections.
#ifndef K8SLB_FAKEAPI_SCENARIO_CLUSTER_SECTIONS_H_
#define K8SLB_FAKEAPI_SCENARIO_CLUSTER_SECTIONS_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "fakeapi/model/cluster_scenario.h"
#include "fakeapi/scenario/yaml_reader.h"

namespace k8slb::fake::yaml {

// seed, tokenRotationSeconds, service, cluster, pods (each optional: absent keeps the default).
absl::Status ReadClusterSettings(const MapReader& root, ClusterScenario* out);

// The end of the run that bounds event times, and the field that sets it (for the message).
struct RunEnd {
  double s = 0;
  std::string field;  // "clients.durationSeconds"
};

// timeline (optional), sorted by time (stable). Needs the settings read first (pod names, zones).
// With `end`, an event after it is refused. Then events naming a pod that cannot exist at their
// time are refused (FindImpossiblePodEvent).
absl::Status ReadTimeline(const MapReader& root, const std::optional<RunEnd>& end, ClusterScenario* out);

}  // namespace k8slb::fake::yaml

#endif  // K8SLB_FAKEAPI_SCENARIO_CLUSTER_SECTIONS_H_
