// API objects of the cluster model (contract in cluster.h, layout in cluster_internal.h): resource
// names, reading objects as the API server would (metadata, Service and Deployment specs, a
// PodSpec's ports), the JSON views of stored objects, and the generic write path (Get, List,
// Create, Replace, MergePatch, Delete) the HTTP front serves.
#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fakeapi/model/cluster.h"
#include "fakeapi/model/cluster_internal.h"
#include "k8slb/endpoint_slice_json.h"
#include "util/fnv1a.h"
#include "writer/endpoint_slice_writer.h"

namespace k8slb::fake {

using cluster_internal::AV;
using cluster_internal::ContainerPort;
using cluster_internal::DeploymentState;
using cluster_internal::ForRange;
using cluster_internal::Invalid;
using cluster_internal::Json;
using cluster_internal::Key;
using cluster_internal::kNameAlphabet;
using cluster_internal::kNanosPerSecond;
using cluster_internal::LabelsMatch;
using cluster_internal::MakeKey;
using cluster_internal::NotFound;
using cluster_internal::PodState;
using cluster_internal::ServicePort;
using cluster_internal::ServiceState;
using cluster_internal::SliceEntry;
using cluster_internal::SV;

namespace cluster_internal {

absl::Status NotFound(ResourceKind kind, std::string_view name) {
  return absl::NotFoundError(absl::StrCat(QualifiedResource(kind), " \"", AV(name), "\" not found"));
}

absl::Status Invalid(ResourceKind kind, std::string_view name, std::string_view detail) {
  // The API's 422 wording: `EndpointSlice.discovery.k8s.io "foo" is invalid: <field>: <detail>`.
  std::string group(ResourceGroup(kind));
  std::string kind_name = group.empty() ? std::string(KindName(kind)) : absl::StrCat(AV(KindName(kind)), ".", group);
  return absl::InvalidArgumentError(absl::StrCat(kind_name, " \"", AV(name), "\" is invalid: ", AV(detail)));
}

bool LabelsMatch(const std::map<std::string, std::string>& selector,
                 const std::map<std::string, std::string>& labels) {
  if (selector.empty()) return false;
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace cluster_internal

namespace {

absl::Status Conflict(ResourceKind kind, std::string_view name) {
  return absl::AbortedError(absl::StrCat(
      "Operation cannot be fulfilled on ", QualifiedResource(kind), " \"", AV(name),
      "\": the object has been modified; please apply your changes to the latest version and try again"));
}

std::string HashName(uint64_t h, int length) {
  std::string out;
  for (int i = 0; i < length; ++i) {
    out.push_back(kNameAlphabet[h % kNameAlphabet.size()]);
    h /= kNameAlphabet.size();
  }
  return out;
}

// Reads a string→string map at object[key]; missing/null → empty.
absl::Status ReadLabels(const Json& object, std::string_view key, std::string_view path,
                        std::map<std::string, std::string>* out) {
  out->clear();
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return absl::InvalidArgumentError(absl::StrCat(AV(path), ": expected object"));
  for (auto e = it->begin(); e != it->end(); ++e) {
    if (!e.value().is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(AV(path), "[", e.key(), "]: expected string"));
    }
    (*out)[e.key()] = e.value().get<std::string>();
  }
  return absl::OkStatus();
}

const Json* Member(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Json LabelsJson(const std::map<std::string, std::string>& labels) {
  Json j = Json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  return j;
}

// intstr (an int, or "NN%" of `total`), as the Deployment controller resolves maxSurge (rounding
// up) and maxUnavailable (rounding down).
absl::StatusOr<int> IntOrPercent(const Json* value, int total, bool round_up, int fallback,
                                 std::string_view path) {
  if (value == nullptr) return fallback;
  if (value->is_number_integer()) {
    int64_t v = value->get<int64_t>();
    if (v < 0) return absl::InvalidArgumentError(absl::StrCat(AV(path), ": must be non-negative"));
    return static_cast<int>(v);
  }
  if (value->is_string()) {
    std::string s = value->get<std::string>();
    int pct = 0;
    if (s.size() >= 2 && s.back() == '%' && absl::SimpleAtoi(s.substr(0, s.size() - 1), &pct) && pct >= 0) {
      int64_t scaled = static_cast<int64_t>(pct) * total;
      return static_cast<int>(round_up ? (scaled + 99) / 100 : scaled / 100);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(AV(path), ": expected an integer or a percentage"));
}

// What the model reads from a PodSpec (a Pod's spec, or a Deployment's spec.template.spec): the
// first container's ports with a positive number, and terminationGracePeriodSeconds if given.
struct PodSpecFields {
  std::vector<ContainerPort> ports;
  std::optional<int64_t> termination_grace_nanos;
};

PodSpecFields ReadPodSpec(const Json& pod_spec) {
  PodSpecFields out;
  if (const Json* cs = Member(pod_spec, "containers"); cs != nullptr && cs->is_array() && !cs->empty()) {
    if (const Json* ps = Member((*cs)[0], "ports"); ps != nullptr && ps->is_array()) {
      for (const Json& p : *ps) {
        ContainerPort cp;
        if (const Json* n = Member(p, "name"); n != nullptr && n->is_string()) cp.name = n->get<std::string>();
        if (const Json* n = Member(p, "containerPort"); n != nullptr && n->is_number_integer()) {
          cp.port = static_cast<int32_t>(n->get<int64_t>());
        }
        if (cp.port > 0) out.ports.push_back(cp);
      }
    }
  }
  if (const Json* g = Member(pod_spec, "terminationGracePeriodSeconds"); g != nullptr && g->is_number_integer()) {
    out.termination_grace_nanos = g->get<int64_t>() * kNanosPerSecond;
  }
  return out;
}

Json DeploymentObject(const DeploymentConfig& c, const std::string& image) {
  Json container = {{"name", "echo"}, {"image", image}};
  if (c.container_port > 0) {
    Json port = {{"containerPort", c.container_port}, {"protocol", "TCP"}};
    if (!c.port_name.empty()) port["name"] = c.port_name;
    container["ports"] = Json::array({port});
  }
  Json tspec = {{"containers", Json::array({container})}};
  if (c.timing) tspec["terminationGracePeriodSeconds"] = c.timing->termination_grace_nanos / kNanosPerSecond;
  return Json{{"metadata", {{"name", c.name}, {"namespace", c.namespace_name}, {"labels", LabelsJson(c.pod_labels)}}},
              {"spec",
               {{"replicas", c.replicas},
                {"selector", {{"matchLabels", LabelsJson(c.pod_labels)}}},
                {"template", {{"metadata", {{"labels", LabelsJson(c.pod_labels)}}}, {"spec", tspec}}},
                {"strategy", {{"type", "RollingUpdate"},
                              {"rollingUpdate", {{"maxSurge", c.max_surge}, {"maxUnavailable", c.max_unavailable}}}}}}}};
}
}  // namespace

std::string_view ResourceName(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kService: return "services";
    case ResourceKind::kDeployment: return "deployments";
    case ResourceKind::kPod: return "pods";
    case ResourceKind::kEndpointSlice: return "endpointslices";
  }
  return "";
}

std::string_view ResourceGroup(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kDeployment: return "apps";
    case ResourceKind::kEndpointSlice: return "discovery.k8s.io";
    default: return "";
  }
}

std::string QualifiedResource(ResourceKind kind) {
  std::string_view group = ResourceGroup(kind);
  return group.empty() ? std::string(ResourceName(kind)) : absl::StrCat(AV(ResourceName(kind)), ".", AV(group));
}

std::string_view KindName(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kService: return "Service";
    case ResourceKind::kDeployment: return "Deployment";
    case ResourceKind::kPod: return "Pod";
    case ResourceKind::kEndpointSlice: return "EndpointSlice";
  }
  return "";
}

std::string_view ApiVersion(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kDeployment: return "apps/v1";
    case ResourceKind::kEndpointSlice: return "discovery.k8s.io/v1";
    default: return "v1";
  }
}

