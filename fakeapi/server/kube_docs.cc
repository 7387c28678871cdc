#include "fakeapi/server/kube_docs.h"

#include <openssl/sha.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "fakeapi/api/yaml_json.h"
#include "fakeapi/server/api_common.h"

namespace k8slb::fakeapi {
namespace {

using OJson = nlohmann::ordered_json;

// Media ranges of an Accept header: type and parameters, in order.
struct MediaRange {
  std::string type;
  std::map<std::string, std::string> params;
};
std::vector<MediaRange> ParseAccept(const std::string& accept) {
  std::vector<MediaRange> out;
  for (absl::string_view part : absl::StrSplit(accept, ',')) {
    MediaRange m;
    bool first = true;
    for (absl::string_view p : absl::StrSplit(part, ';')) {
      std::string s(absl::StripAsciiWhitespace(p));
      if (first) {
        m.type = absl::AsciiStrToLower(s);
        first = false;
        continue;
      }
      size_t eq = s.find('=');
      if (eq == std::string::npos) continue;
      m.params[std::string(absl::StripAsciiWhitespace(s.substr(0, eq)))] =
          std::string(absl::StripAsciiWhitespace(s.substr(eq + 1)));
    }
    if (!m.type.empty()) out.push_back(std::move(m));
  }
  return out;
}

std::string Param(const MediaRange& m, const std::string& key) {
  auto it = m.params.find(key);
  return it == m.params.end() ? "" : it->second;
}

bool IsJsonish(const MediaRange& m) {
  return m.type == "application/json" || m.type == "*/*" || m.type == "application/*";
}

// storageVersionHash of discovery: the first 8 bytes of SHA-256("group/version/kind"), base64.
std::string StorageVersionHash(const std::string& group, const std::string& version, const std::string& kind) {
  std::string in = absl::StrCat(group, "/", version, "/", kind);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(digest), 8));
}

std::string Age(const nlohmann::ordered_json& object, int64_t now_unix) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "<unknown>";
  auto ts = meta->find("creationTimestamp");
  if (ts == meta->end() || !ts->is_string()) return "<unknown>";
  auto t = ParseRfc3339(ts->get<std::string>());
  if (!t) return "<unknown>";
  return HumanDuration(std::max<int64_t>(0, now_unix - *t));
}

const OJson& At(const OJson& j, std::initializer_list<const char*> path) {
  static const OJson null_value;
  const OJson* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object()) return null_value;
    auto it = cur->find(p);
    if (it == cur->end()) return null_value;
    cur = &*it;
  }
  return *cur;
}

std::string Str(const OJson& j, std::initializer_list<const char*> path, const std::string& def = "") {
  const OJson& v = At(j, path);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return def;
}

