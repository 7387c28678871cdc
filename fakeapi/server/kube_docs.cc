#include "kube_docs.h"

#include <ctime>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "api_common.h"

namespace k8slb::fakeapi {
namespace {

using ordered_json = nlohmann::ordered_json;
using fake::ResourceKind;

struct SubresourceDef {
  std::string name;
  std::string group, version, kind;
  std::vector<std::string> verbs;
};

struct ResourceDef {
  std::string group, version, resource, singular, kind;
  ResourceKind model_kind;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<SubresourceDef> subresources;
};

const std::vector<std::string>& AllVerbs() {
  static const std::vector<std::string> v = {"create", "delete", "deletecollection", "get",
                                             "list",   "patch",  "update",           "watch"};
  return v;
}

const std::vector<ResourceDef>& Resources() {
  static const std::vector<ResourceDef> defs = {
      {"", "v1", "pods", "pod", "Pod", ResourceKind::kPod, {"po"}, {"all"}, {}},
      {"", "v1", "services", "service", "Service", ResourceKind::kService, {"svc"}, {"all"}, {}},
      {"apps",
       "v1",
       "deployments",
       "deployment",
       "Deployment",
       ResourceKind::kDeployment,
       {"deploy"},
       {"all"},
       {{"scale", "autoscaling", "v1", "Scale", {"get", "patch", "update"}}}},
      {"discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", ResourceKind::kEndpointSlice,
       {}, {}, {}},
  };
  return defs;
}

const std::vector<std::string>& Groups() {
  static const std::vector<std::string> g = {"apps", "discovery.k8s.io"};
  return g;
}

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

ordered_json AggregatedResource(const ResourceDef& d) {
  ordered_json r;
  r["resource"] = d.resource;
  // client-go drops a resource without responseKind ("missing GVK"); §3.3.
  r["responseKind"] = {{"group", ""}, {"version", ""}, {"kind", d.kind}};
  r["scope"] = "Namespaced";
  r["singularResource"] = d.singular;
  r["verbs"] = AllVerbs();
  if (!d.short_names.empty()) r["shortNames"] = d.short_names;
  if (!d.categories.empty()) r["categories"] = d.categories;
  if (!d.subresources.empty()) {
    ordered_json subs = ordered_json::array();
    for (const auto& s : d.subresources) {
      subs.push_back({{"subresource", s.name},
                      {"responseKind", {{"group", s.group}, {"version", s.version}, {"kind", s.kind}}},
                      {"verbs", s.verbs}});
    }
    r["subresources"] = subs;
  }
  return r;
}

ordered_json AggregatedGroup(const std::string& group, const std::string& api_version) {
  ordered_json resources = ordered_json::array();
  for (const auto& d : Resources()) {
    if (d.group == group) resources.push_back(AggregatedResource(d));
  }
  ordered_json item;
  item["metadata"] = {{"name", group}, {"creationTimestamp", nullptr}};
  item["versions"] = ordered_json::array({{{"version", "v1"}, {"resources", resources}, {"freshness", "Current"}}});
  (void)api_version;
  return item;
}

std::string Age(const nlohmann::json& object, int64_t now_unix) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "<unknown>";
  auto ts = meta->find("creationTimestamp");
  if (ts == meta->end() || !ts->is_string()) return "<unknown>";
  auto t = ParseRfc3339(ts->get<std::string>());
  if (!t) return "<unknown>";
  return HumanDuration(std::max<int64_t>(0, now_unix - *t));
}

std::string Str(const nlohmann::json& j, std::initializer_list<const char*> path, const std::string& def = "") {
  const nlohmann::json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object()) return def;
    auto it = cur->find(p);
    if (it == cur->end()) return def;
    cur = &*it;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_number_integer()) return std::to_string(cur->get<int64_t>());
  return def;
}

int64_t Int(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object()) return 0;
    auto it = cur->find(p);
    if (it == cur->end()) return 0;
    cur = &*it;
  }
  return cur->is_number_integer() ? cur->get<int64_t>() : 0;
}

const nlohmann::json& Arr(const nlohmann::json& j, std::initializer_list<const char*> path) {
  static const nlohmann::json empty = nlohmann::json::array();
  const nlohmann::json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object()) return empty;
    auto it = cur->find(p);
    if (it == cur->end()) return empty;
    cur = &*it;
  }
  return cur->is_array() ? *cur : empty;
}

std::string SelectorString(const nlohmann::json& selector) {
  if (!selector.is_object() || selector.empty()) return "<none>";
  std::vector<std::string> parts;
  for (auto it = selector.begin(); it != selector.end(); ++it) {
    if (it.value().is_string()) parts.push_back(it.key() + "=" + it.value().get<std::string>());
  }
  return parts.empty() ? "<none>" : absl::StrJoin(parts, ",");
}

