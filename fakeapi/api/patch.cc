#include "fakeapi/api/patch.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "input/bounded_json.h"

namespace k8slb::fakeapi::api {
namespace {

using OJson = nlohmann::ordered_json;

constexpr char kPatchDirective[] = "$patch";
constexpr char kRetainKeys[] = "$retainKeys";
constexpr char kDeleteFromPrimitiveList[] = "$deleteFromPrimitiveList/";
constexpr char kSetElementOrder[] = "$setElementOrder/";

const FieldDef* FieldOf(const TypeDef* t, const std::string& key) {
  if (t == nullptr || t->kind != ValueKind::kStruct) return nullptr;
  return t->Field(key);
}

const TypeDef* ChildType(const TypeDef* t, const std::string& key) {
  if (t == nullptr) return nullptr;
  if (t->kind == ValueKind::kStruct) {
    const FieldDef* f = t->Field(key);
    return f == nullptr ? nullptr : f->type;
  }
  if (t->kind == ValueKind::kMap) return t->elem;
  return nullptr;
}

// A patch value written where nothing is merged: directives are dropped from maps (the server
// does the same when a patched key has no original value).
OJson StripDirectives(const OJson& v) {
  if (v.is_object()) {
    OJson out = OJson::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.key() == kPatchDirective || it.key() == kRetainKeys || absl::StartsWith(it.key(), kSetElementOrder) ||
          absl::StartsWith(it.key(), kDeleteFromPrimitiveList)) {
        continue;
      }
      if (it.value().is_null()) continue;
      out[it.key()] = StripDirectives(it.value());
    }
    return out;
  }
  return v;
}

absl::StatusOr<OJson> MergeMap(const TypeDef* type, const OJson& original, const OJson& patch);

absl::StatusOr<OJson> MergeList(const FieldDef* field, const OJson& original, const OJson& patch) {
  bool merge = field != nullptr && absl::StrContains(field->patch_strategy, "merge");
  if (!merge || !original.is_array()) return patch;
  const TypeDef* elem = field->type->elem;
  if (elem->kind != ValueKind::kStruct || field->patch_merge_key.empty()) {
    // A list of scalars with the merge strategy: union, original order first.
    OJson out = original;
    for (const OJson& v : patch) {
      bool found = false;
      for (const OJson& o : out) found |= o == v;
      if (!found) out.push_back(v);
    }
    return out;
  }
  const std::string& key = field->patch_merge_key;
  OJson out = original;
  for (const OJson& item : patch) {
    if (!item.is_object()) return absl::InvalidArgumentError("unable to find api field in struct for the merge key");
    std::string directive = item.contains(kPatchDirective) && item[kPatchDirective].is_string()
                                ? item[kPatchDirective].get<std::string>()
                                : "";
    if (directive == "replace") {
      OJson replaced = OJson::array();
      for (const OJson& p : patch) {
        if (p.is_object() && p.contains(kPatchDirective)) continue;
        replaced.push_back(StripDirectives(p));
      }
      return replaced;
    }
    if (!item.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat("map: ", item.dump(), " does not contain declared merge key: ", key));
    }
    size_t found = out.size();
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i].is_object() && out[i].contains(key) && out[i][key] == item[key]) {
        found = i;
        break;
      }
    }
    if (directive == "delete") {
      if (found < out.size()) out.erase(found);
      continue;
    }
    if (found < out.size()) {
      auto merged = MergeMap(elem, out[found], item);
      if (!merged.ok()) return merged.status();
      out[found] = std::move(*merged);
    } else {
      out.push_back(StripDirectives(item));
    }
  }
  return out;
}