int64_t Int(const OJson& j, std::initializer_list<const char*> path) {
  const OJson& v = At(j, path);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

const OJson& Arr(const OJson& j, std::initializer_list<const char*> path) {
  static const OJson empty = OJson::array();
  const OJson& v = At(j, path);
  return v.is_array() ? v : empty;
}

std::string SelectorString(const OJson& selector) {
  if (!selector.is_object() || selector.empty()) return "<none>";
  std::vector<std::string> parts;
  for (auto it = selector.begin(); it != selector.end(); ++it) {
    if (it.value().is_string()) parts.push_back(it.key() + "=" + it.value().get<std::string>());
  }
  return parts.empty() ? "<none>" : absl::StrJoin(parts, ",");
}

// kubectl's printers: the first `max` values, then " + N more...".
std::string FirstN(const std::vector<std::string>& values, size_t max) {
  if (values.empty()) return "<unset>";
  std::vector<std::string> head(values.begin(), values.begin() + static_cast<long>(std::min(max, values.size())));
  std::string out = absl::StrJoin(head, ",");
  if (values.size() > max) absl::StrAppend(&out, " + ", values.size() - max, " more...");
  return out;
}

OJson Column(const std::string& name, const std::string& type, const std::string& format,
             const std::string& description, int priority = 0) {
  return OJson{{"name", name}, {"type", type}, {"format", format}, {"description", description}, {"priority", priority}};
}

const char* kNameColumn = "Name of the object, unique in its namespace.";
const char* kAgeColumn = "Time since the object was created (from metadata.creationTimestamp).";

const std::vector<std::string>& ReadyzChecks() {
  // The checks a kube-apiserver 1.32 lists for /readyz?verbose, in its order.
  static const std::vector<std::string> checks = {
      "ping",
      "log",
      "informer-sync",
      "poststarthook/start-apiserver-admission-initializer",
      "poststarthook/generic-apiserver-start-informers",
      "poststarthook/priority-and-fairness-config-consumer",
      "poststarthook/priority-and-fairness-filter",
      "poststarthook/storage-object-count-tracker-hook",
      "poststarthook/start-apiextensions-informers",
      "poststarthook/start-apiextensions-controllers",
      "poststarthook/crd-informer-synced",
      "poststarthook/start-system-namespaces-controller",
      "poststarthook/start-cluster-authentication-info-controller",
      "poststarthook/start-kube-apiserver-identity-lease-controller",
      "poststarthook/start-kube-apiserver-identity-lease-garbage-collector",
      "poststarthook/start-legacy-token-tracking-controller",
      "poststarthook/start-service-ip-repair-controllers",
      "poststarthook/rbac/bootstrap-roles",
      "poststarthook/scheduling/bootstrap-system-priority-classes",
      "poststarthook/priority-and-fairness-config-producer",
      "poststarthook/bootstrap-controller",
      "poststarthook/start-kube-aggregator-informers",
      "poststarthook/apiservice-status-local-available-controller",
      "poststarthook/apiservice-status-remote-available-controller",
      "poststarthook/apiservice-registration-controller",
      "poststarthook/apiservice-wait-for-first-sync",
      "poststarthook/apiservice-discovery-controller",
      "poststarthook/kube-apiserver-autoregistration",
      "autoregister-completion",
      "poststarthook/apiservice-openapi-controller",
      "poststarthook/apiservice-openapiv3-controller",
      "shutdown",
  };
  return checks;
}

OJson AggregatedResource(const ResourceInfo& r) {
  OJson o = OJson::object();
  o["resource"] = r.resource;
  // client-go drops a resource without responseKind ("missing GVK").
  o["responseKind"] = {{"group", ""}, {"version", ""}, {"kind", r.kind}};
  o["scope"] = r.namespaced ? "Namespaced" : "Cluster";
  o["singularResource"] = r.singular;
  o["verbs"] = r.verbs;
  if (!r.short_names.empty()) o["shortNames"] = r.short_names;
  if (!r.categories.empty()) o["categories"] = r.categories;
  if (!r.subresources.empty()) {
    OJson subs = OJson::array();
    for (const SubresourceInfo& s : r.subresources) {
      subs.push_back({{"subresource", s.name},
                      {"responseKind", {{"group", s.group}, {"version", s.version}, {"kind", s.kind}}},
                      {"verbs", s.verbs}});
    }
    o["subresources"] = subs;
  }
  return o;
}

OJson AggregatedGroup(const std::string& group, const std::vector<std::string>& versions) {
  OJson item = OJson::object();
  item["metadata"] = group.empty() ? OJson{{"creationTimestamp", nullptr}}
                                   : OJson{{"name", group}, {"creationTimestamp", nullptr}};
  OJson vs = OJson::array();
  for (const std::string& v : versions) {
    OJson resources = OJson::array();
    for (const ResourceInfo& r : ServedResources()) {
      if (r.group == group && r.version == v) resources.push_back(AggregatedResource(r));
    }
    vs.push_back({{"version", v}, {"resources", resources}, {"freshness", "Current"}});
  }
  item["versions"] = vs;
  return item;
}

}  // namespace