std::string_view ChangeTypeName(ChangeType type) {
  switch (type) {
    case ChangeType::kAdded: return "ADDED";
    case ChangeType::kModified: return "MODIFIED";
    case ChangeType::kDeleted: return "DELETED";
  }
  return "";
}

// ================================================================================================
// Object views and parsing

Json Cluster::Impl::PodJson(const PodState& p) const {
  const PodInfo& i = p.info;
  Json meta = {{"name", i.name}, {"namespace", i.namespace_name}, {"uid", i.uid},
               {"resourceVersion", std::to_string(p.rv)}, {"creationTimestamp", Timestamp(i.created_nanos)},
               {"labels", LabelsJson(i.labels)}};
  if (!p.annotations.empty()) meta["annotations"] = LabelsJson(p.annotations);
  if (!i.deployment.empty()) {
    meta["generateName"] = p.rs_name + "-";
    meta["ownerReferences"] = Json::array({{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
                                            {"name", p.rs_name}, {"uid", p.rs_uid},
                                            {"controller", true}, {"blockOwnerDeletion", true}}});
  }
  if (i.deletion_nanos) {
    meta["deletionTimestamp"] = Timestamp(*i.deletion_nanos);
    meta["deletionGracePeriodSeconds"] = p.timing.termination_grace_nanos / kNanosPerSecond;
  }
  Json ports = Json::array();
  for (const ContainerPort& cp : p.ports) {
    Json port = {{"containerPort", cp.port}, {"protocol", "TCP"}};
    if (!cp.name.empty()) port["name"] = cp.name;
    ports.push_back(port);
  }
  Json container = {{"name", "echo"}, {"image", opts_.image}};
  if (!ports.empty()) container["ports"] = ports;
  Json spec = {{"containers", Json::array({container})},
               {"restartPolicy", "Always"},
               {"terminationGracePeriodSeconds", p.timing.termination_grace_nanos / kNanosPerSecond}};
  if (!i.node.empty()) spec["nodeName"] = i.node;
  std::string ready = i.ready ? "True" : "False";
  std::string scheduled = i.node.empty() ? "False" : "True";
  Json status = {{"phase", i.address.empty() ? "Pending" : "Running"},
                 {"conditions", Json::array({{{"type", "PodScheduled"}, {"status", scheduled}},
                                             {{"type", "ContainersReady"}, {"status", ready}},
                                             {{"type", "Ready"}, {"status", ready}}})}};
  if (!i.address.empty()) {
    status["podIP"] = i.address;
    status["podIPs"] = Json::array({{{"ip", i.address}}});
    status["startTime"] = Timestamp(i.created_nanos);
    Json state = Json::object();
    if (i.crashed) {
      state["waiting"] = {{"reason", "CrashLoopBackOff"}};
    } else if (p.started) {
      state["running"] = Json::object();
    } else {
      state["waiting"] = {{"reason", "ContainerCreating"}};
    }
    status["containerStatuses"] = Json::array({{{"name", "echo"}, {"image", opts_.image}, {"ready", i.ready},
                                                {"started", p.started && !i.crashed},
                                                {"restartCount", i.restart_count}, {"state", state}}});
  }
  return Json{{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", meta}, {"spec", spec}, {"status", status}};
}

std::shared_ptr<const Json> Cluster::Impl::PodObject(const PodState& p) const {
  if (!p.cached) p.cached = std::make_shared<const Json>(PodJson(p));
  return p.cached;
}

absl::StatusOr<std::string> Cluster::Impl::ObjectName(ResourceKind kind, std::string_view ns, const Json& object,
                                                      bool generate) {
  if (!object.is_object()) return absl::FailedPreconditionError("the request body must be a JSON object");
  const Json* meta = Member(object, "metadata");
  std::string name, generate_name, obj_ns;
  if (meta != nullptr) {
    if (!meta->is_object()) return absl::FailedPreconditionError("metadata: expected object");
    if (const Json* n = Member(*meta, "name"); n != nullptr && n->is_string()) name = n->get<std::string>();
    if (const Json* g = Member(*meta, "generateName"); g != nullptr && g->is_string()) {
      generate_name = g->get<std::string>();
    }
    if (const Json* n = Member(*meta, "namespace"); n != nullptr && n->is_string()) obj_ns = n->get<std::string>();
  }
  if (!obj_ns.empty() && obj_ns != ns) {
    return absl::FailedPreconditionError(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
  if (name.empty() && generate && !generate_name.empty()) {
    for (int i = 0; i < 100; ++i) {
      std::string candidate = generate_name + RandomSuffix();
      if (!Exists(kind, ns, candidate)) return candidate;
    }
  }
  if (name.empty()) {
    return Invalid(kind, "", "metadata.name: Required value: name or generateName is required");
  }
  return name;
}

bool Cluster::Impl::Exists(ResourceKind kind, std::string_view ns, std::string_view name) const {
  Key k = MakeKey(ns, name);
  switch (kind) {
    case ResourceKind::kService: return services_.count(k) != 0;
    case ResourceKind::kDeployment: return deployments_.count(k) != 0;
    case ResourceKind::kPod: return live_pods_.count(k) != 0;
    case ResourceKind::kEndpointSlice: return slices_.count(k) != 0;
  }
  return false;
}

void Cluster::Impl::StampMeta(Json& object, ResourceKind kind, std::string_view ns, const std::string& name,
                              const std::string& uid, const std::string& created) {
  object["kind"] = KindName(kind);
  object["apiVersion"] = ApiVersion(kind);
  Json& meta = object["metadata"];
  if (!meta.is_object()) meta = Json::object();
  meta["name"] = name;
  meta["namespace"] = ns;
  meta["uid"] = uid;
  meta["creationTimestamp"] = created;
}

absl::Status Cluster::Impl::ParseServiceSpec(const std::string& name, const Json& object, ServiceState& s) {
  const Json* meta = Member(object, "metadata");
  if (meta != nullptr) {
    if (auto st = ReadLabels(*meta, "labels", "metadata.labels", &s.labels); !st.ok()) {
      return Invalid(ResourceKind::kService, name, SV(st.message()));
    }
  }
  const Json* spec = Member(object, "spec");
  if (spec == nullptr || !spec->is_object()) return Invalid(ResourceKind::kService, name, "spec: Required value");
  if (auto st = ReadLabels(*spec, "selector", "spec.selector", &s.selector); !st.ok()) {
    return Invalid(ResourceKind::kService, name, SV(st.message()));
  }
  s.ports.clear();
  const Json* ports = Member(*spec, "ports");
  if (ports != nullptr) {
    if (!ports->is_array()) return Invalid(ResourceKind::kService, name, "spec.ports: expected array");
    for (size_t i = 0; i < ports->size(); ++i) {
      const Json& p = (*ports)[i];
      std::string path = absl::StrCat("spec.ports[", i, "]");
      if (!p.is_object()) return Invalid(ResourceKind::kService, name, path + ": expected object");
      ServicePort sp;
      const Json* port = Member(p, "port");
      if (port == nullptr || !port->is_number_integer() || port->get<int64_t>() < 1 || port->get<int64_t>() > 65535) {
        return Invalid(ResourceKind::kService, name,
                       path + ".port: Invalid value: must be between 1 and 65535, inclusive");
      }
      sp.port = static_cast<int32_t>(port->get<int64_t>());
      if (const Json* n = Member(p, "name"); n != nullptr && n->is_string()) sp.name = n->get<std::string>();
      if (const Json* pr = Member(p, "protocol"); pr != nullptr && pr->is_string()) sp.protocol = pr->get<std::string>();
      if (const Json* ap = Member(p, "appProtocol"); ap != nullptr && ap->is_string()) {
        sp.app_protocol = ap->get<std::string>();
      }
      if (const Json* t = Member(p, "targetPort"); t != nullptr) {
        if (t->is_number_integer()) {
          sp.target_number = static_cast<int32_t>(t->get<int64_t>());
        } else if (t->is_string()) {
          std::string ts = t->get<std::string>();
          int32_t v = 0;
          if (absl::SimpleAtoi(ts, &v)) {
            sp.target_number = v;
          } else {
            sp.target_name = ts;
          }
        } else {
          return Invalid(ResourceKind::kService, name, path + ".targetPort: expected integer or string");
        }
      }
      s.ports.push_back(std::move(sp));
    }
  }
  s.prefer_close = false;
  s.prefer_same_node = false;
  if (const Json* td = Member(*spec, "trafficDistribution"); td != nullptr) {
    if (!td->is_string()) return Invalid(ResourceKind::kService, name, "spec.trafficDistribution: expected string");
    // PreferSameZone is the 1.34 name of PreferClose; PreferSameNode (1.33+) asks for node hints
    // as well as zone hints, so older consumers still keep traffic in the zone
    // (https://kubernetes.io/docs/concepts/services-networking/service/#traffic-distribution).
    const std::string& value = td->get_ref<const std::string&>();
    s.prefer_close = value == "PreferClose" || value == "PreferSameZone";
    s.prefer_same_node = value == "PreferSameNode";
  }
  return absl::OkStatus();
}

absl::Status Cluster::Impl::ParseDeploymentSpec(const std::string& name, const Json& object, DeploymentState& d) {
  const Json* spec = Member(object, "spec");
  if (spec == nullptr || !spec->is_object()) return Invalid(ResourceKind::kDeployment, name, "spec: Required value");
  int replicas = 1;
  if (const Json* r = Member(*spec, "replicas"); r != nullptr) {
    if (!r->is_number_integer() || r->get<int64_t>() < 0 || r->get<int64_t>() > 1'000'000) {
      return Invalid(ResourceKind::kDeployment, name,
                     "spec.replicas: Invalid value: must be greater than or equal to 0");
    }
    replicas = static_cast<int>(r->get<int64_t>());
  }
  const Json* sel = Member(*spec, "selector");
  std::map<std::string, std::string> selector;
  if (sel != nullptr) {
    if (auto st = ReadLabels(*sel, "matchLabels", "spec.selector.matchLabels", &selector); !st.ok()) {
      return Invalid(ResourceKind::kDeployment, name, SV(st.message()));
    }
  }
  if (selector.empty()) return Invalid(ResourceKind::kDeployment, name, "spec.selector: Required value");
  const Json* tmpl = Member(*spec, "template");
  if (tmpl == nullptr || !tmpl->is_object()) {
    return Invalid(ResourceKind::kDeployment, name, "spec.template: Required value");
  }
  std::map<std::string, std::string> tlabels, tannotations;
  if (const Json* tm = Member(*tmpl, "metadata"); tm != nullptr) {
    if (!tm->is_object()) return Invalid(ResourceKind::kDeployment, name, "spec.template.metadata: expected object");
    if (auto st = ReadLabels(*tm, "labels", "spec.template.metadata.labels", &tlabels); !st.ok()) {
      return Invalid(ResourceKind::kDeployment, name, SV(st.message()));
    }
    if (auto st = ReadLabels(*tm, "annotations", "spec.template.metadata.annotations", &tannotations); !st.ok()) {
      return Invalid(ResourceKind::kDeployment, name, SV(st.message()));
    }
  }
  if (!LabelsMatch(selector, tlabels)) {
    return Invalid(ResourceKind::kDeployment, name,
                   "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`");
  }
  std::vector<ContainerPort> ports;
  if (const Json* ts = Member(*tmpl, "spec"); ts != nullptr) {
    PodSpecFields fields = ReadPodSpec(*ts);
    ports = std::move(fields.ports);
    if (fields.termination_grace_nanos) d.timing.termination_grace_nanos = *fields.termination_grace_nanos;
  }
  const Json* ru = nullptr;
  if (const Json* strat = Member(*spec, "strategy"); strat != nullptr) ru = Member(*strat, "rollingUpdate");
  absl::StatusOr<int> surge = IntOrPercent(ru ? Member(*ru, "maxSurge") : nullptr, replicas, true,
                                           (replicas * 25 + 99) / 100, "spec.strategy.rollingUpdate.maxSurge");
  if (!surge.ok()) return Invalid(ResourceKind::kDeployment, name, SV(surge.status().message()));
  absl::StatusOr<int> unavailable =
      IntOrPercent(ru ? Member(*ru, "maxUnavailable") : nullptr, replicas, false, replicas * 25 / 100,
                   "spec.strategy.rollingUpdate.maxUnavailable");
  if (!unavailable.ok()) return Invalid(ResourceKind::kDeployment, name, SV(unavailable.status().message()));
  d.replicas = replicas;
  d.selector = std::move(selector);
  d.template_labels = std::move(tlabels);
  d.template_annotations = std::move(tannotations);
  d.ports = std::move(ports);
  d.max_surge = *surge;
  // Both 0 resolves to maxUnavailable 1, as the deployment controller does.
  d.max_unavailable = (*surge == 0 && *unavailable == 0) ? 1 : *unavailable;
  d.template_hash = HashName(util::Fnv1a64(tmpl->dump()), 10);  // stable across runs and platforms
  return absl::OkStatus();
}

void Cluster::Impl::WriteDeployment(DeploymentState& d, ChangeType type) {
  d.rv = NextRv();
  d.object["metadata"]["resourceVersion"] = std::to_string(d.rv);
  d.cached = std::make_shared<const Json>(d.object);
  Record(ResourceKind::kDeployment, type, d.ns, d.name, d.cached, nullptr);
}

void Cluster::Impl::WriteService(ServiceState& s, ChangeType type) {
  s.rv = NextRv();
  s.object["metadata"]["resourceVersion"] = std::to_string(s.rv);
  s.cached = std::make_shared<const Json>(s.object);
  Record(ResourceKind::kService, type, s.ns, s.name, s.cached, nullptr);
}

// ================================================================================================
// Setup and the generic store

absl::Status Cluster::CreateService(const ServiceConfig& config) {
  Json ports = Json::array();
  Json port = {{"name", config.port_name}, {"port", config.port}, {"protocol", "TCP"},
               {"targetPort", config.target_port > 0 ? config.target_port : config.port}};
  ports.push_back(port);
  Json spec = {{"selector", LabelsJson(config.selector)}, {"ports", ports}};
  if (!config.traffic_distribution.empty()) spec["trafficDistribution"] = config.traffic_distribution;
  Json object = {{"metadata", {{"name", config.name}, {"namespace", config.namespace_name},
                               {"labels", LabelsJson(config.labels)}}},
                 {"spec", spec}};
  return Create(ResourceKind::kService, config.namespace_name, object).status();
}

// Internal creation path shared by CreateDeployment and Create(kDeployment).
absl::Status Cluster::CreateDeployment(const DeploymentConfig& config, PodStart start) {
  Impl& impl = *impl_;
  Json object = DeploymentObject(config, options_.image);
  if (impl.Exists(ResourceKind::kDeployment, config.namespace_name, config.name)) {
    return absl::AlreadyExistsError(
        absl::StrCat(QualifiedResource(ResourceKind::kDeployment), " \"", config.name, "\" already exists"));
  }
  auto d = std::make_unique<DeploymentState>();
  d->timing = config.timing.value_or(options_.pod_timing);
  if (absl::Status st = impl.ParseDeploymentSpec(config.name, object, *d); !st.ok()) return st;
  d->timing = config.timing.value_or(options_.pod_timing);  // the template's grace period is this one
  d->ns = config.namespace_name;
  d->name = config.name;
  d->uid = impl.NewUid();
  impl.StampMeta(object, ResourceKind::kDeployment, d->ns, d->name, d->uid, impl.NowTimestamp());
  object["metadata"]["generation"] = 1;
  d->object = std::move(object);
  DeploymentState& ref = *d;
  impl.deployments_[MakeKey(ref.ns, ref.name)] = std::move(d);
  impl.WriteDeployment(ref, ChangeType::kAdded);
  for (int i = 0; i < ref.replicas; ++i) impl.CreateDeploymentPod(ref, start);
  ref.dirty = false;
  impl.Flush();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::Get(ResourceKind kind, std::string_view ns,
                                                                   std::string_view name) const {
  const Impl& impl = *impl_;
  Key k = MakeKey(ns, name);
  switch (kind) {
    case ResourceKind::kService: {
      auto it = impl.services_.find(k);
      if (it != impl.services_.end()) return it->second->cached;
      break;
    }
    case ResourceKind::kDeployment: {
      auto it = impl.deployments_.find(k);
      if (it != impl.deployments_.end()) return it->second->cached;
      break;
    }
    case ResourceKind::kPod: {
      auto it = impl.live_pods_.find(k);
      if (it != impl.live_pods_.end()) return impl.PodObject(*it->second);
      break;
    }
    case ResourceKind::kEndpointSlice: {
      auto it = impl.slices_.find(k);
      if (it != impl.slices_.end()) return impl.SliceObject(it->second);
      break;
    }
  }
  return NotFound(kind, name);
}

ListResult Cluster::List(ResourceKind kind, std::string_view ns) const {
  const Impl& impl = *impl_;
  ListResult out;
  out.resource_version = resource_version_;
  switch (kind) {
    case ResourceKind::kService:
      ForRange(impl.services_, ns, [&](const auto& s) { out.items.push_back(s->cached); });
      break;
    case ResourceKind::kDeployment:
      ForRange(impl.deployments_, ns, [&](const auto& d) { out.items.push_back(d->cached); });
      break;
    case ResourceKind::kPod:
      ForRange(impl.live_pods_, ns, [&](const PodState* p) { out.items.push_back(impl.PodObject(*p)); });
      break;
    case ResourceKind::kEndpointSlice:
      ForRange(impl.slices_, ns, [&](const SliceEntry& e) { out.items.push_back(impl.SliceObject(e)); });
      break;
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::Create(ResourceKind kind, std::string_view ns,
                                                                      const nlohmann::json& object) {
  Impl& impl = *impl_;
  if (ns.empty()) return absl::FailedPreconditionError("a namespace is required to create an object");
  absl::StatusOr<std::string> name = impl.ObjectName(kind, ns, object, /*generate=*/true);
  if (!name.ok()) return name.status();
  if (impl.Exists(kind, ns, *name)) {
    return absl::AlreadyExistsError(absl::StrCat(QualifiedResource(kind), " \"", *name, "\" already exists"));
  }
  const std::string now = impl.NowTimestamp();
  switch (kind) {
    case ResourceKind::kService: {
      auto s = std::make_unique<ServiceState>();
      if (absl::Status st = impl.ParseServiceSpec(*name, object, *s); !st.ok()) return st;
      s->ns = std::string(ns);
      s->name = *name;
      s->uid = impl.NewUid();
      s->object = object;
      impl.StampMeta(s->object, kind, ns, *name, s->uid, now);
      s->object["metadata"].erase("generateName");
      Json& spec = s->object["spec"];
      if (!spec.contains("type")) spec["type"] = "ClusterIP";
      if (!spec.contains("clusterIP")) {
        int n = impl.next_cluster_ip_++;
        std::string ip = absl::StrFormat("10.96.%d.%d", (n >> 8) & 255, n & 255);
        spec["clusterIP"] = ip;
        spec["clusterIPs"] = Json::array({ip});
      }
      s->object["status"] = {{"loadBalancer", Json::object()}};
      ServiceState& ref = *s;
      impl.services_[MakeKey(ns, *name)] = std::move(s);
      impl.WriteService(ref, ChangeType::kAdded);
      ref.dirty = true;
      bool batching = impl.batching_;
      impl.batching_ = false;  // a new Service gets its slices (or placeholder) at once
      impl.Flush();
      impl.batching_ = batching;
      return ref.cached;
    }
    case ResourceKind::kDeployment: {
      auto d = std::make_unique<DeploymentState>();
      d->timing = options_.pod_timing;
      if (absl::Status st = impl.ParseDeploymentSpec(*name, object, *d); !st.ok()) return st;
      d->ns = std::string(ns);
      d->name = *name;
      d->uid = impl.NewUid();
      d->object = object;
      impl.StampMeta(d->object, kind, ns, *name, d->uid, now);
      d->object["metadata"]["generation"] = 1;
      d->object.erase("status");
      DeploymentState& ref = *d;
      impl.deployments_[MakeKey(ns, *name)] = std::move(d);
      impl.WriteDeployment(ref, ChangeType::kAdded);
      ref.dirty = true;
      impl.Flush();
      return ref.cached;
    }
    case ResourceKind::kPod: {
      std::map<std::string, std::string> labels, annotations;
      const Json* meta = Member(object, "metadata");
      if (meta != nullptr) {
        if (auto st = ReadLabels(*meta, "labels", "metadata.labels", &labels); !st.ok()) {
          return Invalid(kind, *name, SV(st.message()));
        }
        if (auto st = ReadLabels(*meta, "annotations", "metadata.annotations", &annotations); !st.ok()) {
          return Invalid(kind, *name, SV(st.message()));
        }
      }
      std::optional<std::string> node;
      std::vector<ContainerPort> ports;
      PodTiming timing = options_.pod_timing;
      if (const Json* spec = Member(object, "spec"); spec != nullptr) {
        if (const Json* n = Member(*spec, "nodeName"); n != nullptr && n->is_string()) node = n->get<std::string>();
        PodSpecFields fields = ReadPodSpec(*spec);
        ports = std::move(fields.ports);
        if (fields.termination_grace_nanos) timing.termination_grace_nanos = *fields.termination_grace_nanos;
      }
      PodState& p = impl.NewPod(std::string(ns), *name, std::move(labels), std::move(ports), timing, node);
      p.annotations = std::move(annotations);
      impl.StartPod(p, PodStart::kStarting);
      impl.Flush();
      return impl.PodObject(p);
    }
    case ResourceKind::kEndpointSlice: {
      Json body = object;
      body["metadata"]["name"] = *name;
      body["metadata"]["namespace"] = std::string(ns);
      absl::StatusOr<EndpointSlice> parsed = EndpointSliceFromJson(body);
      if (!parsed.ok()) return Invalid(kind, *name, SV(parsed.status().message()));
      parsed->metadata.uid = impl.NewUid();
      parsed->metadata.creation_timestamp = now;
      parsed->metadata.generation = 1;
      impl.WriteSlice(std::move(*parsed), ChangeType::kAdded);
      // The controller owns slices with its managed-by label: it reconciles them (reverts).
      auto svc = impl.services_.find(MakeKey(ns, impl.slices_.at(MakeKey(ns, *name)).slice->ServiceName()));
      if (svc != impl.services_.end() && impl.IsManagedBy(*impl.slices_.at(MakeKey(ns, *name)).slice, *svc->second)) {
        svc->second->dirty = true;
      }
      std::shared_ptr<const Json> out = impl.SliceObject(impl.slices_.at(MakeKey(ns, *name)));
      impl.Flush();
      return out;
    }
  }
  return absl::InvalidArgumentError("unknown kind");
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::Replace(ResourceKind kind, std::string_view ns,
                                                                       std::string_view name,
                                                                       const nlohmann::json& object) {
  Impl& impl = *impl_;
  absl::StatusOr<std::shared_ptr<const Json>> current = Get(kind, ns, name);
  if (!current.ok()) return current.status();
  absl::StatusOr<std::string> body_name = impl.ObjectName(kind, ns, object, /*generate=*/false);
  if (!body_name.ok()) return body_name.status();
  if (*body_name != name) {
    return absl::FailedPreconditionError(absl::StrCat("the name of the object (", *body_name,
                                                      ") does not match the name on the URL (", AV(name), ")"));
  }
  const Json& cur_meta = (**current)["metadata"];
  std::string cur_rv = cur_meta.value("resourceVersion", "");
  if (const Json* meta = Member(object, "metadata"); meta != nullptr) {
    if (const Json* rv = Member(*meta, "resourceVersion"); rv != nullptr) {
      if (!rv->is_string()) return Invalid(kind, name, "metadata.resourceVersion: expected string");
      if (!rv->get<std::string>().empty() && rv->get<std::string>() != cur_rv) return Conflict(kind, name);
    }
  }
  Key key = MakeKey(ns, name);
  switch (kind) {
    case ResourceKind::kEndpointSlice: {
      const EndpointSlice& old = *impl.slices_.at(key).slice;
      Json body = object;
      body["metadata"]["namespace"] = std::string(ns);
      absl::StatusOr<EndpointSlice> parsed = EndpointSliceFromJson(body);
      if (!parsed.ok()) return Invalid(kind, name, SV(parsed.status().message()));
      parsed->metadata.uid = old.metadata.uid;
      parsed->metadata.creation_timestamp = old.metadata.creation_timestamp;
      parsed->metadata.generation = old.metadata.generation;
      parsed->metadata.resource_version = old.metadata.resource_version;
      // A no-op update writes nothing (the API server keeps the RV).
      if (EndpointSliceToJson(*parsed, true) == EndpointSliceToJson(old, true)) return *current;
      parsed->metadata.generation = old.metadata.generation + 1;
      const std::string old_service = old.ServiceName();  // `old` dies with the write below
      impl.WriteSlice(std::move(*parsed), ChangeType::kModified);
      const EndpointSlice& now = *impl.slices_.at(key).slice;
      std::shared_ptr<const Json> out = impl.SliceObject(impl.slices_.at(key));
      for (const std::string& svc_name : {old_service, now.ServiceName()}) {
        auto svc = impl.services_.find(MakeKey(ns, svc_name));
        if (svc != impl.services_.end()) svc->second->dirty = true;
      }
      impl.Flush();
      return out;
    }
    case ResourceKind::kPod: {
      PodState* p = impl.live_pods_.at(key);
      std::map<std::string, std::string> labels, annotations;
      const Json* meta = Member(object, "metadata");
      if (meta != nullptr) {
        if (auto st = ReadLabels(*meta, "labels", "metadata.labels", &labels); !st.ok()) {
          return Invalid(kind, name, SV(st.message()));
        }
        if (auto st = ReadLabels(*meta, "annotations", "metadata.annotations", &annotations); !st.ok()) {
          return Invalid(kind, name, SV(st.message()));
        }
      }
      if (labels == p->info.labels && annotations == p->annotations) return *current;
      impl.MarkPodDependents(*p);  // services selecting the old labels
      p->info.labels = std::move(labels);
      p->annotations = std::move(annotations);
      impl.WritePod(*p, ChangeType::kModified);
      impl.NotifyPod(*p);
      impl.Flush();
      return impl.PodObject(*p);
    }
    case ResourceKind::kService: {
      ServiceState& s = *impl.services_.at(key);
      ServiceState parsed;
      if (absl::Status st = impl.ParseServiceSpec(s.name, object, parsed); !st.ok()) return st;
      Json next = object;
      impl.StampMeta(next, kind, ns, s.name, s.uid, cur_meta.value("creationTimestamp", ""));
      next["metadata"]["resourceVersion"] = cur_rv;
      Json& spec = next["spec"];
      for (const char* f : {"type", "clusterIP", "clusterIPs"}) {
        if (!spec.contains(f) && s.object["spec"].contains(f)) spec[f] = s.object["spec"][f];
      }
      next["status"] = s.object.value("status", Json::object());
      if (next == s.object) return *current;
      s.selector = parsed.selector;
      s.labels = parsed.labels;
      s.ports = parsed.ports;
      s.prefer_close = parsed.prefer_close;
      s.prefer_same_node = parsed.prefer_same_node;
      s.object = std::move(next);
      impl.WriteService(s, ChangeType::kModified);
      s.dirty = true;
      impl.Flush();
      return s.cached;
    }
    case ResourceKind::kDeployment: {
      DeploymentState& d = *impl.deployments_.at(key);
      DeploymentState parsed;
      parsed.timing = d.timing;
      if (absl::Status st = impl.ParseDeploymentSpec(d.name, object, parsed); !st.ok()) return st;
      Json next = object;
      impl.StampMeta(next, kind, ns, d.name, d.uid, cur_meta.value("creationTimestamp", ""));
      next["metadata"]["resourceVersion"] = cur_rv;
      next["metadata"]["generation"] = cur_meta.value("generation", 1);
      next["status"] = d.object.value("status", Json::object());
      if (next == d.object) return *current;
      if (next["spec"] != d.object["spec"]) {
        next["metadata"]["generation"] = cur_meta.value("generation", 1) + 1;
      }
      d.replicas = parsed.replicas;
      d.selector = parsed.selector;
      d.template_labels = parsed.template_labels;
      d.template_annotations = parsed.template_annotations;
      d.ports = parsed.ports;
      d.max_surge = parsed.max_surge;
      d.max_unavailable = parsed.max_unavailable;
      d.template_hash = parsed.template_hash;  // a changed template starts a rollout
      d.timing.termination_grace_nanos = parsed.timing.termination_grace_nanos;
      d.object = std::move(next);
      impl.WriteDeployment(d, ChangeType::kModified);
      d.dirty = true;
      impl.Flush();
      return d.cached;
    }
  }
  return absl::InvalidArgumentError("unknown kind");
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::MergePatch(ResourceKind kind, std::string_view ns,
                                                                          std::string_view name,
                                                                          const nlohmann::json& patch) {
  absl::StatusOr<std::shared_ptr<const Json>> current = Get(kind, ns, name);
  if (!current.ok()) return current.status();
  if (!patch.is_object()) return absl::FailedPreconditionError("the patch must be a JSON object");
  Json next = **current;
  // The RV in the current object must not turn the patch into a conflict check; only an RV the
  // patch names is checked (as the API server does).
  next["metadata"].erase("resourceVersion");
  next.merge_patch(patch);
  return Replace(kind, ns, name, next);
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::Delete(ResourceKind kind, std::string_view ns,
                                                                      std::string_view name) {
  Impl& impl = *impl_;
  absl::StatusOr<std::shared_ptr<const Json>> current = Get(kind, ns, name);
  if (!current.ok()) return current.status();
  Key key = MakeKey(ns, name);
  switch (kind) {
    case ResourceKind::kPod: {
      PodState* p = impl.live_pods_.at(key);
      impl.BeginDeletion(*p);
      std::shared_ptr<const Json> out = impl.PodObject(*p);
      impl.Flush();
      return out;
    }
    case ResourceKind::kEndpointSlice: {
      EndpointSlice last = *impl.slices_.at(key).slice;
      std::string svc_name = last.ServiceName();
      impl.WriteSlice(last, ChangeType::kDeleted);
      auto svc = impl.services_.find(MakeKey(ns, svc_name));
      if (svc != impl.services_.end()) svc->second->dirty = true;  // the controller recreates what it owns
      impl.Flush();
      return *current;
    }
    case ResourceKind::kService: {
      std::unique_ptr<ServiceState> s = std::move(impl.services_.at(key));
      impl.services_.erase(key);
      s->rv = impl.NextRv();
      auto obj = std::make_shared<Json>(s->object);
      (*obj)["metadata"]["resourceVersion"] = std::to_string(s->rv);
      impl.Record(kind, ChangeType::kDeleted, s->ns, s->name, obj, nullptr);
      // Owner GC: the Service's managed slices go with it.
      std::vector<EndpointSlice> owned;
      for (auto it = impl.slices_.lower_bound(MakeKey(ns, "")); it != impl.slices_.end() && it->first.first == ns; ++it) {
        if (impl.IsManagedBy(*it->second.slice, *s)) owned.push_back(*it->second.slice);
      }
      for (EndpointSlice& sl : owned) impl.WriteSlice(std::move(sl), ChangeType::kDeleted);
      impl.Flush();
      return std::shared_ptr<const Json>(obj);
    }
    case ResourceKind::kDeployment: {
      std::unique_ptr<DeploymentState> d = std::move(impl.deployments_.at(key));
      impl.deployments_.erase(key);
      d->rv = impl.NextRv();
      auto obj = std::make_shared<Json>(d->object);
      (*obj)["metadata"]["resourceVersion"] = std::to_string(d->rv);
      impl.Record(kind, ChangeType::kDeleted, d->ns, d->name, obj, nullptr);
      std::vector<PodState*> pods;
      for (auto it = impl.live_pods_.lower_bound(MakeKey(ns, "")); it != impl.live_pods_.end() && it->first.first == ns;
           ++it) {
        if (it->second->info.deployment == d->name) pods.push_back(it->second);
      }
      for (PodState* p : pods) impl.BeginDeletion(*p);
      impl.Flush();
      return std::shared_ptr<const Json>(obj);
    }
  }
  return absl::InvalidArgumentError("unknown kind");
}

}  // namespace k8slb::fake