// printers.go formatEndpointSlices / formatDiscoveryPorts: first `max` values, then " + N more...".
std::string FirstN(const std::vector<std::string>& values, size_t max) {
  if (values.empty()) return "<unset>";
  std::vector<std::string> head(values.begin(), values.begin() + std::min(max, values.size()));
  std::string out = absl::StrJoin(head, ",");
  if (values.size() > max) absl::StrAppend(&out, " + ", values.size() - max, " more...");
  return out;
}

ordered_json Column(const std::string& name, const std::string& type, const std::string& format,
                    const std::string& description, int priority = 0) {
  return ordered_json{{"name", name},
                      {"type", type},
                      {"format", format},
                      {"description", description},
                      {"priority", priority}};
}

}  // namespace

std::optional<ServedResource> FindResource(const std::string& group, const std::string& version,
                                           const std::string& resource) {
  for (const auto& d : Resources()) {
    if (d.group == group && d.version == version && d.resource == resource) {
      return ServedResource{d.group, d.version, d.resource, d.model_kind};
    }
  }
  return std::nullopt;
}

bool IsServedGroupVersion(const std::string& group, const std::string& version) {
  if (version != "v1") return false;
  if (group.empty()) return true;
  for (const auto& g : Groups()) {
    if (g == group) return true;
  }
  return false;
}

std::string VersionJson() {
  ordered_json j = {{"major", "1"},
                    {"minor", "32"},
                    {"gitVersion", "v1.32.0-k8slb-fake"},
                    {"gitCommit", "0000000000000000000000000000000000000000"},
                    {"gitTreeState", "clean"},
                    {"buildDate", "2025-01-01T00:00:00Z"},
                    {"goVersion", "go1.23.0"},
                    {"compiler", "gc"},
                    {"platform", "linux/amd64"}};
  return j.dump();
}

DiscoveryFormat NegotiateDiscovery(const std::string& accept) {
  for (const MediaRange& m : ParseAccept(accept)) {
    if (m.type == "application/json" && Param(m, "as") == "APIGroupDiscoveryList" &&
        Param(m, "g") == "apidiscovery.k8s.io") {
      if (Param(m, "v") == "v2") return DiscoveryFormat::kAggregatedV2;
      if (Param(m, "v") == "v2beta1") return DiscoveryFormat::kAggregatedV2Beta1;
      continue;
    }
    if (IsJsonish(m) && Param(m, "as").empty()) return DiscoveryFormat::kLegacy;
  }
  return DiscoveryFormat::kLegacy;
}

std::string DiscoveryContentType(DiscoveryFormat format) {
  switch (format) {
    case DiscoveryFormat::kAggregatedV2:
      return "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    case DiscoveryFormat::kAggregatedV2Beta1:
      return "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
    case DiscoveryFormat::kLegacy:
      break;
  }
  return "application/json";
}

