// The writer side of the EndpointSlice model: serialization as the API server writes it. Only
// the fake API server (and tests) write slices, so this is an internal target
// (k8slb_slice_writer, never installed); the library's public headers keep the reader side.
// Pure functions of their arguments; thread-safe.
#ifndef K8SLB_SRC_WRITER_ENDPOINT_SLICE_WRITER_H_
#define K8SLB_SRC_WRITER_ENDPOINT_SLICE_WRITER_H_

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "k8slb/endpoint_slice.h"

namespace k8slb {

// As the API server serializes discovery.k8s.io/v1 EndpointSlices: kind/apiVersion when
// `with_type_meta`, `endpoints: []` and `ports: []` never null, nil conditions omitted,
// optional fields (Go's omitempty) left out when unset.
nlohmann::json EndpointSliceToJson(const EndpointSlice& slice, bool with_type_meta = true);
nlohmann::json ObjectMetaToJson(const ObjectMeta& metadata);
// EndpointSliceToJson(...).dump().
std::string SerializeEndpointSlice(const EndpointSlice& slice, bool with_type_meta = true);

}  // namespace k8slb

#endif  // K8SLB_SRC_WRITER_ENDPOINT_SLICE_WRITER_H_
