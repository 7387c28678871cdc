// nlohmann::json-level parsing of the EndpointSlice model, for code that already holds parsed JSON
// (the watch stream parser, fakeapi). Kept apart from endpoint_slice.h so users of the plain
// model do not pull in JSON headers. Serialization is internal (k8slb_slice_writer). Pure
// functions; thread-safe.
#ifndef K8SLB_ENDPOINT_SLICE_JSON_H_
#define K8SLB_ENDPOINT_SLICE_JSON_H_

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"
#include "k8slb/endpoint_slice.h"

namespace k8slb {

absl::StatusOr<EndpointSlice> EndpointSliceFromJson(const nlohmann::json& object);
absl::StatusOr<ObjectMeta> ObjectMetaFromJson(const nlohmann::json& metadata);

}  // namespace k8slb

#endif  // K8SLB_ENDPOINT_SLICE_JSON_H_