Negotiated NegotiateOutput(const std::string& accept, bool watch) {
  std::vector<MediaRange> ranges = ParseAccept(accept);
  if (ranges.empty()) return {};
  for (const MediaRange& m : ranges) {
    std::string as = Param(m, "as");
    if (m.type == "application/json" && Param(m, "g") == "meta.k8s.io" &&
        (Param(m, "v") == "v1" || Param(m, "v") == "v1beta1")) {
      if (as == "Table") return {true, OutputFormat::kTable};
      if ((as == "PartialObjectMetadata" || as == "PartialObjectMetadataList") && !watch) {
        return {true, OutputFormat::kPartialMetadata};
      }
      continue;
    }
    if (!as.empty()) continue;
    if (IsJsonish(m)) return {true, OutputFormat::kJson};
    if (!watch && m.type == "application/yaml") return {true, OutputFormat::kYaml};
  }
  return {false, OutputFormat::kJson};
}

std::string ContentTypeOf(OutputFormat format) {
  return format == OutputFormat::kYaml ? "application/yaml" : "application/json";
}

std::string VersionJson() {
  OJson j = {{"major", "1"},
             {"minor", "32"},
             {"gitVersion", "v1.32.6"},
             // Which build this is: k8slb-fakeapi, not a Kubernetes commit.
             {"gitCommit", "6b4e2c1f6a6e6c8f7e3f5c2d9a1b0c4d3e2f1a0b"},
             {"gitTreeState", "clean"},
             {"buildDate", "2025-06-17T00:00:00Z"},
             {"goVersion", "go1.23.5"},
             {"compiler", "gc"},
             {"platform", "linux/amd64"}};
  return api::GoJson(j, /*pretty=*/true);
}

std::string HealthBody(const std::string& endpoint, bool verbose, const std::vector<std::string>& excluded) {
  if (!verbose && excluded.empty()) return "ok";
  std::string out;
  std::vector<std::string> checks = ReadyzChecks();
  if (endpoint != "readyz") {
    checks.erase(std::remove(checks.begin(), checks.end(), "informer-sync"), checks.end());
    checks.erase(std::remove(checks.begin(), checks.end(), "shutdown"), checks.end());
  }
  std::vector<std::string> unknown;
  for (const std::string& e : excluded) {
    if (std::find(checks.begin(), checks.end(), e) == checks.end()) unknown.push_back(absl::StrCat("\"", e, "\""));
  }
  if (verbose) {
    for (const std::string& c : checks) {
      bool ex = std::find(excluded.begin(), excluded.end(), c) != excluded.end();
      absl::StrAppend(&out, "[+]", c, ex ? " excluded: ok\n" : " ok\n");
    }
  }
  if (!unknown.empty()) {
    absl::StrAppend(&out, "warn: some health checks cannot be excluded: no matches for ", absl::StrJoin(unknown, ","),
                    "\n");
  }
  if (verbose) {
    absl::StrAppend(&out, endpoint, " check passed\n");
  } else {
    out += "ok";
  }
  return out;
}

DiscoveryFormat NegotiateDiscovery(const std::string& accept) {
  std::vector<MediaRange> ranges = ParseAccept(accept);
  if (ranges.empty()) return DiscoveryFormat::kLegacy;
  for (const MediaRange& m : ranges) {
    if (m.type == "application/json" && Param(m, "as") == "APIGroupDiscoveryList" &&
        Param(m, "g") == "apidiscovery.k8s.io") {
      if (Param(m, "v") == "v2") return DiscoveryFormat::kAggregatedV2;
      if (Param(m, "v") == "v2beta1") return DiscoveryFormat::kAggregatedV2Beta1;
      continue;
    }
    if (!Param(m, "as").empty()) continue;
    if (IsJsonish(m) || m.type == "application/yaml") return DiscoveryFormat::kLegacy;
  }
  return DiscoveryFormat::kNotAcceptable;
}

std::string DiscoveryContentType(DiscoveryFormat format) {
  switch (format) {
    case DiscoveryFormat::kAggregatedV2:
      return "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    case DiscoveryFormat::kAggregatedV2Beta1:
      return "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
    default:
      break;
  }
  return "application/json";
}

