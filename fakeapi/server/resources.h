// The resources k8slb-fakeapi serves: one table that routing, discovery (legacy and aggregated),
// the OpenAPI documents and RBAC read. Each resource names its schema definition (fakeapi/api
// types.yaml) and where its objects live: the cluster model (EndpointSlices, Pods, Services,
// Deployments, whose behaviour is simulated) or the plain object store (everything a real server
// only stores: Namespaces, ServiceAccounts, ConfigMaps, RBAC objects, Jobs, Endpoints), or
// nowhere (reviews, answered and forgotten).
//
// Immutable static data; thread-safe.
#ifndef K8SLB_FAKEAPI_SERVER_RESOURCES_H_
#define K8SLB_FAKEAPI_SERVER_RESOURCES_H_

#include <optional>
#include <string>
#include <vector>

#include "fakeapi/model/cluster.h"

namespace k8slb::fakeapi {

enum class Storage {
  kModel,     // fake::Cluster (model_kind)
  kObjects,   // the server's plain object store
  kVirtual,   // create only, answered without storing (SelfSubjectAccessReview, SelfSubjectReview)
};

struct SubresourceInfo {
  std::string name;  // "scale", "status"
  std::string group, version, kind;  // response kind (group/version "" = the parent's)
  std::vector<std::string> verbs;
};

struct ResourceInfo {
  std::string group;  // "" = core
  std::string version;
  std::string resource;  // plural, the URL segment
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<SubresourceInfo> subresources;
  std::string schema_id;  // types.yaml definition
  Storage storage = Storage::kObjects;
  std::optional<fake::ResourceKind> model_kind;  // Storage::kModel only
  bool has_status = false;  // a status subresource: "status" is not managed on the main resource

  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  // "endpointslices.discovery.k8s.io", "pods" (Status messages, RBAC).
  std::string Qualified() const { return group.empty() ? resource : resource + "." + group; }
  // "EndpointSlice.discovery.k8s.io", "Service" (422 messages).
  std::string QualifiedKind() const { return group.empty() ? kind : kind + "." + group; }
};

const std::vector<ResourceInfo>& ServedResources();
const ResourceInfo* FindServed(const std::string& group, const std::string& version, const std::string& resource);
const ResourceInfo* FindServedByKind(const std::string& group, const std::string& version, const std::string& kind);
const ResourceInfo* FindServedModel(fake::ResourceKind kind);

// The API groups served, in the order /apis lists them (group, versions, preferred version).
struct GroupInfo {
  std::string name;
  std::vector<std::string> versions;  // preferred first
};
const std::vector<GroupInfo>& ServedGroups();
bool IsServedGroup(const std::string& group);
bool IsServedGroupVersion(const std::string& group, const std::string& version);

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_RESOURCES_H_
