// Finds timeline events that name a pod which cannot exist at the event's time, by playing the
// scenario's cluster events on the cluster model itself in virtual time, as both engines do
// (model timers due at an event's instant run before it). So the check knows exactly what the
// model will do (pod names, scale-down order, rollout steps, drain and grace periods, zone loss)
// instead of a second copy of those rules.
//
// `evict` with `count` picks pods with the run's seed, and `k8slb-sim run --seed` may change it.
// So once a random eviction has happened, a pod that is gone in this replay is refused only if
// its absence does not depend on the seed: it was never created by then (the number of pods a
// Deployment creates does not depend on which ones were evicted), or it was evicted by name, or
// its zone went down. A pod removed otherwise (a random eviction, or a scale-down or rollout
// step whose choice a random eviction may have changed) may exist in another run and is accepted.
//
// Thread-safe (no shared state). Cost: one model run over the timeline, skipped when no event
// names a pod.
#ifndef K8SLB_FAKEAPI_MODEL_TIMELINE_CHECK_H_
#define K8SLB_FAKEAPI_MODEL_TIMELINE_CHECK_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "fakeapi/model/cluster_scenario.h"

namespace k8slb::fake {

struct TimelineProblem {
  size_t event = 0;     // index into ClusterScenario::timeline
  std::string problem;  // e.g. `pod "echo-3" no longer exists at 12s: ...`
};

// nullopt: every event that names a pod names one that can exist then. An error: the model
// refuses the scenario's settings (Cluster::FromScenario's message).
absl::StatusOr<std::optional<TimelineProblem>> FindImpossiblePodEvent(const ClusterScenario& scenario);

}  // namespace k8slb::fake

#endif  // K8SLB_FAKEAPI_MODEL_TIMELINE_CHECK_H_
