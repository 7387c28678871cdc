// The OpenAPI documents of the served API, generated from the schema (fakeapi/api types.yaml)
// and the resource table (resources.h), in the shapes kube-apiserver publishes them:
//   /openapi/v2                     Swagger 2.0: every definition and path
//   /openapi/v3                     index: {"paths": {"apis/discovery.k8s.io/v1": {"serverRelativeURL": ...}}}
//   /openapi/v3/<api|apis/G>/<V>    OpenAPI 3.0 of one group version (what kubectl create, apply,
//                                   diff and explain read): paths with their parameters (kubectl
//                                   looks for fieldValidation to validate on the server), and
//                                   components.schemas with x-kubernetes-group-version-kind, list
//                                   types, map keys and patch strategies.
//
// Documents are built once (thread-safe static initialisation) and immutable.
#ifndef K8SLB_FAKEAPI_SERVER_OPENAPI_H_
#define K8SLB_FAKEAPI_SERVER_OPENAPI_H_

#include <map>
#include <string>
#include <vector>

namespace k8slb::fakeapi {

struct OpenApiDocument {
  std::string json;  // compact JSON text
  std::string hash;  // SHA-512 of `json`, upper-case hex (ETag and ?hash=)
};

const OpenApiDocument& OpenApiV2();
// Keyed by the index path: "api/v1", "apis/discovery.k8s.io/v1", ...
const std::map<std::string, OpenApiDocument>& OpenApiV3Documents();
// The /openapi/v3 index text.
const std::string& OpenApiV3Index();

// SHA-512 of `text`, upper-case hex (the server's document hashes and ETags).
std::string Sha512Hex(const std::string& text);

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_OPENAPI_H_
