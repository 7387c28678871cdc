#include "fakeapi/server/openapi.h"

#include <openssl/sha.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "fakeapi/api/schema.h"
#include "fakeapi/api/yaml_json.h"
#include "fakeapi/server/resources.h"

namespace k8slb::fakeapi {
namespace {

using OJson = nlohmann::ordered_json;
using api::FieldDef;
using api::ListType;
using api::TypeDef;
using api::ValueKind;

enum class Version { kV2, kV3 };


std::string Ref(Version v, const std::string& id) {
  return v == Version::kV2 ? absl::StrCat("#/definitions/", id) : absl::StrCat("#/components/schemas/", id);
}

// The schema of a list kind that types.yaml does not spell out: kind, apiVersion, metadata, items.
std::string ListId(const ResourceInfo& r) { return absl::StrCat(r.schema_id, "List"); }

// A capitalised group for operation ids: "discovery.k8s.io" -> "Discovery",
// "rbac.authorization.k8s.io" -> "RbacAuthorization", "" -> "Core".
std::string GroupWord(const std::string& group) {
  if (group.empty()) return "Core";
  std::string g = group;
  for (const char* suffix : {".k8s.io", ".apiserver.k8s.io"}) {
    if (absl::EndsWith(g, suffix)) g = g.substr(0, g.size() - std::string(suffix).size());
  }
  std::string out;
  for (absl::string_view part : absl::StrSplit(g, '.')) {
    std::string p(part);
    if (!p.empty()) p[0] = absl::ascii_toupper(static_cast<unsigned char>(p[0]));
    out += p;
  }
  return out;
}

std::string Tag(const ResourceInfo& r) {
  std::string g = r.group.empty() ? "core" : r.group;
  for (const char* suffix : {".k8s.io"}) {
    if (absl::EndsWith(g, suffix)) g = g.substr(0, g.size() - std::string(suffix).size());
  }
  for (char& c : g) {
    if (c == '.') c = '_';
  }
  return absl::StrCat(g, "_", r.version);
}

class Generator {
 public:
  explicit Generator(Version v) : v_(v), schema_(api::Schema::Builtin()) {}

  // ---- schemas ----
  OJson ElementSchema(const TypeDef& t) {
    if (!t.id.empty()) {
      Use(t.id);
      if (v_ == Version::kV2) return OJson{{"$ref", Ref(v_, t.id)}};
      OJson s = {{"allOf", OJson::array({{{"$ref", Ref(v_, t.id)}}})}};
      if (t.kind == ValueKind::kStruct) s["default"] = OJson::object();
      return s;
    }
    return ScalarOrContainer(t, nullptr);
  }

  OJson ScalarOrContainer(const TypeDef& t, const FieldDef* f) {
    OJson s = OJson::object();
    switch (t.kind) {
      case ValueKind::kString:
        s["type"] = "string";
        break;
      case ValueKind::kBytes:
        s["type"] = "string";
        s["format"] = "byte";
        break;
      case ValueKind::kInteger:
        s["type"] = "integer";
        s["format"] = t.format;
        break;
      case ValueKind::kBoolean:
        s["type"] = "boolean";
        break;
      case ValueKind::kNumber:
        s["type"] = "number";
        s["format"] = "double";
        break;
      case ValueKind::kList:
        s["type"] = "array";
        s["items"] = ElementSchema(*t.elem);
        break;
      case ValueKind::kMap:
        s["type"] = "object";
        s["additionalProperties"] = ElementSchema(*t.elem);
        break;
      default:
        s["type"] = "object";
    }
    (void)f;
    return s;
  }

