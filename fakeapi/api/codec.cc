#include "fakeapi/api/codec.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace k8slb::fakeapi::api {
namespace {

using OJson = nlohmann::ordered_json;

std::string_view JsonTypeName(const OJson& v) {
  switch (v.type()) {
    case OJson::value_t::string:
      return "string";
    case OJson::value_t::boolean:
      return "bool";
    case OJson::value_t::number_integer:
    case OJson::value_t::number_unsigned:
    case OJson::value_t::number_float:
      return "number";
    case OJson::value_t::array:
      return "array";
    case OJson::value_t::object:
      return "object";
    default:
      return "null";
  }
}

// Go's message names the number itself when the value does not fit the type.
std::string NumberText(const OJson& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::floor(d) == d && std::fabs(d) < 1e21) return absl::StrCat(static_cast<int64_t>(d));
    return v.dump();
  }
  return v.dump();
}

struct DecodeState {
  std::vector<std::string> unknown;
  std::optional<std::string> error;
};

// `go_path` is the dotted JSON path of struct fields from the root (no indices), as Go reports it
// ("ports.port"); `struct_name` the innermost struct's Go name; `path` the path with indices for
// unknown-field reports.
void DecodeValue(const TypeDef& type, const OJson& in, OJson* out, const std::string& path,
                 const std::string& go_path, const std::string& struct_name, DecodeState* st);

void TypeError(const OJson& in, const TypeDef& type, const std::string& go_path, const std::string& struct_name,
               DecodeState* st, bool show_number = false) {
  if (st->error) return;
  std::string what(JsonTypeName(in));
  if (show_number) what = absl::StrCat("number ", NumberText(in));
  if (go_path.empty()) {
    st->error = absl::StrCat("json: cannot unmarshal ", what, " into Go value of type ", GoTypeName(type));
  } else {
    st->error = absl::StrCat("json: cannot unmarshal ", what, " into Go struct field ", struct_name, ".", go_path,
                             " of type ", GoTypeName(type));
  }
}

void DecodeStruct(const TypeDef& type, const OJson& in, OJson* out, const std::string& path,
                  const std::string& go_path, DecodeState* st) {
  *out = OJson::object();
  for (auto it = in.begin(); it != in.end(); ++it) {
    const FieldDef* f = type.Field(it.key());
    std::string child_path = path.empty() ? it.key() : absl::StrCat(path, ".", it.key());
    if (f == nullptr) {
      st->unknown.push_back(child_path);
      continue;
    }
    std::string child_go = go_path.empty() ? it.key() : absl::StrCat(go_path, ".", it.key());
    OJson value;
    if (it.value().is_null()) {
      // Go: null leaves a non-pointer value at zero and sets a pointer, slice or map to nil.
      (*out)[it.key()] = nullptr;
      continue;
    }
    DecodeValue(*f->type, it.value(), &value, child_path, child_go, type.go_name, st);
    (*out)[it.key()] = std::move(value);
  }
}

void DecodeValue(const TypeDef& type, const OJson& in, OJson* out, const std::string& path,
                 const std::string& go_path, const std::string& struct_name, DecodeState* st) {
  switch (type.kind) {
    case ValueKind::kStruct:
      if (!in.is_object()) return TypeError(in, type, go_path, struct_name, st);
      DecodeStruct(type, in, out, path, go_path, st);
      return;
    case ValueKind::kMap: {
      if (!in.is_object()) return TypeError(in, type, go_path, struct_name, st);
      *out = OJson::object();
      for (auto it = in.begin(); it != in.end(); ++it) {
        OJson value;
        if (it.value().is_null()) {
          (*out)[it.key()] = type.elem->kind == ValueKind::kString ? OJson("") : OJson(nullptr);
          continue;
        }
        DecodeValue(*type.elem, it.value(), &value, absl::StrCat(path, "[", it.key(), "]"), go_path, struct_name, st);
        (*out)[it.key()] = std::move(value);
      }
      return;
    }
    case ValueKind::kList: {
      if (!in.is_array()) return TypeError(in, type, go_path, struct_name, st);
      *out = OJson::array();
      for (size_t i = 0; i < in.size(); ++i) {
        OJson value;
        if (in[i].is_null()) {
          out->push_back(type.elem->kind == ValueKind::kStruct ? OJson::object() : OJson(nullptr));
          continue;
        }
        DecodeValue(*type.elem, in[i], &value, absl::StrCat(path, "[", i, "]"), go_path, struct_name, st);
        out->push_back(std::move(value));
      }
      return;
    }
    case ValueKind::kString:
    case ValueKind::kBytes:
    case ValueKind::kTime:
    case ValueKind::kMicroTime:
      if (!in.is_string()) return TypeError(in, type, go_path, struct_name, st);
      *out = in;
      return;
    case ValueKind::kBoolean:
      if (!in.is_boolean()) return TypeError(in, type, go_path, struct_name, st);
      *out = in;
      return;
    case ValueKind::kInteger: {
      if (!in.is_number()) return TypeError(in, type, go_path, struct_name, st);
      bool is32 = type.format == "int32";
      int64_t lo = is32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
      int64_t hi = is32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
      if (in.is_number_float()) {
        double d = in.get<double>();
        if (std::floor(d) != d || d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
          return TypeError(in, type, go_path, struct_name, st, /*show_number=*/true);
        }
        *out = static_cast<int64_t>(d);
        return;
      }
      if (in.is_number_unsigned() && in.get<uint64_t>() > static_cast<uint64_t>(hi)) {
        return TypeError(in, type, go_path, struct_name, st, true);
      }
      int64_t v = in.get<int64_t>();
      if (v < lo || v > hi) return TypeError(in, type, go_path, struct_name, st, true);
      *out = v;
      return;
    }
    case ValueKind::kNumber:
      if (!in.is_number()) return TypeError(in, type, go_path, struct_name, st);
      *out = in;
      return;
    case ValueKind::kIntOrString:
      if (in.is_string()) {
        *out = in;
        return;
      }
      if (in.is_number_integer() || in.is_number_unsigned()) {
        int64_t v = in.get<int64_t>();
        if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
          return TypeError(in, type, go_path, struct_name, st, true);
        }
        *out = v;
        return;
      }
      return TypeError(in, type, go_path, struct_name, st);
    case ValueKind::kQuantity:
      if (!in.is_string() && !in.is_number()) return TypeError(in, type, go_path, struct_name, st);
      // Quantities are stored in canonical string form (resource.Quantity marshals as a string).
      *out = in.is_string() ? in : OJson(NumberText(in));
      return;
    case ValueKind::kAny:
    case ValueKind::kFieldsV1:
      *out = in;
      return;
  }
}

