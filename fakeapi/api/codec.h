// Objects in and out, as the API server's codecs handle them, driven by the schema:
//   Decode:         request JSON -> the object the server keeps: fields the schema does not know
//                   are dropped (and reported for the fieldValidation warning or error); a value of
//                   the wrong JSON type fails with Go's message.
//   ApplyDefaults:  the server's defaults (the schema's, plus per-type rules in defaults.cc).
//   NormalizeStored: what survives a storage round trip: empty lists and maps become unset,
//                   zero scalars that Go would omit are dropped.
//   Encode:         the object as Go's encoding/json writes the typed value: fields in Go
//                   declaration order, map keys sorted, zero values of fields without omitempty
//                   and of value structs written out ("endpoints": null, "conditions": {},
//                   "creationTimestamp": null).
//
// Objects are nlohmann::ordered_json values. Pure functions; thread-safe.
#ifndef K8SLB_FAKEAPI_API_CODEC_H_
#define K8SLB_FAKEAPI_API_CODEC_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fakeapi/api/schema.h"

namespace k8slb::fakeapi::api {

struct Decoded {
  nlohmann::ordered_json object;
  std::vector<std::string> unknown_fields;  // "spec", "endpoints[0].hints.forNodes", in document order
};

// `doc` must be a JSON object. The error message is Go's, e.g. "json: cannot unmarshal string
// into Go struct field EndpointPort.ports.port of type int32".
absl::StatusOr<Decoded> Decode(const TypeDef& type, const nlohmann::ordered_json& doc);

void ApplyDefaults(const TypeDef& type, nlohmann::ordered_json& object);

void NormalizeStored(const TypeDef& type, nlohmann::ordered_json& object);

nlohmann::ordered_json Encode(const TypeDef& type, const nlohmann::ordered_json& object);

// Sets `object`'s metadata.resourceVersion, keeping ObjectMeta's field order (after uid, before
// generation), as the server's encoder writes it; an object without metadata gets one.
void SetResourceVersion(nlohmann::ordered_json& object, const std::string& rv);

// The Go type name decoding errors use: "int32", "string", "[]v1.Endpoint",
// "map[string]string", "v1.EndpointConditions", "intstr.IntOrString".
std::string GoTypeName(const TypeDef& type);

// A per-type defaulting rule (defaults.cc), run after the schema's field defaults of the same
// struct, children first as the generated defaulters do.
using DefaultRule = void (*)(nlohmann::ordered_json& object);
DefaultRule FindDefaultRule(const std::string& type_id);

}  // namespace k8slb::fakeapi::api

#endif  // K8SLB_FAKEAPI_API_CODEC_H_
