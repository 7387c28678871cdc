// The three patch formats of the API (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/):
//   JSON merge patch (RFC 7386): maps merge, null deletes, lists are replaced.
//   Strategic merge patch: like a merge patch, but a list field whose patch strategy is "merge"
//     merges its items by the field's merge key (containers by name, Service ports by port) or, for
//     scalars, by value; the directives $patch (merge, replace, delete), $retainKeys,
//     $deleteFromPrimitiveList/<list> and $setElementOrder/<list> work as in apimachinery's
//     strategicpatch. A list without a strategy (an EndpointSlice's endpoints and ports) is
//     replaced, and a "$patch" key inside it is an ordinary unknown field.
//   JSON patch (RFC 6902).
// Pure functions; thread-safe.
#ifndef K8SLB_FAKEAPI_API_PATCH_H_
#define K8SLB_FAKEAPI_API_PATCH_H_

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "fakeapi/api/schema.h"

namespace k8slb::fakeapi::api {

nlohmann::ordered_json MergePatch(const nlohmann::ordered_json& original, const nlohmann::ordered_json& patch);

// Errors: InvalidArgument (a malformed directive; the message is the server's). Aborted: the
// patch is one the recorded kube-apiserver 1.32 panics on ($setElementOrder on a list without a
// merge strategy), which it answers by closing the connection.
absl::StatusOr<nlohmann::ordered_json> StrategicMergePatch(const TypeDef& type, const nlohmann::ordered_json& original,
                                                           const nlohmann::ordered_json& patch);

// Errors carry the server's wording: a patch that is not a list is InvalidArgument ("json: cannot
// unmarshal object into Go value of type []handlers.jsonPatchOp"); an operation that fails
// (a missing path, a failing test) is FailedPrecondition.
absl::StatusOr<nlohmann::ordered_json> JsonPatch(const nlohmann::ordered_json& original,
                                                 const nlohmann::ordered_json& patch);

}  // namespace k8slb::fakeapi::api

#endif  // K8SLB_FAKEAPI_API_PATCH_H_