bool IsZeroScalar(const OJson& v) {
  if (v.is_null()) return true;
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_number_integer() || v.is_number_unsigned()) return v.get<int64_t>() == 0;
  if (v.is_number_float()) return v.get<double>() == 0;
  return false;
}

bool IsValueStruct(const FieldDef& f) { return f.type->kind == ValueKind::kStruct && !f.pointer; }

void ApplyDefaultsIn(const TypeDef& type, OJson& value);

void ApplyStructDefaults(const TypeDef& type, OJson& obj) {
  for (const FieldDef& f : type.fields) {
    auto it = obj.find(f.name);
    bool present = it != obj.end() && !it->is_null();
    if (!present && f.default_value) {
      obj[f.name] = OJson(*f.default_value);
      continue;
    }
    if (!present && IsValueStruct(f)) {
      // A value struct always exists in Go, so its own defaults apply.
      OJson child = OJson::object();
      ApplyDefaultsIn(*f.type, child);
      if (!child.empty()) obj[f.name] = std::move(child);
      continue;
    }
    if (present) ApplyDefaultsIn(*f.type, obj[f.name]);
  }
  if (DefaultRule rule = FindDefaultRule(type.id)) rule(obj);
}

void ApplyDefaultsIn(const TypeDef& type, OJson& value) {
  switch (type.kind) {
    case ValueKind::kStruct:
      if (value.is_object()) ApplyStructDefaults(type, value);
      return;
    case ValueKind::kList:
      if (value.is_array()) {
        for (OJson& item : value) ApplyDefaultsIn(*type.elem, item);
      }
      return;
    case ValueKind::kMap:
      if (value.is_object()) {
        for (auto it = value.begin(); it != value.end(); ++it) ApplyDefaultsIn(*type.elem, it.value());
      }
      return;
    default:
      return;
  }
}

// Returns false when the value should not be stored at all (nil after a round trip).
bool NormalizeValue(const TypeDef& type, OJson& value, bool pointer) {
  if (value.is_null()) return false;
  switch (type.kind) {
    case ValueKind::kStruct: {
      if (!value.is_object()) return false;
      for (const FieldDef& f : type.fields) {
        auto it = value.find(f.name);
        if (it == value.end()) continue;
        if (!NormalizeValue(*f.type, *it, f.pointer)) value.erase(it);
      }
      return pointer || !value.empty();
    }
    case ValueKind::kList:
      if (!value.is_array() || value.empty()) return false;
      for (OJson& item : value) {
        if (!NormalizeValue(*type.elem, item, true) && type.elem->kind == ValueKind::kStruct) item = OJson::object();
      }
      return true;
    case ValueKind::kMap:
      if (!value.is_object() || value.empty()) return false;
      return true;
    case ValueKind::kAny:
    case ValueKind::kFieldsV1:
    case ValueKind::kTime:
    case ValueKind::kMicroTime:
      return true;
    default:
      return pointer || !IsZeroScalar(value);
  }
}

OJson ZeroOf(const TypeDef& type);

