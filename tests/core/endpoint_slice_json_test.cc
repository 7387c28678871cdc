// Parser and serializer of discovery.k8s.io/v1 EndpointSlice (https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/): every field,
// every malformed case (the error names the field path), and the API server's serialization rules.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "k8slb/endpoint_slice.h"
#include "k8slb/endpoint_slice_json.h"
#include "k8slb/slice_store.h"
#include "writer/endpoint_slice_writer.h"
#include "slice_model.h"

namespace k8slb {
namespace {

using Json = nlohmann::json;

// A complete example slice, as a watch event's object.
const char* const kExample = R"({
  "kind": "EndpointSlice",
  "apiVersion": "discovery.k8s.io/v1",
  "metadata": {
    "name": "web-7xk2p", "generateName": "web-", "namespace": "default",
    "uid": "5b0e1c7e-0f5a-4a0e-9a6e-2f0d8f3c1a11", "resourceVersion": "4711", "generation": 3,
    "creationTimestamp": "2025-01-01T00:00:00Z",
    "labels": {"app": "web", "kubernetes.io/service-name": "web",
               "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
    "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2025-01-01T00:00:00Z"},
    "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web",
                         "uid": "0c2e-owner", "controller": true, "blockOwnerDeletion": true}]
  },
  "addressType": "IPv4",
  "endpoints": [
    {"addresses": ["10.244.1.7"],
     "conditions": {"ready": true, "serving": true, "terminating": false},
     "nodeName": "node-a", "zone": "zone-1",
     "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-5d9c-abcde", "uid": "pod-uid-1"},
     "hints": {"forZones": [{"name": "zone-1"}]}},
    {"addresses": ["10.244.2.9"],
     "conditions": {"ready": false, "serving": true, "terminating": true},
     "nodeName": "node-b", "zone": "zone-2",
     "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-5d9c-fghij", "uid": "pod-uid-2"}}
  ],
  "ports": [{"name": "http", "protocol": "TCP", "port": 8080, "appProtocol": "http"}]
})";

Json Example() { return Json::parse(kExample); }

TEST(ParseEndpointSlice, ReadsEveryFieldOfTheReferenceExample) {
  absl::StatusOr<EndpointSlice> s = ParseEndpointSlice(kExample);
  ASSERT_TRUE(s.ok()) << s.status();
  const ObjectMeta& m = s->metadata;
  EXPECT_EQ(m.name, "web-7xk2p");
  EXPECT_EQ(m.generate_name, "web-");
  EXPECT_EQ(m.namespace_name, "default");
  EXPECT_EQ(m.uid, "5b0e1c7e-0f5a-4a0e-9a6e-2f0d8f3c1a11");
  EXPECT_EQ(m.resource_version, "4711");
  EXPECT_EQ(m.generation, 3);
  EXPECT_EQ(m.creation_timestamp, "2025-01-01T00:00:00Z");
  EXPECT_EQ(m.labels.at("app"), "web");
  EXPECT_EQ(s->ServiceName(), "web");
  EXPECT_EQ(m.labels.at(std::string(kManagedByLabel)), kControllerName);
  EXPECT_EQ(m.annotations.at("endpoints.kubernetes.io/last-change-trigger-time"), "2025-01-01T00:00:00Z");
  ASSERT_EQ(m.owner_references.size(), 1u);
  EXPECT_EQ(m.owner_references[0].api_version, "v1");
  EXPECT_EQ(m.owner_references[0].kind, "Service");
  EXPECT_EQ(m.owner_references[0].name, "web");
  EXPECT_EQ(m.owner_references[0].uid, "0c2e-owner");
  EXPECT_TRUE(m.owner_references[0].controller);
  EXPECT_TRUE(m.owner_references[0].block_owner_deletion);
  EXPECT_EQ(s->Key(), "default/web-7xk2p");

  EXPECT_EQ(s->address_type, AddressType::kIPv4);
  ASSERT_EQ(s->endpoints.size(), 2u);
  const SliceEndpoint& a = s->endpoints[0];
  EXPECT_EQ(a.addresses, std::vector<std::string>{"10.244.1.7"});
  EXPECT_EQ(a.conditions.ready, true);
  EXPECT_EQ(a.conditions.serving, true);
  EXPECT_EQ(a.conditions.terminating, false);
  EXPECT_EQ(a.node_name, "node-a");
  EXPECT_EQ(a.zone, "zone-1");
  ASSERT_TRUE(a.target_ref.has_value());
  EXPECT_EQ(a.target_ref->kind, "Pod");
  EXPECT_EQ(a.target_ref->namespace_name, "default");
  EXPECT_EQ(a.target_ref->name, "web-5d9c-abcde");
  EXPECT_EQ(a.target_ref->uid, "pod-uid-1");
  EXPECT_EQ(a.hint_zones, std::vector<std::string>{"zone-1"});
  EXPECT_FALSE(a.hostname.has_value());
  const SliceEndpoint& b = s->endpoints[1];
  EXPECT_EQ(b.conditions.ready, false);
  EXPECT_EQ(b.conditions.terminating, true);
  EXPECT_TRUE(b.hint_zones.empty());

  ASSERT_EQ(s->ports.size(), 1u);
  EXPECT_EQ(s->ports[0].name, "http");
  EXPECT_EQ(s->ports[0].protocol, "TCP");
  EXPECT_EQ(s->ports[0].port, 8080);
  EXPECT_EQ(s->ports[0].app_protocol, "http");
}

