// The schema of the types fakeapi serves, read once from types.yaml (compiled into the library):
// field order, Go names, emptiness rules, defaults, list and map semantics, patch strategies. The
// decoder, encoder, patchers, managed-fields tracker and OpenAPI generator all walk this one
// description, so a field is described exactly once.
//
// Schema::Builtin() is built on first use (thread-safe static initialisation) and immutable
// afterwards; TypeDef and FieldDef pointers stay valid for the life of the process. Thread-safe.
#ifndef K8SLB_FAKEAPI_API_SCHEMA_H_
#define K8SLB_FAKEAPI_API_SCHEMA_H_

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb::fakeapi::api {

enum class ValueKind {
  kString,
  kInteger,      // format int32 or int64
  kBoolean,
  kNumber,       // float64
  kIntOrString,  // intstr.IntOrString
  kQuantity,     // resource.Quantity (string or number)
  kTime,         // metav1.Time: RFC 3339 string or null
  kMicroTime,
  kBytes,        // base64 string
  kAny,          // runtime.RawExtension: any JSON, kept as is
  kFieldsV1,     // a managed-fields set: any JSON object, kept as is
  kStruct,
  kMap,          // map[string]T
  kList,         // []T
};

enum class ListType { kAtomic, kSet, kMap };

struct TypeDef;

struct FieldDef {
  std::string name;
  const TypeDef* type = nullptr;
  std::string description;
  bool required = false;  // OpenAPI "required"
  bool always = false;    // Go field without omitempty: emitted when zero ("", 0, false, null)
  bool pointer = false;   // a pointer: nil is distinct from the zero value and absent when nil
  std::optional<nlohmann::json> default_value;
  std::vector<std::string> enum_values;
  std::string patch_strategy;   // "", "merge", "replace", "retainKeys", "merge,retainKeys"
  std::string patch_merge_key;  // strategic merge patch key of a list of structs
};

struct TypeDef {
  std::string id;       // OpenAPI definition name, "" for anonymous list/map/scalar types
  std::string go_name;  // "EndpointPort", "int32", "string", "[]string", "map[string]string"
  ValueKind kind = ValueKind::kStruct;
  std::string format;   // "int32", "int64", "date-time", "byte", "double"
  std::string description;
  std::vector<FieldDef> fields;  // structs, in Go declaration order
  const TypeDef* elem = nullptr;  // lists and maps
  // Lists: x-kubernetes-list-type and -list-map-keys. Maps and structs: atomic (mapType/structType).
  ListType list_type = ListType::kAtomic;
  std::vector<std::string> map_keys;
  bool atomic = false;
  // Top-level kinds.
  std::string gvk_group, gvk_version, gvk_kind;

  const FieldDef* Field(std::string_view name) const;
  bool IsScalar() const {
    return kind != ValueKind::kStruct && kind != ValueKind::kMap && kind != ValueKind::kList;
  }
};

class Schema {
 public:
  // The schema compiled from types.yaml. Aborts the process with the parse error if the built-in
  // description is broken (a build-time defect; tests parse it).
  static const Schema& Builtin();
  // Parses a description in types.yaml format (tests use it for small schemas).
  static absl::StatusOr<std::unique_ptr<Schema>> Parse(std::string_view yaml_text);

  const TypeDef* Find(std::string_view id) const;
  // The definition of a top-level kind, e.g. ("discovery.k8s.io", "v1", "EndpointSlice").
  const TypeDef* ForKind(std::string_view group, std::string_view version, std::string_view kind) const;
  // Every named definition, by id.
  const std::map<std::string, std::unique_ptr<TypeDef>, std::less<>>& definitions() const { return named_; }

 private:
  Schema() = default;
  const TypeDef* Intern(std::unique_ptr<TypeDef> type);
  std::map<std::string, std::unique_ptr<TypeDef>, std::less<>> named_;
  std::vector<std::unique_ptr<TypeDef>> anonymous_;
};

// The text of types.yaml (generated from the file at build time).
std::string_view BuiltinTypesYaml();

}  // namespace k8slb::fakeapi::api

#endif  // K8SLB_FAKEAPI_API_SCHEMA_H_
