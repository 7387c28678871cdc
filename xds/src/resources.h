// The xDS resources k8slb-xds serves for one Service port, built from the library's EndpointSet
// snapshots: the Listener (an API listener whose HttpConnectionManager carries the route
// configuration inline and the router filter), the Cluster (type EDS over ADS) and the
// ClusterLoadAssignment. Pure functions of their inputs; thread-safe.
//
// Naming. A client dials xds:///NAME; NAME is the Listener it asks for, in the library's target
// grammar (target.h: "echo.default:grpc", "echo.default:50051", "kubernetes:///echo:grpc", ...).
// Every form of the same Service port maps to one canonical ServiceKey, whose name
// ("echo.default:grpc") is also the Cluster's and the ClusterLoadAssignment's name, so clients
// that spell the target differently share one watch and one cached assignment.
#ifndef K8SLB_XDS_SRC_RESOURCES_H_
#define K8SLB_XDS_SRC_RESOURCES_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "k8slb/endpoint_set.h"
#include "k8slb/slice_store.h"

namespace envoy::config::listener::v3 {
class Listener;
}
namespace envoy::config::cluster::v3 {
class Cluster;
}
namespace envoy::config::endpoint::v3 {
class ClusterLoadAssignment;
}

namespace k8slb::xds {

inline constexpr std::string_view kListenerType = "type.googleapis.com/envoy.config.listener.v3.Listener";
inline constexpr std::string_view kRouteConfigurationType =
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
inline constexpr std::string_view kClusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr std::string_view kEndpointType =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

// The four resource types, in the order a state-of-the-world client needs them answered.
enum class ResourceType { kListener = 0, kRouteConfiguration = 1, kCluster = 2, kEndpoint = 3 };
inline constexpr int kResourceTypeCount = 4;
std::string_view TypeUrl(ResourceType type);
// nullopt for a type URL k8slb-xds does not serve (v2 URLs, Secrets, ...).
std::optional<ResourceType> ParseTypeUrl(std::string_view type_url);
const char* TypeName(ResourceType type);  // "Listener", ... for log lines

// One Service port: what one discovery watch serves.
struct ServiceKey {
  std::string namespace_name;
  std::string service;
  PortSelector port;

  // "echo.default:grpc", "echo.default:50051", or "echo.default" (the slices' first port).
  std::string Name() const;
  friend bool operator<(const ServiceKey& a, const ServiceKey& b) { return a.Name() < b.Name(); }
  friend bool operator==(const ServiceKey& a, const ServiceKey& b) { return a.Name() == b.Name(); }
};

// Parses a resource name of any type (Listener, Cluster or ClusterLoadAssignment name) in the
// target grammar. A name without a namespace gets `default_namespace`. The error names the
// problem (from ParseTarget).
absl::StatusOr<ServiceKey> ParseResourceName(std::string_view name, std::string_view default_namespace);

// Listener `listener_name` (the exact name the client asked for) routing every RPC to the
// key's Cluster.
envoy::config::listener::v3::Listener BuildListener(const std::string& listener_name, const ServiceKey& key);
envoy::config::cluster::v3::Cluster BuildCluster(const ServiceKey& key);

struct AssignmentOptions {
  // The client's zone (its xDS node locality). Endpoints in this zone get priority 0 and the
  // others priority 1, so gRPC's priority policy fails over to other zones as soon as the zone
  // has no reachable endpoint. Empty, or no usable endpoint in the zone: every zone priority 0.
  std::string client_zone;
};

// The usable endpoints of `set` (the SliceStore's rules decided which: ready ones, or serving and
// terminating ones when none is ready) as a ClusterLoadAssignment named key.Name(): one
// LocalityLbEndpoints per zone (endpoints without a zone share the locality with an empty zone),
// weighted by its endpoint count; HEALTHY for ready endpoints, DRAINING for the serving and
// terminating fallback. Endpoints whose address is not an IP (FQDN slices) cannot be expressed
// in EDS and are left out.
envoy::config::endpoint::v3::ClusterLoadAssignment BuildLoadAssignment(const ServiceKey& key,
                                                                       const EndpointSet& set,
                                                                       const AssignmentOptions& options);

}  // namespace k8slb::xds

#endif  // K8SLB_XDS_SRC_RESOURCES_H_
