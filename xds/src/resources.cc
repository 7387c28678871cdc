#include "resources.h"

#include <arpa/inet.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "k8slb/target.h"

namespace k8slb::xds {

namespace {

namespace hcm = envoy::extensions::filters::network::http_connection_manager::v3;
using envoy::config::endpoint::v3::ClusterLoadAssignment;

bool IsIpAddress(const std::string& address) {
  unsigned char buf[16];
  return inet_pton(AF_INET, address.c_str(), buf) == 1 || inet_pton(AF_INET6, address.c_str(), buf) == 1;
}

}  // namespace

std::string_view TypeUrl(ResourceType type) {
  switch (type) {
    case ResourceType::kListener:
      return kListenerType;
    case ResourceType::kRouteConfiguration:
      return kRouteConfigurationType;
    case ResourceType::kCluster:
      return kClusterType;
    case ResourceType::kEndpoint:
      return kEndpointType;
  }
  return "";
}

std::optional<ResourceType> ParseTypeUrl(std::string_view type_url) {
  for (int i = 0; i < kResourceTypeCount; ++i) {
    auto type = static_cast<ResourceType>(i);
    if (TypeUrl(type) == type_url) return type;
  }
  return std::nullopt;
}

const char* TypeName(ResourceType type) {
  switch (type) {
    case ResourceType::kListener:
      return "Listener";
    case ResourceType::kRouteConfiguration:
      return "RouteConfiguration";
    case ResourceType::kCluster:
      return "Cluster";
    case ResourceType::kEndpoint:
      return "ClusterLoadAssignment";
  }
  return "?";
}

std::string ServiceKey::Name() const {
  std::string name = absl::StrCat(service, ".", namespace_name);
  if (port.name) {
    absl::StrAppend(&name, ":", *port.name);
  } else if (port.number) {
    absl::StrAppend(&name, ":", *port.number);
  }
  return name;
}

absl::StatusOr<ServiceKey> ParseResourceName(std::string_view name, std::string_view default_namespace) {
  absl::StatusOr<Target> target = ParseTarget(name);
  if (!target.ok()) return target.status();
  return ServiceKey{
      .namespace_name = target->namespace_name.value_or(std::string(default_namespace)),
      .service = target->service,
      .port = target->port,
  };
}

envoy::config::listener::v3::Listener BuildListener(const std::string& listener_name, const ServiceKey& key) {
  const std::string cluster = key.Name();
  hcm::HttpConnectionManager manager;
  manager.set_stat_prefix(cluster);
  // Inline route configuration: one round trip less than RDS, and nothing that can change on its
  // own (the route only names the cluster).
  auto* route_config = manager.mutable_route_config();
  route_config->set_name(cluster);
  auto* vhost = route_config->add_virtual_hosts();
  vhost->set_name(cluster);
  // gRPC matches domains against the channel's authority, which defaults to the target's name
  // but may be overridden by the application: match every authority.
  vhost->add_domains(std::string(1, '*'));  // not a literal: GCC 12 -Wrestrict false positive (GCC bug 105329)
  auto* route = vhost->add_routes();
  route->mutable_match()->set_prefix("");
  route->mutable_route()->set_cluster(cluster);
  // gRPC requires the router filter, last (gRFC A39).
  auto* router = manager.add_http_filters();
  router->set_name("envoy.filters.http.router");
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());

  envoy::config::listener::v3::Listener listener;
  listener.set_name(listener_name);
  listener.mutable_api_listener()->mutable_api_listener()->PackFrom(manager);
  return listener;
}

envoy::config::cluster::v3::Cluster BuildCluster(const ServiceKey& key) {
  envoy::config::cluster::v3::Cluster cluster;
  cluster.set_name(key.Name());
  cluster.set_type(envoy::config::cluster::v3::Cluster::EDS);
  auto* eds = cluster.mutable_eds_cluster_config();
  eds->set_service_name(key.Name());
  eds->mutable_eds_config()->mutable_ads();
  eds->mutable_eds_config()->set_resource_api_version(envoy::config::core::v3::V3);
  cluster.set_lb_policy(envoy::config::cluster::v3::Cluster::ROUND_ROBIN);
  return cluster;
}

ClusterLoadAssignment BuildLoadAssignment(const ServiceKey& key, const EndpointSet& set,
                                          const AssignmentOptions& options) {
  // Group by zone (std::map: deterministic locality order). Endpoints are sorted by HostPort in
  // the set, so each locality's order is deterministic too.
  std::map<std::string, std::vector<const Endpoint*>> by_zone;
  for (const Endpoint& endpoint : set.endpoints()) {
    if (!IsIpAddress(endpoint.address)) continue;
    by_zone[endpoint.zone.value_or("")].push_back(&endpoint);
  }
  const bool zone_split = !options.client_zone.empty() && by_zone.count(options.client_zone) > 0;
  // The set holds either only ready endpoints or only the serving+terminating fallback.
  const auto health = set.reason() == UsableReason::kServingTerminatingFallback
                          ? envoy::config::core::v3::DRAINING
                          : envoy::config::core::v3::HEALTHY;

  ClusterLoadAssignment assignment;
  assignment.set_cluster_name(key.Name());
  for (const auto& [zone, endpoints] : by_zone) {
    auto* locality = assignment.add_endpoints();
    if (!zone.empty()) locality->mutable_locality()->set_zone(zone);
    locality->set_priority(zone_split && zone != options.client_zone ? 1 : 0);
    locality->mutable_load_balancing_weight()->set_value(static_cast<uint32_t>(endpoints.size()));
    for (const Endpoint* endpoint : endpoints) {
      auto* lb = locality->add_lb_endpoints();
      lb->set_health_status(health);
      auto* address = lb->mutable_endpoint()->mutable_address()->mutable_socket_address();
      address->set_address(endpoint->address);
      address->set_port_value(static_cast<uint32_t>(endpoint->port));
      if (!endpoint->pod_name.empty()) lb->mutable_endpoint()->set_hostname(endpoint->pod_name);
    }
  }
  return assignment;
}

}  // namespace k8slb::xds
