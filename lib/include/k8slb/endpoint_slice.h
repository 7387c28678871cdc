// The discovery.k8s.io/v1 EndpointSlice object, as k8slb reads it from the API and as fakeapi writes it.
//
// Field semantics follow the API (discovery.k8s.io/v1,
// https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/): conditions keep their
// tri-state (nil is meaningful), `endpoints: null` parses as an empty list, and list items without
// kind/apiVersion parse the same as watch objects. Plain value types; no thread-safety concerns.
#ifndef K8SLB_ENDPOINT_SLICE_H_
#define K8SLB_ENDPOINT_SLICE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb {

// Label that joins a slice to its Service.
inline constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";
inline constexpr std::string_view kManagedByLabel = "endpointslice.kubernetes.io/managed-by";
inline constexpr std::string_view kControllerName = "endpointslice-controller.k8s.io";

enum class AddressType { kIPv4, kIPv6, kFqdn };

std::string_view AddressTypeName(AddressType type);

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool block_owner_deletion = false;
};

struct ObjectReference {
  std::string kind;
  std::string namespace_name;
  std::string name;
  std::string uid;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_name;
  std::string generate_name;
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  std::string creation_timestamp;  // RFC 3339, e.g. "2025-01-01T00:00:00Z"; empty = absent
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<OwnerReference> owner_references;
};

// Tri-state as in the API: see EffectiveReady() etc. for the rules that interpret nil.
struct EndpointConditions {
  std::optional<bool> ready;
  std::optional<bool> serving;
  std::optional<bool> terminating;

  // nil ready means ready ("unknown state should be interpreted as ready").
  bool EffectiveReady() const { return ready.value_or(true); }
  // nil terminating means false.
  bool EffectiveTerminating() const { return terminating.value_or(false); }
  // nil serving defers to ready.
  bool EffectiveServing() const { return serving.value_or(EffectiveReady()); }
  friend bool operator==(const EndpointConditions&, const EndpointConditions&) = default;
};

struct SliceEndpoint {
  std::vector<std::string> addresses;  // 1..100 entries; consumers use the first (as kube-proxy)
  EndpointConditions conditions;
  std::optional<std::string> hostname;
  std::optional<std::string> node_name;
  std::optional<std::string> zone;
  std::optional<ObjectReference> target_ref;
  std::vector<std::string> hint_zones;  // hints.forZones[].name
  std::vector<std::string> hint_nodes;  // hints.forNodes[].name (1.33+)
};

struct SlicePort {
  std::optional<std::string> name;
  std::optional<int32_t> port;  // nil means "all ports"
  std::optional<std::string> protocol;
  std::optional<std::string> app_protocol;
};

struct EndpointSlice {
  ObjectMeta metadata;
  AddressType address_type = AddressType::kIPv4;
  std::vector<SliceEndpoint> endpoints;
  std::vector<SlicePort> ports;

  // "namespace/name": the key a SliceStore uses.
  std::string Key() const { return metadata.namespace_name + "/" + metadata.name; }
  // Value of the kubernetes.io/service-name label, or empty.
  std::string ServiceName() const;
};

// Parses one EndpointSlice from JSON text (a list item or a watch event's object).
// Errors name the offending field path, e.g. "endpoints[2].conditions.ready: expected boolean".
absl::StatusOr<EndpointSlice> ParseEndpointSlice(std::string_view json_text);

}  // namespace k8slb

#endif  // K8SLB_ENDPOINT_SLICE_H_