std::string DiscoveryRootJson(bool core, DiscoveryFormat format) {
  if (format == DiscoveryFormat::kLegacy) {
    if (core) {
      ordered_json j = {{"kind", "APIVersions"},
                        {"versions", {"v1"}},
                        {"serverAddressByClientCIDRs",
                         ordered_json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:6443"}}})}};
      return j.dump();
    }
    ordered_json groups = ordered_json::array();
    for (const auto& g : Groups()) {
      ordered_json gv = {{"groupVersion", g + "/v1"}, {"version", "v1"}};
      groups.push_back({{"name", g}, {"versions", ordered_json::array({gv})}, {"preferredVersion", gv}});
    }
    ordered_json j = {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
    return j.dump();
  }
  std::string api_version =
      format == DiscoveryFormat::kAggregatedV2 ? "apidiscovery.k8s.io/v2" : "apidiscovery.k8s.io/v2beta1";
  ordered_json items = ordered_json::array();
  if (core) {
    items.push_back(AggregatedGroup("", api_version));
  } else {
    for (const auto& g : Groups()) items.push_back(AggregatedGroup(g, api_version));
  }
  ordered_json j = {{"kind", "APIGroupDiscoveryList"},
                    {"apiVersion", api_version},
                    {"metadata", ordered_json::object()},
                    {"items", items}};
  return j.dump();
}

std::string ApiResourceListJson(const std::string& group, const std::string& version) {
  ordered_json resources = ordered_json::array();
  for (const auto& d : Resources()) {
    if (d.group != group || d.version != version) continue;
    ordered_json r = {{"name", d.resource},
                      {"singularName", d.singular},
                      {"namespaced", true},
                      {"kind", d.kind},
                      {"verbs", AllVerbs()}};
    if (!d.short_names.empty()) r["shortNames"] = d.short_names;
    if (!d.categories.empty()) r["categories"] = d.categories;
    resources.push_back(r);
    for (const auto& s : d.subresources) {
      resources.push_back({{"name", d.resource + "/" + s.name},
                           {"singularName", ""},
                           {"namespaced", true},
                           {"group", s.group},
                           {"version", s.version},
                           {"kind", s.kind},
                           {"verbs", s.verbs}});
    }
  }
  ordered_json j = {{"kind", "APIResourceList"},
                    {"apiVersion", "v1"},
                    {"groupVersion", group.empty() ? version : group + "/" + version},
                    {"resources", resources}};
  return j.dump();
}

std::string ApiGroupJson(const std::string& group) {
  ordered_json gv = {{"groupVersion", group + "/v1"}, {"version", "v1"}};
  ordered_json j = {{"kind", "APIGroup"},
                    {"apiVersion", "v1"},
                    {"name", group},
                    {"versions", ordered_json::array({gv})},
                    {"preferredVersion", gv}};
  return j.dump();
}

OutputFormat NegotiateOutput(const std::string& accept) {
  for (const MediaRange& m : ParseAccept(accept)) {
    if (m.type == "application/json" && Param(m, "as") == "Table" && Param(m, "g") == "meta.k8s.io" &&
        (Param(m, "v") == "v1" || Param(m, "v") == "v1beta1")) {
      return OutputFormat::kTable;
    }
    if (IsJsonish(m) && Param(m, "as").empty()) return OutputFormat::kJson;
  }
  return OutputFormat::kJson;
}

nlohmann::ordered_json TableColumnDefinitions(ResourceKind kind) {
  const std::string name_desc =
      "Name must be unique within a namespace. Is required when creating resources, although some resources may "
      "allow a client to request the generation of an appropriate name automatically.";
  const std::string age_desc =
      "CreationTimestamp is a timestamp representing the server time when this object was created.";
  ordered_json cols = ordered_json::array();
  switch (kind) {
    case ResourceKind::kEndpointSlice:
      cols.push_back(Column("Name", "string", "name", name_desc));
      cols.push_back(Column("AddressType", "string", "", "Type of address carried by this EndpointSlice."));
      cols.push_back(Column("Ports", "string", "", "Ports advertised by this EndpointSlice."));
      cols.push_back(Column("Endpoints", "string", "", "Endpoints included in this EndpointSlice."));
      cols.push_back(Column("Age", "string", "", age_desc));
      break;
    case ResourceKind::kPod:
      cols.push_back(Column("Name", "string", "name", name_desc));
      cols.push_back(Column("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic."));
      cols.push_back(Column("Status", "string", "", "The aggregate status of the containers in this pod."));
      cols.push_back(Column("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."));
      cols.push_back(Column("Age", "string", "", age_desc));
      cols.push_back(Column("IP", "string", "", "IP address allocated to the pod.", 1));
      cols.push_back(Column("Node", "string", "", "Name of the Node this pod is scheduled on.", 1));
      cols.push_back(Column("Nominated Node", "string", "", "Name of the node nominated for preemption.", 1));
      cols.push_back(Column("Readiness Gates", "string", "", "Pod readiness gates.", 1));
      break;
    case ResourceKind::kDeployment:
      cols.push_back(Column("Name", "string", "name", name_desc));
      cols.push_back(Column("Ready", "string", "", "Number of the pod with ready state"));
      cols.push_back(Column("Up-to-date", "integer", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."));
      cols.push_back(Column("Available", "integer", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."));
      cols.push_back(Column("Age", "string", "", age_desc));
      cols.push_back(Column("Containers", "string", "", "Names of each container in the template.", 1));
      cols.push_back(Column("Images", "string", "", "Images referenced by each container in the template.", 1));
      cols.push_back(Column("Selector", "string", "", "Label selector for pods.", 1));
      break;
    case ResourceKind::kService:
      cols.push_back(Column("Name", "string", "name", name_desc));
      cols.push_back(Column("Type", "string", "", "The type of the service."));
      cols.push_back(Column("Cluster-IP", "string", "", "The cluster IP of the service."));
      cols.push_back(Column("External-IP", "string", "", "The external IP of the service."));
      cols.push_back(Column("Port(s)", "string", "", "The ports of the service."));
      cols.push_back(Column("Age", "string", "", age_desc));
      cols.push_back(Column("Selector", "string", "", "Route service traffic to pods with label keys and values matching this selector.", 1));
      break;
  }
  return cols;
}

nlohmann::ordered_json TableRow(ResourceKind kind, const nlohmann::json& o, int64_t now_unix) {
  ordered_json cells = ordered_json::array();
  std::string name = Str(o, {"metadata", "name"});
  switch (kind) {
    case ResourceKind::kEndpointSlice: {
      std::vector<std::string> ports, addrs;
      for (const auto& p : Arr(o, {"ports"})) {
        if (p.contains("port") && p["port"].is_number_integer()) {
          ports.push_back(std::to_string(p["port"].get<int64_t>()));
        } else if (p.contains("name") && p["name"].is_string() && !p["name"].get<std::string>().empty()) {
          ports.push_back(p["name"].get<std::string>());
        } else {
          ports.push_back("*");
        }
      }
      for (const auto& e : Arr(o, {"endpoints"})) {
        for (const auto& a : Arr(e, {"addresses"})) {
          if (a.is_string()) addrs.push_back(a.get<std::string>());
        }
      }
      cells = {name, Str(o, {"addressType"}), FirstN(ports, 3), FirstN(addrs, 3), Age(o, now_unix)};
      break;
    }
    case ResourceKind::kPod: {
      const auto& containers = Arr(o, {"spec", "containers"});
      const auto& statuses = Arr(o, {"status", "containerStatuses"});
      int ready = 0;
      int64_t restarts = 0;
      for (const auto& s : statuses) {
        if (s.value("ready", false)) ++ready;
        if (s.contains("restartCount") && s["restartCount"].is_number_integer()) {
          restarts += s["restartCount"].get<int64_t>();
        }
      }
      size_t total = std::max(containers.size(), statuses.size());
      std::string status = Str(o, {"status", "phase"}, "Unknown");
      if (!Str(o, {"metadata", "deletionTimestamp"}).empty()) status = "Terminating";
      cells = {name,
               absl::StrCat(ready, "/", total),
               status,
               std::to_string(restarts),
               Age(o, now_unix),
               Str(o, {"status", "podIP"}, "<none>"),
               Str(o, {"spec", "nodeName"}, "<none>"),
               "<none>",
               "<none>"};
      break;
    }
    case ResourceKind::kDeployment: {
      std::vector<std::string> names, images;
      for (const auto& c : Arr(o, {"spec", "template", "spec", "containers"})) {
        names.push_back(Str(c, {"name"}));
        images.push_back(Str(c, {"image"}));
      }
      const nlohmann::json* sel = nullptr;
      if (o.contains("spec") && o["spec"].contains("selector") && o["spec"]["selector"].contains("matchLabels")) {
        sel = &o["spec"]["selector"]["matchLabels"];
      }
      cells = {name,
               absl::StrCat(Int(o, {"status", "readyReplicas"}), "/", Int(o, {"spec", "replicas"})),
               Int(o, {"status", "updatedReplicas"}),
               Int(o, {"status", "availableReplicas"}),
               Age(o, now_unix),
               absl::StrJoin(names, ","),
               absl::StrJoin(images, ","),
               sel ? SelectorString(*sel) : std::string("<none>")};
      break;
    }
    case ResourceKind::kService: {
      std::vector<std::string> ports;
      for (const auto& p : Arr(o, {"spec", "ports"})) {
        ports.push_back(absl::StrCat(Int(p, {"port"}), "/", Str(p, {"protocol"}, "TCP")));
      }
      const nlohmann::json* sel = nullptr;
      if (o.contains("spec") && o["spec"].contains("selector")) sel = &o["spec"]["selector"];
      cells = {name,
               Str(o, {"spec", "type"}, "ClusterIP"),
               Str(o, {"spec", "clusterIP"}, "<none>"),
               "<none>",
               ports.empty() ? std::string("<none>") : absl::StrJoin(ports, ","),
               Age(o, now_unix),
               sel ? SelectorString(*sel) : std::string("<none>")};
      break;
    }
  }
  ordered_json meta = ordered_json::object();
  if (o.contains("metadata")) meta = ordered_json::parse(o["metadata"].dump());
  return ordered_json{
      {"cells", cells},
      {"object", {{"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", meta}}}};
}

nlohmann::ordered_json MakeTable(ResourceKind kind, const std::string& resource_version, nlohmann::ordered_json rows,
                                 bool with_columns) {
  ordered_json t;
  t["kind"] = "Table";
  t["apiVersion"] = "meta.k8s.io/v1";
  t["metadata"] = {{"resourceVersion", resource_version}};
  if (with_columns) t["columnDefinitions"] = TableColumnDefinitions(kind);
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
