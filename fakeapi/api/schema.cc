#include "fakeapi/api/schema.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fakeapi/api/yaml_json.h"

namespace k8slb::fakeapi::api {
namespace {

using Json = nlohmann::json;

struct Abbreviation {
  const char* prefix;
  const char* expansion;
};
constexpr Abbreviation kAbbreviations[] = {
    {"meta.", "io.k8s.apimachinery.pkg.apis.meta.v1."},
    {"core.", "io.k8s.api.core.v1."},
    {"discovery.", "io.k8s.api.discovery.v1."},
    {"apps.", "io.k8s.api.apps.v1."},
    {"batch.", "io.k8s.api.batch.v1."},
    {"rbac.", "io.k8s.api.rbac.v1."},
    {"autoscaling.", "io.k8s.api.autoscaling.v1."},
    {"authz.", "io.k8s.api.authorization.v1."},
    {"authn.", "io.k8s.api.authentication.v1."},
};

// Named scalar definitions that fields name by a short keyword.
struct Keyword {
  const char* word;
  const char* id;
};
constexpr Keyword kKeywords[] = {
    {"Time", "io.k8s.apimachinery.pkg.apis.meta.v1.Time"},
    {"MicroTime", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"},
    {"FieldsV1", "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"},
    {"IntOrString", "io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
    {"Quantity", "io.k8s.apimachinery.pkg.api.resource.Quantity"},
    {"any", "io.k8s.apimachinery.pkg.runtime.RawExtension"},
};

std::optional<ValueKind> NamedScalarKind(const std::string& type) {
  if (type == "Time") return ValueKind::kTime;
  if (type == "MicroTime") return ValueKind::kMicroTime;
  if (type == "FieldsV1") return ValueKind::kFieldsV1;
  if (type == "IntOrString") return ValueKind::kIntOrString;
  if (type == "Quantity") return ValueKind::kQuantity;
  if (type == "any") return ValueKind::kAny;
  return std::nullopt;
}

std::string Expand(const std::string& ref) {
  for (const Keyword& k : kKeywords) {
    if (ref == k.word) return k.id;
  }
  for (const Abbreviation& a : kAbbreviations) {
    if (absl::StartsWith(ref, a.prefix)) return absl::StrCat(a.expansion, ref.substr(std::string(a.prefix).size()));
  }
  return ref;
}

}  // namespace

const FieldDef* TypeDef::Field(std::string_view name) const {
  for (const FieldDef& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const TypeDef* Schema::Intern(std::unique_ptr<TypeDef> type) {
  anonymous_.push_back(std::move(type));
  return anonymous_.back().get();
}

const TypeDef* Schema::Find(std::string_view id) const {
  auto it = named_.find(id);
  return it == named_.end() ? nullptr : it->second.get();
}

const TypeDef* Schema::ForKind(std::string_view group, std::string_view version, std::string_view kind) const {
  for (const auto& [id, t] : named_) {
    if (!t->gvk_kind.empty() && t->gvk_group == group && t->gvk_version == version && t->gvk_kind == kind) return t.get();
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<Schema>> Schema::Parse(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", e.what()));
  }
  if (!root.IsMap()) return absl::InvalidArgumentError("types.yaml: expected a map of definitions");
  std::unique_ptr<Schema> schema(new Schema());

  // Pass 1: a shell for every named definition, so fields may reference any of them.
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string id = it->first.Scalar();
    const YAML::Node def = it->second;  // a copy: it-> returns a proxy that dies with the statement
    auto t = std::make_unique<TypeDef>();
    t->id = id;
    t->go_name = def["go"] ? def["go"].Scalar() : id.substr(id.rfind('.') + 1);
    t->description = def["description"] ? def["description"].Scalar() : "";
    std::string type = def["type"] ? def["type"].Scalar() : "";
    if (type.empty()) {
      t->kind = ValueKind::kStruct;
    } else if (auto k = NamedScalarKind(type)) {
      t->kind = *k;
    } else if (type == "string") {
      t->kind = ValueKind::kString;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", id, ": unknown type \"", type, "\""));
    }
    if (t->kind == ValueKind::kTime) t->format = "date-time";
    if (t->kind == ValueKind::kMicroTime) t->format = "date-time";
    if (t->kind == ValueKind::kIntOrString) t->format = "int-or-string";
    t->atomic = def["atomic"] && def["atomic"].as<bool>();
    if (def["gvk"]) {
      const YAML::Node& g = def["gvk"];
      if (!g.IsSequence() || g.size() != 3) {
        return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", id, ": gvk must be [group, version, kind]"));
      }
      t->gvk_group = g[0].Scalar();
      t->gvk_version = g[1].Scalar();
      t->gvk_kind = g[2].Scalar();
    }
    schema->named_.emplace(id, std::move(t));
  }

  // Scalars by keyword, shared.
  auto scalar = [&](ValueKind kind, const char* go, const char* format) {
    auto t = std::make_unique<TypeDef>();
    t->kind = kind;
    t->go_name = go;
    t->format = format;
    return schema->Intern(std::move(t));
  };
  const TypeDef* t_string = scalar(ValueKind::kString, "string", "");
  const TypeDef* t_int32 = scalar(ValueKind::kInteger, "int32", "int32");
  const TypeDef* t_int64 = scalar(ValueKind::kInteger, "int64", "int64");
  const TypeDef* t_bool = scalar(ValueKind::kBoolean, "bool", "");
  const TypeDef* t_number = scalar(ValueKind::kNumber, "float64", "double");
  const TypeDef* t_bytes = scalar(ValueKind::kBytes, "[]uint8", "byte");

  std::vector<std::function<absl::Status()>> deferred;
  // Resolves a type expression; list/map options come from the field.
  std::function<absl::StatusOr<const TypeDef*>(const std::string&, const YAML::Node&, const std::string&)> resolve;
  resolve = [&](const std::string& expr, const YAML::Node& opts,
                const std::string& where) -> absl::StatusOr<const TypeDef*> {
    if (expr == "string") return t_string;
    if (expr == "int32") return t_int32;
    if (expr == "int64") return t_int64;
    if (expr == "bool") return t_bool;
    if (expr == "number") return t_number;
    if (expr == "bytes") return t_bytes;
    if (absl::StartsWith(expr, "[]")) {
      auto elem = resolve(expr.substr(2), YAML::Node(), where);
      if (!elem.ok()) return elem.status();
      auto t = std::make_unique<TypeDef>();
      t->kind = ValueKind::kList;
      t->elem = *elem;
      t->go_name = absl::StrCat("[]", (*elem)->go_name);
      std::string list = opts && opts["list"] ? opts["list"].Scalar() : "atomic";
      if (list == "atomic") {
        t->list_type = ListType::kAtomic;
      } else if (list == "set") {
        t->list_type = ListType::kSet;
      } else if (list == "map") {
        t->list_type = ListType::kMap;
        if (!opts["keys"] || !opts["keys"].IsSequence() || opts["keys"].size() == 0) {
          return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", where, ": list: map needs keys"));
        }
        for (const auto& k : opts["keys"]) t->map_keys.push_back(k.Scalar());
        if ((*elem)->kind != ValueKind::kStruct) {
          return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", where, ": list: map of non-structs"));
        }
        // The item type's fields may be defined later in the file: checked once all are read.
        for (const std::string& k : t->map_keys) {
          deferred.push_back([elem = *elem, k, where]() -> absl::Status {
            if (elem->Field(k) != nullptr) return absl::OkStatus();
            return absl::InvalidArgumentError(
                absl::StrCat("types.yaml: ", where, ": key ", k, " is not a field of ", elem->id));
          });
        }
      } else {
        return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", where, ": unknown list type ", list));
      }
      return schema->Intern(std::move(t));
    }
    if (absl::StartsWith(expr, "map[string]")) {
      auto elem = resolve(expr.substr(11), YAML::Node(), where);
      if (!elem.ok()) return elem.status();
      auto t = std::make_unique<TypeDef>();
      t->kind = ValueKind::kMap;
      t->elem = *elem;
      t->go_name = absl::StrCat("map[string]", (*elem)->go_name);
      t->atomic = opts && opts["mapType"] && opts["mapType"].Scalar() == "atomic";
      return schema->Intern(std::move(t));
    }
    const TypeDef* named = schema->Find(Expand(expr));
    if (named == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", where, ": unknown type \"", expr, "\""));
    }
    return named;
  };

