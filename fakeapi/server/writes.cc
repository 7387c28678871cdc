// Writes: create, update, patch (JSON merge, strategic merge, JSON patch, server-side apply),
// delete and deletecollection, the scale subresource and the review kinds, in kube-apiserver
// 1.32's order and wording (k8s.io/apiserver/pkg/endpoints/handlers create.go, update.go,
// patch.go, delete.go and registry/generic/registry/store.go):
//   body media type (415) -> decoding (400: unrecognized body, kind/apiVersion, Go type errors,
//   strict field validation; warnings for unknown and duplicate fields otherwise) -> namespace
//   and name checks (400) -> existence (404; the namespace on create) -> preconditions (409) ->
//   defaults -> validation (422) -> managed fields -> storage (a write that changes nothing is
//   not written: same resourceVersion, no event).
// Objects of simulated kinds go through the cluster model (which runs controllers on them); the
// object stored and served is exactly what the client wrote, defaulted, plus what the model
// assigns (uid, creation time, a Service's cluster IP).
#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fakeapi/api/codec.h"
#include "fakeapi/api/go_json.h"
#include "fakeapi/api/managed_fields.h"
#include "fakeapi/api/patch.h"
#include "fakeapi/api/validation.h"
#include "fakeapi/api/yaml_json.h"
#include "fakeapi/server/rbac.h"
#include "fakeapi/server/server_impl.h"

