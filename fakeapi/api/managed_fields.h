// Field ownership as the API server tracks it (metadata.managedFields) and server-side apply,
// following the published semantics of sigs.k8s.io/structured-merge-diff
// (https://kubernetes.io/docs/reference/using-api/server-side-apply/): a field set per manager,
// updated on every write by comparing the object before and after; apply merges the applied
// configuration into the live object by the schema's list and map semantics, takes ownership of
// exactly the applied fields, fails on conflicts with other managers unless forced, and removes
// fields the manager applied before and no longer applies when nobody else owns them.
//
// Values are encoded objects (codec.h Encode: what Go's converter to unstructured would give,
// zero values included), so comparisons see the same empty structs and nulls the real server
// sees. Pure functions and value types; thread-safe.
#ifndef K8SLB_FAKEAPI_API_MANAGED_FIELDS_H_
#define K8SLB_FAKEAPI_API_MANAGED_FIELDS_H_

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fakeapi/api/schema.h"

namespace k8slb::fakeapi::api {

struct PathElement {
  enum class Kind { kField, kKey, kValue, kIndex };
  Kind kind = Kind::kField;
  std::string name;              // kField
  nlohmann::ordered_json value;  // kKey: an object of the key fields (sorted); kValue: the value
  int64_t index = 0;             // kIndex

  // "f:name", "k:{\"port\":80,\"protocol\":\"TCP\"}", "v:\"x\"", "i:3" (fieldsV1 keys).
  std::string Serialize() const;
  // ".name", "[port=80,protocol=\"TCP\"]", "[=\"x\"]", "[3]" (conflict messages).
  std::string PathString() const;
};

struct PathElementLess {
  bool operator()(const PathElement& a, const PathElement& b) const;
};

using FieldPath = std::vector<PathElement>;
std::string PathString(const FieldPath& path);

// A set of field paths, as a tree. A node is a member when the path to it is in the set.
class FieldSet {
 public:
  bool Empty() const;
  void Insert(const FieldPath& path);
  bool Has(const FieldPath& path) const;
  FieldSet Union(const FieldSet& other) const;
  FieldSet Difference(const FieldSet& other) const;
  FieldSet Intersection(const FieldSet& other) const;
  // Every member path, in set order.
  std::vector<FieldPath> Members() const;

  // fieldsV1 JSON: {"f:metadata":{"f:labels":{".":{},"f:app":{}}}, ...}.
  nlohmann::ordered_json ToJson() const;
  static absl::StatusOr<FieldSet> FromJson(const nlohmann::json& fields_v1);

  bool member = false;
  std::map<PathElement, FieldSet, PathElementLess> children;
};

struct Comparison {
  FieldSet added, modified, removed;
  bool Same() const { return added.Empty() && modified.Empty() && removed.Empty(); }
};

// What changed from `before` to `after` (either may be null for "absent").
Comparison Compare(const TypeDef& type, const nlohmann::ordered_json* before, const nlohmann::ordered_json* after);
// Every leaf and list item the value mentions (what an applier owns).
FieldSet ToFieldSet(const TypeDef& type, const nlohmann::ordered_json& value);
// Apply merge: `config` wins where it says something; associative lists merge by key.
nlohmann::ordered_json Merge(const TypeDef& type, const nlohmann::ordered_json& live,
                             const nlohmann::ordered_json& config);
// Removes the fields named by `paths` from `object` (map entries, struct fields, list items).
void RemovePaths(const TypeDef& type, nlohmann::ordered_json& object, const std::vector<FieldPath>& paths);

struct ManagerEntry {
  std::string manager;
  std::string operation;  // "Apply" or "Update"
  std::string api_version;
  std::string time;  // RFC 3339
  std::string subresource;
  FieldSet fields;
};

// metadata.managedFields <-> entries. Entries are written sorted as the server sorts them
// (operation, time, manager, apiVersion, subresource).
absl::StatusOr<std::vector<ManagerEntry>> DecodeManagedFields(const nlohmann::json& managed_fields);
nlohmann::ordered_json EncodeManagedFields(std::vector<ManagerEntry> entries);

// The fields no manager owns in the main resource: apiVersion, kind, metadata.name, namespace,
// uid, resourceVersion, generation, creationTimestamp, selfLink, managedFields (and "status" for
// kinds with a status subresource, given in `reset`).
FieldSet StripSet(const std::vector<FieldPath>& reset);

struct Conflict {
  std::string manager;
  FieldPath path;
};

// Field management of an Update-style write (create, update, patch other than apply):
// `before` is the encoded live object (or the encoded zero object on create). `subresource`
// "scale" writes the entry as the recorded server does for the scale subresource (no time: the
// entry goes through the Scale conversion, which has none).
std::vector<ManagerEntry> UpdateManagers(const TypeDef& type, std::vector<ManagerEntry> managers,
                                         const nlohmann::ordered_json& before, const nlohmann::ordered_json& after,
                                         const std::string& manager, const std::string& api_version,
                                         const std::string& now, const FieldSet& strip,
                                         const std::string& subresource = "");

struct ApplyResult {
  nlohmann::ordered_json object;  // the merged (and pruned) object, encoded form
  std::vector<ManagerEntry> managers;
  std::vector<Conflict> conflicts;  // non-empty: refused (no force)
};
ApplyResult ApplyConfig(const TypeDef& type, std::vector<ManagerEntry> managers, const nlohmann::ordered_json& live,
                        const nlohmann::ordered_json& config, const std::string& manager,
                        const std::string& api_version, const std::string& now, bool force, const FieldSet& strip);

// "Apply failed with 1 conflict: conflict with \"mgr-a\": .endpoints" and the Status causes.
std::string ConflictMessage(const std::vector<Conflict>& conflicts);

}  // namespace k8slb::fakeapi::api

#endif  // K8SLB_FAKEAPI_API_MANAGED_FIELDS_H_
