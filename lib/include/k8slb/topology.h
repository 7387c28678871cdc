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
// applies it as the node's kube-proxy would. Pure functions; any thread.
#ifndef K8SLB_TOPOLOGY_H_
#define K8SLB_TOPOLOGY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

TopologyChoice ChooseTopology(const std::vector<Endpoint>& endpoints, const ClientTopology& client);

}  // namespace k8slb

#endif  // K8SLB_TOPOLOGY_H_