TEST(ParseEndpointSlice, ListItemsWithoutTypeMetaParseTheSame) {
  Json item = Example();
  item.erase("kind");
  item.erase("apiVersion");
  absl::StatusOr<EndpointSlice> a = ParseEndpointSlice(kExample);
  absl::StatusOr<EndpointSlice> b = EndpointSliceFromJson(item);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(SerializeEndpointSlice(*a), SerializeEndpointSlice(*b));
}

TEST(ParseEndpointSlice, NullAndMissingListsAreEmpty) {
  // The placeholder slice of a Service that selects nothing (kubernetes#135968).
  for (const char* text : {R"({"metadata":{"name":"p"},"addressType":"IPv4","endpoints":null,"ports":null})",
                           R"({"metadata":{"name":"p"},"addressType":"IPv4"})"}) {
    absl::StatusOr<EndpointSlice> s = ParseEndpointSlice(text);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_TRUE(s->endpoints.empty());
    EXPECT_TRUE(s->ports.empty());
  }
}

TEST(ParseEndpointSlice, MissingOrNullConditionsStayNilAndFollowTheRules) {
  absl::StatusOr<EndpointSlice> s = ParseEndpointSlice(R"({"metadata":{"name":"p"},"addressType":"IPv4",
      "endpoints":[{"addresses":["10.0.0.1"]},
                   {"addresses":["10.0.0.2"],"conditions":null},
                   {"addresses":["10.0.0.3"],"conditions":{}},
                   {"addresses":["10.0.0.4"],"conditions":{"ready":null,"serving":null,"terminating":null}},
                   {"addresses":["10.0.0.5"],"conditions":{"ready":false}}]})");
  ASSERT_TRUE(s.ok()) << s.status();
  for (int i = 0; i < 4; ++i) {
    const EndpointConditions& c = s->endpoints[i].conditions;
    EXPECT_FALSE(c.ready.has_value() || c.serving.has_value() || c.terminating.has_value()) << i;
    EXPECT_TRUE(c.EffectiveReady());        // nil ready = ready
    EXPECT_FALSE(c.EffectiveTerminating());  // nil terminating = false
    EXPECT_TRUE(c.EffectiveServing());       // nil serving defers to ready
  }
  EXPECT_FALSE(s->endpoints[4].conditions.EffectiveServing());  // defers to ready=false
}