absl::StatusOr<OJson> MergeMap(const TypeDef* type, const OJson& original, const OJson& patch) {
  if (!patch.is_object()) return patch;
  if (patch.contains(kPatchDirective)) {
    std::string d = patch[kPatchDirective].is_string() ? patch[kPatchDirective].get<std::string>() : "";
    if (d == "replace") return StripDirectives(patch);
    if (d == "delete") return OJson(nullptr);
    if (d != "merge") return absl::InvalidArgumentError(absl::StrCat("unknown patch type: ", d, " in map: ", patch.dump()));
  }
  OJson out = original.is_object() ? original : OJson::object();
  if (patch.contains(kRetainKeys)) {
    const OJson& keep = patch[kRetainKeys];
    if (!keep.is_array()) return absl::InvalidArgumentError("$retainKeys must be a list");
    std::set<std::string> keys;
    for (const OJson& k : keep) {
      if (k.is_string()) keys.insert(k.get<std::string>());
    }
    OJson kept = OJson::object();
    for (auto it = out.begin(); it != out.end(); ++it) {
      if (keys.count(it.key())) kept[it.key()] = it.value();
    }
    out = std::move(kept);
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    if (k == kPatchDirective || k == kRetainKeys) continue;
    if (absl::StartsWith(k, kSetElementOrder)) {
      std::string list = k.substr(std::string(kSetElementOrder).size());
      const FieldDef* f = FieldOf(type, list);
      if (f == nullptr || !absl::StrContains(f->patch_strategy, "merge")) {
        // kube-apiserver 1.32 panics on this directive for a list it cannot merge and closes the
        // connection without an answer (recorded: PATCH strategic merge $setElementOrder on an
        // EndpointSlice's endpoints).
        return absl::AbortedError("$setElementOrder on a list without a merge strategy");
      }
      continue;  // ordering only: the merge below keeps original order, new items appended
    }
    if (absl::StartsWith(k, kDeleteFromPrimitiveList)) {
      std::string list = k.substr(std::string(kDeleteFromPrimitiveList).size());
      if (!it.value().is_array()) return absl::InvalidArgumentError("$deleteFromPrimitiveList must be a list");
      if (out.contains(list) && out[list].is_array()) {
        OJson kept = OJson::array();
        for (const OJson& v : out[list]) {
          bool drop = false;
          for (const OJson& d : it.value()) drop |= d == v;
          if (!drop) kept.push_back(v);
        }
        out[list] = std::move(kept);
      }
      continue;
    }
    const OJson& pv = it.value();
    if (pv.is_null()) {
      out.erase(k);
      continue;
    }
    const TypeDef* ct = ChildType(type, k);
    if (pv.is_object() && (ct == nullptr || ct->kind == ValueKind::kStruct || ct->kind == ValueKind::kMap) &&
        !(ct != nullptr && ct->atomic)) {
      auto merged = MergeMap(ct, out.contains(k) ? out[k] : OJson::object(), pv);
      if (!merged.ok()) return merged.status();
      if (merged->is_null()) {
        out.erase(k);
      } else {
        out[k] = std::move(*merged);
      }
      continue;
    }
    if (pv.is_array()) {
      auto merged = MergeList(FieldOf(type, k), out.contains(k) ? out[k] : OJson(nullptr), pv);
      if (!merged.ok()) return merged.status();
      out[k] = std::move(*merged);
      continue;
    }
    out[k] = pv;
  }
  return out;
}

}  // namespace

OJson MergePatch(const OJson& original, const OJson& patch) {
  OJson out = original;
  out.merge_patch(patch);
  return out;
}

absl::StatusOr<OJson> StrategicMergePatch(const TypeDef& type, const OJson& original, const OJson& patch) {
  if (!patch.is_object()) return absl::InvalidArgumentError("patch must be a JSON object");
  return MergeMap(&type, original, patch);
}

absl::StatusOr<OJson> JsonPatch(const OJson& original, const OJson& patch) {
  if (!patch.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("json: cannot unmarshal ",
                                                   patch.is_object() ? "object" : patch.is_string() ? "string" : "number",
                                                   " into Go value of type []handlers.jsonPatchOp"));
  }
  // One operation at a time, as evanphx/json-patch v4 (the server's library) applies them. Its
  // "replace" of a missing member of an object sets it (RFC 6902 would fail): kubectl's
  // `patch --type=json -p '[{"op":"replace","path":"/endpoints/0/conditions/ready",...}]'`
  // succeeds against a real server on a slice whose conditions are {}.
  // https://github.com/evanphx/json-patch/blob/v4.12.0/patch.go (partialDoc.get)
  OJson doc = original;
  try {
    for (const OJson& op : patch) {
      OJson one = op;
      if (one.is_object() && one.value("op", "") == "replace" && one.contains("path") && one["path"].is_string()) {
        OJson::json_pointer target(one["path"].get<std::string>());
        if (!target.empty() && !doc.contains(target) && doc.contains(target.parent_pointer()) &&
            doc[target.parent_pointer()].is_object()) {
          one["op"] = "add";
        }
      }
      doc = doc.patch(OJson::array({one}));
    }
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(e.what());
  }
  // Each "add" may insert a value as deep as the parse allows: bound the result as well.
  if (input::JsonDepth(nlohmann::json(doc)) > input::kDefaultMaxJsonDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("the patched object is nested deeper than ", input::kDefaultMaxJsonDepth, " levels"));
  }
  return doc;
}

}  // namespace k8slb::fakeapi::api
