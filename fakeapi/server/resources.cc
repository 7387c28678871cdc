#include "fakeapi/server/resources.h"

namespace k8slb::fakeapi {
namespace {

const std::vector<std::string>& Crud() {
  static const std::vector<std::string> v = {"create", "delete", "deletecollection", "get",
                                             "list",   "patch",  "update",           "watch"};
  return v;
}

}  // namespace

const std::vector<ResourceInfo>& ServedResources() {
  using fake::ResourceKind;
  static const std::vector<ResourceInfo> resources = [] {
    std::vector<ResourceInfo> r;
    auto add = [&](ResourceInfo info) { r.push_back(std::move(info)); };
    // core/v1 (alphabetical, as the API server lists resources)
    add({.group = "", .version = "v1", .resource = "configmaps", .singular = "configmap", .kind = "ConfigMap",
         .verbs = Crud(), .short_names = {"cm"}, .schema_id = "io.k8s.api.core.v1.ConfigMap"});
    add({.group = "", .version = "v1", .resource = "endpoints", .singular = "endpoints", .kind = "Endpoints",
         .verbs = Crud(), .short_names = {"ep"}, .schema_id = "io.k8s.api.core.v1.Endpoints"});
    add({.group = "", .version = "v1", .resource = "namespaces", .singular = "namespace", .kind = "Namespace",
         .namespaced = false,
         .verbs = {"create", "delete", "get", "list", "patch", "update", "watch"},
         .short_names = {"ns"},
         .subresources = {{"status", "", "", "Namespace", {"get", "patch", "update"}}},
         .schema_id = "io.k8s.api.core.v1.Namespace",
         .has_status = true});
    add({.group = "", .version = "v1", .resource = "pods", .singular = "pod", .kind = "Pod", .verbs = Crud(),
         .short_names = {"po"}, .categories = {"all"},
         .subresources = {{"status", "", "", "Pod", {"get", "patch", "update"}}},
         .schema_id = "io.k8s.api.core.v1.Pod", .storage = Storage::kModel, .model_kind = ResourceKind::kPod,
         .has_status = true});
    add({.group = "", .version = "v1", .resource = "serviceaccounts", .singular = "serviceaccount",
         .kind = "ServiceAccount", .verbs = Crud(), .short_names = {"sa"},
         .schema_id = "io.k8s.api.core.v1.ServiceAccount"});
    add({.group = "", .version = "v1", .resource = "services", .singular = "service", .kind = "Service",
         .verbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
         .short_names = {"svc"}, .categories = {"all"},
         .subresources = {{"status", "", "", "Service", {"get", "patch", "update"}}},
         .schema_id = "io.k8s.api.core.v1.Service", .storage = Storage::kModel,
         .model_kind = ResourceKind::kService, .has_status = true});
    // apps/v1
    add({.group = "apps", .version = "v1", .resource = "deployments", .singular = "deployment", .kind = "Deployment",
         .verbs = Crud(), .short_names = {"deploy"}, .categories = {"all"},
         .subresources = {{"scale", "autoscaling", "v1", "Scale", {"get", "patch", "update"}},
                          {"status", "", "", "Deployment", {"get", "patch", "update"}}},
         .schema_id = "io.k8s.api.apps.v1.Deployment", .storage = Storage::kModel,
         .model_kind = ResourceKind::kDeployment, .has_status = true});
    // authentication.k8s.io/v1, authorization.k8s.io/v1
    add({.group = "authentication.k8s.io", .version = "v1", .resource = "selfsubjectreviews",
         .singular = "selfsubjectreview", .kind = "SelfSubjectReview", .namespaced = false, .verbs = {"create"},
         .schema_id = "io.k8s.api.authentication.v1.SelfSubjectReview", .storage = Storage::kVirtual});
    add({.group = "authorization.k8s.io", .version = "v1", .resource = "selfsubjectaccessreviews",
         .singular = "selfsubjectaccessreview", .kind = "SelfSubjectAccessReview", .namespaced = false,
         .verbs = {"create"}, .schema_id = "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
         .storage = Storage::kVirtual});
    // batch/v1
    add({.group = "batch", .version = "v1", .resource = "jobs", .singular = "job", .kind = "Job", .verbs = Crud(),
         .categories = {"all"}, .subresources = {{"status", "", "", "Job", {"get", "patch", "update"}}},
         .schema_id = "io.k8s.api.batch.v1.Job", .has_status = true});
    // rbac.authorization.k8s.io/v1
    add({.group = "rbac.authorization.k8s.io", .version = "v1", .resource = "clusterrolebindings",
         .singular = "clusterrolebinding", .kind = "ClusterRoleBinding", .namespaced = false, .verbs = Crud(),
         .schema_id = "io.k8s.api.rbac.v1.ClusterRoleBinding"});
    add({.group = "rbac.authorization.k8s.io", .version = "v1", .resource = "clusterroles", .singular = "clusterrole",
         .kind = "ClusterRole", .namespaced = false, .verbs = Crud(), .schema_id = "io.k8s.api.rbac.v1.ClusterRole"});
    add({.group = "rbac.authorization.k8s.io", .version = "v1", .resource = "rolebindings", .singular = "rolebinding",
         .kind = "RoleBinding", .verbs = Crud(), .schema_id = "io.k8s.api.rbac.v1.RoleBinding"});
    add({.group = "rbac.authorization.k8s.io", .version = "v1", .resource = "roles", .singular = "role",
         .kind = "Role", .verbs = Crud(), .schema_id = "io.k8s.api.rbac.v1.Role"});
    // discovery.k8s.io/v1
    add({.group = "discovery.k8s.io", .version = "v1", .resource = "endpointslices", .singular = "endpointslice",
         .kind = "EndpointSlice", .verbs = Crud(), .schema_id = "io.k8s.api.discovery.v1.EndpointSlice",
         .storage = Storage::kModel, .model_kind = ResourceKind::kEndpointSlice});
    return r;
  }();
  return resources;
}

const ResourceInfo* FindServed(const std::string& group, const std::string& version, const std::string& resource) {
  for (const ResourceInfo& r : ServedResources()) {
    if (r.group == group && r.version == version && r.resource == resource) return &r;
  }
  return nullptr;
}

const ResourceInfo* FindServedByKind(const std::string& group, const std::string& version, const std::string& kind) {
  for (const ResourceInfo& r : ServedResources()) {
    if (r.group == group && r.version == version && r.kind == kind) return &r;
  }
  return nullptr;
}

const ResourceInfo* FindServedModel(fake::ResourceKind kind) {
  for (const ResourceInfo& r : ServedResources()) {
    if (r.model_kind == kind) return &r;
  }
  return nullptr;
}

const std::vector<GroupInfo>& ServedGroups() {
  // The order of a real server's /apis, restricted to what is served.
  static const std::vector<GroupInfo> groups = {
      {"apps", {"v1"}},
      {"authentication.k8s.io", {"v1"}},
      {"authorization.k8s.io", {"v1"}},
      {"batch", {"v1"}},
      {"rbac.authorization.k8s.io", {"v1"}},
      {"discovery.k8s.io", {"v1"}},
  };
  return groups;
}

bool IsServedGroup(const std::string& group) {
  for (const GroupInfo& g : ServedGroups()) {
    if (g.name == group) return true;
  }
  return false;
}

bool IsServedGroupVersion(const std::string& group, const std::string& version) {
  if (group.empty()) return version == "v1";
  for (const GroupInfo& g : ServedGroups()) {
    if (g.name != group) continue;
    for (const std::string& v : g.versions) {
      if (v == version) return true;
    }
  }
  return false;
}

}  // namespace k8slb::fakeapi