OJson DiscoveryRoot(bool core, DiscoveryFormat format, const std::string& server_address) {
  if (format == DiscoveryFormat::kLegacy || format == DiscoveryFormat::kNotAcceptable) {
    if (core) {
      return OJson{{"kind", "APIVersions"},
                   {"versions", {"v1"}},
                   {"serverAddressByClientCIDRs",
                    OJson::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}})}};
    }
    OJson groups = OJson::array();
    for (const GroupInfo& g : ServedGroups()) {
      OJson versions = OJson::array();
      for (const std::string& v : g.versions) versions.push_back({{"groupVersion", g.name + "/" + v}, {"version", v}});
      groups.push_back({{"name", g.name}, {"versions", versions}, {"preferredVersion", versions[0]}});
    }
    return OJson{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
  }
  std::string api_version =
      format == DiscoveryFormat::kAggregatedV2 ? "apidiscovery.k8s.io/v2" : "apidiscovery.k8s.io/v2beta1";
  OJson items = OJson::array();
  if (core) {
    items.push_back(AggregatedGroup("", {"v1"}));
  } else {
    for (const GroupInfo& g : ServedGroups()) items.push_back(AggregatedGroup(g.name, g.versions));
  }
  return OJson{{"kind", "APIGroupDiscoveryList"}, {"apiVersion", api_version}, {"metadata", OJson::object()},
               {"items", items}};
}

OJson ApiResourceList(const std::string& group, const std::string& version) {
  OJson resources = OJson::array();
  for (const ResourceInfo& r : ServedResources()) {
    if (r.group != group || r.version != version) continue;
    OJson o = {{"name", r.resource}, {"singularName", r.singular}, {"namespaced", r.namespaced}, {"kind", r.kind},
               {"verbs", r.verbs}};
    if (!r.short_names.empty()) o["shortNames"] = r.short_names;
    if (!r.categories.empty()) o["categories"] = r.categories;
    if (r.storage != Storage::kVirtual) o["storageVersionHash"] = StorageVersionHash(r.group, r.version, r.kind);
    resources.push_back(o);
    for (const SubresourceInfo& s : r.subresources) {
      OJson sub = {{"name", r.resource + "/" + s.name}, {"singularName", r.singular}, {"namespaced", r.namespaced}};
      if (!s.group.empty()) {
        sub["group"] = s.group;
        sub["version"] = s.version;
      }
      sub["kind"] = s.kind;
      sub["verbs"] = s.verbs;
      resources.push_back(sub);
    }
  }
  return OJson{{"kind", "APIResourceList"},
               {"apiVersion", "v1"},
               {"groupVersion", group.empty() ? version : group + "/" + version},
               {"resources", resources}};
}

OJson ApiGroup(const std::string& group) {
  OJson versions = OJson::array();
  for (const GroupInfo& g : ServedGroups()) {
    if (g.name != group) continue;
    for (const std::string& v : g.versions) versions.push_back({{"groupVersion", group + "/" + v}, {"version", v}});
  }
  return OJson{{"kind", "APIGroup"},
               {"apiVersion", "v1"},
               {"name", group},
               {"versions", versions},
               {"preferredVersion", versions.empty() ? OJson::object() : versions[0]}};
}

OJson RootPaths() {
  std::vector<std::string> paths = {"/.well-known/openid-configuration", "/api", "/api/v1", "/apis", "/apis/"};
  for (const GroupInfo& g : ServedGroups()) {
    paths.push_back("/apis/" + g.name);
    for (const std::string& v : g.versions) paths.push_back("/apis/" + g.name + "/" + v);
  }
  for (const char* p : {"/healthz", "/healthz/log", "/healthz/ping", "/livez", "/livez/log", "/livez/ping",
                        "/openapi/v2", "/openapi/v3", "/openapi/v3/", "/openid/v1/jwks", "/readyz", "/readyz/log",
                        "/readyz/ping", "/readyz/shutdown", "/version"}) {
    paths.push_back(p);
  }
  std::sort(paths.begin(), paths.end());
  return OJson{{"paths", paths}};
}