namespace k8slb::fakeapi {
namespace {

const api::TypeDef& TypeOf(const ResourceInfo& r) { return *api::Schema::Builtin().Find(r.schema_id); }
const api::TypeDef& ScaleType() { return *api::Schema::Builtin().Find("io.k8s.api.autoscaling.v1.Scale"); }

std::string MediaType(const std::string& content_type) {
  std::string m = content_type.substr(0, content_type.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(m));
}

// The Go package of the internal (hub) version of a group, as conversion errors name it.
std::string InternalPackage(const std::string& group) {
  if (group.empty()) return "core";
  if (group == "discovery.k8s.io") return "discovery";
  if (group == "rbac.authorization.k8s.io") return "rbac";
  if (group == "authorization.k8s.io") return "authorization";
  if (group == "authentication.k8s.io") return "authentication";
  return group.substr(0, group.find('.'));
}

std::string VersionOf(const std::string& api_version) {
  size_t slash = api_version.find('/');
  return slash == std::string::npos ? api_version : api_version.substr(slash + 1);
}
std::string GroupOf(const std::string& api_version) {
  size_t slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

std::string Summarize(const std::string& body) {
  if (body.empty()) return "<empty>";
  if (body.size() > 30) return body.substr(0, 30) + " ...";
  return body;
}

bool HasGeneration(const ResourceInfo& r) {
  return r.resource == "endpointslices" || r.resource == "deployments" || r.resource == "jobs";
}

// The etcd key of an object (storage error messages).
std::string RegistryKey(const ResourceInfo& r, const std::string& ns, const std::string& name) {
  std::string base = r.resource == "services" ? "services/specs" : r.resource;
  if (ns.empty()) return absl::StrCat("/registry/", base, "/", name);
  return absl::StrCat("/registry/", base, "/", ns, "/", name);
}

// registry/discovery/endpointslice/strategy.go dropTopologyOnV1: writes through v1 drop
// endpoints[].deprecatedTopology (unless the endpoints are unchanged); a node name the previous
// version's topology held is kept as nodeName.
// https://github.com/kubernetes/kubernetes/blob/v1.32.0/pkg/registry/discovery/endpointslice/strategy.go
void DropTopologyOnV1(const OJson* old, OJson& desired) {
  if (!desired.contains("endpoints") || !desired["endpoints"].is_array()) return;
  if (old != nullptr && old->contains("endpoints") && (*old)["endpoints"] == desired["endpoints"]) return;
  std::set<std::string> previous_nodes;
  if (old != nullptr && old->contains("endpoints") && (*old)["endpoints"].is_array()) {
    for (const OJson& e : (*old)["endpoints"]) {
      if (!e.is_object() || !e.contains("deprecatedTopology") || !e["deprecatedTopology"].is_object()) continue;
      const OJson& t = e["deprecatedTopology"];
      if (t.contains("kubernetes.io/hostname") && t["kubernetes.io/hostname"].is_string()) {
        previous_nodes.insert(t["kubernetes.io/hostname"].get<std::string>());
      }
    }
  }
  for (OJson& e : desired["endpoints"]) {
    if (!e.is_object() || !e.contains("deprecatedTopology")) continue;
    const OJson& t = e["deprecatedTopology"];
    if (!e.contains("nodeName") && t.is_object() && t.contains("kubernetes.io/hostname") &&
        t["kubernetes.io/hostname"].is_string() &&
        previous_nodes.count(t["kubernetes.io/hostname"].get<std::string>()) > 0) {
      e["nodeName"] = t["kubernetes.io/hostname"];
    }
    e.erase("deprecatedTopology");
  }
}

OJson& Meta(OJson& o) {
  OJson& m = o["metadata"];
  if (!m.is_object()) m = OJson::object();
  return m;
}

std::string Str(const OJson& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t Generation(const OJson& o) {
  if (!o.contains("metadata")) return 0;
  const OJson& m = o["metadata"];
  return m.contains("generation") && m["generation"].is_number_integer() ? m["generation"].get<int64_t>() : 0;
}

bool HasFinalizers(const OJson& o) {
  return o.contains("metadata") && o["metadata"].contains("finalizers") && o["metadata"]["finalizers"].is_array() &&
         !o["metadata"]["finalizers"].empty();
}

bool Deleting(const OJson& o) { return o.contains("metadata") && o["metadata"].contains("deletionTimestamp"); }

// Two objects equal but for resourceVersion.
bool SameButVersion(OJson a, OJson b) {
  if (a.contains("metadata")) a["metadata"].erase("resourceVersion");
  if (b.contains("metadata")) b["metadata"].erase("resourceVersion");
  return a == b;
}

nlohmann::json ToModelJson(const ResourceInfo& r, const OJson& object) {
  nlohmann::json j = nlohmann::json::parse(api::GoJson(WatchHub::WithTypeMeta(r, object)));
  if (j.contains("metadata")) j["metadata"].erase("resourceVersion");
  return j;
}

StatusError ModelError(const ResourceInfo& r, const std::string& name, const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return NotFound(GroupResourceOf(r), name);
    case absl::StatusCode::kAlreadyExists:
      return AlreadyExists(GroupResourceOf(r), name);
    case absl::StatusCode::kAborted:
      return ObjectModified(GroupResourceOf(r), name);
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return InvalidObject(r.group, r.kind, name,
                           {api::Invalid("spec", api::GoValue::None(), std::string(s.message()))});
    default:
      return InternalError(std::string(s.message()));
  }
}

// Field errors of the kinds the fake validates beyond object metadata.
api::FieldErrorList ValidateKind(const ResourceInfo& r, const OJson& object, const OJson* old) {
  api::FieldErrorList errs;
  if (r.resource == "deployments") {
    const OJson* sel = object.contains("spec") && object["spec"].contains("selector") ? &object["spec"]["selector"] : nullptr;
    if (sel == nullptr || sel->is_null()) {
      errs.push_back(api::Required("spec.selector", ""));
    } else {
      const OJson& labels = object["spec"].contains("template") && object["spec"]["template"].contains("metadata") &&
                                    object["spec"]["template"]["metadata"].contains("labels")
                                ? object["spec"]["template"]["metadata"]["labels"]
                                : OJson::object();
      bool match = true;
      if (sel->contains("matchLabels") && (*sel)["matchLabels"].is_object()) {
        for (auto it = (*sel)["matchLabels"].begin(); it != (*sel)["matchLabels"].end(); ++it) {
          if (!labels.is_object() || !labels.contains(it.key()) || labels[it.key()] != it.value()) match = false;
        }
      }
      bool empty = (!sel->contains("matchLabels") || (*sel)["matchLabels"].empty()) &&
                   (!sel->contains("matchExpressions") || (*sel)["matchExpressions"].empty());
      if (empty) {
        errs.push_back(api::Invalid("spec.selector", api::GoValue::Literal("v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"),
                                    "empty selector is invalid for deployment"));
      } else if (!match) {
        std::vector<std::string> kv;
        if (labels.is_object()) {
          for (auto it = labels.begin(); it != labels.end(); ++it) {
            kv.push_back(absl::StrCat(api::GoQuote(it.key()), ":", api::GoQuote(it.value().is_string() ? it.value().get<std::string>() : "")));
          }
        }
        std::sort(kv.begin(), kv.end());
        errs.push_back(api::Invalid("spec.template.metadata.labels",
                                    api::GoValue::Literal(absl::StrCat("map[string]string{", absl::StrJoin(kv, ", "), "}")),
                                    "`selector` does not match template `labels`"));
      }
      if (old != nullptr && old->contains("spec") && (*old)["spec"].contains("selector") &&
          (*old)["spec"]["selector"] != *sel) {
        errs.push_back(api::Invalid("spec.selector", api::GoValue::None(), "field is immutable"));
      }
    }
    if (object.contains("spec") && object["spec"].contains("replicas") && object["spec"]["replicas"].is_number_integer() &&
        object["spec"]["replicas"].get<int64_t>() < 0) {
      errs.push_back(api::Invalid("spec.replicas", api::GoValue::Int(object["spec"]["replicas"].get<int64_t>()),
                                  "must be greater than or equal to 0"));
    }
  }
  return errs;
}

}  // namespace

// ---- shared pieces ----

// A decoded request object. `object` is in stored form (no kind/apiVersion).
struct DecodedObject {
  OJson object;
  std::string kind, api_version;  // as the body gave them
};

namespace {

// Parses a request body of an object (create, update): media type, JSON/YAML syntax, kind and
// apiVersion, the schema's types, and field validation. `what` is the kind decoded into.
std::optional<HttpResponse> DecodeBody(RequestContext& ctx, const std::string& body, const std::string& content_type,
                                       const api::TypeDef& type, const std::string& group, const std::string& version,
                                       const std::string& kind, DecodedObject* out) {
  std::string media = content_type.empty() ? "application/json" : MediaType(content_type);
  OJson doc;
  std::vector<std::string> duplicates;
  auto unrecognized = [&](const std::string& why) {
    return StatusResponse(BadRequest(absl::StrCat("the object provided is unrecognized (must be of type ", kind,
                                                  "): ", why, " (", Summarize(body), ")")));
  };
  if (media == "application/json") {
    auto parsed = api::ParseGoJson(body);
    if (!parsed.ok()) {
      return unrecognized(absl::StrCat("couldn't get version/kind; json parse error: ", parsed.status().message()));
    }
    doc = std::move(parsed->value);
    duplicates = std::move(parsed->duplicate_fields);
  } else if (media == "application/yaml") {
    auto parsed = api::YamlToJson(body);
    if (!parsed.ok()) return unrecognized(std::string(parsed.status().message()));
    doc = std::move(*parsed);
  } else {
    return StatusResponse(StatusError{.code = 415,
                                      .reason = "UnsupportedMediaType",
                                      .message = "the body of the request was in an unknown format - accepted media "
                                                 "types include: application/json, application/yaml, "
                                                 "application/vnd.kubernetes.protobuf"});
  }
  if (!doc.is_object()) {
    return unrecognized(absl::StrCat("couldn't get version/kind; json parse error: json: cannot unmarshal ",
                                     doc.is_array() ? "array" : doc.is_string() ? "string" : "number",
                                     " into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; "
                                     "Kind string \"json:\\\"kind,omitempty\\\"\" }"));
  }
  std::string body_kind = doc.contains("kind") && doc["kind"].is_string() ? doc["kind"].get<std::string>() : "";
  std::string body_av = doc.contains("apiVersion") && doc["apiVersion"].is_string() ? doc["apiVersion"].get<std::string>() : "";
  std::string gv = group.empty() ? version : absl::StrCat(group, "/", version);
  std::string shown_kind = body_kind.empty() ? kind : body_kind;
  std::string shown_version = body_av.empty() ? version : VersionOf(body_av);
  auto cannot = [&](const std::string& why) {
    return StatusResponse(BadRequest(absl::StrCat(shown_kind, " in version ", api::GoQuote(shown_version),
                                                  " cannot be handled as a ", kind, ": ", why)));
  };
  if (!body_kind.empty() && body_kind != kind) {
    std::string av = body_av.empty() ? gv : body_av;
    if (FindServedByKind(GroupOf(av), VersionOf(av), body_kind) != nullptr ||
        (body_kind == "Scale" && av == "autoscaling/v1")) {
      return cannot(absl::StrCat("converting (", VersionOf(av), ".", body_kind, ") to (", InternalPackage(group), ".",
                                 kind, "): unknown conversion"));
    }
    return cannot(absl::StrCat("no kind ", api::GoQuote(body_kind), " is registered for version ", api::GoQuote(av),
                               " in scheme \"pkg/api/legacyscheme/scheme.go:30\""));
  }
  if (!body_av.empty() && body_av != gv) {
    return StatusResponse(BadRequest(absl::StrCat("the API version in the data (", body_av,
                                                  ") does not match the expected API version (", gv, ")")));
  }
  auto decoded = api::Decode(type, doc);
  if (!decoded.ok()) return cannot(std::string(decoded.status().message()));
  std::string validation = ctx.req->Param("fieldValidation").value_or("");
  std::vector<std::string> problems;
  for (const std::string& f : decoded->unknown_fields) problems.push_back(absl::StrCat("unknown field ", api::GoQuote(f)));
  for (const std::string& f : duplicates) problems.push_back(absl::StrCat("duplicate field ", api::GoQuote(f)));
  if (absl::AsciiStrToLower(validation) == "strict" && !problems.empty()) {
    return cannot(absl::StrCat("strict decoding error: ", absl::StrJoin(problems, ", ")));
  }
  if (absl::AsciiStrToLower(validation) != "ignore") {
    for (const std::string& p : problems) ctx.warnings.push_back(p);
  }
  out->object = std::move(decoded->object);
  out->object.erase("kind");
  out->object.erase("apiVersion");
  out->kind = body_kind;
  out->api_version = body_av;
  return std::nullopt;
}

bool DryRun(const HttpRequest& req) {
  for (const auto& [k, v] : req.query) {
    if (k == "dryRun" && v == "All") return true;
  }
  return false;
}

}  // namespace

// ---- storage ----

uint64_t FakeApiServer::Impl::NextRvLocked() {
  // One etcd revision for an object the model does not hold.
  cluster_->JumpResourceVersion(1);
  return cluster_->resource_version();
}

absl::Status FakeApiServer::Impl::StoreLocked(const ResourcePath& rp, fake::ChangeType type, const ObjectPtr& old,
                                              OJson object, ObjectPtr* stored) {
  const ResourceInfo& r = *rp.info;
  std::string ns = r.namespaced ? rp.namespace_name : "";
  std::string name = MetaStr(object, "name");
  if (r.storage == Storage::kModel && r.model_kind) {
    pending_ = PendingWrite{&r, ns, name, object, nullptr, type == fake::ChangeType::kDeleted};
    absl::StatusOr<std::shared_ptr<const nlohmann::json>> result;
    if (type == fake::ChangeType::kAdded) {
      result = cluster_->Create(*r.model_kind, ns, ToModelJson(r, object));
    } else if (type == fake::ChangeType::kModified) {
      result = cluster_->Replace(*r.model_kind, ns, name, ToModelJson(r, object));
    } else {
      result = cluster_->Delete(*r.model_kind, ns, name);
    }
    ObjectPtr written = pending_->stored;
    pending_.reset();
    if (!result.ok()) return result.status();
    RescheduleModelLocked();
    if (written) {
      *stored = written;
      return absl::OkStatus();
    }
    if (type == fake::ChangeType::kDeleted) {
      // A pod's graceful deletion: the model answered with the terminating pod.
      *stored = store_->Get(r.resource, ns, name);
      return absl::OkStatus();
    }
    // The model saw nothing to simulate (e.g. only an annotation changed): the server records it.
  }
  uint64_t rv = NextRvLocked();
  api::SetResourceVersion(object, std::to_string(rv));
  auto ptr = std::make_shared<const OJson>(std::move(object));
  store_->Record(r.resource, type, ns, name, ptr, rv, clock_->Now());
  hub_->OnEvent(r, ApiEvent{rv, type, ns, name, ptr, old, clock_->Now()});
  *stored = ptr;
  return absl::OkStatus();
}

// Everything after decoding, for create and update: defaults, system fields, validation, managed
// fields and storage. `managers` are the managed fields to write when the caller computed them
// (apply); otherwise an Update entry for ctx.manager is derived.
FakeApiServer::Impl::WriteOutcome FakeApiServer::Impl::Commit(RequestContext& ctx, const ResourcePath& rp,
                                                              const ObjectPtr& old, OJson desired,
                                                              const std::string& operation,
                                                              std::optional<std::vector<api::ManagerEntry>> managers,
                                                              const std::string& subresource) {
  const ResourceInfo& r = *rp.info;
  const api::TypeDef& type = TypeOf(r);
  WriteOutcome out;
  std::string ns = r.namespaced ? rp.namespace_name : "";
  OJson& meta = Meta(desired);
  if (r.namespaced) meta["namespace"] = ns; else meta.erase("namespace");
  bool create = old == nullptr;
  std::string now = NowRfc3339();

  if (create) {
    if (Str(meta, "name").empty() && !Str(meta, "generateName").empty()) {
      meta["name"] = Str(meta, "generateName") + RandomSuffix();
    }
    meta["uid"] = NewUid();
    meta["creationTimestamp"] = now;
    meta.erase("deletionTimestamp");
    meta.erase("deletionGracePeriodSeconds");
    meta.erase("resourceVersion");
    if (HasGeneration(r)) meta["generation"] = 1; else meta.erase("generation");
    if (r.has_status && r.resource != "namespaces") desired.erase("status");
    if (r.resource == "services" && desired.contains("spec")) {
      OJson& spec = desired["spec"];
      if (spec.value("type", "ClusterIP") != "ExternalName") {
        if (!spec.contains("ipFamilies")) spec["ipFamilies"] = OJson::array({"IPv4"});
        if (!spec.contains("ipFamilyPolicy")) spec["ipFamilyPolicy"] = "SingleStack";
      }
    }
  } else {
    const OJson& om = (*old)["metadata"];
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"}) {
      if (om.contains(f)) meta[f] = om[f]; else meta.erase(f);
    }
    if (Str(meta, "generateName").empty() && om.contains("generateName")) meta["generateName"] = om["generateName"];
    api::SetResourceVersion(desired, om.value("resourceVersion", ""));
    // The main resource does not write status (and the status subresource writes only status).
    if (r.has_status && subresource.empty()) {
      if (old->contains("status")) desired["status"] = (*old)["status"]; else desired.erase("status");
    }
    if (r.resource == "services" && old->contains("spec") && desired.contains("spec")) {
      for (const char* f : {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"}) {
        if (!desired["spec"].contains(f) && (*old)["spec"].contains(f)) desired["spec"][f] = (*old)["spec"][f];
      }
    }
  }
  if (r.resource == "endpointslices") DropTopologyOnV1(old.get(), desired);
  api::ApplyDefaults(type, desired);
  // Managed fields are computed from the decoded request, before storage turns empty lists into
  // unset ones: `"endpoints": []` is owned (f:endpoints) though it reads back as null.
  const OJson as_decoded = desired;
  api::NormalizeStored(type, desired);
  OJson& m2 = Meta(desired);
  if (create && r.namespaced && !ns.empty() && !store_->Get("namespaces", "", ns)) {
    out.error = StatusResponse(NotFound(GroupResource{"", "namespaces"}, ns));
    return out;
  }
  // Validation.
  // ValidateEndpointSlice checks the metadata itself (one cause per problem, as the registry).
  api::FieldErrorList errs = r.resource == "endpointslices"
                                 ? api::FieldErrorList{}
                                 : api::ValidateObjectMeta(nlohmann::json::parse(api::GoJson(desired)), r.namespaced);
  if (create && Str(m2, "name").empty()) {
    // ValidateObjectMeta reports the missing name; nothing more to check.
  }
  std::vector<std::string> waived;
  if (r.resource == "endpointslices") {
    api::EndpointSliceRules rules{.allow_loopback = options_.allow_loopback_endpoints};
    nlohmann::json plain = nlohmann::json::parse(api::GoJson(desired));
    api::ValidationResult v = old ? api::ValidateEndpointSliceUpdate(plain, nlohmann::json::parse(api::GoJson(*old)), rules)
                                  : api::ValidateEndpointSlice(plain, rules);
    for (auto& e : v.errors) errs.push_back(std::move(e));
    for (const auto& w : v.waived) {
      waived.push_back(absl::StrCat(w.Message(), " (accepted: k8slb-fakeapi runs with --allow-loopback-endpoints; a "
                                                 "real API server refuses this address)"));
    }
  }
  for (auto& e : ValidateKind(r, desired, old ? old.get() : nullptr)) errs.push_back(std::move(e));
  if (!errs.empty()) {
    out.error = StatusResponse(InvalidObject(r.group, r.kind, Str(m2, "name"), errs));
    return out;
  }
  for (auto& w : waived) ctx.warnings.push_back(std::move(w));
  // registry/discovery/endpointslice/strategy.go warnOnDeprecatedAddressType (create and update).
  if (r.resource == "endpointslices" && desired.value("addressType", "") == "FQDN") {
    ctx.warnings.push_back("spec.addressType: FQDN endpoints are deprecated");
  }

  // Generation: spec changes (EndpointSlice: data or labels; Deployment: spec or annotations)
  // and the start of a graceful deletion bump it.
  if (!create && HasGeneration(r)) {
    int64_t gen = Generation(*old);
    bool bump = false;
    // Compared as stored (encoded): `desired` is not encoded yet, and encoding writes zero values
    // ("conditions": {}) that a plain comparison would count as a change.
    const OJson encoded = api::Encode(type, desired);
    auto differs = [&](const char* key) {
      bool a = old->contains(key), b = encoded.contains(key);
      return a != b || (a && (*old)[key] != encoded[key]);
    };
    if (r.resource == "endpointslices") {
      bump = differs("addressType") || differs("endpoints") || differs("ports") ||
             (*old)["metadata"].value("labels", OJson::object()) != m2.value("labels", OJson::object());
    } else if (r.resource == "deployments") {
      bump = differs("spec") || (*old)["metadata"].value("annotations", OJson::object()) != m2.value("annotations", OJson::object());
    } else {
      bump = differs("spec");
    }
    if (bump) m2["generation"] = gen + 1;
  }

  // Managed fields.
  api::FieldSet strip = api::StripSet(r.has_status && subresource.empty()
                                          ? std::vector<api::FieldPath>{{api::PathElement{.name = "status"}}}
                                          : std::vector<api::FieldPath>{});
  std::vector<api::ManagerEntry> entries;
  if (managers) {
    entries = std::move(*managers);
  } else {
    if (!create && (*old)["metadata"].contains("managedFields")) {
      auto decoded = api::DecodeManagedFields(nlohmann::json::parse((*old)["metadata"]["managedFields"].dump()));
      if (decoded.ok()) entries = std::move(*decoded);
    }
    OJson before = create ? api::Encode(type, OJson::object()) : api::Encode(type, *old);
    OJson after = api::Encode(type, as_decoded);
    entries = api::UpdateManagers(type, std::move(entries), before, after, ctx.manager, r.GroupVersion(), now, strip,
                                  subresource);
  }
  m2.erase("managedFields");
  if (!entries.empty()) m2["managedFields"] = api::EncodeManagedFields(entries);
  desired = api::Encode(type, desired);
  if (desired.contains("kind")) desired.erase("kind");
  if (desired.contains("apiVersion")) desired.erase("apiVersion");

  if (!create && SameButVersion(desired, *old)) {
    out.object = old;  // nothing changed: no write
    return out;
  }
  // An update that removes the last finalizer of a deleting object deletes it.
  bool finish_delete = !create && Deleting(desired) && !HasFinalizers(desired);
  if (ctx.dry_run) {
    if (create) Meta(desired).erase("resourceVersion");
    out.object = std::make_shared<const OJson>(std::move(desired));
    out.created = create;
    return out;
  }
  if (finish_delete) {
    ObjectPtr stored;
    OJson last = *old;
    if (absl::Status s = StoreLocked(rp, fake::ChangeType::kDeleted, old, last, &stored); !s.ok()) {
      out.error = StatusResponse(ModelError(r, Str(Meta(desired), "name"), s));
      return out;
    }
    out.object = std::make_shared<const OJson>(std::move(desired));  // as updated, at the old version
    return out;
  }
  ObjectPtr stored;
  if (absl::Status s = StoreLocked(rp, create ? fake::ChangeType::kAdded : fake::ChangeType::kModified, old,
                                   std::move(desired), &stored);
      !s.ok()) {
    out.error = StatusResponse(ModelError(r, rp.name.empty() ? MetaStr(*old, "name") : rp.name, s));
    return out;
  }
  out.object = stored;
  out.created = create;
  return out;
}

// ---- handlers ----

HttpResponse FakeApiServer::Impl::HandleWrite(RequestContext& ctx, const ResourcePath& rp) {
  const HttpRequest& req = *ctx.req;
  ctx.manager = req.Param("fieldManager").value_or("");
  if (ctx.manager.empty()) ctx.manager = ManagerFromUserAgent(req.HeaderOr("User-Agent"));
  ctx.dry_run = DryRun(req);
  if (rp.info->storage == Storage::kVirtual) return Review(ctx, rp);
  if (rp.subresource == "scale") return Scale(ctx, rp);
  if (req.method == "POST") return Create(ctx, rp);
  if (req.method == "PUT") return Update(ctx, rp);
  if (req.method == "PATCH") return Patch(ctx, rp);
  if (req.method == "DELETE") return rp.name.empty() ? DeleteCollection(ctx, rp) : Delete(ctx, rp);
  return StatusResponse(MethodNotAllowed());
}

HttpResponse FakeApiServer::Impl::Create(RequestContext& ctx, const ResourcePath& rp) {
  const ResourceInfo& r = *rp.info;
  DecodedObject d;
  if (auto bad = DecodeBody(ctx, ctx.req->body, ctx.req->HeaderOr("Content-Type"), TypeOf(r), r.group, r.version, r.kind, &d)) {
    return *bad;
  }
  std::string body_ns = MetaStr(d.object, "namespace");
  if (r.namespaced && !body_ns.empty() && body_ns != rp.namespace_name) {
    return StatusResponse(BadRequest("the namespace of the provided object does not match the namespace sent on the request"));
  }
  if (!MetaStr(d.object, "resourceVersion").empty()) {
    return StatusResponse(InternalError("resourceVersion should not be set on objects to be created"));
  }
  absl::MutexLock lock(&model_mu_);
  std::string name = MetaStr(d.object, "name");
  // A name already taken: 409 after validation, as the registry's Create does.
  ResourcePath at = rp;
  bool exists = !name.empty() && store_->Get(r.resource, r.namespaced ? rp.namespace_name : "", name) != nullptr;
  if (exists) {
    RequestContext dry = ctx;
    dry.dry_run = true;
    WriteOutcome check = Commit(dry, at, nullptr, d.object, "create", std::nullopt, "");
    if (check.error) return *check.error;
    return StatusResponse(AlreadyExists(GroupResourceOf(r), name));
  }
  WriteOutcome w = Commit(ctx, at, nullptr, std::move(d.object), "create", std::nullopt, "");
  if (w.error) return *w.error;
  return ObjectResponse(ctx, 201, WatchHub::WithTypeMeta(r, *w.object), OutputFormat::kJson);
}

std::optional<HttpResponse> FakeApiServer::Impl::CheckUpdatePreconditions(const ResourcePath& rp, const OJson& desired,
                                                                          const OJson& current) {
  const ResourceInfo& r = *rp.info;
  std::string rv = MetaStr(desired, "resourceVersion");
  if (!rv.empty()) {
    uint64_t v;
    if (!absl::SimpleAtoi(rv, &v)) {
      return StatusResponse(PlainInternalError(absl::StrCat("strconv.ParseUint: parsing ", api::GoQuote(rv), ": invalid syntax")));
    }
    if (rv != MetaStr(current, "resourceVersion")) return StatusResponse(ObjectModified(GroupResourceOf(r), rp.name));
  }
  std::string uid = MetaStr(desired, "uid");
  if (!uid.empty() && uid != MetaStr(current, "uid")) {
    return StatusResponse(Conflict(
        GroupResourceOf(r), rp.name,
        absl::StrCat("StorageError: invalid object, Code: 4, Key: ", RegistryKey(r, r.namespaced ? rp.namespace_name : "", rp.name),
                     ", ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: ", uid,
                     ", UID in object meta: ", MetaStr(current, "uid"))));
  }
  return std::nullopt;
}

HttpResponse FakeApiServer::Impl::Update(RequestContext& ctx, const ResourcePath& rp) {
  const ResourceInfo& r = *rp.info;
  DecodedObject d;
  if (auto bad = DecodeBody(ctx, ctx.req->body, ctx.req->HeaderOr("Content-Type"), TypeOf(r), r.group, r.version, r.kind, &d)) {
    return *bad;
  }
  std::string body_ns = MetaStr(d.object, "namespace");
  if (r.namespaced && !body_ns.empty() && body_ns != rp.namespace_name) {
    return StatusResponse(BadRequest("the namespace of the provided object does not match the namespace sent on the request"));
  }
  std::string body_name = MetaStr(d.object, "name");
  if (body_name != rp.name) {
    return StatusResponse(BadRequest(absl::StrCat("the name of the object (", body_name,
                                                  ") does not match the name on the URL (", rp.name, ")")));
  }
  absl::MutexLock lock(&model_mu_);
  ObjectPtr old = store_->Get(r.resource, r.namespaced ? rp.namespace_name : "", rp.name);
  if (!old) return StatusResponse(NotFound(GroupResourceOf(r), rp.name));
  if (auto bad = CheckUpdatePreconditions(rp, d.object, *old)) return *bad;
  // managedFields sent with the object replace the stored ones (a client may reset them).
  std::optional<std::vector<api::ManagerEntry>> managers;
  WriteOutcome w = Commit(ctx, rp, old, std::move(d.object), "update", managers, rp.subresource);
  if (w.error) return *w.error;
  return ObjectResponse(ctx, 200, WatchHub::WithTypeMeta(r, *w.object), OutputFormat::kJson);
}

HttpResponse FakeApiServer::Impl::Patch(RequestContext& ctx, const ResourcePath& rp) {
  const ResourceInfo& r = *rp.info;
  const api::TypeDef& type = TypeOf(r);
  const HttpRequest& req = *ctx.req;
  std::string media = MediaType(req.HeaderOr("Content-Type"));
  enum class Kind { kMerge, kStrategic, kJson, kApply } kind;
  if (media == "application/merge-patch+json") {
    kind = Kind::kMerge;
  } else if (media == "application/strategic-merge-patch+json") {
    kind = Kind::kStrategic;
  } else if (media == "application/json-patch+json") {
    kind = Kind::kJson;
  } else if (media == "application/apply-patch+yaml") {
    kind = Kind::kApply;
  } else {
    return StatusResponse(StatusError{.code = 415, .reason = "UnsupportedMediaType",
                                      .message = "415: Unsupported Media Type", .details = StatusDetails{}});
  }
  if (kind == Kind::kApply) return Apply(ctx, rp);

  auto parsed = api::ParseGoJson(req.body);
  if (!parsed.ok()) return StatusResponse(BadRequest(absl::StrCat("error decoding patch: ", parsed.status().message())));
  const OJson& patch = parsed->value;
  if (kind == Kind::kJson && !patch.is_array()) {
    return StatusResponse(BadRequest(absl::StrCat("error decoding patch: json: cannot unmarshal ",
                                                  patch.is_object() ? "object" : patch.is_string() ? "string" : "number",
                                                  " into Go value of type []handlers.jsonPatchOp")));
  }
  if (kind != Kind::kJson && !patch.is_object()) {
    return StatusResponse(BadRequest("error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}"));
  }
  absl::MutexLock lock(&model_mu_);
  ObjectPtr old = store_->Get(r.resource, r.namespaced ? rp.namespace_name : "", rp.name);
  if (!old) return StatusResponse(NotFound(GroupResourceOf(r), rp.name));
  OJson live = WatchHub::WithTypeMeta(r, *old);
  absl::StatusOr<OJson> patched;
  switch (kind) {
    case Kind::kMerge:
      patched = api::MergePatch(live, patch);
      break;
    case Kind::kStrategic:
      patched = api::StrategicMergePatch(type, live, patch);
      break;
    default:
      patched = api::JsonPatch(live, patch);
  }
  if (!patched.ok()) {
    if (patched.status().code() == absl::StatusCode::kAborted) {
      HttpResponse r2;
      r2.close_without_response = true;
      return r2;
    }
    if (kind == Kind::kJson) {
      return StatusResponse(StatusError{.code = 422, .reason = "Invalid",
                                        .message = "the server rejected our request due to an error in our request",
                                        .details = StatusDetails{}});
    }
    return StatusResponse(InvalidObject(r.group, r.kind, rp.name, {api::Invalid("", api::GoValue::None(),
                                                                                std::string(patched.status().message()))}));
  }
  DecodedObject d;
  if (auto bad = DecodeBody(ctx, api::GoJson(*patched), "application/json", type, r.group, r.version, r.kind, &d)) {
    return *bad;
  }
  if (MetaStr(d.object, "name") != rp.name) {
    return StatusResponse(BadRequest(absl::StrCat("the name of the object (", MetaStr(d.object, "name"),
                                                  ") does not match the name on the URL (", rp.name, ")")));
  }
  if (auto bad = CheckUpdatePreconditions(rp, d.object, *old)) return *bad;
  WriteOutcome w = Commit(ctx, rp, old, std::move(d.object), "patch", std::nullopt, rp.subresource);
  if (w.error) return *w.error;
  return ObjectResponse(ctx, 200, WatchHub::WithTypeMeta(r, *w.object), OutputFormat::kJson);
}

HttpResponse FakeApiServer::Impl::Apply(RequestContext& ctx, const ResourcePath& rp) {
  const ResourceInfo& r = *rp.info;
  const api::TypeDef& type = TypeOf(r);
  const HttpRequest& req = *ctx.req;
  std::string manager = req.Param("fieldManager").value_or("");
  if (manager.empty()) {
    return StatusResponse(InvalidObject("meta.k8s.io", "PatchOptions", "",
                                        {api::Required("fieldManager", "is required for apply patch")}));
  }
  bool force = ParseBoolParam(req.Param("force"));
  auto parsed = api::YamlToJson(req.body);
  if (!parsed.ok()) return StatusResponse(BadRequest(absl::StrCat("error decoding YAML: ", parsed.status().message())));
  OJson config = *parsed;
  if (!config.is_object()) config = OJson::object();
  std::string av = Str(config, "apiVersion"), kind = Str(config, "kind");
  if (av != r.GroupVersion() || kind != r.kind) {
    std::string g = GroupOf(av), v = VersionOf(av);
    return StatusResponse(BadRequest(absl::StrCat("invalid object type: ", g, "/", v, ", Kind=", kind)));
  }
  DecodedObject d;
  if (auto bad = DecodeBody(ctx, api::GoJson(config), "application/json", type, r.group, r.version, r.kind, &d)) return *bad;
  OJson applied = d.object;
  Meta(applied)["name"] = rp.name;
  if (r.namespaced) Meta(applied)["namespace"] = rp.namespace_name;

  absl::MutexLock lock(&model_mu_);
  ObjectPtr old = store_->Get(r.resource, r.namespaced ? rp.namespace_name : "", rp.name);
  std::vector<api::ManagerEntry> managers;
  if (old && (*old)["metadata"].contains("managedFields")) {
    auto dm = api::DecodeManagedFields(nlohmann::json::parse((*old)["metadata"]["managedFields"].dump()));
    if (dm.ok()) managers = std::move(*dm);
  }
  OJson live = old ? api::Encode(type, *old) : OJson::object();
  if (live.contains("metadata")) live["metadata"].erase("managedFields");
  api::FieldSet strip = api::StripSet(r.has_status ? std::vector<api::FieldPath>{{api::PathElement{.name = "status"}}}
                                                   : std::vector<api::FieldPath>{});
  api::ApplyResult result = api::ApplyConfig(type, std::move(managers), live, applied, manager, r.GroupVersion(),
                                             NowRfc3339(), force, strip);
  if (!result.conflicts.empty()) {
    StatusError e{.code = 409, .reason = "Conflict", .message = api::ConflictMessage(result.conflicts),
                  .details = StatusDetails{}};
    for (const api::Conflict& c : result.conflicts) {
      e.details->causes.push_back({.reason = "FieldManagerConflict",
                                   .message = absl::StrCat("conflict with ", c.manager),
                                   .field = api::PathString(c.path)});
    }
    return StatusResponse(e);
  }
  OJson desired = result.object;
  desired.erase("kind");
  desired.erase("apiVersion");
  ctx.manager = manager;
  WriteOutcome w = Commit(ctx, rp, old, std::move(desired), "apply", std::move(result.managers), "");
  if (w.error) return *w.error;
  return ObjectResponse(ctx, old ? 200 : 201, WatchHub::WithTypeMeta(r, *w.object), OutputFormat::kJson);
}

HttpResponse FakeApiServer::Impl::Delete(RequestContext& ctx, const ResourcePath& rp) {
  const ResourceInfo& r = *rp.info;
  const HttpRequest& req = *ctx.req;
  OJson options = OJson::object();
  if (!absl::StripAsciiWhitespace(req.body).empty()) {
    auto parsed = api::ParseGoJson(req.body);
    if (!parsed.ok()) {
      return StatusResponse(PlainInternalError(absl::StrCat("couldn't get version/kind; json parse error: ",
                                                            parsed.status().message())));
    }
    if (parsed->value.is_object()) options = parsed->value;
  }
  std::string policy = Str(options, "propagationPolicy");
  if (auto p = req.Param("propagationPolicy")) policy = *p;
  if (!policy.empty() && policy != "Foreground" && policy != "Background" && policy != "Orphan") {
    return StatusResponse(InvalidObject("meta.k8s.io", "DeleteOptions", "",
                                        {api::NotSupported("propagationPolicy", api::GoValue::String(policy),
                                                           {"Foreground", "Background", "Orphan", "nil"})}));
  }
  std::optional<int64_t> grace;
  if (options.contains("gracePeriodSeconds") && options["gracePeriodSeconds"].is_number_integer()) {
    grace = options["gracePeriodSeconds"].get<int64_t>();
  }
  if (auto g = req.Param("gracePeriodSeconds")) {
    int64_t v;
    if (absl::SimpleAtoi(*g, &v)) grace = v;
  }
  for (const auto& dr : options.value("dryRun", OJson::array())) {
    if (dr == "All") ctx.dry_run = true;
  }
  absl::MutexLock lock(&model_mu_);
  ObjectPtr old = store_->Get(r.resource, r.namespaced ? rp.namespace_name : "", rp.name);
  if (!old) return StatusResponse(NotFound(GroupResourceOf(r), rp.name));
  HttpResponse resp = DeleteOneLocked(ctx, rp, old, options, policy, grace);
  return resp;
}

HttpResponse FakeApiServer::Impl::DeleteOneLocked(RequestContext& ctx, const ResourcePath& rp, const ObjectPtr& old,
                                                  const OJson& options, const std::string& policy,
                                                  std::optional<int64_t> grace) {
  const ResourceInfo& r = *rp.info;
  std::string name = MetaStr(*old, "name");
  if (options.contains("preconditions") && options["preconditions"].is_object()) {
    const OJson& pre = options["preconditions"];
    auto conflict = [&](const std::string& why) {
      return StatusResponse(StatusError{
          .code = 409,
          .reason = "Conflict",
          .message = absl::StrCat("Operation cannot be fulfilled on ", r.QualifiedKind(), " ", api::GoQuote(name), ": ", why),
          .details = StatusDetails{.name = name, .group = r.group, .kind = r.kind}});
    };
    std::string uid = Str(pre, "uid");
    if (pre.contains("uid") && uid != MetaStr(*old, "uid")) {
      return conflict(absl::StrCat("the UID in the precondition (", uid, ") does not match the UID in record (",
                                   MetaStr(*old, "uid"), "). The object might have been deleted and then recreated"));
    }
    std::string rv = Str(pre, "resourceVersion");
    if (pre.contains("resourceVersion") && rv != MetaStr(*old, "resourceVersion")) {
      return conflict(absl::StrCat("the ResourceVersion in the precondition (", rv,
                                   ") does not match the ResourceVersion in record (", MetaStr(*old, "resourceVersion"),
                                   "). The object might have been modified"));
    }
  }
  ResourcePath at = rp;
  at.name = name;
  auto success = [&]() {
    OJson status = {{"kind", "Status"},
                    {"apiVersion", "v1"},
                    {"metadata", OJson::object()},
                    {"status", "Success"},
                    {"details", {{"name", name}}}};
    if (!r.group.empty()) status["details"]["group"] = r.group;
    status["details"]["kind"] = r.resource;
    status["details"]["uid"] = MetaStr(*old, "uid");
    return ObjectResponse(ctx, 200, status, OutputFormat::kJson);
  };
  bool foreground = policy == "Foreground";
  bool finalizers = HasFinalizers(*old) || foreground;
  bool graceful_pod = r.resource == "pods" && (!grace || *grace > 0);
  if (Deleting(*old)) {
    // Already being deleted: the object as it is.
    return ObjectResponse(ctx, 200, WatchHub::WithTypeMeta(r, *old), OutputFormat::kJson);
  }
  if (finalizers) {
    OJson updated = *old;
    OJson& meta = updated["metadata"];
    meta["deletionTimestamp"] = NowRfc3339();
    meta["deletionGracePeriodSeconds"] = 0;
    if (foreground) {
      OJson fin = meta.value("finalizers", OJson::array());
      if (std::find(fin.begin(), fin.end(), OJson("foregroundDeletion")) == fin.end()) fin.push_back("foregroundDeletion");
      meta["finalizers"] = fin;
    }
    if (Generation(updated) > 0) meta["generation"] = Generation(updated) + 1;
    // Re-encode so metadata keeps the schema's field order.
    updated = api::Encode(TypeOf(r), updated);
    updated.erase("kind");
    updated.erase("apiVersion");
    if (ctx.dry_run) return ObjectResponse(ctx, 200, WatchHub::WithTypeMeta(r, updated), OutputFormat::kJson);
    ObjectPtr stored;
    if (absl::Status s = StoreLocked(at, fake::ChangeType::kModified, old, std::move(updated), &stored); !s.ok()) {
      return StatusResponse(ModelError(r, name, s));
    }
    return ObjectResponse(ctx, 200, WatchHub::WithTypeMeta(r, *stored), OutputFormat::kJson);
  }
  if (ctx.dry_run) return success();
  if (r.resource == "namespaces") {
    // The namespace controller's work, at once: everything in it goes, then the namespace.
    for (const ResourceInfo& info : ServedResources()) {
      if (!info.namespaced || info.storage == Storage::kVirtual) continue;
      for (const ObjectPtr& o : store_->List(info.resource, name)) {
        ResourcePath child{.group = info.group, .version = info.version, .resource = info.resource, .info = &info,
                           .namespaced_path = true, .namespace_name = name, .name = MetaStr(*o, "name")};
        ObjectPtr ignored;
        (void)StoreLocked(child, fake::ChangeType::kDeleted, o, *o, &ignored);
      }
    }
  }
  ObjectPtr stored;
  if (absl::Status s = StoreLocked(at, fake::ChangeType::kDeleted, old, *old, &stored); !s.ok()) {
    return StatusResponse(ModelError(r, name, s));
  }
  if (graceful_pod && stored && Deleting(*stored)) {
    return ObjectResponse(ctx, 200, WatchHub::WithTypeMeta(r, *stored), OutputFormat::kJson);
  }
  return success();
}

HttpResponse FakeApiServer::Impl::DeleteCollection(RequestContext& ctx, const ResourcePath& rp) {
  const ResourceInfo& r = *rp.info;
  const HttpRequest& req = *ctx.req;
  LabelSelector labels;
  if (auto ls = req.Param("labelSelector")) {
    auto parsed = LabelSelector::Parse(*ls);
    if (!parsed.ok()) return StatusResponse(BadRequest(std::string(parsed.status().message())));
    labels = *parsed;
  }
  FieldSelector fields;
  if (auto fs = req.Param("fieldSelector")) {
    auto parsed = FieldSelector::Parse(*fs, {"metadata.name", "metadata.namespace"},
                                       [](const std::string& f) { return DefaultFieldSelectorMessage(f); });
    if (!parsed.ok()) return StatusResponse(BadRequest(std::string(parsed.status().message())));
    fields = *parsed;
  }
  absl::MutexLock lock(&model_mu_);
  OJson items = OJson::array();
  for (const ObjectPtr& o : store_->List(r.resource, rp.namespace_name)) {
    std::map<std::string, std::string> l;
    if ((*o)["metadata"].contains("labels")) {
      for (auto it = (*o)["metadata"]["labels"].begin(); it != (*o)["metadata"]["labels"].end(); ++it) {
        if (it.value().is_string()) l[it.key()] = it.value().get<std::string>();
      }
    }
    if (!labels.Matches(l)) continue;
    if (!fields.Matches([&](const std::string& f) {
          return f == "metadata.name" ? MetaStr(*o, "name") : f == "metadata.namespace" ? MetaStr(*o, "namespace") : "";
        })) {
      continue;
    }
    HttpResponse one = DeleteOneLocked(ctx, rp, o, OJson::object(), "", std::nullopt);
    if (one.status >= 400) return one;
    items.push_back(*o);
  }
  OJson list = {{"kind", r.kind + "List"},
                {"apiVersion", r.GroupVersion()},
                {"metadata", {{"resourceVersion", std::to_string(cluster_->resource_version())}}},
                {"items", items}};
  return ObjectResponse(ctx, 200, list, OutputFormat::kJson);
}

OJson FakeApiServer::Impl::ScaleOf(const ResourcePath& rp, const OJson& deployment) {
  const OJson& meta = deployment["metadata"];
  OJson m = OJson::object();
  for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (meta.contains(f)) m[f] = meta[f];
  }
  int64_t spec_replicas = deployment.contains("spec") ? deployment["spec"].value("replicas", 1) : 1;
  int64_t status_replicas = deployment.contains("status") ? deployment["status"].value("replicas", 0) : 0;
  std::string selector;
  if (deployment.contains("spec") && deployment["spec"].contains("selector")) {
    const OJson& sel = deployment["spec"]["selector"];
    std::vector<std::string> parts;
    if (sel.contains("matchLabels")) {
      for (auto it = sel["matchLabels"].begin(); it != sel["matchLabels"].end(); ++it) {
        parts.push_back(absl::StrCat(it.key(), "=", it.value().is_string() ? it.value().get<std::string>() : ""));
      }
    }
    selector = absl::StrJoin(parts, ",");
  }
  return OJson{{"kind", "Scale"},
               {"apiVersion", "autoscaling/v1"},
               {"metadata", m},
               {"spec", {{"replicas", spec_replicas}}},
               {"status", {{"replicas", status_replicas}, {"selector", selector}}}};
}

HttpResponse FakeApiServer::Impl::Scale(RequestContext& ctx, const ResourcePath& rp) {
  const ResourceInfo& r = *rp.info;
  const HttpRequest& req = *ctx.req;
  const api::TypeDef& scale_type = ScaleType();
  absl::MutexLock lock(&model_mu_);
  ObjectPtr old = store_->Get(r.resource, rp.namespace_name, rp.name);
  if (!old) return StatusResponse(NotFound(GroupResourceOf(r), rp.name));
  OJson current = ScaleOf(rp, *old);
  OJson desired;
  if (req.method == "PUT") {
    DecodedObject d;
    if (auto bad = DecodeBody(ctx, req.body, req.HeaderOr("Content-Type"), scale_type, "autoscaling", "v1", "Scale", &d)) {
      return *bad;
    }
    desired = d.object;
  } else {
    std::string media = MediaType(req.HeaderOr("Content-Type"));
    auto parsed = api::ParseGoJson(req.body);
    if (!parsed.ok()) return StatusResponse(BadRequest(absl::StrCat("error decoding patch: ", parsed.status().message())));
    absl::StatusOr<OJson> patched;
    if (media == "application/merge-patch+json") {
      patched = api::MergePatch(current, parsed->value);
    } else if (media == "application/strategic-merge-patch+json") {
      patched = api::StrategicMergePatch(scale_type, current, parsed->value);
    } else if (media == "application/json-patch+json") {
      patched = api::JsonPatch(current, parsed->value);
    } else {
      return StatusResponse(StatusError{.code = 415, .reason = "UnsupportedMediaType",
                                        .message = "415: Unsupported Media Type", .details = StatusDetails{}});
    }
    if (!patched.ok()) {
      return StatusResponse(StatusError{.code = 422, .reason = "Invalid",
                                        .message = "the server rejected our request due to an error in our request",
                                        .details = StatusDetails{}});
    }
    desired = *patched;
    desired.erase("kind");
    desired.erase("apiVersion");
  }
  std::string body_name = MetaStr(desired, "name");
  if (body_name != rp.name) {
    return StatusResponse(BadRequest(absl::StrCat("the name of the object (", body_name,
                                                  ") does not match the name on the URL (", rp.name, ")")));
  }
  std::string rv = MetaStr(desired, "resourceVersion");
  if (!rv.empty() && rv != MetaStr(*old, "resourceVersion")) {
    return StatusResponse(ObjectModified(GroupResourceOf(r), rp.name));
  }
  int64_t replicas = desired.contains("spec") && desired["spec"].contains("replicas") && desired["spec"]["replicas"].is_number_integer()
                         ? desired["spec"]["replicas"].get<int64_t>()
                         : 0;
  if (replicas < 0) {
    return StatusResponse(InvalidObject("autoscaling", "Scale", rp.name,
                                        {api::Invalid("spec.replicas", api::GoValue::Int(replicas),
                                                      "must be greater than or equal to 0")}));
  }
  OJson deployment = *old;
  deployment["spec"]["replicas"] = replicas;
  ResourcePath main = rp;
  main.subresource = "";
  WriteOutcome w = Commit(ctx, main, old, std::move(deployment), "update", std::nullopt, "scale");
  if (w.error) return *w.error;
  return ObjectResponse(ctx, 200, ScaleOf(rp, *w.object), OutputFormat::kJson);
}

HttpResponse FakeApiServer::Impl::Review(RequestContext& ctx, const ResourcePath& rp) {
  const ResourceInfo& r = *rp.info;
  if (ctx.req->method != "POST") return StatusResponse(MethodNotAllowed());
  const api::TypeDef& type = TypeOf(r);
  DecodedObject d;
  if (auto bad = DecodeBody(ctx, ctx.req->body, ctx.req->HeaderOr("Content-Type"), type, r.group, r.version, r.kind, &d)) {
    return *bad;
  }
  if (r.resource == "selfsubjectreviews") {
    OJson user = {{"username", ctx.user.name}};
    if (!ctx.user.uid.empty()) user["uid"] = ctx.user.uid;
    if (!ctx.user.groups.empty()) user["groups"] = ctx.user.groups;
    OJson body = {{"kind", r.kind},
                  {"apiVersion", r.GroupVersion()},
                  {"metadata", {{"creationTimestamp", NowRfc3339()}}},
                  {"status", {{"userInfo", user}}}};
    return ObjectResponse(ctx, 201, body, OutputFormat::kJson);
  }
  // SelfSubjectAccessReview: the answer the authorizer gives for the attributes in the spec.
  OJson spec = d.object.value("spec", OJson::object());
  RequestAttributes a{.user = ctx.user.name};
  if (spec.contains("resourceAttributes")) {
    const OJson& ra = spec["resourceAttributes"];
    a.verb = Str(ra, "verb");
    a.api_group = Str(ra, "group");
    a.resource = Str(ra, "resource");
    a.subresource = Str(ra, "subresource");
    a.namespace_name = Str(ra, "namespace");
    a.name = Str(ra, "name");
  } else if (spec.contains("nonResourceAttributes")) {
    a.verb = Str(spec["nonResourceAttributes"], "verb");
    a.path = Str(spec["nonResourceAttributes"], "path");
  }
  AuthorizationDecision decision;
  {
    absl::MutexLock lock(&model_mu_);
    RbacObjects objects = [this](const std::string& res, const std::string& ns) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return store_->List(res, ns);
    };
    decision = Authorize(ctx.user, a, objects);
  }
  OJson object = d.object;
  Meta(object);
  object["status"] = {{"allowed", decision.allowed}};
  if (!decision.reason.empty()) object["status"]["reason"] = decision.reason;
  std::string now = NowRfc3339();
  OJson before = api::Encode(type, OJson::object());
  OJson after_for_fields = api::Encode(type, d.object);
  std::vector<api::ManagerEntry> entries =
      api::UpdateManagers(type, {}, before, after_for_fields, ctx.manager, r.GroupVersion(), now, api::StripSet({}));
  if (!entries.empty()) object["metadata"]["managedFields"] = api::EncodeManagedFields(entries);
  OJson body = api::Encode(type, object);
  return ObjectResponse(ctx, 201, WatchHub::WithTypeMeta(r, body), OutputFormat::kJson);
}

}  // namespace k8slb::fakeapi
