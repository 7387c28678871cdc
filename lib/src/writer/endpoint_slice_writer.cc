// EndpointSlice serialization (see endpoint_slice_writer.h), field by field after the
// discovery.k8s.io/v1 Go types (https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/).
#include "writer/endpoint_slice_writer.h"

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace k8slb {
namespace {

using Json = nlohmann::json;

// hints.forZones / forNodes: lists of {name: ...} objects.
Json NameList(const std::vector<std::string>& names) {
  Json list = Json::array();
  for (const std::string& n : names) list.push_back(Json{{"name", n}});
  return list;
}

}  // namespace

nlohmann::json ObjectMetaToJson(const ObjectMeta& m) {
  Json out = Json::object();
  out["name"] = m.name;
  if (!m.generate_name.empty()) out["generateName"] = m.generate_name;
  if (!m.namespace_name.empty()) out["namespace"] = m.namespace_name;
  if (!m.uid.empty()) out["uid"] = m.uid;
  if (!m.resource_version.empty()) out["resourceVersion"] = m.resource_version;
  if (m.generation != 0) out["generation"] = m.generation;
  // The API server always writes creationTimestamp for stored objects; an unset one is omitted.
  if (!m.creation_timestamp.empty()) out["creationTimestamp"] = m.creation_timestamp;
  if (!m.labels.empty()) out["labels"] = m.labels;
  if (!m.annotations.empty()) out["annotations"] = m.annotations;
  if (!m.owner_references.empty()) {
    Json owners = Json::array();
    for (const OwnerReference& o : m.owner_references) {
      Json ref = {{"apiVersion", o.api_version}, {"kind", o.kind}, {"name", o.name}, {"uid", o.uid}};
      // *bool omitempty in Go; metav1.NewControllerRef sets both to true.
      if (o.controller) ref["controller"] = true;
      if (o.block_owner_deletion) ref["blockOwnerDeletion"] = true;
      owners.push_back(std::move(ref));
    }
    out["ownerReferences"] = std::move(owners);
  }
  return out;
}

nlohmann::json EndpointSliceToJson(const EndpointSlice& slice, bool with_type_meta) {
  Json out = Json::object();
  if (with_type_meta) {
    out["kind"] = "EndpointSlice";
    out["apiVersion"] = "discovery.k8s.io/v1";
  }
  out["metadata"] = ObjectMetaToJson(slice.metadata);
  out["addressType"] = std::string(AddressTypeName(slice.address_type));  // never omitted

  // [] never null, as the API server writes it; the Python client (22.x) rejects a null list.
  Json endpoints = Json::array();
  for (const SliceEndpoint& e : slice.endpoints) {
    Json je = Json::object();
    je["addresses"] = e.addresses;
    // conditions is a struct (not a pointer) in Go, so it is always present; its members are
    // *bool omitempty, so nil conditions are omitted.
    Json cond = Json::object();
    if (e.conditions.ready.has_value()) cond["ready"] = *e.conditions.ready;
    if (e.conditions.serving.has_value()) cond["serving"] = *e.conditions.serving;
    if (e.conditions.terminating.has_value()) cond["terminating"] = *e.conditions.terminating;
    je["conditions"] = std::move(cond);
    if (e.hostname.has_value()) je["hostname"] = *e.hostname;
    if (e.target_ref.has_value()) {
      Json ref = Json::object();
      if (!e.target_ref->kind.empty()) ref["kind"] = e.target_ref->kind;
      if (!e.target_ref->namespace_name.empty()) ref["namespace"] = e.target_ref->namespace_name;
      if (!e.target_ref->name.empty()) ref["name"] = e.target_ref->name;
      if (!e.target_ref->uid.empty()) ref["uid"] = e.target_ref->uid;
      je["targetRef"] = std::move(ref);
    }
    if (e.node_name.has_value()) je["nodeName"] = *e.node_name;
    if (e.zone.has_value()) je["zone"] = *e.zone;
    if (!e.hint_zones.empty() || !e.hint_nodes.empty()) {
      Json hints = Json::object();
      if (!e.hint_zones.empty()) hints["forZones"] = NameList(e.hint_zones);
      if (!e.hint_nodes.empty()) hints["forNodes"] = NameList(e.hint_nodes);
      je["hints"] = std::move(hints);
    }
    endpoints.push_back(std::move(je));
  }
  out["endpoints"] = std::move(endpoints);

  Json ports = Json::array();
  for (const SlicePort& p : slice.ports) {
    Json jp = Json::object();
    if (p.name.has_value()) jp["name"] = *p.name;
    if (p.protocol.has_value()) jp["protocol"] = *p.protocol;
    if (p.port.has_value()) jp["port"] = *p.port;
    if (p.app_protocol.has_value()) jp["appProtocol"] = *p.app_protocol;
    ports.push_back(std::move(jp));
  }
  out["ports"] = std::move(ports);
  return out;
}

std::string SerializeEndpointSlice(const EndpointSlice& slice, bool with_type_meta) {
  return EndpointSliceToJson(slice, with_type_meta).dump();
}

}  // namespace k8slb