  OJson Property(const FieldDef& f) {
    OJson s = OJson::object();
    const TypeDef& t = *f.type;
    if (!t.id.empty()) {
      Use(t.id);
      if (v_ == Version::kV2) {
        s["description"] = f.description;
        s["$ref"] = Ref(v_, t.id);
      } else {
        s["allOf"] = OJson::array({{{"$ref", Ref(v_, t.id)}}});
        if (t.kind == ValueKind::kStruct && !f.pointer) s["default"] = OJson::object();
        s["description"] = f.description;
      }
    } else {
      s["description"] = f.description;
      OJson body = ScalarOrContainer(t, &f);
      for (auto it = body.begin(); it != body.end(); ++it) s[it.key()] = it.value();
    }
    if (f.default_value && t.IsScalar()) s["default"] = *f.default_value;
    if (!f.enum_values.empty()) s["enum"] = f.enum_values;
    if (t.kind == ValueKind::kList) {
      s["x-kubernetes-list-type"] = t.list_type == ListType::kMap   ? "map"
                                    : t.list_type == ListType::kSet ? "set"
                                                                    : "atomic";
      if (t.list_type == ListType::kMap) s["x-kubernetes-list-map-keys"] = t.map_keys;
    }
    if (t.kind == ValueKind::kMap && t.atomic) s["x-kubernetes-map-type"] = "atomic";
    if (!f.patch_merge_key.empty()) s["x-kubernetes-patch-merge-key"] = f.patch_merge_key;
    if (!f.patch_strategy.empty()) s["x-kubernetes-patch-strategy"] = f.patch_strategy;
    return s;
  }

  OJson Definition(const TypeDef& t) {
    OJson s = OJson::object();
    s["description"] = t.description;
    switch (t.kind) {
      case ValueKind::kTime:
      case ValueKind::kMicroTime:
        s["type"] = "string";
        s["format"] = "date-time";
        return s;
      case ValueKind::kIntOrString:
        s["type"] = "string";
        s["format"] = "int-or-string";
        return s;
      case ValueKind::kQuantity:
        s["type"] = "string";
        return s;
      case ValueKind::kStruct:
        break;
      default:
        s["type"] = "object";
        return s;
    }
    s["type"] = "object";
    OJson required = OJson::array();
    for (const FieldDef& f : t.fields) {
      if (f.required) required.push_back(f.name);
    }
    if (!required.empty()) s["required"] = required;
    std::vector<const FieldDef*> fields;
    for (const FieldDef& f : t.fields) fields.push_back(&f);
    std::sort(fields.begin(), fields.end(), [](const FieldDef* a, const FieldDef* b) { return a->name < b->name; });
    OJson props = OJson::object();
    for (const FieldDef* f : fields) props[f->name] = Property(*f);
    if (!props.empty()) s["properties"] = props;
    if (t.atomic) s["x-kubernetes-map-type"] = "atomic";
    if (!t.gvk_kind.empty() && !t.gvk_version.empty()) {
      s["x-kubernetes-group-version-kind"] =
          OJson::array({{{"group", t.gvk_group}, {"kind", t.gvk_kind}, {"version", t.gvk_version}}});
    }
    return s;
  }

  OJson ListDefinition(const ResourceInfo& r) {
    Use(r.schema_id);
    Use("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta");
    OJson item = v_ == Version::kV2 ? OJson{{"$ref", Ref(v_, r.schema_id)}}
                                    : OJson{{"allOf", OJson::array({{{"$ref", Ref(v_, r.schema_id)}}})},
                                            {"default", OJson::object()}};
    OJson meta = v_ == Version::kV2
                     ? OJson{{"description", "Standard list metadata."},
                             {"$ref", Ref(v_, "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")}}
                     : OJson{{"allOf", OJson::array({{{"$ref", Ref(v_, "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")}}})},
                             {"default", OJson::object()},
                             {"description", "Standard list metadata."}};
    return OJson{{"description", absl::StrCat("A list of ", r.kind, " objects.")},
                 {"type", "object"},
                 {"required", OJson::array({"items"})},
                 {"properties",
                  {{"apiVersion", {{"description", "API version of the list."}, {"type", "string"}}},
                   {"items", {{"description", absl::StrCat("The ", r.kind, " objects.")}, {"type", "array"}, {"items", item}}},
                   {"kind", {{"description", absl::StrCat(r.kind, "List.")}, {"type", "string"}}},
                   {"metadata", meta}}},
                 {"x-kubernetes-group-version-kind",
                  OJson::array({{{"group", r.group}, {"kind", absl::StrCat(r.kind, "List")}, {"version", r.version}}})}};
  }

