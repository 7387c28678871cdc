// Topology preference: which endpoints of a snapshot a client in a given zone and on a given node
// should prefer, read from the EndpointSlice hints exactly as kube-proxy reads them
// (topologyModeFromHints in https://github.com/kubernetes/kubernetes/blob/master/pkg/proxy/topology.go;
// hints.forNodes since Kubernetes 1.33, KEP-3015 "PreferSameTrafficDistribution"):
//   - same node, when every endpoint has node hints and at least one names this node;
//   - else same zone, when every endpoint has zone hints and at least one names this zone;
//   - else all endpoints.
// The EndpointSlice controller writes the hints (trafficDistribution PreferClose/PreferSameZone:
// each ready endpoint hinted for its own zone; PreferSameNode: for its own node and zone), so
// "every endpoint has hints" is the signal that the Service asked for topology and the
// controller could honour it; one unhinted endpoint turns the preference off, never a partial one.
//
// Pickers apply it once per snapshot (PickerOptions::client_zone/client_node) and still fall back
// to all endpoints while no preferred endpoint is eligible; the simulator's ClusterIP model
// applies it as the node's kube-proxy would. Unlike kube-proxy, pickers also spill out of a
// preferred set that is overloaded (TopologySpillOptions below). Pure functions and plain values;
// any thread.
#ifndef K8SLB_TOPOLOGY_H_
#define K8SLB_TOPOLOGY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "k8slb/endpoint_set.h"

namespace k8slb {

enum class TopologyMode { kAll, kSameZone, kSameNode };

// "all", "same-zone", "same-node".
std::string_view TopologyModeName(TopologyMode mode);

struct ClientTopology {
  // topology.kubernetes.io/zone of the client's node, and the node's name (spec.nodeName);
  // nullopt or "": unknown.
  std::optional<std::string> zone = std::nullopt;
  std::optional<std::string> node = std::nullopt;
};

struct TopologyChoice {
  TopologyMode mode = TopologyMode::kAll;
  // kSameZone/kSameNode: the preferred endpoints' indices in `endpoints`, ascending, never empty.
  // kAll: empty (every endpoint).
  std::vector<uint32_t> preferred;
};

// Spilling out of the preferred (same-node or same-zone) endpoints under load, after Linkerd's
// HAZL (https://docs.buoyant.io/buoyant-enterprise-linkerd/latest/features/hazl/, band 0.8 to 2.0
// by default): a zone with one pod must not take a whole zone's clients just because it is near
// (Istio's zone-first locality with one pod per zone melts it:
// https://github.com/istio/istio/issues/47804). The rule, per picker (so per client):
//   load = this client's requests in flight on the eligible endpoints of the pool it uses now
//          (the preferred ones while local, all while spilled) / the number of those endpoints,
//          smoothed by an EWMA over checks (weight kTopologySpillSmoothing), checked every
//          max(16, size) picks rounded up to a power of two (O(1) amortised per pick);
//   local and load > high_load  → spill: pick over all endpoints;
//   spilled and load < low_load → return to the preferred endpoints.
// The band is the hysteresis: spilled, the same calls spread over more endpoints, so the load
// falls well below what made it spill, and it returns only once that, too, is low. The signal is
// the client's own view (HAZL's too): many light clients each see little of a zone's load.
struct TopologySpillOptions {
  bool enabled = true;
  double low_load = 0.8;   // finite, >= 0
  double high_load = 2.0;  // finite, > low_load
};
inline constexpr double kTopologySpillSmoothing = 0.25;

// OK, or InvalidArgument naming the field with `prefix`, e.g.
// "topology_spill.high_load must be above low_load (0.8), got 0.5".
absl::Status ValidateTopologySpillOptions(const TopologySpillOptions& options,
                                          std::string_view prefix = "topology_spill");

TopologyChoice ChooseTopology(const std::vector<Endpoint>& endpoints, const ClientTopology& client);

}  // namespace k8slb

#endif  // K8SLB_TOPOLOGY_H_
