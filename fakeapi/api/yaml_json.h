// JSON and YAML text as the Kubernetes API server reads and writes them.
//
// Reading YAML (request bodies of Content-Type application/yaml and server-side apply): one
// document, converted to JSON the way sigs.k8s.io/yaml does (YAML 1.1 scalars: plain true/yes/on
// are booleans, plain 0x1f and 017 are integers, ~ and null are null; quoted scalars are strings;
// keys become strings).
//
// Writing: JSON as Go's encoding/json writes it (no spaces, <, > and & escaped as \u003c, \u003e,
// \u0026, keys in the order given), the same indented for ?pretty=true, and YAML as
// sigs.k8s.io/yaml writes it (keys sorted, two-space indentation, sequences not indented under
// their key, strings quoted only where a plain scalar would read differently).
//
// Pure functions; thread-safe.
#ifndef K8SLB_FAKEAPI_API_YAML_JSON_H_
#define K8SLB_FAKEAPI_API_YAML_JSON_H_

#include <nlohmann/json.hpp>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace YAML {
class Node;
}

namespace k8slb::fakeapi::api {

absl::StatusOr<nlohmann::ordered_json> YamlToJson(absl::string_view yaml_text);
absl::StatusOr<nlohmann::ordered_json> YamlNodeToJson(const YAML::Node& node);

// Go encoding/json text (compact). `pretty`: json.MarshalIndent with two spaces.
std::string GoJson(const nlohmann::ordered_json& value, bool pretty = false);
// sigs.k8s.io/yaml JSONToYAML text.
std::string GoYaml(const nlohmann::ordered_json& value);

}  // namespace k8slb::fakeapi::api

#endif  // K8SLB_FAKEAPI_API_YAML_JSON_H_