TEST(ParseEndpointSlice, AddressTypesIPv6AndFqdn) {
  absl::StatusOr<EndpointSlice> v6 = ParseEndpointSlice(
      R"({"metadata":{"name":"p"},"addressType":"IPv6","endpoints":[{"addresses":["fd00::1","2001:db8::7"]}]})");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->address_type, AddressType::kIPv6);
  EXPECT_EQ(v6->endpoints[0].addresses.size(), 2u);
  absl::StatusOr<EndpointSlice> fqdn = ParseEndpointSlice(
      R"({"metadata":{"name":"p"},"addressType":"FQDN","endpoints":[{"addresses":["db-0.example.com"],"hostname":"db-0"}]})");
  ASSERT_TRUE(fqdn.ok()) << fqdn.status();
  EXPECT_EQ(fqdn->address_type, AddressType::kFqdn);
  EXPECT_EQ(fqdn->endpoints[0].hostname, "db-0");
  EXPECT_EQ(AddressTypeName(AddressType::kIPv4), "IPv4");
  EXPECT_EQ(AddressTypeName(AddressType::kIPv6), "IPv6");
  EXPECT_EQ(AddressTypeName(AddressType::kFqdn), "FQDN");
}

TEST(ParseEndpointSlice, PortsByNameNumberAndNil) {
  absl::StatusOr<EndpointSlice> s = ParseEndpointSlice(R"({"metadata":{"name":"p"},"addressType":"IPv4",
      "ports":[{"name":"grpc","port":50051},{"port":9090},{"name":"all"},{}]})");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->ports.size(), 4u);
  EXPECT_EQ(s->ports[0].name, "grpc");
  EXPECT_EQ(s->ports[0].port, 50051);
  EXPECT_FALSE(s->ports[1].name.has_value());
  EXPECT_EQ(s->ports[1].port, 9090);
  EXPECT_FALSE(s->ports[2].port.has_value());  // nil = all ports
  EXPECT_FALSE(s->ports[3].protocol.has_value());
}

TEST(ParseEndpointSlice, HintsForZonesAndForNodes) {
  absl::StatusOr<EndpointSlice> s = ParseEndpointSlice(R"({"metadata":{"name":"p"},"addressType":"IPv4",
      "endpoints":[{"addresses":["10.0.0.1"],"hints":{"forZones":[{"name":"a"},{"name":"b"}],"forNodes":[{"name":"n1"}]}},
                   {"addresses":["10.0.0.2"],"hints":{}},
                   {"addresses":["10.0.0.3"],"hints":null}]})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->endpoints[0].hint_zones, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s->endpoints[0].hint_nodes, std::vector<std::string>{"n1"});
  EXPECT_TRUE(s->endpoints[1].hint_zones.empty());
  EXPECT_TRUE(s->endpoints[2].hint_zones.empty());
}

TEST(ParseEndpointSlice, UnknownFieldsAreIgnoredAsInGo) {
  Json j = Example();
  j["metadata"]["managedFields"] = Json::array({Json{{"manager", "kube-controller-manager"}}});
  j["endpoints"][0]["deprecatedTopology"] = Json{{"k", "v"}};
  j["somethingNew"] = 42;
  EXPECT_TRUE(EndpointSliceFromJson(j).ok());
}

// ---- malformed input: one case per field, each error naming the path ------------------------------

struct Malformed {
  const char* name;
  std::function<void(Json&)> mutate;
  const char* message;  // expected exact prefix "path: reason"
};

class MalformedTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedTest, IsRejectedWithTheFieldPath) {
  Json j = Example();
  GetParam().mutate(j);
  absl::StatusOr<EndpointSlice> s = EndpointSliceFromJson(j);
  ASSERT_FALSE(s.ok()) << GetParam().name << " was accepted";
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.status().message()).rfind(GetParam().message, 0), 0u)
      << GetParam().name << ": got \"" << s.status().message() << "\", want prefix \"" << GetParam().message << "\"";
  // The text form reports the same error.
  absl::StatusOr<EndpointSlice> t = ParseEndpointSlice(j.dump());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), s.status().message());
}

// Endpoint 2 is a third endpoint appended so paths carry a non-zero index.
void AddThird(Json& j) { j["endpoints"].push_back(Json{{"addresses", {"10.0.0.3"}}}); }