  // Definitions of every id used so far (and everything they use), sorted by id.
  OJson Definitions(const std::vector<const ResourceInfo*>& lists) {
    std::map<std::string, OJson> out;
    std::set<std::string> list_ids;
    for (const ResourceInfo* r : lists) {
      if (schema_.Find(ListId(*r)) == nullptr) list_ids.insert(ListId(*r));
    }
    for (const ResourceInfo* r : lists) {
      if (list_ids.count(ListId(*r))) out[ListId(*r)] = ListDefinition(*r);
    }
    while (!pending_.empty()) {
      std::string id = *pending_.begin();
      pending_.erase(pending_.begin());
      if (out.count(id)) continue;
      const TypeDef* t = schema_.Find(id);
      if (t == nullptr) continue;
      out[id] = Definition(*t);
    }
    OJson defs = OJson::object();
    for (auto& [id, s] : out) defs[id] = std::move(s);
    return defs;
  }

  void Use(const std::string& id) {
    if (used_.insert(id).second) pending_.insert(id);
  }

  // ---- paths ----
  OJson QueryParam(const std::string& name, const std::string& type, const std::string& description) {
    if (v_ == Version::kV2) {
      return OJson{{"uniqueItems", true}, {"type", type}, {"description", description}, {"name", name}, {"in", "query"}};
    }
    return OJson{{"name", name}, {"in", "query"}, {"description", description},
                 {"schema", {{"type", type}, {"uniqueItems", true}}}};
  }
  OJson PathParam(const std::string& name, const std::string& description) {
    if (v_ == Version::kV2) {
      return OJson{{"uniqueItems", true}, {"type", "string"}, {"description", description}, {"name", name},
                   {"in", "path"}, {"required", true}};
    }
    return OJson{{"name", name}, {"in", "path"}, {"description", description}, {"required", true},
                 {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
  }

  std::vector<OJson> ListParams() {
    return {QueryParam("allowWatchBookmarks", "boolean", "Ask for BOOKMARK events on a watch."),
            QueryParam("continue", "string", "Continue a paginated list with the token of the previous page."),
            QueryParam("fieldSelector", "string", "Restrict by fields (metadata.name, metadata.namespace)."),
            QueryParam("labelSelector", "string", "Restrict by labels."),
            QueryParam("limit", "integer", "Maximum items per page."),
            QueryParam("resourceVersion", "string", "The version to list or watch from."),
            QueryParam("resourceVersionMatch", "string", "How resourceVersion applies: Exact or NotOlderThan."),
            QueryParam("sendInitialEvents", "boolean", "Start a watch with the current state as ADDED events."),
            QueryParam("timeoutSeconds", "integer", "End the list or watch after this many seconds."),
            QueryParam("watch", "boolean", "Watch for changes instead of listing.")};
  }
  std::vector<OJson> WriteParams(bool patch) {
    std::vector<OJson> p = {
        QueryParam("dryRun", "string", "All: validate and answer without persisting."),
        QueryParam("fieldManager", "string", "Name of the actor making the change (managed fields)."),
        QueryParam("fieldValidation", "string",
                   "What to do with unknown or duplicate fields: Ignore, Warn (the default) or Strict.")};
    if (patch) p.push_back(QueryParam("force", "boolean", "Server-side apply: take fields other managers own."));
    return p;
  }
  std::vector<OJson> DeleteParams() {
    return {QueryParam("dryRun", "string", "All: validate and answer without persisting."),
            QueryParam("gracePeriodSeconds", "integer", "Seconds before the object is removed."),
            QueryParam("orphanDependents", "boolean", "Deprecated: use propagationPolicy."),
            QueryParam("propagationPolicy", "string", "Orphan, Background or Foreground.")};
  }

  OJson Responses(const std::string& schema_id, std::initializer_list<std::pair<const char*, const char*>> codes,
                  bool yaml_and_protobuf = true) {
    Use(schema_id);
    OJson out = OJson::object();
    for (const auto& [code, text] : codes) {
      if (v_ == Version::kV2) {
        out[code] = {{"description", text}, {"schema", {{"$ref", Ref(v_, schema_id)}}}};
      } else {
        OJson content = OJson::object();
        std::vector<std::string> types = {"application/json"};
        if (yaml_and_protobuf) {
          types.push_back("application/yaml");
          types.push_back("application/vnd.kubernetes.protobuf");
        }
        for (const std::string& ct : types) content[ct] = {{"schema", {{"$ref", Ref(v_, schema_id)}}}};
        out[code] = {{"description", text}, {"content", content}};
      }
    }
    out["401"] = {{"description", "Unauthorized"}};
    return out;
  }

  OJson Body(const std::string& schema_id, bool patch) {
    Use(schema_id);
    if (v_ == Version::kV2) {
      return OJson{{"name", "body"}, {"in", "body"}, {"required", true}, {"schema", {{"$ref", Ref(v_, schema_id)}}}};
    }
    OJson content = OJson::object();
    std::vector<std::string> types =
        patch ? std::vector<std::string>{"application/apply-patch+yaml", "application/json-patch+json",
                                         "application/merge-patch+json", "application/strategic-merge-patch+json"}
              : std::vector<std::string>{"*/*"};
    for (const std::string& ct : types) content[ct] = {{"schema", {{"$ref", Ref(v_, schema_id)}}}};
    return OJson{{"content", content}, {"required", true}};
  }

  OJson Operation(const ResourceInfo& r, const std::string& action, const std::string& verb_word,
                  const std::string& scope_word, std::vector<OJson> params, const OJson& responses,
                  const OJson* body, const std::string& kind, const std::string& description) {
    OJson op = OJson::object();
    op["tags"] = OJson::array({Tag(r)});
    op["description"] = description;
    if (v_ == Version::kV2) {
      op["consumes"] = OJson::array({"*/*"});
      op["produces"] = OJson::array({"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"});
      op["schemes"] = OJson::array({"https"});
    }
    op["operationId"] = absl::StrCat(verb_word, GroupWord(r.group), absl::AsciiStrToUpper(r.version.substr(0, 1)),
                                     r.version.substr(1), scope_word, kind);
    if (body != nullptr && v_ == Version::kV2) params.insert(params.begin(), *body);
    if (!params.empty()) op["parameters"] = params;
    if (body != nullptr && v_ == Version::kV3) op["requestBody"] = *body;
    op["responses"] = responses;
    op["x-kubernetes-action"] = action;
    op["x-kubernetes-group-version-kind"] = {{"group", r.group}, {"version", r.version}, {"kind", kind}};
    return op;
  }

  void AddResource(const ResourceInfo& r, OJson& paths) {
    std::string prefix = r.group.empty() ? "/api/v1" : absl::StrCat("/apis/", r.group, "/", r.version);
    std::string ns_seg = r.namespaced ? "/namespaces/{namespace}" : "";
    std::string scope = r.namespaced ? "Namespaced" : "";
    OJson ns_param = PathParam("namespace", "The namespace of the objects.");
    OJson name_param = PathParam("name", absl::StrCat("The name of the ", r.kind, "."));
    OJson pretty = QueryParam("pretty", "string", "Pretty-print the output.");
    std::string list_id = schema_.Find(ListId(r)) != nullptr ? ListId(r) : ListId(r);
    const std::string status_id = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
    const std::string delete_id = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
    const std::string patch_id = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
    const std::string watch_id = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
    bool crud = r.storage != Storage::kVirtual;

    // Collection.
    OJson coll = OJson::object();
    if (crud) {
      coll["get"] = Operation(r, "list", "list", scope, ListParams(), Responses(list_id, {{"200", "OK"}}), nullptr,
                              r.kind, absl::StrCat("list or watch objects of kind ", r.kind));
    }
    OJson create_body = Body(r.schema_id, false);
    coll["post"] = Operation(r, "post", "create", scope, WriteParams(false),
                             Responses(r.schema_id, {{"200", "OK"}, {"201", "Created"}, {"202", "Accepted"}}),
                             &create_body, r.kind, absl::StrCat("create ", r.kind == "Endpoints" ? "Endpoints" : "a", " ", r.kind));
    if (crud) {
      OJson del_body = Body(delete_id, false);
      std::vector<OJson> dc = DeleteParams();
      for (OJson& p : ListParams()) dc.push_back(std::move(p));
      coll["delete"] = Operation(r, "deletecollection", "deleteCollection", scope, dc, Responses(status_id, {{"200", "OK"}}),
                                 &del_body, r.kind, absl::StrCat("delete collection of ", r.kind));
    }
    OJson coll_params = OJson::array();
    if (r.namespaced) coll_params.push_back(ns_param);
    coll_params.push_back(pretty);
    coll["parameters"] = coll_params;
    paths[absl::StrCat(prefix, ns_seg, "/", r.resource)] = coll;
    if (!crud) return;

    if (r.namespaced) {
      OJson all = OJson::object();
      all["get"] = Operation(r, "list", "list", "", ListParams(), Responses(list_id, {{"200", "OK"}}), nullptr,
                             absl::StrCat(r.kind, "ForAllNamespaces").empty() ? r.kind : r.kind,
                             absl::StrCat("list or watch objects of kind ", r.kind));
      all["get"]["operationId"] = absl::StrCat("list", GroupWord(r.group), "V1", r.kind, "ForAllNamespaces");
      all["parameters"] = OJson::array({pretty});
      paths[absl::StrCat(prefix, "/", r.resource)] = all;
    }

    // Item.
    OJson item = OJson::object();
    item["get"] = Operation(r, "get", "read", scope, {}, Responses(r.schema_id, {{"200", "OK"}}), nullptr, r.kind,
                            absl::StrCat("read the specified ", r.kind));
    OJson put_body = Body(r.schema_id, false);
    item["put"] = Operation(r, "put", "replace", scope, WriteParams(false),
                            Responses(r.schema_id, {{"200", "OK"}, {"201", "Created"}}), &put_body, r.kind,
                            absl::StrCat("replace the specified ", r.kind));
    OJson patch_body = Body(patch_id, true);
    item["patch"] = Operation(r, "patch", "patch", scope, WriteParams(true),
                              Responses(r.schema_id, {{"200", "OK"}, {"201", "Created"}}), &patch_body, r.kind,
                              absl::StrCat("partially update the specified ", r.kind));
    OJson del_body = Body(delete_id, false);
    item["delete"] = Operation(r, "delete", "delete", scope, DeleteParams(),
                               Responses(status_id, {{"200", "OK"}, {"202", "Accepted"}}), &del_body, r.kind,
                               absl::StrCat("delete a ", r.kind));
    OJson item_params = OJson::array({name_param});
    if (r.namespaced) item_params.push_back(ns_param);
    item_params.push_back(pretty);
    item["parameters"] = item_params;
    paths[absl::StrCat(prefix, ns_seg, "/", r.resource, "/{name}")] = item;

    for (const SubresourceInfo& sub : r.subresources) {
      std::string sub_id = sub.kind == r.kind ? r.schema_id : absl::StrCat("io.k8s.api.", sub.group, ".", sub.version, ".", sub.kind);
      OJson s = OJson::object();
      std::string word = absl::StrCat(r.kind, sub.name == "scale" ? "Scale" : "Status");
      s["get"] = Operation(r, "get", "read", scope, {}, Responses(sub_id, {{"200", "OK"}}), nullptr, word,
                           absl::StrCat("read ", sub.name, " of the specified ", r.kind));
      OJson sput = Body(sub_id, false);
      s["put"] = Operation(r, "put", "replace", scope, WriteParams(false),
                           Responses(sub_id, {{"200", "OK"}, {"201", "Created"}}), &sput, word,
                           absl::StrCat("replace ", sub.name, " of the specified ", r.kind));
      OJson spatch = Body(patch_id, true);
      s["patch"] = Operation(r, "patch", "patch", scope, WriteParams(true),
                             Responses(sub_id, {{"200", "OK"}, {"201", "Created"}}), &spatch, word,
                             absl::StrCat("partially update ", sub.name, " of the specified ", r.kind));
      for (const char* op : {"get", "put", "patch"}) {
        s[op]["x-kubernetes-group-version-kind"] = {{"group", sub.group.empty() ? r.group : sub.group},
                                                    {"version", sub.version.empty() ? r.version : sub.version},
                                                    {"kind", sub.kind}};
      }
      s["parameters"] = item_params;
      paths[absl::StrCat(prefix, ns_seg, "/", r.resource, "/{name}/", sub.name)] = s;
    }

    // Watch paths (deprecated in favour of ?watch=true, still served).
    auto watch_op = [&](const std::string& scope_word, const std::string& what) {
      OJson op = Operation(r, what, what == "watchList" ? "watch" : "watch", scope_word, ListParams(),
                           Responses(watch_id, {{"200", "OK"}}, false), nullptr, r.kind,
                           absl::StrCat("watch changes to ", r.kind, " objects (deprecated: use the watch parameter)"));
      return op;
    };
    if (r.namespaced) {
      OJson w1 = {{"get", watch_op("", "watchList")}, {"parameters", OJson::array({pretty})}};
      w1["get"]["operationId"] = absl::StrCat("watch", GroupWord(r.group), "V1", r.kind, "ListForAllNamespaces");
      paths[absl::StrCat(prefix, "/watch/", r.resource)] = w1;
      OJson w2 = {{"get", watch_op(scope, "watchList")}, {"parameters", OJson::array({ns_param, pretty})}};
      w2["get"]["operationId"] = absl::StrCat("watch", GroupWord(r.group), "V1Namespaced", r.kind, "List");
      paths[absl::StrCat(prefix, "/watch/namespaces/{namespace}/", r.resource)] = w2;
      OJson w3 = {{"get", watch_op(scope, "watch")}, {"parameters", OJson::array({name_param, ns_param, pretty})}};
      paths[absl::StrCat(prefix, "/watch/namespaces/{namespace}/", r.resource, "/{name}")] = w3;
    } else {
      OJson w1 = {{"get", watch_op("", "watchList")}, {"parameters", OJson::array({pretty})}};
      w1["get"]["operationId"] = absl::StrCat("watch", GroupWord(r.group), "V1", r.kind, "List");
      paths[absl::StrCat(prefix, "/watch/", r.resource)] = w1;
      OJson w2 = {{"get", watch_op("", "watch")}, {"parameters", OJson::array({name_param, pretty})}};
      paths[absl::StrCat(prefix, "/watch/", r.resource, "/{name}")] = w2;
    }
  }

  OJson DiscoveryPath(const std::string& group, const std::string& version) {
    std::string path = group.empty() ? "/api/v1/" : absl::StrCat("/apis/", group, "/", version, "/");
    const std::string id = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";
    Use(id);
    OJson get = OJson::object();
    get["tags"] = OJson::array({absl::StrCat(group.empty() ? "core" : group, "_", version)});
    get["description"] = "get available resources";
    get["operationId"] = absl::StrCat("get", GroupWord(group), "V1APIResources");
    get["responses"] = Responses(id, {{"200", "OK"}});
    return OJson{{path, {{"get", get}}}};
  }

  OJson Document(const std::vector<const ResourceInfo*>& resources, const std::string& group,
                 const std::string& version, bool with_discovery_path) {
    OJson paths = OJson::object();
    if (with_discovery_path) {
      OJson d = DiscoveryPath(group, version);
      for (auto it = d.begin(); it != d.end(); ++it) paths[it.key()] = it.value();
    }
    for (const ResourceInfo* r : resources) AddResource(*r, paths);
    // Paths sorted, as the server writes them.
    std::vector<std::string> keys;
    for (auto it = paths.begin(); it != paths.end(); ++it) keys.push_back(it.key());
    std::sort(keys.begin(), keys.end());
    OJson sorted = OJson::object();
    for (const std::string& k : keys) sorted[k] = paths[k];
    OJson defs = Definitions(resources);
    OJson security = {{"BearerToken",
                       {{"type", "apiKey"}, {"description", "Bearer Token authentication"}, {"name", "authorization"}, {"in", "header"}}}};
    if (v_ == Version::kV2) {
      return OJson{{"swagger", "2.0"},
                   {"info", {{"title", "Kubernetes"}, {"version", "1.32"}}},
                   {"paths", sorted},
                   {"definitions", defs},
                   {"parameters", OJson::object()},
                   {"securityDefinitions", security},
                   {"security", OJson::array({{{"BearerToken", OJson::array()}}})}};
    }
    return OJson{{"openapi", "3.0.0"},
                 {"info", {{"title", "Kubernetes"}, {"version", "1.32"}}},
                 {"paths", sorted},
                 {"components", {{"schemas", defs}, {"securitySchemes", security}}}};
  }

 private:
  Version v_;
  const api::Schema& schema_;
  std::set<std::string> used_;
  std::set<std::string> pending_;
};

OpenApiDocument Finish(const OJson& doc) {
  OpenApiDocument out;
  out.json = api::GoJson(doc);
  out.hash = Sha512Hex(out.json);
  return out;
}

}  // namespace

std::string Sha512Hex(const std::string& text) {
  unsigned char digest[SHA512_DIGEST_LENGTH];
  SHA512(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  std::string out;
  for (unsigned char c : digest) absl::StrAppend(&out, absl::StrFormat("%02X", c));
  return out;
}

const OpenApiDocument& OpenApiV2() {
  static const OpenApiDocument doc = [] {
    std::vector<const ResourceInfo*> all;
    for (const ResourceInfo& r : ServedResources()) all.push_back(&r);
    Generator g(Version::kV2);
    return Finish(g.Document(all, "", "", false));
  }();
  return doc;
}

const std::map<std::string, OpenApiDocument>& OpenApiV3Documents() {
  static const std::map<std::string, OpenApiDocument> docs = [] {
    std::map<std::string, OpenApiDocument> out;
    std::map<std::string, std::vector<const ResourceInfo*>> by_gv;
    for (const ResourceInfo& r : ServedResources()) by_gv[r.group.empty() ? "api/v1" : absl::StrCat("apis/", r.group, "/", r.version)].push_back(&r);
    for (const auto& [path, resources] : by_gv) {
      Generator g(Version::kV3);
      out[path] = Finish(g.Document(resources, resources.front()->group, resources.front()->version, true));
    }
    return out;
  }();
  return docs;
}

const std::string& OpenApiV3Index() {
  static const std::string index = [] {
    OJson paths = OJson::object();
    for (const auto& [path, doc] : OpenApiV3Documents()) {
      paths[path] = {{"serverRelativeURL", absl::StrCat("/openapi/v3/", path, "?hash=", doc.hash)}};
    }
    return api::GoJson(OJson{{"paths", paths}});
  }();
  return index;
}

}  // namespace k8slb::fakeapi
