// Documents the fake API server serves that are not stored objects, in the real server's shapes:
// /version, health checks, discovery (legacy APIVersions/APIGroupList/APIGroup/APIResourceList
// and aggregated apidiscovery.k8s.io v2 / v2beta1, chosen by Accept), the meta.k8s.io/v1 Table
// that `kubectl get` asks for, and content negotiation of object responses.
//
// Pure functions of the resource table; thread-safe.
#ifndef K8SLB_FAKEAPI_SERVER_KUBE_DOCS_H_
#define K8SLB_FAKEAPI_SERVER_KUBE_DOCS_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "fakeapi/server/resources.h"

namespace k8slb::fakeapi {

// ---- content negotiation of API objects ----
enum class OutputFormat { kJson, kYaml, kTable, kPartialMetadata };
struct Negotiated {
  bool acceptable = true;
  OutputFormat format = OutputFormat::kJson;
};
// The first acceptable media range of Accept (no header, */*, application/* and application/json
// are JSON). Protobuf is not offered. `watch`: only JSON (and a Table) stream.
Negotiated NegotiateOutput(const std::string& accept, bool watch);
std::string ContentTypeOf(OutputFormat format);

// ---- /version, health ----
std::string VersionJson();  // pretty-printed, no trailing newline (as the real server)
// /readyz?verbose etc.: the check list; `excluded` are names from ?exclude= (unknown ones are
// reported as the real server does).
std::string HealthBody(const std::string& endpoint, bool verbose, const std::vector<std::string>& excluded);

// ---- discovery ----
enum class DiscoveryFormat { kLegacy, kAggregatedV2, kAggregatedV2Beta1, kNotAcceptable };
DiscoveryFormat NegotiateDiscovery(const std::string& accept);
std::string DiscoveryContentType(DiscoveryFormat format);
// /api (core = true) or /apis, in `format` (not kNotAcceptable). `server_address`: host:port.
nlohmann::ordered_json DiscoveryRoot(bool core, DiscoveryFormat format, const std::string& server_address);
// /api/v1, /apis/G/V: an APIResourceList.
nlohmann::ordered_json ApiResourceList(const std::string& group, const std::string& version);
// /apis/G: an APIGroup.
nlohmann::ordered_json ApiGroup(const std::string& group);
// GET /: the paths the server serves.
nlohmann::ordered_json RootPaths();

// ---- tables ----
nlohmann::ordered_json TableColumnDefinitions(const ResourceInfo& resource);
// One row: cells for `object` and a PartialObjectMetadata of its metadata.
nlohmann::ordered_json TableRow(const ResourceInfo& resource, const nlohmann::ordered_json& object, int64_t now_unix);
// A Table. `with_columns` false: columnDefinitions left out, or written as [] when
// `empty_columns_when_omitted` (watch events after the first).
nlohmann::ordered_json MakeTable(const ResourceInfo& resource, const std::string& resource_version,
                                 nlohmann::ordered_json rows, bool with_columns,
                                 bool empty_columns_when_omitted = false);

// Parses "2025-01-01T00:00:00Z" (fractional seconds allowed) -> unix seconds.
std::optional<int64_t> ParseRfc3339(const std::string& text);

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_KUBE_DOCS_H_