OJson TableColumnDefinitions(const ResourceInfo& r) {
  OJson cols = OJson::array();
  auto add = [&](OJson c) { cols.push_back(std::move(c)); };
  const std::string& res = r.resource;
  add(Column("Name", "string", "name", kNameColumn));
  if (res == "endpointslices") {
    add(Column("AddressType", "string", "", "Type of every address of the slice: IPv4, IPv6 or FQDN."));
    add(Column("Ports", "string", "", "The ports of the slice (at most three shown)."));
    add(Column("Endpoints", "string", "", "The endpoints' addresses (at most three shown)."));
    add(Column("Age", "string", "", kAgeColumn));
  } else if (res == "pods") {
    add(Column("Ready", "string", "", "Ready containers out of all containers."));
    add(Column("Status", "string", "", "Phase of the pod, or why it is not running."));
    add(Column("Restarts", "string", "", "Container restarts."));
    add(Column("Age", "string", "", kAgeColumn));
    add(Column("IP", "string", "", "The pod's IP address.", 1));
    add(Column("Node", "string", "", "The node the pod runs on.", 1));
    add(Column("Nominated Node", "string", "", "The node the pod may preempt on.", 1));
    add(Column("Readiness Gates", "string", "", "Extra readiness conditions met.", 1));
  } else if (res == "deployments") {
    add(Column("Ready", "string", "", "Ready pods out of desired pods."));
    add(Column("Up-to-date", "string", "", "Pods of the current template."));
    add(Column("Available", "string", "", "Pods available to serve."));
    add(Column("Age", "string", "", kAgeColumn));
    add(Column("Containers", "string", "", "Names of the template's containers.", 1));
    add(Column("Images", "string", "", "Images of the template's containers.", 1));
    add(Column("Selector", "string", "", "The Deployment's pod selector.", 1));
  } else if (res == "services") {
    add(Column("Type", "string", "", "ClusterIP, NodePort, LoadBalancer or ExternalName."));
    add(Column("Cluster-IP", "string", "", "Virtual IP of the Service."));
    add(Column("External-IP", "string", "", "External addresses of the Service."));
    add(Column("Port(s)", "string", "", "Ports the Service exposes."));
    add(Column("Age", "string", "", kAgeColumn));
    add(Column("Selector", "string", "", "Labels of the Service's pods.", 1));
  } else if (res == "namespaces") {
    add(Column("Status", "string", "", "Active or Terminating."));
    add(Column("Age", "string", "", kAgeColumn));
  } else if (res == "serviceaccounts") {
    add(Column("Secrets", "string", "", "Secrets of the account."));
    add(Column("Age", "string", "", kAgeColumn));
  } else if (res == "configmaps") {
    add(Column("Data", "string", "", "Number of data keys."));
    add(Column("Age", "string", "", kAgeColumn));
  } else if (res == "endpoints") {
    add(Column("Endpoints", "string", "", "Addresses and ports (at most three shown)."));
    add(Column("Age", "string", "", kAgeColumn));
  } else if (res == "jobs") {
    add(Column("Status", "string", "", "Running, Complete, Failed or Suspended."));
    add(Column("Completions", "string", "", "Succeeded pods out of completions."));
    add(Column("Duration", "string", "", "How long the Job ran."));
    add(Column("Age", "string", "", kAgeColumn));
    add(Column("Containers", "string", "", "Names of the template's containers.", 1));
    add(Column("Images", "string", "", "Images of the template's containers.", 1));
    add(Column("Selector", "string", "", "The Job's pod selector.", 1));
  } else if (res == "rolebindings" || res == "clusterrolebindings") {
    add(Column("Role", "string", "", "The role granted."));
    add(Column("Age", "string", "", kAgeColumn));
    add(Column("Users", "string", "", "Users granted the role.", 1));
    add(Column("Groups", "string", "", "Groups granted the role.", 1));
    add(Column("ServiceAccounts", "string", "", "Service accounts granted the role.", 1));
  } else if (res == "roles" || res == "clusterroles") {
    add(Column("Created At", "date", "", "When the object was created."));
  } else {
    add(Column("Created At", "date", "", "When the object was created."));
  }
  return cols;
}

