// SliceStore and PortSelector: docs/endpoint-semantics.md, one rule per test, with hand-made slices.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "k8slb/endpoint_set.h"
#include "k8slb/slice_store.h"

namespace k8slb {
namespace {

struct Ep {
  std::string address;
  std::optional<bool> ready = std::nullopt;
  std::optional<bool> serving = std::nullopt;
  std::optional<bool> terminating = std::nullopt;
  std::vector<std::string> hints = {};
};

EndpointSlice Slice(std::string name, std::vector<Ep> endpoints,
                    std::vector<SlicePort> ports = {SlicePort{.name = "grpc", .port = 50051, .protocol = "TCP",
                                                              .app_protocol = {}}},
                    std::string service = "echo", std::string ns = "default") {
  EndpointSlice s;
  s.metadata.name = std::move(name);
  s.metadata.namespace_name = std::move(ns);
  s.metadata.labels[std::string(kServiceNameLabel)] = std::move(service);
  s.ports = std::move(ports);
  for (Ep& e : endpoints) {
    SliceEndpoint se;
    se.addresses = {e.address};
    se.conditions = EndpointConditions{.ready = e.ready, .serving = e.serving, .terminating = e.terminating};
    se.hint_zones = e.hints;
    se.zone = "zone-a";
    se.target_ref = ObjectReference{.kind = "Pod", .namespace_name = "default", .name = "pod-" + e.address, .uid = ""};
    s.endpoints.push_back(std::move(se));
  }
  return s;
}

SliceEvent Added(EndpointSlice s) { return {.type = SliceEventType::kAdded, .slice = std::move(s)}; }
SliceEvent Modified(EndpointSlice s) { return {.type = SliceEventType::kModified, .slice = std::move(s)}; }
SliceEvent Deleted(EndpointSlice s) { return {.type = SliceEventType::kDeleted, .slice = std::move(s)}; }

SliceStoreOptions EchoOptions(PortSelector port = PortSelector::ByName("grpc")) {
  return {.service_name = "echo", .namespace_name = "default", .port = std::move(port)};
}

std::vector<std::string> HostPorts(const SliceStore& store) {
  std::vector<std::string> out;
  const std::shared_ptr<const EndpointSet> set = store.Current();  // keeps the endpoints alive
  for (const Endpoint& e : set->endpoints()) out.push_back(e.HostPort());
  return out;
}

using V = std::vector<std::string>;

TEST(SliceStore, StartsEmptyWithVersionZero) {
  SliceStore store(EchoOptions());
  ASSERT_NE(store.Current(), nullptr);
  EXPECT_EQ(store.Current()->version(), 0u);
  EXPECT_TRUE(store.Current()->empty());
  EXPECT_EQ(store.Current()->reason(), UsableReason::kNone);
}

TEST(SliceStore, UnionOfSlicesDeduplicatedAndSorted) {
  SliceStore store(EchoOptions());
  EXPECT_TRUE(store.Apply(Added(Slice("echo-a", {{"10.0.0.2"}, {"10.0.0.1"}}))));
  EXPECT_TRUE(store.Apply(Added(Slice("echo-b", {{"10.0.0.3"}, {"10.0.0.1"}}))));
  EXPECT_EQ(HostPorts(store), (V{"10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.3:50051"}));
  EXPECT_EQ(store.Current()->slice_count(), 2u);
  EXPECT_EQ(store.Current()->known_endpoints(), 3u);
  EXPECT_EQ(store.SliceKeys(), (V{"default/echo-a", "default/echo-b"}));
  EXPECT_EQ(store.Current()->endpoints()[0].pod_name, "pod-10.0.0.1");
  EXPECT_EQ(store.Current()->Find("10.0.0.3:50051"), 2u);
  EXPECT_EQ(store.Current()->Find("10.0.0.9:50051"), std::nullopt);
}

TEST(SliceStore, DuplicateKeepsTheMostUsableCopyWhateverTheOrder) {
  // An endpoint moving between slices: not ready in the old one, ready in the new one.
  for (bool old_first : {true, false}) {
    SliceStore store(EchoOptions());
    SliceEvent old_copy = Added(Slice("echo-a", {{"10.0.0.1", false, false, true}}));
    SliceEvent new_copy = Added(Slice("echo-b", {{"10.0.0.1", true}}));
    store.Apply(old_first ? old_copy : new_copy);
    store.Apply(old_first ? new_copy : old_copy);
    ASSERT_EQ(store.Current()->size(), 1u);
    EXPECT_TRUE(store.Current()->endpoints()[0].ready);
    EXPECT_EQ(store.Current()->endpoints()[0].slice_name, "echo-b");
  }
}

TEST(SliceStore, EndpointLeavesWhenItsSliceDropsItOrIsDeleted) {
  SliceStore store(EchoOptions());
  store.Apply(Added(Slice("echo-a", {{"10.0.0.1"}, {"10.0.0.2"}})));
  store.Apply(Added(Slice("echo-b", {{"10.0.0.3"}})));
  store.Apply(Modified(Slice("echo-a", {{"10.0.0.1"}})));  // tonic-lb-k8s never removes 10.0.0.2
  EXPECT_EQ(HostPorts(store), (V{"10.0.0.1:50051", "10.0.0.3:50051"}));
  store.Apply(Deleted(Slice("echo-b", {})));  // a DELETED object's content does not matter
  EXPECT_EQ(HostPorts(store), (V{"10.0.0.1:50051"}));
  EXPECT_FALSE(store.Apply(Deleted(Slice("echo-zzz", {}))));  // unknown slice: no change
}

TEST(SliceStore, ConditionRules) {
  SliceStore store(EchoOptions());
  store.Apply(Added(Slice("echo-a", {
                                        {"10.0.0.1"},                      // nil ready = ready
                                        {"10.0.0.2", true},                // ready
                                        {"10.0.0.3", false},               // not ready
                                        {"10.0.0.4", true, false, true},   // ready while terminating: still ready
                                        {"10.0.0.5", false, true, true},   // serving-terminating: not while others ready
                                    })));
  EXPECT_EQ(HostPorts(store), (V{"10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.4:50051"}));
  EXPECT_EQ(store.Current()->reason(), UsableReason::kReady);
  EXPECT_EQ(store.Current()->known_endpoints(), 5u);
  const std::shared_ptr<const EndpointSet> set = store.Current();
  const Endpoint& e4 = set->endpoints()[2];
  EXPECT_TRUE(e4.terminating);
  EXPECT_FALSE(e4.serving);
}

TEST(SliceStore, ServingTerminatingFallbackOnlyWhenNothingIsReady) {
  SliceStore store(EchoOptions());
  store.Apply(Added(Slice("echo-a", {
                                        {"10.0.0.1", false, true, true},      // serving + terminating: fallback
                                        {"10.0.0.2", false, std::nullopt, true},  // serving nil defers to ready=false
                                        {"10.0.0.3", false, true, false},     // serving, not terminating: no
                                        {"10.0.0.4", false, false, true},     // not serving
                                    })));
  EXPECT_EQ(HostPorts(store), (V{"10.0.0.1:50051"}));
  EXPECT_EQ(store.Current()->reason(), UsableReason::kServingTerminatingFallback);
  // A ready endpoint appears (new pod of the rollout): the terminating one is no longer used.
  store.Apply(Added(Slice("echo-b", {{"10.0.0.9", true}})));
  EXPECT_EQ(HostPorts(store), (V{"10.0.0.9:50051"}));
  EXPECT_EQ(store.Current()->reason(), UsableReason::kReady);
  store.Apply(Modified(Slice("echo-b", {{"10.0.0.9", false}})));
  EXPECT_EQ(HostPorts(store), (V{"10.0.0.1:50051"}));
  store.Apply(Modified(Slice("echo-a", {{"10.0.0.4", false, false, true}})));
  EXPECT_TRUE(store.Current()->empty());
  EXPECT_EQ(store.Current()->reason(), UsableReason::kNone);
  EXPECT_EQ(store.Current()->known_endpoints(), 2u);
}

TEST(SliceStore, PortByNameByNumberOrFirst) {
  SlicePort grpc{.name = "grpc", .port = 50051, .protocol = {}, .app_protocol = {}};
  SlicePort metrics{.name = "metrics", .port = 9090, .protocol = {}, .app_protocol = {}};
  EndpointSlice both = Slice("echo-a", {{"10.0.0.1"}}, {metrics, grpc});
  EndpointSlice only_metrics = Slice("echo-b", {{"10.0.0.2"}}, {metrics});
  EndpointSlice no_ports = Slice("echo-c", {{"10.0.0.3"}}, {});

  SliceStore by_name(EchoOptions(PortSelector::ByName("grpc")));
  by_name.Replace({both, only_metrics, no_ports});
  EXPECT_EQ(HostPorts(by_name), (V{"10.0.0.1:50051"}));  // slices without the port contribute nothing

  SliceStore by_number(EchoOptions(PortSelector::ByNumber(9090)));
  by_number.Replace({both, only_metrics, no_ports});
  EXPECT_EQ(HostPorts(by_number), (V{"10.0.0.1:9090", "10.0.0.2:9090"}));

  SliceStore first(EchoOptions(PortSelector::First()));
  first.Replace({both, only_metrics, no_ports});
  EXPECT_EQ(HostPorts(first), (V{"10.0.0.1:9090", "10.0.0.2:9090"}));
}

TEST(PortSelector, Resolve) {
  EndpointSlice s;
  s.ports = {SlicePort{.name = "grpc", .port = 50051, .protocol = {}, .app_protocol = {}},
             SlicePort{.name = {}, .port = 8080, .protocol = {}, .app_protocol = {}}};
  EXPECT_EQ(PortSelector::ByName("grpc").Resolve(s), 50051);
  EXPECT_EQ(PortSelector::ByName("").Resolve(s), 8080);  // the unnamed port
  EXPECT_EQ(PortSelector::ByName("http").Resolve(s), std::nullopt);
  EXPECT_EQ(PortSelector::ByNumber(8080).Resolve(s), 8080);
  EXPECT_EQ(PortSelector::ByNumber(9999).Resolve(s), std::nullopt);
  EXPECT_EQ(PortSelector::First().Resolve(s), 50051);
  EndpointSlice all_ports;  // a nil port number means "all ports"
  all_ports.ports = {SlicePort{.name = "any", .port = {}, .protocol = {}, .app_protocol = {}}};
  EXPECT_EQ(PortSelector::ByNumber(7000).Resolve(all_ports), 7000);
  EXPECT_EQ(PortSelector::ByName("any").Resolve(all_ports), std::nullopt);
  EXPECT_EQ((PortSelector{.name = "any", .number = 7000}).Resolve(all_ports), 7000);
  EXPECT_EQ(PortSelector::First().Resolve(all_ports), std::nullopt);
  EXPECT_EQ(PortSelector::First().Resolve(EndpointSlice{}), std::nullopt);
}

TEST(SliceStore, IgnoresOtherServicesAndNamespaces) {
  SliceStore store(EchoOptions());
  EXPECT_FALSE(store.Apply(Added(Slice("web-a", {{"10.0.0.7"}}, {SlicePort{.name = "grpc", .port = 50051,
                                                                           .protocol = {}, .app_protocol = {}}},
                                       "web"))));
  EXPECT_FALSE(store.Apply(Added(Slice("echo-a", {{"10.0.0.8"}}, {SlicePort{.name = "grpc", .port = 50051,
                                                                            .protocol = {}, .app_protocol = {}}},
                                       "echo", "kube-system"))));
  EXPECT_TRUE(store.Current()->empty());
  // A held slice whose label changes away leaves (seen through an unfiltered watch).
  store.Apply(Added(Slice("echo-a", {{"10.0.0.1"}})));
  EXPECT_EQ(store.Current()->size(), 1u);
  EndpointSlice relabelled = Slice("echo-a", {{"10.0.0.1"}});
  relabelled.metadata.labels.erase(std::string(kServiceNameLabel));
  EXPECT_TRUE(store.Apply(Modified(relabelled)));
  EXPECT_TRUE(store.Current()->empty());

  SliceStore unfiltered(SliceStoreOptions{.service_name = "", .namespace_name = "", .port = PortSelector::First()});
  unfiltered.Apply(Added(relabelled));
  EXPECT_EQ(unfiltered.Current()->size(), 1u);
}

TEST(SliceStore, ReplaceReconciles) {
  SliceStore store(EchoOptions());
  store.Apply(Added(Slice("echo-a", {{"10.0.0.1"}, {"10.0.0.2"}})));
  store.Apply(Added(Slice("echo-b", {{"10.0.0.3"}})));
  // Missed during a disconnect: echo-b deleted, 10.0.0.2 dropped, echo-c created.
  EXPECT_TRUE(store.Replace({Slice("echo-a", {{"10.0.0.1"}}), Slice("echo-c", {{"10.0.0.4"}})}));
  EXPECT_EQ(HostPorts(store), (V{"10.0.0.1:50051", "10.0.0.4:50051"}));
  EXPECT_EQ(store.SliceKeys(), (V{"default/echo-a", "default/echo-c"}));
  EXPECT_TRUE(store.Replace({}));
  EXPECT_TRUE(store.Current()->empty());
}

TEST(SliceStore, VersionMovesOnlyWhenTheSetChanges) {
  SliceStore store(EchoOptions());
  std::vector<uint64_t> published;
  store.SetListener([&](const std::shared_ptr<const EndpointSet>& s) { published.push_back(s->version()); });
  EXPECT_TRUE(store.Apply(Added(Slice("echo-a", {{"10.0.0.1"}}))));
  EXPECT_EQ(store.Current()->version(), 1u);
  EndpointSlice same = Slice("echo-a", {{"10.0.0.1"}});
  same.metadata.resource_version = "99";  // a new resourceVersion alone changes nothing usable
  EXPECT_FALSE(store.Apply(Modified(same)));
  EXPECT_FALSE(store.Replace({same}));
  EXPECT_EQ(store.Current()->version(), 1u);
  EXPECT_TRUE(store.Apply(Modified(Slice("echo-a", {{"10.0.0.1"}, {"10.0.0.2"}}))));
  EXPECT_EQ(store.Current()->version(), 2u);
  EXPECT_EQ(published, (std::vector<uint64_t>{1, 2}));
}

TEST(SliceStore, StatsSurviveSnapshotSwapsWhileTheEndpointIsKnown) {
  SliceStore store(EchoOptions());
  store.Apply(Added(Slice("echo-a", {{"10.0.0.1"}, {"10.0.0.2"}})));
  std::shared_ptr<EndpointStats> stats = store.Current()->endpoints()[0].stats;
  stats->in_flight = 3;
  // Another slice changes, then 10.0.0.1 turns not-ready and back: same stats object throughout.
  store.Apply(Added(Slice("echo-b", {{"10.0.0.3"}})));
  EXPECT_EQ(store.Current()->endpoints()[0].stats, stats);
  store.Apply(Modified(Slice("echo-a", {{"10.0.0.1", false}, {"10.0.0.2"}})));
  store.Apply(Modified(Slice("echo-a", {{"10.0.0.1", true}, {"10.0.0.2"}})));
  ASSERT_EQ(store.Current()->endpoints()[0].HostPort(), "10.0.0.1:50051");
  EXPECT_EQ(store.Current()->endpoints()[0].stats, stats);
  EXPECT_EQ(store.Current()->endpoints()[0].stats->in_flight.load(), 3);
  // A relist that still lists it keeps the stats too.
  store.Replace({Slice("echo-a", {{"10.0.0.1", true}, {"10.0.0.2"}}), Slice("echo-b", {{"10.0.0.3"}})});
  EXPECT_EQ(store.Current()->endpoints()[0].stats, stats);
  // Moving to another slice in one relist keeps them as well (same HostPort).
  store.Replace({Slice("echo-a", {{"10.0.0.2"}}), Slice("echo-b", {{"10.0.0.3"}, {"10.0.0.1"}})});
  EXPECT_EQ(store.Current()->endpoints()[0].stats, stats);
  store.Replace({Slice("echo-a", {{"10.0.0.1", true}, {"10.0.0.2"}}), Slice("echo-b", {{"10.0.0.3"}})});
  // Once the endpoint is gone, a comeback starts fresh.
  store.Apply(Modified(Slice("echo-a", {{"10.0.0.2"}})));
  store.Apply(Modified(Slice("echo-a", {{"10.0.0.1"}, {"10.0.0.2"}})));
  EXPECT_NE(store.Current()->endpoints()[0].stats, stats);
  EXPECT_EQ(store.Current()->endpoints()[0].stats->in_flight.load(), 0);
}

TEST(SliceStore, Ipv6AndFqdnHostPorts) {
  SliceStore store(EchoOptions());
  EndpointSlice v6 = Slice("echo-v6", {{"fd00::1"}});
  v6.address_type = AddressType::kIPv6;
  EndpointSlice fqdn = Slice("echo-dns", {{"db-0.example"}});
  fqdn.address_type = AddressType::kFqdn;
  store.Replace({v6, fqdn});
  EXPECT_EQ(HostPorts(store), (V{"[fd00::1]:50051", "db-0.example:50051"}));
  EXPECT_EQ(JoinHostPort("::1", 80), "[::1]:80");
}

TEST(SliceStore, ReadersSeeWholeSnapshotsWhileTheWriterPublishes) {
  SliceStore store(EchoOptions());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    uint64_t last = 0;
    for (int i = 0; i < 2'000'000 && !stop.load(); ++i) {
      auto s = store.Current();
      // Snapshots never go back in version and hold 0 or 50 endpoints, never a half-built set.
      if (s->version() < last || (s->size() != 0 && s->size() != 50)) bad.fetch_add(1);
      last = s->version();
    }
  });
  std::vector<Ep> fifty;
  for (int i = 0; i < 50; ++i) fifty.push_back({"10.0.1." + std::to_string(i + 1)});
  for (int i = 0; i < 300; ++i) {
    store.Replace(i % 2 == 0 ? std::vector<EndpointSlice>{Slice("echo-a", fifty)} : std::vector<EndpointSlice>{});
  }
  stop.store(true);
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(store.Current()->version(), 300u);
}

}  // namespace
}  // namespace k8slb