const Malformed kMalformed[] = {
    {"kind", [](Json& j) { j["kind"] = "Endpoints"; }, "kind: expected \"EndpointSlice\""},
    {"kind type", [](Json& j) { j["kind"] = 1; }, "kind: expected string"},
    {"apiVersion", [](Json& j) { j["apiVersion"] = "discovery.k8s.io/v1beta1"; }, "apiVersion: expected"},
    {"metadata missing", [](Json& j) { j.erase("metadata"); }, "metadata: required"},
    {"metadata type", [](Json& j) { j["metadata"] = "x"; }, "metadata: expected object"},
    {"name missing", [](Json& j) { j["metadata"].erase("name"); }, "metadata.name: required"},
    {"name type", [](Json& j) { j["metadata"]["name"] = 5; }, "metadata.name: expected string"},
    {"namespace type", [](Json& j) { j["metadata"]["namespace"] = true; }, "metadata.namespace: expected string"},
    {"generateName type", [](Json& j) { j["metadata"]["generateName"] = 1; }, "metadata.generateName: expected string"},
    {"uid type", [](Json& j) { j["metadata"]["uid"] = 1; }, "metadata.uid: expected string"},
    {"resourceVersion type", [](Json& j) { j["metadata"]["resourceVersion"] = 4711; },
     "metadata.resourceVersion: expected string"},
    {"generation type", [](Json& j) { j["metadata"]["generation"] = "3"; }, "metadata.generation: expected integer"},
    {"generation float", [](Json& j) { j["metadata"]["generation"] = 1.5; }, "metadata.generation: expected integer"},
    {"creationTimestamp type", [](Json& j) { j["metadata"]["creationTimestamp"] = 0; },
     "metadata.creationTimestamp: expected string"},
    {"labels type", [](Json& j) { j["metadata"]["labels"] = Json::array(); }, "metadata.labels: expected object"},
    {"label value", [](Json& j) { j["metadata"]["labels"]["app"] = 1; }, "metadata.labels[\"app\"]: expected string"},
    {"annotation value", [](Json& j) { j["metadata"]["annotations"]["a"] = Json::object(); },
     "metadata.annotations[\"a\"]: expected string"},
    {"ownerReferences type", [](Json& j) { j["metadata"]["ownerReferences"] = Json::object(); },
     "metadata.ownerReferences: expected array"},
    {"ownerReference item", [](Json& j) { j["metadata"]["ownerReferences"][0] = "x"; },
     "metadata.ownerReferences[0]: expected object"},
    {"ownerReference controller", [](Json& j) { j["metadata"]["ownerReferences"][0]["controller"] = "true"; },
     "metadata.ownerReferences[0].controller: expected boolean"},
    {"ownerReference blockOwnerDeletion", [](Json& j) { j["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] = 1; },
     "metadata.ownerReferences[0].blockOwnerDeletion: expected boolean"},
    {"ownerReference name", [](Json& j) { j["metadata"]["ownerReferences"][0]["name"] = 1; },
     "metadata.ownerReferences[0].name: expected string"},
    {"addressType missing", [](Json& j) { j.erase("addressType"); }, "addressType: required"},
    {"addressType type", [](Json& j) { j["addressType"] = 4; }, "addressType: expected string"},
    {"addressType value", [](Json& j) { j["addressType"] = "IPv5"; }, "addressType: unknown value \"IPv5\""},
    {"endpoints type", [](Json& j) { j["endpoints"] = Json::object(); }, "endpoints: expected array"},
    {"endpoint type", [](Json& j) { AddThird(j); j["endpoints"][2] = 7; }, "endpoints[2]: expected object"},
    {"addresses missing", [](Json& j) { AddThird(j); j["endpoints"][2].erase("addresses"); },
     "endpoints[2].addresses: expected at least one address"},
    {"addresses empty", [](Json& j) { AddThird(j); j["endpoints"][2]["addresses"] = Json::array(); },
     "endpoints[2].addresses: expected at least one address"},
    {"addresses type", [](Json& j) { AddThird(j); j["endpoints"][2]["addresses"] = "10.0.0.3"; },
     "endpoints[2].addresses: expected array"},
    {"address type", [](Json& j) { AddThird(j); j["endpoints"][2]["addresses"][0] = 10; },
     "endpoints[2].addresses[0]: expected string"},
    {"bad IPv4", [](Json& j) { AddThird(j); j["endpoints"][2]["addresses"][0] = "10.0.0.300"; },
     "endpoints[2].addresses[0]: invalid IPv4 address \"10.0.0.300\""},
    {"IPv6 in IPv4 slice", [](Json& j) { AddThird(j); j["endpoints"][2]["addresses"][0] = "fd00::1"; },
     "endpoints[2].addresses[0]: invalid IPv4 address"},
    {"bad IPv6", [](Json& j) { j["addressType"] = "IPv6"; j["endpoints"] = Json::array({Json{{"addresses", {"10.0.0.1"}}}}); },
     "endpoints[0].addresses[0]: invalid IPv6 address"},
    {"bad FQDN", [](Json& j) { j["addressType"] = "FQDN"; j["endpoints"] = Json::array({Json{{"addresses", {"a b"}}}}); },
     "endpoints[0].addresses[0]: invalid FQDN address"},
    {"conditions type", [](Json& j) { AddThird(j); j["endpoints"][2]["conditions"] = true; },
     "endpoints[2].conditions: expected object"},
    {"ready type", [](Json& j) { AddThird(j); j["endpoints"][2]["conditions"]["ready"] = "yes"; },
     "endpoints[2].conditions.ready: expected boolean"},
    {"serving type", [](Json& j) { AddThird(j); j["endpoints"][2]["conditions"]["serving"] = 1; },
     "endpoints[2].conditions.serving: expected boolean"},
    {"terminating type", [](Json& j) { AddThird(j); j["endpoints"][2]["conditions"]["terminating"] = "false"; },
     "endpoints[2].conditions.terminating: expected boolean"},
    {"hostname type", [](Json& j) { j["endpoints"][1]["hostname"] = 1; }, "endpoints[1].hostname: expected string"},
    {"nodeName type", [](Json& j) { j["endpoints"][1]["nodeName"] = 1; }, "endpoints[1].nodeName: expected string"},
    {"zone type", [](Json& j) { j["endpoints"][1]["zone"] = Json::array(); }, "endpoints[1].zone: expected string"},
    {"targetRef type", [](Json& j) { j["endpoints"][1]["targetRef"] = "pod"; }, "endpoints[1].targetRef: expected object"},
    {"targetRef name", [](Json& j) { j["endpoints"][1]["targetRef"]["name"] = 1; },
     "endpoints[1].targetRef.name: expected string"},
    {"targetRef kind", [](Json& j) { j["endpoints"][1]["targetRef"]["kind"] = false; },
     "endpoints[1].targetRef.kind: expected string"},
    {"hints type", [](Json& j) { j["endpoints"][0]["hints"] = 1; }, "endpoints[0].hints: expected object"},
    {"forZones type", [](Json& j) { j["endpoints"][0]["hints"]["forZones"] = "zone-1"; },
     "endpoints[0].hints.forZones: expected array"},
    {"forZones item", [](Json& j) { j["endpoints"][0]["hints"]["forZones"][0] = "zone-1"; },
     "endpoints[0].hints.forZones[0]: expected object"},
    {"forZones name missing", [](Json& j) { j["endpoints"][0]["hints"]["forZones"][0] = Json::object(); },
     "endpoints[0].hints.forZones[0].name: required"},
    {"forZones name type", [](Json& j) { j["endpoints"][0]["hints"]["forZones"][0]["name"] = 1; },
     "endpoints[0].hints.forZones[0].name: expected string"},
    {"forNodes item", [](Json& j) { j["endpoints"][0]["hints"]["forNodes"] = Json::array({1}); },
     "endpoints[0].hints.forNodes[0]: expected object"},
    {"ports type", [](Json& j) { j["ports"] = Json::object(); }, "ports: expected array"},
    {"port item", [](Json& j) { j["ports"][0] = 8080; }, "ports[0]: expected object"},
    {"port type", [](Json& j) { j["ports"][0]["port"] = "8080"; }, "ports[0].port: expected integer"},
    {"port float", [](Json& j) { j["ports"][0]["port"] = 80.5; }, "ports[0].port: expected integer"},
    {"port beyond int32", [](Json& j) { j["ports"][0]["port"] = 2147483648LL; }, "ports[0].port: integer out of range"},
    {"port below int32", [](Json& j) { j["ports"][0]["port"] = -2147483649LL; }, "ports[0].port: integer out of range"},
    {"unspecified IPv4", [](Json& j) { AddThird(j); j["endpoints"][2]["addresses"][0] = "0.0.0.0"; },
     "endpoints[2].addresses[0]: invalid IPv4 address \"0.0.0.0\": may not be unspecified"},
    {"link-local IPv4", [](Json& j) { AddThird(j); j["endpoints"][2]["addresses"][0] = "169.254.1.1"; },
     "endpoints[2].addresses[0]: invalid IPv4 address \"169.254.1.1\": may not be in the link-local range"},
    {"link-local multicast IPv4", [](Json& j) { AddThird(j); j["endpoints"][2]["addresses"][0] = "224.0.0.1"; },
     "endpoints[2].addresses[0]: invalid IPv4 address \"224.0.0.1\": may not be in the link-local multicast"},
    {"IPv4 with a prefix", [](Json& j) { AddThird(j); j["endpoints"][2]["addresses"][0] = "10.0.0.3/32"; },
     "endpoints[2].addresses[0]: invalid IPv4 address"},
    {"IPv4-mapped IPv6", [](Json& j) { j["addressType"] = "IPv6"; j["endpoints"] = Json::array({Json{{"addresses", {"::ffff:10.0.0.1"}}}}); },
     "endpoints[0].addresses[0]: invalid IPv6 address \"::ffff:10.0.0.1\": must be an IPv6 address (not IPv4-mapped)"},
    {"link-local IPv6", [](Json& j) { j["addressType"] = "IPv6"; j["endpoints"] = Json::array({Json{{"addresses", {"fe80::1"}}}}); },
     "endpoints[0].addresses[0]: invalid IPv6 address \"fe80::1\": may not be in the link-local range"},
    {"IPv6 with a zone", [](Json& j) { j["addressType"] = "IPv6"; j["endpoints"] = Json::array({Json{{"addresses", {"fd00::1%eth0"}}}}); },
     "endpoints[0].addresses[0]: invalid IPv6 address"},
    {"upper-case FQDN", [](Json& j) { j["addressType"] = "FQDN"; j["endpoints"] = Json::array({Json{{"addresses", {"DB.example.com"}}}}); },
     "endpoints[0].addresses[0]: invalid FQDN address"},
    {"port name", [](Json& j) { j["ports"][0]["name"] = 1; }, "ports[0].name: expected string"},
    {"port protocol", [](Json& j) { j["ports"][0]["protocol"] = 6; }, "ports[0].protocol: expected string"},
    {"port appProtocol", [](Json& j) { j["ports"][0]["appProtocol"] = true; }, "ports[0].appProtocol: expected string"},
};

INSTANTIATE_TEST_SUITE_P(EveryField, MalformedTest, ::testing::ValuesIn(kMalformed),
                         [](const ::testing::TestParamInfo<Malformed>& info) {
                           std::string n;
                           for (char c : std::string(info.param.name)) n += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

TEST(ParseEndpointSlice, NonJsonAndNonObjects) {
  for (const char* text : {"", "{", "not json", "{\"metadata\": }", "[1,2]", "\"slice\"", "null", "42"}) {
    absl::StatusOr<EndpointSlice> s = ParseEndpointSlice(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("EndpointSlice: "), std::string::npos) << s.status();
  }
}

// Never a crash: any single JSON value (leaf or subtree) replaced anywhere in the example gives
// a slice or a clean InvalidArgument error.
void CollectPointers(const Json& j, const std::string& at, std::vector<std::string>* out) {
  out->push_back(at);
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) CollectPointers(it.value(), at + "/" + it.key(), out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) CollectPointers(j[i], at + "/" + std::to_string(i), out);
  }
}

RC_GTEST_PROP(ParseEndpointSlice, ArbitraryCorruptionNeverCrashes, ()) {
  Json j = Example();
  std::vector<std::string> pointers;
  CollectPointers(j, "", &pointers);
  pointers.erase(pointers.begin());  // not the root itself
  const std::string at = pointers[*coretest::Choice(static_cast<int>(pointers.size()))];
  const std::vector<Json> replacements = {Json(nullptr), Json(true), Json(-1), Json(1.5), Json("x"),
                                          Json::array(), Json::object(), Json::array({Json::object()}),
                                          Json(uint64_t{1} << 63), Json::array({"10.0.0.1"})};
  j[Json::json_pointer(at)] = replacements[*coretest::Choice(static_cast<int>(replacements.size()))];
  absl::StatusOr<EndpointSlice> s = EndpointSliceFromJson(j);
  if (!s.ok()) {
    RC_ASSERT(s.status().code() == absl::StatusCode::kInvalidArgument);
    RC_ASSERT(!s.status().message().empty());
  }
  RC_TAG(s.ok() ? "accepted" : "rejected");
}

// ---- serialization ------------------------------------------------------------------------------

TEST(SerializeEndpointSlice, ReferenceExampleRoundTripsExactly) {
  absl::StatusOr<EndpointSlice> s = ParseEndpointSlice(kExample);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(EndpointSliceToJson(*s), Example());  // same JSON value (key order aside)
}

TEST(SerializeEndpointSlice, FollowsTheApiServerRules) {
  EndpointSlice s;
  s.metadata.name = "echo-abc";
  s.address_type = AddressType::kIPv6;
  Json j = EndpointSliceToJson(s);
  EXPECT_EQ(j["kind"], "EndpointSlice");
  EXPECT_EQ(j["apiVersion"], "discovery.k8s.io/v1");
  EXPECT_EQ(j["addressType"], "IPv6");
  EXPECT_EQ(j["endpoints"], Json::array());  // [] never null (python 22.6 rejects null)
  EXPECT_EQ(j["ports"], Json::array());
  EXPECT_FALSE(j["metadata"].contains("labels"));
  EXPECT_FALSE(j["metadata"].contains("ownerReferences"));

  Json item = EndpointSliceToJson(s, /*with_type_meta=*/false);
  EXPECT_FALSE(item.contains("kind"));
  EXPECT_FALSE(item.contains("apiVersion"));

  SliceEndpoint e;
  e.addresses = {"fd00::1"};
  e.conditions.ready = false;  // serving/terminating nil: omitted
  s.endpoints.push_back(e);
  j = EndpointSliceToJson(s);
  EXPECT_EQ(j["endpoints"][0]["conditions"], (Json{{"ready", false}}));
  s.endpoints[0].conditions = {};
  j = EndpointSliceToJson(s);
  EXPECT_EQ(j["endpoints"][0]["conditions"], Json::object());  // a struct in Go: always present
  EXPECT_FALSE(j["endpoints"][0].contains("hints"));
  EXPECT_FALSE(j["endpoints"][0].contains("zone"));
  EXPECT_EQ(Json::parse(SerializeEndpointSlice(s)), j);
}

TEST(SerializeEndpointSlice, MetadataHelpersRoundTrip) {
  Json meta = Example()["metadata"];
  absl::StatusOr<ObjectMeta> m = ObjectMetaFromJson(meta);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(ObjectMetaToJson(*m), meta);
  absl::StatusOr<ObjectMeta> bad = ObjectMetaFromJson(Json{{"labels", {{"a", 1}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "metadata.labels[\"a\"]: expected string");
}

// What a real API server stores is read, as the server reads it (recorded answers in
// tests/fidelity/realapi/endpointslices-crud.json): IPv4 octets with leading zeros (decimal),
// non-canonical IPv6, loopback (stored by k8slb-fakeapi --allow-loopback-endpoints), and port
// numbers outside 1..65535, which the selection then drops (SliceStore, one log line).
TEST(ParseEndpointSlice, AcceptsWhatTheServerStores) {
  absl::StatusOr<EndpointSlice> v4 = ParseEndpointSlice(R"({"metadata":{"name":"p"},"addressType":"IPv4",
      "endpoints":[{"addresses":["010.001.002.003"]},{"addresses":["127.0.0.1"]},{"addresses":["255.255.255.255"]}],
      "ports":[{"name":"a","port":70000},{"name":"b","port":-1},{"name":"c","port":0}]})");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->endpoints[0].addresses[0], "10.1.2.3");
  EXPECT_EQ(v4->endpoints[1].addresses[0], "127.0.0.1");
  EXPECT_EQ(v4->ports[0].port, 70000);
  EXPECT_EQ(v4->ports[1].port, -1);
  EXPECT_EQ(v4->ports[2].port, 0);
  absl::StatusOr<EndpointSlice> v6 = ParseEndpointSlice(
      R"({"metadata":{"name":"p"},"addressType":"IPv6","endpoints":[{"addresses":["FD00:0:0:0::0001","::1"]}]})");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->endpoints[0].addresses[0], "FD00:0:0:0::0001");
}

TEST(SliceStore, DropsASliceWhosePortCannotBeDialed) {
  for (int32_t port : {0, -1, 70000}) {
    SliceStore store(SliceStoreOptions{.service_name = "echo", .namespace_name = "default",
                                       .port = PortSelector::ByName("grpc")});
    absl::StatusOr<EndpointSlice> s = ParseEndpointSlice(Json{
        {"metadata", {{"name", "echo-1"}, {"namespace", "default"}, {"labels", {{"kubernetes.io/service-name", "echo"}}}}},
        {"addressType", "IPv4"},
        {"endpoints", Json::array({Json{{"addresses", {"10.0.0.1"}}, {"conditions", {{"ready", true}}}}})},
        {"ports", Json::array({Json{{"name", "grpc"}, {"port", port}}})}}.dump());
    ASSERT_TRUE(s.ok()) << s.status();
    store.Apply(SliceEvent{.type = SliceEventType::kAdded, .slice = *s});
    EXPECT_EQ(store.Current()->size(), 0u) << "port " << port;
  }
}

// Serialize ∘ parse is the identity on every generated slice (all condition combinations,
// address types, ports, hints, target refs).
RC_GTEST_PROP(SerializeEndpointSlice, RoundTripsGeneratedSlices, ()) {
  EndpointSlice s = *coretest::GenAnySlice();
  s.metadata.uid = "uid-1";
  s.metadata.resource_version = "12";
  s.metadata.generation = 2;
  s.metadata.annotations["a"] = "b";
  s.metadata.owner_references.push_back(OwnerReference{.api_version = "v1", .kind = "Service", .name = "echo",
                                                       .uid = "u", .controller = true, .block_owner_deletion = false});
  for (bool type_meta : {true, false}) {
    const std::string text = SerializeEndpointSlice(s, type_meta);
    absl::StatusOr<EndpointSlice> back = ParseEndpointSlice(text);
    RC_ASSERT(back.ok());
    RC_ASSERT(SerializeEndpointSlice(*back, type_meta) == text);
    RC_ASSERT(back->endpoints.size() == s.endpoints.size());
    for (size_t i = 0; i < s.endpoints.size(); ++i) {
      RC_ASSERT(back->endpoints[i].conditions == s.endpoints[i].conditions);
      RC_ASSERT(back->endpoints[i].addresses == s.endpoints[i].addresses);
      RC_ASSERT(back->endpoints[i].hint_zones == s.endpoints[i].hint_zones);
    }
  }
}

}  // namespace
}  // namespace k8slb
