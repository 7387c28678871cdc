// Documents the fake API server serves that are not stored objects: /version, discovery (legacy
// and aggregated v2 / v2beta1, chosen by Accept; reference kubernetes-api.md §3.1, §3.3) and the
// meta.k8s.io/v1 Table that `kubectl get` asks for (§3.2). Pure functions; thread-safe.
#ifndef K8SLB_FAKEAPI_SERVER_KUBE_DOCS_H_
#define K8SLB_FAKEAPI_SERVER_KUBE_DOCS_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "fakeapi/model/cluster.h"

namespace k8slb::fakeapi {

inline constexpr char kTableContentType[] = "application/json;as=Table;v=v1;g=meta.k8s.io";

// A served resource: URL group/version/resource and the model kind behind it.
struct ServedResource {
  std::string group;  // "" = core
  std::string version;
  std::string resource;
  fake::ResourceKind kind;
};
// The resource at group/version/resource, if served.
std::optional<ServedResource> FindResource(const std::string& group, const std::string& version,
                                           const std::string& resource);
bool IsServedGroupVersion(const std::string& group, const std::string& version);

std::string VersionJson();

enum class DiscoveryFormat { kLegacy, kAggregatedV2, kAggregatedV2Beta1 };
// The first acceptable entry of the Accept header (aggregated only when asked for).
DiscoveryFormat NegotiateDiscovery(const std::string& accept);
std::string DiscoveryContentType(DiscoveryFormat format);
// /api (core = true) or /apis, in `format`.
std::string DiscoveryRootJson(bool core, DiscoveryFormat format);
// /api/v1, /apis/apps/v1, /apis/discovery.k8s.io/v1: an APIResourceList.
std::string ApiResourceListJson(const std::string& group, const std::string& version);
// /apis/<group>: an APIGroup.
std::string ApiGroupJson(const std::string& group);

enum class OutputFormat { kJson, kTable };
// Table when the first acceptable Accept entry asks for as=Table (meta.k8s.io v1 or v1beta1).
OutputFormat NegotiateOutput(const std::string& accept);

nlohmann::ordered_json TableColumnDefinitions(fake::ResourceKind kind);
// One row: cells for `object` and a PartialObjectMetadata of its metadata.
nlohmann::ordered_json TableRow(fake::ResourceKind kind, const nlohmann::json& object, int64_t now_unix);
// A Table document; `with_columns` false leaves columnDefinitions out (watch events after the first).
nlohmann::ordered_json MakeTable(fake::ResourceKind kind, const std::string& resource_version,
                                 nlohmann::ordered_json rows, bool with_columns);

// Parses "2025-01-01T00:00:00Z" (or with fractional seconds / offset Z) → unix seconds.
std::optional<int64_t> ParseRfc3339(const std::string& text);

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_KUBE_DOCS_H_
