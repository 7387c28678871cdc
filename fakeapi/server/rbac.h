// Authorization: RBAC over the stored Roles, ClusterRoles, RoleBindings and ClusterRoleBindings
// (https://kubernetes.io/docs/reference/access-authn-authz/rbac/), after the fixed parts of a real
// cluster's bootstrap policy: system:masters may do anything; every authenticated user may read
// discovery, OpenAPI, health and version and ask who it is and what it may do; anonymous users may
// read health and version only. A token may also carry rules of its own (TokenGrant::rules).
//
// Answers carry the reason RBAC gives, e.g. `RBAC: allowed by RoleBinding
// "k8slb-endpointslice-reader/default" of Role "k8slb-endpointslice-reader" to ServiceAccount
// "k8slb-client/default"`, which SelfSubjectAccessReview reports.
//
// Pure functions over the objects given; thread-safe.
#ifndef K8SLB_FAKEAPI_SERVER_RBAC_H_
#define K8SLB_FAKEAPI_SERVER_RBAC_H_

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fakeapi/server/api_common.h"
#include "fakeapi/server/authn.h"

namespace k8slb::fakeapi {

// What the authorizer reads: the RBAC objects of a kind ("roles", "rolebindings", "clusterroles",
// "clusterrolebindings") in a namespace ("" = cluster-scoped kinds or every namespace).
using RbacObjects =
    std::function<std::vector<std::shared_ptr<const nlohmann::ordered_json>>(const std::string& resource,
                                                                            const std::string& ns)>;

struct AuthorizationDecision {
  bool allowed = false;
  std::string reason;
};

// `attrs.path` non-empty: a non-resource request (GET /api, /healthz, ...).
AuthorizationDecision Authorize(const UserInfo& user, const RequestAttributes& attrs, const RbacObjects& objects);

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_RBAC_H_
