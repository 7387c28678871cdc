// The xDS resources built from the library's snapshots: the SliceStore's rules decide which
// endpoints appear (union of slices, dedup, nil ready is ready, serving+terminating only when
// nothing is ready, port by name); zones become localities with client-zone priorities and
// endpoint-count weights; health is HEALTHY or DRAINING.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "k8slb/slice_store.h"
#include "resources.h"

namespace k8slb::xds {
namespace {

using envoy::config::endpoint::v3::ClusterLoadAssignment;

SliceEndpoint Ep(const std::string& ip, std::optional<bool> ready, std::optional<bool> serving,
                 std::optional<bool> terminating, const std::string& zone = "zone-a") {
  SliceEndpoint e;
  e.addresses = {ip};
  e.conditions.ready = ready;
  e.conditions.serving = serving;
  e.conditions.terminating = terminating;
  e.zone = zone;
  return e;
}

EndpointSlice Slice(const std::string& name, std::vector<SliceEndpoint> endpoints, int32_t port = 50051,
                    AddressType type = AddressType::kIPv4) {
  EndpointSlice s;
  s.metadata.name = name;
  s.metadata.namespace_name = "default";
  s.metadata.labels[std::string(kServiceNameLabel)] = "echo";
  s.address_type = type;
  s.ports = {SlicePort{.name = "grpc", .port = port, .protocol = "TCP", .app_protocol = {}},
             SlicePort{.name = "metrics", .port = 9090, .protocol = "TCP", .app_protocol = {}}};
  s.endpoints = std::move(endpoints);
  return s;
}

const ServiceKey kKey{.namespace_name = "default", .service = "echo", .port = PortSelector::ByName("grpc")};

std::map<std::string, envoy::config::core::v3::HealthStatus> Health(const ClusterLoadAssignment& a) {
  std::map<std::string, envoy::config::core::v3::HealthStatus> out;
  for (const auto& locality : a.endpoints()) {
    for (const auto& lb : locality.lb_endpoints()) {
      const auto& sa = lb.endpoint().address().socket_address();
      out[sa.address() + ":" + std::to_string(sa.port_value())] = lb.health_status();
    }
  }
  return out;
}

TEST(XdsResources, AssignmentFollowsTheLibrarysSliceRules) {
  SliceStore store(SliceStoreOptions{.service_name = "echo", .namespace_name = "default",
                                     .port = PortSelector::ByName("grpc")});
  store.Replace({Slice("echo-1", {Ep("10.0.0.1", true, true, false), Ep("10.0.0.2", std::nullopt, std::nullopt, std::nullopt),
                                  Ep("10.0.0.3", false, false, false), Ep("10.0.0.4", false, true, true)}),
                 // 10.0.0.1 again in a second slice: one endpoint
                 Slice("echo-2", {Ep("10.0.0.1", true, true, false), Ep("10.0.0.5", true, true, false, "zone-b")})});
  auto a = BuildLoadAssignment(kKey, *store.Current(), {});
  EXPECT_EQ(a.cluster_name(), "echo.default:grpc");
  using envoy::config::core::v3::HEALTHY;
  EXPECT_EQ(Health(a), (std::map<std::string, envoy::config::core::v3::HealthStatus>{
                           {"10.0.0.1:50051", HEALTHY}, {"10.0.0.2:50051", HEALTHY}, {"10.0.0.5:50051", HEALTHY}}));
}

TEST(XdsResources, ServingTerminatingEndpointsAreDrainingWhenNothingIsReady) {
  SliceStore store(SliceStoreOptions{.service_name = "echo", .namespace_name = "default",
                                     .port = PortSelector::ByName("grpc")});
  store.Replace({Slice("echo-1", {Ep("10.0.0.3", false, false, false), Ep("10.0.0.4", false, true, true)})});
  auto a = BuildLoadAssignment(kKey, *store.Current(), {});
  EXPECT_EQ(Health(a), (std::map<std::string, envoy::config::core::v3::HealthStatus>{
                           {"10.0.0.4:50051", envoy::config::core::v3::DRAINING}}));
}

TEST(XdsResources, PortIsResolvedPerSliceByName) {
  SliceStore store(SliceStoreOptions{.service_name = "echo", .namespace_name = "default",
                                     .port = PortSelector::ByName("grpc")});
  store.Replace({Slice("echo-1", {Ep("10.0.0.1", true, true, false)}, 50051),
                 Slice("echo-2", {Ep("10.0.0.2", true, true, false)}, 8443)});
  auto a = BuildLoadAssignment(kKey, *store.Current(), {});
  EXPECT_EQ(Health(a).size(), 2u);
  EXPECT_TRUE(Health(a).count("10.0.0.2:8443"));
}

TEST(XdsResources, ZonesAreLocalitiesWithClientZoneFirstAndCountWeights) {
  SliceStore store(SliceStoreOptions{.service_name = "echo", .namespace_name = "default",
                                     .port = PortSelector::ByName("grpc")});
  store.Replace({Slice("echo-1", {Ep("10.0.0.1", true, true, false, "zone-a"), Ep("10.0.0.2", true, true, false, "zone-a"),
                                  Ep("10.0.0.3", true, true, false, "zone-b"), Ep("10.0.0.4", true, true, false, "")})});
  auto a = BuildLoadAssignment(kKey, *store.Current(), AssignmentOptions{.client_zone = "zone-b"});
  std::map<std::string, std::pair<uint32_t, uint32_t>> localities;  // zone -> (priority, weight)
  for (const auto& l : a.endpoints()) {
    localities[l.locality().zone()] = {l.priority(), l.load_balancing_weight().value()};
  }
  using P = std::pair<uint32_t, uint32_t>;
  EXPECT_EQ(localities, (std::map<std::string, P>{{"", P{1, 1}}, {"zone-a", P{1, 2}}, {"zone-b", P{0, 1}}}));
  // A client whose zone has no endpoint: one priority for all, no gap for gRPC to reject.
  auto flat = BuildLoadAssignment(kKey, *store.Current(), AssignmentOptions{.client_zone = "zone-q"});
  for (const auto& l : flat.endpoints()) EXPECT_EQ(l.priority(), 0u);
}

TEST(XdsResources, FqdnEndpointsCannotBeExpressedAndAreLeftOut) {
  SliceStore store(SliceStoreOptions{.service_name = "echo", .namespace_name = "default",
                                     .port = PortSelector::ByName("grpc")});
  store.Replace({Slice("echo-1", {Ep("pod.example.com", true, true, false)}, 50051, AddressType::kFqdn),
                 Slice("echo-2", {Ep("fd00::1", true, true, false)}, 50051, AddressType::kIPv6)});
  auto a = BuildLoadAssignment(kKey, *store.Current(), {});
  EXPECT_EQ(Health(a).size(), 1u);
  EXPECT_TRUE(Health(a).count("fd00::1:50051"));
}

TEST(XdsResources, NamesOfEveryFormMapToOneCanonicalKey) {
  for (const char* name : {"echo.default:grpc", "kubernetes:///echo.default:grpc", "kubernetes://default/echo:grpc",
                           "echo.default.svc.cluster.local:grpc", "kubernetes:///echo:grpc"}) {
    auto key = ParseResourceName(name, "default");
    ASSERT_TRUE(key.ok()) << name << ": " << key.status();
    EXPECT_EQ(key->Name(), "echo.default:grpc") << name;
  }
  EXPECT_EQ(ParseResourceName("echo.default:50051", "x")->Name(), "echo.default:50051");
  EXPECT_EQ(ParseResourceName("echo.prod", "x")->Name(), "echo.prod");
  auto bad = ParseResourceName("Echo!", "default");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Echo"), std::string::npos);
}

TEST(XdsResources, ClusterIsEdsOverAdsNamedByTheKey) {
  auto c = BuildCluster(kKey);
  EXPECT_EQ(c.name(), "echo.default:grpc");
  EXPECT_EQ(c.type(), envoy::config::cluster::v3::Cluster::EDS);
  EXPECT_EQ(c.eds_cluster_config().service_name(), "echo.default:grpc");
  EXPECT_TRUE(c.eds_cluster_config().eds_config().has_ads());
  EXPECT_EQ(c.lb_policy(), envoy::config::cluster::v3::Cluster::ROUND_ROBIN);
  auto l = BuildListener("kubernetes:///echo:grpc", kKey);
  EXPECT_EQ(l.name(), "kubernetes:///echo:grpc");
  EXPECT_TRUE(l.api_listener().has_api_listener());
}

}  // namespace
}  // namespace k8slb::xds