  // Pass 2: fields.
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string id = it->first.Scalar();
    TypeDef* t = schema->named_.at(id).get();
    const YAML::Node& fields = it->second["fields"];
    if (!fields) continue;
    if (t->kind != ValueKind::kStruct) {
      return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", id, ": a ", "non-struct type has fields"));
    }
    if (!fields.IsMap()) return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", id, ": fields must be a map"));
    for (auto f = fields.begin(); f != fields.end(); ++f) {
      FieldDef fd;
      fd.name = f->first.Scalar();
      const YAML::Node o = f->second;
      std::string where = absl::StrCat(id, ".", fd.name);
      if (!o.IsMap() || !o["type"]) return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", where, ": no type"));
      auto ft = resolve(o["type"].Scalar(), o, where);
      if (!ft.ok()) return ft.status();
      fd.type = *ft;
      fd.description = o["d"] ? o["d"].Scalar() : "";
      fd.required = o["required"] && o["required"].as<bool>();
      fd.always = o["always"] && o["always"].as<bool>();
      fd.pointer = o["ptr"] && o["ptr"].as<bool>();
      if (o["default"]) {
        auto value = YamlNodeToJson(o["default"]);
        if (!value.ok()) return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", where, ": ", value.status().message()));
        fd.default_value = *value;
      }
      if (o["enum"]) {
        for (const auto& e : o["enum"]) fd.enum_values.push_back(e.Scalar());
      }
      fd.patch_strategy = o["patch"] ? o["patch"].Scalar() : "";
      fd.patch_merge_key = o["mergeKey"] ? o["mergeKey"].Scalar() : "";
      if (o["mapType"] && fd.type->kind == ValueKind::kStruct) {
        return absl::InvalidArgumentError(absl::StrCat("types.yaml: ", where, ": mapType on a struct: use atomic"));
      }
      if (!fd.patch_merge_key.empty()) {
        if (fd.type->kind != ValueKind::kList) {
          return absl::InvalidArgumentError(
              absl::StrCat("types.yaml: ", where, ": mergeKey ", fd.patch_merge_key, " on a field that is not a list"));
        }
        deferred.push_back([elem = fd.type->elem, key = fd.patch_merge_key, where]() -> absl::Status {
          if (elem->Field(key) != nullptr) return absl::OkStatus();
          return absl::InvalidArgumentError(
              absl::StrCat("types.yaml: ", where, ": mergeKey ", key, " is not a field of the list's items"));
        });
      }
      t->fields.push_back(std::move(fd));
    }
  }
  // Pass 3: checks that need every definition's fields.
  for (const auto& check : deferred) {
    if (absl::Status st = check(); !st.ok()) return st;
  }
  return schema;
}

const Schema& Schema::Builtin() {
  static const Schema* const schema = [] {
    auto parsed = Parse(BuiltinTypesYaml());
    if (!parsed.ok()) {
      std::fprintf(stderr, "fakeapi: the built-in schema is broken: %s\n", std::string(parsed.status().message()).c_str());
      std::abort();
    }
    return parsed->release();
  }();
  return *schema;
}

}  // namespace k8slb::fakeapi::api
