#include "fakeapi/server/rbac.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace k8slb::fakeapi {
namespace {

using OJson = nlohmann::ordered_json;

bool Has(const std::vector<std::string>& set, const std::string& v) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

std::vector<std::string> Strings(const OJson& o, const char* key) {
  std::vector<std::string> out;
  if (!o.is_object() || !o.contains(key) || !o[key].is_array()) return out;
  for (const OJson& v : o[key]) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::string Str(const OJson& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : "";
}

std::string MetaName(const OJson& o) { return o.contains("metadata") ? Str(o["metadata"], "name") : ""; }
std::string MetaNamespace(const OJson& o) { return o.contains("metadata") ? Str(o["metadata"], "namespace") : ""; }

bool VerbMatches(const std::vector<std::string>& verbs, const std::string& verb) {
  return Has(verbs, "*") || Has(verbs, verb);
}

bool ResourceMatches(const std::vector<std::string>& resources, const RequestAttributes& a) {
  std::string combined = a.subresource.empty() ? a.resource : absl::StrCat(a.resource, "/", a.subresource);
  for (const std::string& r : resources) {
    if (r == "*" || r == combined) return true;
    if (!a.subresource.empty() && r == absl::StrCat("*/", a.subresource)) return true;
  }
  return false;
}

bool NonResourceMatches(const std::vector<std::string>& urls, const std::string& path) {
  for (const std::string& u : urls) {
    if (u == "*" || u == path) return true;
    if (absl::EndsWith(u, "*") && absl::StartsWith(path, u.substr(0, u.size() - 1))) return true;
  }
  return false;
}

bool RuleAllows(const OJson& rule, const RequestAttributes& a) {
  if (!VerbMatches(Strings(rule, "verbs"), a.verb)) return false;
  if (!a.path.empty()) return NonResourceMatches(Strings(rule, "nonResourceURLs"), a.path);
  std::vector<std::string> groups = Strings(rule, "apiGroups");
  if (!Has(groups, "*") && !Has(groups, a.api_group)) return false;
  if (!ResourceMatches(Strings(rule, "resources"), a)) return false;
  std::vector<std::string> names = Strings(rule, "resourceNames");
  return names.empty() || (!a.name.empty() && Has(names, a.name));
}

// The subject a binding names that the user is, as RBAC describes it in a reason, or "".
std::string MatchingSubject(const OJson& binding, const UserInfo& user) {
  if (!binding.contains("subjects") || !binding["subjects"].is_array()) return "";
  for (const OJson& s : binding["subjects"]) {
    std::string kind = Str(s, "kind"), name = Str(s, "name");
    if (kind == "User" && name == user.name) return absl::StrCat("User \"", name, "\"");
    if (kind == "Group" && Has(user.groups, name)) return absl::StrCat("Group \"", name, "\"");
    if (kind == "ServiceAccount") {
      std::string ns = Str(s, "namespace");
      if (ns.empty()) ns = MetaNamespace(binding);
      if (user.name == absl::StrCat("system:serviceaccount:", ns, ":", name)) {
        return absl::StrCat("ServiceAccount \"", name, "/", ns, "\"");
      }
    }
  }
  return "";
}

// The fixed part of the bootstrap policy a real cluster installs (system:discovery,
// system:basic-user, system:public-info-viewer).
bool BootstrapAllows(const UserInfo& user, const RequestAttributes& a) {
  static const std::vector<std::string> kPublic = {"/healthz", "/livez", "/readyz", "/version", "/version/"};
  static const std::vector<std::string> kDiscovery = {"/api", "/api/*", "/apis", "/apis/*", "/openapi",
                                                      "/openapi/*", "/openid/v1/jwks"};
  if (!a.path.empty()) {
    if (a.verb != "get") return false;
    for (const std::string& p : kPublic) {
      if (a.path == p || absl::StartsWith(a.path, p + "/")) return true;
    }
    if (user.anonymous) return false;
    return NonResourceMatches(kDiscovery, a.path);
  }
  if (user.anonymous) return false;
  if (a.verb != "create") return false;
  return (a.api_group == "authorization.k8s.io" &&
          (a.resource == "selfsubjectaccessreviews" || a.resource == "selfsubjectrulesreviews")) ||
         (a.api_group == "authentication.k8s.io" && a.resource == "selfsubjectreviews");
}

bool TokenRuleAllows(const RbacRule& r, const RequestAttributes& a) {
  if (!a.path.empty()) return false;
  if (!r.namespace_name.empty() && r.namespace_name != a.namespace_name) return false;
  auto any = [](const std::vector<std::string>& set, const std::string& v) { return Has(set, "*") || Has(set, v); };
  std::string resource = a.subresource.empty() ? a.resource : absl::StrCat(a.resource, "/", a.subresource);
  return any(r.verbs, a.verb) && any(r.api_groups, a.api_group) && any(r.resources, resource);
}

}  // namespace

AuthorizationDecision Authorize(const UserInfo& user, const RequestAttributes& a, const RbacObjects& objects) {
  if (user.superuser) return {true, ""};
  for (const RbacRule& r : user.token_rules) {
    if (TokenRuleAllows(r, a)) return {true, "allowed by a rule of the token"};
  }
  // ClusterRoleBindings apply everywhere.
  for (const auto& binding : objects("clusterrolebindings", "")) {
    std::string subject = MatchingSubject(*binding, user);
    if (subject.empty()) continue;
    const OJson& ref = (*binding)["roleRef"];
    if (Str(ref, "kind") != "ClusterRole") continue;
    for (const auto& role : objects("clusterroles", "")) {
      if (MetaName(*role) != Str(ref, "name") || !role->contains("rules")) continue;
      for (const OJson& rule : (*role)["rules"]) {
        if (RuleAllows(rule, a)) {
          return {true, absl::StrCat("RBAC: allowed by ClusterRoleBinding \"", MetaName(*binding), "\" of ClusterRole \"",
                                     Str(ref, "name"), "\" to ", subject)};
        }
      }
    }
  }
  // RoleBindings apply in their namespace.
  if (!a.namespace_name.empty() && a.path.empty()) {
    for (const auto& binding : objects("rolebindings", a.namespace_name)) {
      std::string subject = MatchingSubject(*binding, user);
      if (subject.empty()) continue;
      const OJson& ref = (*binding)["roleRef"];
      std::string kind = Str(ref, "kind");
      std::vector<std::shared_ptr<const OJson>> roles =
          kind == "Role" ? objects("roles", a.namespace_name) : objects("clusterroles", "");
      for (const auto& role : roles) {
        if (MetaName(*role) != Str(ref, "name") || !role->contains("rules")) continue;
        for (const OJson& rule : (*role)["rules"]) {
          if (RuleAllows(rule, a)) {
            return {true, absl::StrCat("RBAC: allowed by RoleBinding \"", MetaName(*binding), "/", a.namespace_name,
                                       "\" of ", kind, " \"", Str(ref, "name"), "\" to ", subject)};
          }
        }
      }
    }
  }
  if (BootstrapAllows(user, a)) return {true, ""};
  return {false, ""};
}

}  // namespace k8slb::fakeapi