OJson EncodeValue(const TypeDef& type, const OJson& value) {
  switch (type.kind) {
    case ValueKind::kStruct:
      return Encode(type, value.is_object() ? value : OJson::object());
    case ValueKind::kList: {
      if (!value.is_array()) return nullptr;
      OJson out = OJson::array();
      for (const OJson& item : value) out.push_back(EncodeValue(*type.elem, item));
      return out;
    }
    case ValueKind::kMap: {
      if (!value.is_object()) return nullptr;
      // Go writes map keys sorted.
      std::vector<std::string> keys;
      for (auto it = value.begin(); it != value.end(); ++it) keys.push_back(it.key());
      std::sort(keys.begin(), keys.end());
      OJson out = OJson::object();
      for (const std::string& k : keys) out[k] = EncodeValue(*type.elem, value.at(k));
      return out;
    }
    default:
      return value;
  }
}

OJson ZeroOf(const TypeDef& type) {
  switch (type.kind) {
    case ValueKind::kStruct:
      return Encode(type, OJson::object());
    case ValueKind::kString:
    case ValueKind::kBytes:
      return "";
    case ValueKind::kBoolean:
      return false;
    case ValueKind::kInteger:
    case ValueKind::kNumber:
    case ValueKind::kIntOrString:
      return 0;
    case ValueKind::kQuantity:
      return "0";
    default:
      return nullptr;  // lists, maps, Time, RawExtension
  }
}

std::string PackageOf(const std::string& id) {
  // io.k8s.api.discovery.v1.Endpoint -> v1; io.k8s.apimachinery.pkg.util.intstr.IntOrString -> intstr
  size_t last = id.rfind('.');
  if (last == std::string::npos) return "";
  size_t prev = id.rfind('.', last - 1);
  return id.substr(prev + 1, last - prev - 1);
}

}  // namespace

std::string GoTypeName(const TypeDef& type) {
  switch (type.kind) {
    case ValueKind::kList:
      return absl::StrCat("[]", GoTypeName(*type.elem));
    case ValueKind::kMap:
      return absl::StrCat("map[string]", GoTypeName(*type.elem));
    default:
      break;
  }
  if (type.id.empty()) return type.go_name;
  return absl::StrCat(PackageOf(type.id), ".", type.go_name);
}

absl::StatusOr<Decoded> Decode(const TypeDef& type, const OJson& doc) {
  DecodeState st;
  Decoded out;
  if (!doc.is_object()) {
    TypeError(doc, type, "", "", &st);
    return absl::InvalidArgumentError(*st.error);
  }
  DecodeStruct(type, doc, &out.object, "", "", &st);
  if (st.error) return absl::InvalidArgumentError(*st.error);
  out.unknown_fields = std::move(st.unknown);
  return out;
}

void ApplyDefaults(const TypeDef& type, OJson& object) { ApplyDefaultsIn(type, object); }

void NormalizeStored(const TypeDef& type, OJson& object) {
  if (!NormalizeValue(type, object, /*pointer=*/true)) object = OJson::object();
}

OJson Encode(const TypeDef& type, const OJson& object) {
  if (type.kind != ValueKind::kStruct) return EncodeValue(type, object);
  OJson out = OJson::object();
  for (const FieldDef& f : type.fields) {
    auto it = object.is_object() ? object.find(f.name) : object.end();
    bool present = it != object.end() && !it->is_null();
    if (present) {
      if (!f.pointer && !f.always && !IsValueStruct(f)) {
        // omitempty: Go skips zero scalars and empty lists and maps.
        bool empty = f.type->IsScalar() ? IsZeroScalar(*it) : ((it->is_array() || it->is_object()) && it->empty());
        if (empty) continue;
      }
      out[f.name] = EncodeValue(*f.type, *it);
    } else if (IsValueStruct(f)) {
      out[f.name] = Encode(*f.type, OJson::object());
    } else if (f.always) {
      out[f.name] = ZeroOf(*f.type);
    }
  }
  return out;
}

void SetResourceVersion(nlohmann::ordered_json& object, const std::string& rv) {
  nlohmann::ordered_json& meta = object["metadata"];
  if (!meta.is_object()) meta = nlohmann::ordered_json::object();
  if (meta.contains("resourceVersion")) {
    meta["resourceVersion"] = rv;
    return;
  }
  // ObjectMeta's fields that precede resourceVersion in Go's declaration order.
  static constexpr std::string_view kBefore[] = {"name", "generateName", "namespace", "selfLink", "uid"};
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  bool placed = false;
  for (auto it = meta.begin(); it != meta.end(); ++it) {
    bool before = std::find(std::begin(kBefore), std::end(kBefore), it.key()) != std::end(kBefore);
    if (!before && !placed) {
      out["resourceVersion"] = rv;
      placed = true;
    }
    out[it.key()] = std::move(it.value());
  }
  if (!placed) out["resourceVersion"] = rv;
  meta = std::move(out);
}

}  // namespace k8slb::fakeapi::api