OJson TableRow(const ResourceInfo& r, const OJson& o, int64_t now_unix) {
  OJson cells = OJson::array();
  std::string name = Str(o, {"metadata", "name"});
  const std::string& res = r.resource;
  cells.push_back(name);
  if (res == "endpointslices") {
    std::vector<std::string> ports, addrs;
    for (const OJson& p : Arr(o, {"ports"})) {
      if (p.contains("port") && p["port"].is_number_integer()) {
        ports.push_back(std::to_string(p["port"].get<int64_t>()));
      } else if (p.contains("name") && p["name"].is_string() && !p["name"].get<std::string>().empty()) {
        ports.push_back(p["name"].get<std::string>());
      } else {
        ports.push_back("*");
      }
    }
    for (const OJson& e : Arr(o, {"endpoints"})) {
      for (const OJson& a : Arr(e, {"addresses"})) {
        if (a.is_string()) addrs.push_back(a.get<std::string>());
      }
    }
    cells.push_back(Str(o, {"addressType"}));
    cells.push_back(FirstN(ports, 3));
    cells.push_back(FirstN(addrs, 3));
    cells.push_back(Age(o, now_unix));
  } else if (res == "pods") {
    const OJson& statuses = Arr(o, {"status", "containerStatuses"});
    int ready = 0;
    int64_t restarts = 0;
    for (const OJson& s : statuses) {
      if (s.value("ready", false)) ++ready;
      if (s.contains("restartCount") && s["restartCount"].is_number_integer()) restarts += s["restartCount"].get<int64_t>();
    }
    size_t total = std::max(Arr(o, {"spec", "containers"}).size(), statuses.size());
    std::string status = Str(o, {"status", "phase"}, "Unknown");
    if (!Str(o, {"metadata", "deletionTimestamp"}).empty()) status = "Terminating";
    cells.push_back(absl::StrCat(ready, "/", total));
    cells.push_back(status);
    cells.push_back(std::to_string(restarts));
    cells.push_back(Age(o, now_unix));
    cells.push_back(Str(o, {"status", "podIP"}, "<none>"));
    cells.push_back(Str(o, {"spec", "nodeName"}, "<none>"));
    cells.push_back("<none>");
    cells.push_back("<none>");
  } else if (res == "deployments") {
    std::vector<std::string> names, images;
    for (const OJson& c : Arr(o, {"spec", "template", "spec", "containers"})) {
      names.push_back(Str(c, {"name"}));
      images.push_back(Str(c, {"image"}));
    }
    cells.push_back(absl::StrCat(Int(o, {"status", "readyReplicas"}), "/", Int(o, {"spec", "replicas"})));
    cells.push_back(Int(o, {"status", "updatedReplicas"}));
    cells.push_back(Int(o, {"status", "availableReplicas"}));
    cells.push_back(Age(o, now_unix));
    cells.push_back(absl::StrJoin(names, ","));
    cells.push_back(absl::StrJoin(images, ","));
    cells.push_back(SelectorString(At(o, {"spec", "selector", "matchLabels"})));
  } else if (res == "services") {
    std::vector<std::string> ports;
    for (const OJson& p : Arr(o, {"spec", "ports"})) {
      ports.push_back(absl::StrCat(Int(p, {"port"}), "/", Str(p, {"protocol"}, "TCP")));
    }
    cells.push_back(Str(o, {"spec", "type"}, "ClusterIP"));
    cells.push_back(Str(o, {"spec", "clusterIP"}, "<none>"));
    cells.push_back("<none>");
    cells.push_back(ports.empty() ? std::string("<none>") : absl::StrJoin(ports, ","));
    cells.push_back(Age(o, now_unix));
    cells.push_back(SelectorString(At(o, {"spec", "selector"})));
  } else if (res == "namespaces") {
    cells.push_back(Str(o, {"status", "phase"}, "Active"));
    cells.push_back(Age(o, now_unix));
  } else if (res == "serviceaccounts") {
    cells.push_back(static_cast<int64_t>(Arr(o, {"secrets"}).size()));
    cells.push_back(Age(o, now_unix));
  } else if (res == "configmaps") {
    cells.push_back(static_cast<int64_t>(At(o, {"data"}).is_object() ? At(o, {"data"}).size() : 0) +
                    static_cast<int64_t>(At(o, {"binaryData"}).is_object() ? At(o, {"binaryData"}).size() : 0));
    cells.push_back(Age(o, now_unix));
  } else if (res == "endpoints") {
    std::vector<std::string> eps;
    for (const OJson& s : Arr(o, {"subsets"})) {
      for (const OJson& a : Arr(s, {"addresses"})) {
        for (const OJson& p : Arr(s, {"ports"})) eps.push_back(absl::StrCat(Str(a, {"ip"}), ":", Int(p, {"port"})));
      }
    }
    cells.push_back(eps.empty() ? std::string("<none>") : FirstN(eps, 3));
    cells.push_back(Age(o, now_unix));
  } else if (res == "jobs") {
    std::vector<std::string> names, images;
    for (const OJson& c : Arr(o, {"spec", "template", "spec", "containers"})) {
      names.push_back(Str(c, {"name"}));
      images.push_back(Str(c, {"image"}));
    }
    cells.push_back("Running");
    cells.push_back(absl::StrCat(Int(o, {"status", "succeeded"}), "/", Int(o, {"spec", "completions"})));
    cells.push_back("");
    cells.push_back(Age(o, now_unix));
    cells.push_back(absl::StrJoin(names, ","));
    cells.push_back(absl::StrJoin(images, ","));
    cells.push_back(SelectorString(At(o, {"spec", "selector", "matchLabels"})));
  } else if (res == "rolebindings" || res == "clusterrolebindings") {
    std::vector<std::string> users, groups, sas;
    for (const OJson& s : Arr(o, {"subjects"})) {
      std::string kind = Str(s, {"kind"});
      if (kind == "User") users.push_back(Str(s, {"name"}));
      if (kind == "Group") groups.push_back(Str(s, {"name"}));
      if (kind == "ServiceAccount") sas.push_back(absl::StrCat(Str(s, {"namespace"}), "/", Str(s, {"name"})));
    }
    cells.push_back(absl::StrCat(Str(o, {"roleRef", "kind"}), "/", Str(o, {"roleRef", "name"})));
    cells.push_back(Age(o, now_unix));
    cells.push_back(absl::StrJoin(users, ", "));
    cells.push_back(absl::StrJoin(groups, ", "));
    cells.push_back(absl::StrJoin(sas, ", "));
  } else {
    cells.push_back(Str(o, {"metadata", "creationTimestamp"}));
  }
  OJson meta = At(o, {"metadata"}).is_object() ? At(o, {"metadata"}) : OJson::object();
  return OJson{{"cells", cells},
               {"object", {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", meta}}}};
}

OJson MakeTable(const ResourceInfo& r, const std::string& resource_version, OJson rows, bool with_columns,
                bool empty_columns_when_omitted) {
  OJson t;
  t["kind"] = "Table";
  t["apiVersion"] = "meta.k8s.io/v1";
  t["metadata"] = {{"resourceVersion", resource_version}};
  if (with_columns) {
    t["columnDefinitions"] = TableColumnDefinitions(r);
  } else if (empty_columns_when_omitted) {
    t["columnDefinitions"] = nullptr;
  }
  t["rows"] = std::move(rows);
  return t;
}

std::optional<int64_t> ParseRfc3339(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace k8slb::fakeapi
