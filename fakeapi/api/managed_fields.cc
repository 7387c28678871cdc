#include "fakeapi/api/managed_fields.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fakeapi/api/yaml_json.h"

namespace k8slb::fakeapi::api {
namespace {

using OJson = nlohmann::ordered_json;

// structured-merge-diff's value order: numbers < strings < booleans < lists < maps < null.
int TypeRank(const OJson& v) {
  if (v.is_number()) return 0;
  if (v.is_string()) return 1;
  if (v.is_boolean()) return 2;
  if (v.is_array()) return 3;
  if (v.is_object()) return 4;
  return 5;
}

int CompareValues(const OJson& a, const OJson& b) {
  int ra = TypeRank(a), rb = TypeRank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0: {
      double x = a.get<double>(), y = b.get<double>();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 1:
      return a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>()) < 0   ? -1
             : a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>()) > 0 ? 1
                                                                                           : 0;
    case 2:
      return a.get<bool>() == b.get<bool>() ? 0 : (a.get<bool>() ? 1 : -1);
    case 3: {
      for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
        if (int c = CompareValues(a[i], b[i]); c != 0) return c;
      }
      return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
    }
    case 4: {
      std::vector<std::string> ka, kb;
      for (auto it = a.begin(); it != a.end(); ++it) ka.push_back(it.key());
      for (auto it = b.begin(); it != b.end(); ++it) kb.push_back(it.key());
      std::sort(ka.begin(), ka.end());
      std::sort(kb.begin(), kb.end());
      for (size_t i = 0; i < ka.size() && i < kb.size(); ++i) {
        if (int c = ka[i].compare(kb[i]); c != 0) return c < 0 ? -1 : 1;
        if (int c = CompareValues(a.at(ka[i]), b.at(kb[i])); c != 0) return c;
      }
      return ka.size() == kb.size() ? 0 : (ka.size() < kb.size() ? -1 : 1);
    }
    default:
      return 0;
  }
}

std::string ValueString(const OJson& v) {
  if (v.is_string()) return GoJson(v);
  return GoJson(v);
}

const TypeDef& FieldType(const TypeDef& t, const std::string& key) {
  if (t.kind == ValueKind::kStruct) {
    if (const FieldDef* f = t.Field(key)) return *f->type;
  }
  if (t.kind == ValueKind::kMap && t.elem != nullptr) return *t.elem;
  // Unknown fields of a struct (not expected after decoding): treat as opaque leaves.
  static const TypeDef kAnyType = [] {
    TypeDef a;
    a.kind = ValueKind::kAny;
    a.go_name = "interface {}";
    return a;
  }();
  return kAnyType;
}

bool IsDeclaredField(const TypeDef& t, const std::string& key) {
  return t.kind == ValueKind::kStruct && t.Field(key) != nullptr;
}

// The path element of a list item, by the list's semantics.
PathElement ItemElement(const TypeDef& list, const OJson& item, size_t index) {
  PathElement pe;
  if (list.list_type == ListType::kMap) {
    pe.kind = PathElement::Kind::kKey;
    std::vector<std::string> keys = list.map_keys;
    std::sort(keys.begin(), keys.end());
    pe.value = OJson::object();
    for (const std::string& k : keys) {
      if (item.is_object() && item.contains(k) && !item[k].is_null()) {
        pe.value[k] = item[k];
      } else if (const FieldDef* f = list.elem->Field(k); f != nullptr && f->default_value) {
        pe.value[k] = *f->default_value;
      }
    }
    return pe;
  }
  if (list.list_type == ListType::kSet) {
    pe.kind = PathElement::Kind::kValue;
    pe.value = item;
    return pe;
  }
  pe.kind = PathElement::Kind::kIndex;
  pe.index = static_cast<int64_t>(index);
  return pe;
}

PathElement FieldElement(const std::string& name) {
  PathElement pe;
  pe.kind = PathElement::Kind::kField;
  pe.name = name;
  return pe;
}

bool Atomic(const TypeDef& t) {
  if (t.kind == ValueKind::kList) return t.list_type == ListType::kAtomic;
  if (t.kind == ValueKind::kStruct || t.kind == ValueKind::kMap) return t.atomic;
  return true;
}

// ---- compare ----

struct Comparer {
  Comparison* out;

  void Leaf(const FieldPath& path, const OJson* lhs, const OJson* rhs) {
    if (lhs == nullptr) {
      out->added.Insert(path);
    } else if (rhs == nullptr) {
      out->removed.Insert(path);
    } else if (*lhs != *rhs) {
      out->modified.Insert(path);
    }
  }

  // Returns true when the node was treated as a leaf.
  bool Walk(const TypeDef& t, FieldPath& path, const OJson* lhs, const OJson* rhs) {
    if (t.IsScalar()) {
      Leaf(path, lhs, rhs);
      return true;
    }
    auto empty = [](const OJson* v) { return v == nullptr || v->is_null() || ((v->is_array() || v->is_object()) && v->empty()); };
    if (Atomic(t) || (empty(lhs) && empty(rhs))) {
      Leaf(path, lhs, rhs);
      return true;
    }
    if (t.kind == ValueKind::kList) {
      std::vector<std::pair<PathElement, const OJson*>> litems, ritems;
      std::map<PathElement, const OJson*, PathElementLess> lmap, rmap;
      if (lhs != nullptr && lhs->is_array()) {
        for (size_t i = 0; i < lhs->size(); ++i) {
          PathElement pe = ItemElement(t, (*lhs)[i], i);
          if (lmap.emplace(pe, &(*lhs)[i]).second) litems.emplace_back(pe, &(*lhs)[i]);
        }
      }
      if (rhs != nullptr && rhs->is_array()) {
        for (size_t i = 0; i < rhs->size(); ++i) {
          PathElement pe = ItemElement(t, (*rhs)[i], i);
          if (rmap.emplace(pe, &(*rhs)[i]).second) ritems.emplace_back(pe, &(*rhs)[i]);
        }
      }
      for (const auto& [pe, l] : litems) {
        auto r = rmap.find(pe);
        Item(*t.elem, path, pe, l, r == rmap.end() ? nullptr : r->second);
      }
      for (const auto& [pe, r] : ritems) {
        if (lmap.count(pe) == 0) Item(*t.elem, path, pe, nullptr, r);
      }
    } else {
      std::vector<std::string> keys;
      std::set<std::string> seen;
      for (const OJson* side : {lhs, rhs}) {
        if (side == nullptr || !side->is_object()) continue;
        for (auto it = side->begin(); it != side->end(); ++it) {
          if (seen.insert(it.key()).second) keys.push_back(it.key());
        }
      }
      for (const std::string& k : keys) {
        const OJson* l = lhs != nullptr && lhs->is_object() && lhs->contains(k) ? &(*lhs)[k] : nullptr;
        const OJson* r = rhs != nullptr && rhs->is_object() && rhs->contains(k) ? &(*rhs)[k] : nullptr;
        Item(FieldType(t, k), path, FieldElement(k), l, r);
      }
    }
    return false;
  }

  void Item(const TypeDef& t, FieldPath& path, const PathElement& pe, const OJson* l, const OJson* r) {
    path.push_back(pe);
    bool leaf = Walk(t, path, l, r);
    if (!leaf) {
      if (l == nullptr) {
        out->added.Insert(path);
      } else if (r == nullptr) {
        out->removed.Insert(path);
      }
    }
    path.pop_back();
  }
};

// ---- to field set ----

void ToSet(const TypeDef& t, FieldPath& path, const OJson& v, FieldSet* out) {
  if (t.IsScalar()) {
    out->Insert(path);
    return;
  }
  if (t.kind == ValueKind::kList) {
    if (Atomic(t)) {
      out->Insert(path);
      return;
    }
    if (!v.is_array()) return;
    std::set<std::string> seen;
    for (size_t i = 0; i < v.size(); ++i) {
      PathElement pe = ItemElement(t, v[i], i);
      if (!seen.insert(pe.Serialize()).second) continue;
      path.push_back(pe);
      ToSet(*t.elem, path, v[i], out);
      out->Insert(path);
      path.pop_back();
    }
    return;
  }
  if (Atomic(t)) {
    out->Insert(path);
    return;
  }
  if (!v.is_object()) return;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const TypeDef& ct = FieldType(t, it.key());
    path.push_back(FieldElement(it.key()));
    ToSet(ct, path, it.value(), out);
    const OJson& cv = it.value();
    if (cv.is_null() || (cv.is_object() && cv.empty()) || !IsDeclaredField(t, it.key())) out->Insert(path);
    path.pop_back();
  }
}

// ---- merge ----

OJson MergeValue(const TypeDef& t, const OJson* live, const OJson& config) {
  if (live == nullptr || t.IsScalar() || Atomic(t) || config.is_null()) return config;
  if (t.kind == ValueKind::kList) {
    if (!live->is_array() || !config.is_array()) return config;
    std::vector<std::pair<PathElement, const OJson*>> l, r;
    std::map<PathElement, const OJson*, PathElementLess> lmap, rmap;
    for (size_t i = 0; i < live->size(); ++i) {
      PathElement pe = ItemElement(t, (*live)[i], i);
      if (lmap.emplace(pe, &(*live)[i]).second) l.emplace_back(pe, &(*live)[i]);
    }
    for (size_t i = 0; i < config.size(); ++i) {
      PathElement pe = ItemElement(t, config[i], i);
      if (rmap.emplace(pe, &config[i]).second) r.emplace_back(pe, &config[i]);
    }
    // Items only the live list has stay where they are; shared and new items follow the
    // configuration's order (structured-merge-diff's list merge).
    std::vector<PathElement> shared;
    for (const auto& [pe, v] : r) {
      if (lmap.count(pe)) shared.push_back(pe);
    }
    size_t next_shared = 0;
    PathElementLess less;
    auto same = [&](const PathElement& a, const PathElement& b) { return !less(a, b) && !less(b, a); };
    OJson out = OJson::array();
    size_t li = 0, ri = 0;
    while (li < l.size() || ri < r.size()) {
      if (li < l.size() && ri < r.size()) {
        if (same(l[li].first, r[ri].first)) {
          out.push_back(MergeValue(*t.elem, l[li].second, *r[ri].second));
          ++li;
          ++ri;
          ++next_shared;
          continue;
        }
        if (rmap.count(l[li].first) && next_shared < shared.size() && !same(shared[next_shared], l[li].first)) {
          ++li;
          continue;
        }
      }
      if (li < l.size() && rmap.count(l[li].first) == 0) {
        out.push_back(*l[li].second);
        ++li;
        continue;
      }
      if (ri < r.size()) {
        auto lv = lmap.find(r[ri].first);
        out.push_back(MergeValue(*t.elem, lv == lmap.end() ? nullptr : lv->second, *r[ri].second));
        if (next_shared < shared.size() && same(shared[next_shared], r[ri].first)) ++next_shared;
        ++ri;
        continue;
      }
      ++li;  // a shared live item whose turn passed: already merged at its configuration position
    }
    return out;
  }
  if (!live->is_object() || !config.is_object()) return config;
  OJson out = *live;
  for (auto it = config.begin(); it != config.end(); ++it) {
    const OJson* lv = live->contains(it.key()) ? &(*live)[it.key()] : nullptr;
    out[it.key()] = MergeValue(FieldType(t, it.key()), lv, it.value());
  }
  return out;
}

// ---- remove ----

void RemoveAt(const TypeDef& t, OJson& v, const FieldPath& path, size_t i) {
  if (i >= path.size()) return;
  const PathElement& pe = path[i];
  bool last = i + 1 == path.size();
  if (pe.kind == PathElement::Kind::kField) {
    if (!v.is_object() || !v.contains(pe.name)) return;
    if (last) {
      v.erase(pe.name);
    } else {
      RemoveAt(FieldType(t, pe.name), v[pe.name], path, i + 1);
    }
    return;
  }
  if (t.kind != ValueKind::kList || !v.is_array()) return;
  PathElementLess less;
  for (size_t k = 0; k < v.size(); ++k) {
    PathElement item = ItemElement(t, v[k], k);
    if (less(item, pe) || less(pe, item)) continue;
    if (last) {
      v.erase(k);
    } else {
      RemoveAt(*t.elem, v[k], path, i + 1);
    }
    return;
  }
}

std::string ManagerKey(const ManagerEntry& e) {
  return absl::StrCat(e.manager, "\x1f", e.operation, "\x1f", e.operation == "Apply" ? "" : e.api_version, "\x1f",
                      e.subresource);
}

ManagerEntry* FindManager(std::vector<ManagerEntry>& managers, const ManagerEntry& key) {
  std::string k = ManagerKey(key);
  for (ManagerEntry& m : managers) {
    if (ManagerKey(m) == k) return &m;
  }
  return nullptr;
}

// Removes `strip`'s members and everything below them.
FieldSet RecursiveDifference(const FieldSet& s, const FieldSet& strip) {
  FieldSet out;
  out.member = s.member && !strip.member;
  if (strip.member) return FieldSet();
  for (const auto& [pe, child] : s.children) {
    auto it = strip.children.find(pe);
    FieldSet c = it == strip.children.end() ? child : RecursiveDifference(child, it->second);
    if (!c.Empty()) out.children.emplace(pe, std::move(c));
  }
  return out;
}

void DropEmpty(std::vector<ManagerEntry>& managers) {
  managers.erase(std::remove_if(managers.begin(), managers.end(), [](const ManagerEntry& m) { return m.fields.Empty(); }),
                 managers.end());
}

// Managers with an Update operation beyond ten are merged into "ancient-changes"
// (fieldmanager capManagersManager).
void CapManagers(std::vector<ManagerEntry>& managers) {
  constexpr size_t kMaxUpdateManagers = 10;
  std::vector<size_t> updates;
  for (size_t i = 0; i < managers.size(); ++i) {
    if (managers[i].operation == "Update") updates.push_back(i);
  }
  if (updates.size() <= kMaxUpdateManagers) return;
  std::sort(updates.begin(), updates.end(), [&](size_t a, size_t b) { return managers[a].time < managers[b].time; });
  size_t excess = updates.size() - kMaxUpdateManagers + 1;
  ManagerEntry ancient{.manager = "ancient-changes", .operation = "Update"};
  std::vector<size_t> drop(updates.begin(), updates.begin() + static_cast<long>(excess));
  for (size_t i : drop) {
    ancient.fields = ancient.fields.Union(managers[i].fields);
    ancient.api_version = managers[i].api_version;
    ancient.time = managers[i].time;
  }
  std::sort(drop.rbegin(), drop.rend());
  for (size_t i : drop) managers.erase(managers.begin() + static_cast<long>(i));
  managers.push_back(std::move(ancient));
}

}  // namespace

// ---- PathElement ----

std::string PathElement::Serialize() const {
  switch (kind) {
    case Kind::kField:
      return absl::StrCat("f:", name);
    case Kind::kKey:
      return absl::StrCat("k:", GoJson(value));
    case Kind::kValue:
      return absl::StrCat("v:", GoJson(value));
    case Kind::kIndex:
      return absl::StrCat("i:", index);
  }
  return "";
}

std::string PathElement::PathString() const {
  switch (kind) {
    case Kind::kField:
      return absl::StrCat(".", name);
    case Kind::kKey: {
      std::vector<std::string> parts;
      for (auto it = value.begin(); it != value.end(); ++it) parts.push_back(absl::StrCat(it.key(), "=", ValueString(it.value())));
      return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
    }
    case Kind::kValue:
      return absl::StrCat("[=", ValueString(value), "]");
    case Kind::kIndex:
      return absl::StrCat("[", index, "]");
  }
  return "";
}

bool PathElementLess::operator()(const PathElement& a, const PathElement& b) const {
  if (a.kind != b.kind) return static_cast<int>(a.kind) < static_cast<int>(b.kind);
  switch (a.kind) {
    case PathElement::Kind::kField:
      return a.name < b.name;
    case PathElement::Kind::kKey: {
      // Key field lists: by name, then value, field by field (fieldpath FieldList.Compare).
      auto ia = a.value.begin(), ib = b.value.begin();
      for (; ia != a.value.end() && ib != b.value.end(); ++ia, ++ib) {
        if (ia.key() != ib.key()) return ia.key() < ib.key();
        if (int c = CompareValues(ia.value(), ib.value()); c != 0) return c < 0;
      }
      return ia == a.value.end() && ib != b.value.end();
    }
    case PathElement::Kind::kValue:
      return CompareValues(a.value, b.value) < 0;
    case PathElement::Kind::kIndex:
      return a.index < b.index;
  }
  return false;
}

std::string PathString(const FieldPath& path) {
  std::string out;
  for (const PathElement& pe : path) out += pe.PathString();
  return out;
}

// ---- FieldSet ----

bool FieldSet::Empty() const {
  if (member) return false;
  for (const auto& [pe, c] : children) {
    if (!c.Empty()) return false;
  }
  return true;
}

void FieldSet::Insert(const FieldPath& path) {
  if (path.empty()) return;  // the root is never a member
  FieldSet* node = this;
  for (const PathElement& pe : path) node = &node->children[pe];
  node->member = true;
}

bool FieldSet::Has(const FieldPath& path) const {
  const FieldSet* node = this;
  for (const PathElement& pe : path) {
    auto it = node->children.find(pe);
    if (it == node->children.end()) return false;
    node = &it->second;
  }
  return node->member;
}

FieldSet FieldSet::Union(const FieldSet& other) const {
  FieldSet out = *this;
  out.member = member || other.member;
  for (const auto& [pe, c] : other.children) {
    auto it = out.children.find(pe);
    if (it == out.children.end()) {
      out.children.emplace(pe, c);
    } else {
      it->second = it->second.Union(c);
    }
  }
  return out;
}

FieldSet FieldSet::Difference(const FieldSet& other) const {
  FieldSet out;
  out.member = member && !other.member;
  for (const auto& [pe, c] : children) {
    auto it = other.children.find(pe);
    FieldSet d = it == other.children.end() ? c : c.Difference(it->second);
    if (!d.Empty()) out.children.emplace(pe, std::move(d));
  }
  return out;
}

FieldSet FieldSet::Intersection(const FieldSet& other) const {
  FieldSet out;
  out.member = member && other.member;
  for (const auto& [pe, c] : children) {
    auto it = other.children.find(pe);
    if (it == other.children.end()) continue;
    FieldSet i = c.Intersection(it->second);
    if (!i.Empty()) out.children.emplace(pe, std::move(i));
  }
  return out;
}

std::vector<FieldPath> FieldSet::Members() const {
  std::vector<FieldPath> out;
  FieldPath path;
  std::function<void(const FieldSet&)> walk = [&](const FieldSet& s) {
    if (s.member && !path.empty()) out.push_back(path);
    for (const auto& [pe, c] : s.children) {
      path.push_back(pe);
      walk(c);
      path.pop_back();
    }
  };
  walk(*this);
  return out;
}

OJson FieldSet::ToJson() const {
  OJson out = OJson::object();
  if (member && !children.empty()) out["."] = OJson::object();
  for (const auto& [pe, c] : children) {
    if (c.Empty()) continue;
    out[pe.Serialize()] = c.ToJson();
  }
  return out;
}

absl::StatusOr<FieldSet> FieldSet::FromJson(const nlohmann::json& v) {
  FieldSet out;
  if (!v.is_object()) return absl::InvalidArgumentError("fieldsV1: expected an object");
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    if (k == ".") {
      out.member = true;
      continue;
    }
    PathElement pe;
    if (k.size() < 2 || k[1] != ':') return absl::InvalidArgumentError(absl::StrCat("fieldsV1: bad key ", k));
    std::string rest = k.substr(2);
    switch (k[0]) {
      case 'f':
        pe.kind = PathElement::Kind::kField;
        pe.name = rest;
        break;
      case 'k':
      case 'v': {
        pe.kind = k[0] == 'k' ? PathElement::Kind::kKey : PathElement::Kind::kValue;
        pe.value = OJson::parse(rest, nullptr, false);
        if (pe.value.is_discarded()) return absl::InvalidArgumentError(absl::StrCat("fieldsV1: bad key ", k));
        if (pe.kind == PathElement::Kind::kKey) {
          if (!pe.value.is_object()) return absl::InvalidArgumentError(absl::StrCat("fieldsV1: bad key ", k));
          std::vector<std::string> keys;
          for (auto kv = pe.value.begin(); kv != pe.value.end(); ++kv) keys.push_back(kv.key());
          std::sort(keys.begin(), keys.end());
          OJson sorted = OJson::object();
          for (const std::string& kk : keys) sorted[kk] = pe.value[kk];
          pe.value = std::move(sorted);
        }
        break;
      }
      case 'i':
        pe.kind = PathElement::Kind::kIndex;
        if (!absl::SimpleAtoi(rest, &pe.index)) return absl::InvalidArgumentError(absl::StrCat("fieldsV1: bad key ", k));
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("fieldsV1: bad key ", k));
    }
    auto child = FromJson(it.value());
    if (!child.ok()) return child.status();
    if (child->Empty() && !it.value().empty()) continue;
    if (it.value().empty()) child->member = true;
    out.children[pe] = std::move(*child);
  }
  return out;
}

// ---- operations ----

Comparison Compare(const TypeDef& type, const OJson* before, const OJson* after) {
  Comparison c;
  Comparer w{&c};
  FieldPath path;
  w.Walk(type, path, before, after);
  return c;
}

FieldSet ToFieldSet(const TypeDef& type, const OJson& value) {
  FieldSet out;
  FieldPath path;
  ToSet(type, path, value, &out);
  return out;
}

OJson Merge(const TypeDef& type, const OJson& live, const OJson& config) { return MergeValue(type, &live, config); }

void RemovePaths(const TypeDef& type, OJson& object, const std::vector<FieldPath>& paths) {
  for (const FieldPath& p : paths) RemoveAt(type, object, p, 0);
}

absl::StatusOr<std::vector<ManagerEntry>> DecodeManagedFields(const nlohmann::json& managed) {
  std::vector<ManagerEntry> out;
  if (managed.is_null()) return out;
  if (!managed.is_array()) return absl::InvalidArgumentError("managedFields: expected a list");
  for (const auto& e : managed) {
    if (!e.is_object()) return absl::InvalidArgumentError("managedFields: expected objects");
    ManagerEntry m;
    m.manager = e.value("manager", "");
    m.operation = e.value("operation", "");
    m.api_version = e.value("apiVersion", "");
    m.time = e.contains("time") && e["time"].is_string() ? e["time"].get<std::string>() : "";
    m.subresource = e.value("subresource", "");
    if (e.contains("fieldsType") && e["fieldsType"] != "FieldsV1") {
      return absl::InvalidArgumentError(absl::StrCat("managedFields: fieldsType ", e["fieldsType"].dump(), " is not FieldsV1"));
    }
    if (e.contains("fieldsV1") && !e["fieldsV1"].is_null()) {
      auto set = FieldSet::FromJson(e["fieldsV1"]);
      if (!set.ok()) return set.status();
      m.fields = std::move(*set);
    }
    out.push_back(std::move(m));
  }
  return out;
}

OJson EncodeManagedFields(std::vector<ManagerEntry> entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const ManagerEntry& a, const ManagerEntry& b) {
    if (a.operation != b.operation) return a.operation < b.operation;
    // Times compare by whole seconds, as the server does; RFC 3339 UTC strings sort by time.
    if (a.time.substr(0, 19) != b.time.substr(0, 19)) return a.time < b.time;
    if (a.manager != b.manager) return a.manager < b.manager;
    if (a.api_version != b.api_version) return a.api_version < b.api_version;
    return a.subresource < b.subresource;
  });
  OJson out = OJson::array();
  for (const ManagerEntry& m : entries) {
    OJson e = OJson::object();
    e["manager"] = m.manager;
    e["operation"] = m.operation;
    e["apiVersion"] = m.api_version;
    if (!m.time.empty()) e["time"] = m.time;
    e["fieldsType"] = "FieldsV1";
    e["fieldsV1"] = m.fields.ToJson();
    if (!m.subresource.empty()) e["subresource"] = m.subresource;
    out.push_back(std::move(e));
  }
  return out;
}

FieldSet StripSet(const std::vector<FieldPath>& reset) {
  FieldSet s;
  s.Insert({FieldElement("apiVersion")});
  s.Insert({FieldElement("kind")});
  for (const char* f : {"name", "namespace", "creationTimestamp", "selfLink", "uid", "generation", "managedFields",
                        "resourceVersion"}) {
    s.Insert({FieldElement("metadata"), FieldElement(f)});
  }
  for (const FieldPath& p : reset) s.Insert(p);
  return s;
}

std::vector<ManagerEntry> UpdateManagers(const TypeDef& type, std::vector<ManagerEntry> managers, const OJson& before,
                                         const OJson& after, const std::string& manager,
                                         const std::string& api_version, const std::string& now,
                                         const FieldSet& strip, const std::string& subresource) {
  Comparison c = Compare(type, &before, &after);
  c.added = RecursiveDifference(c.added, strip);
  c.modified = RecursiveDifference(c.modified, strip);
  c.removed = RecursiveDifference(c.removed, strip);
  // "metadata" itself (a struct node) is stripped too.
  for (FieldSet* s : {&c.added, &c.removed}) {
    auto it = s->children.find(FieldElement("metadata"));
    if (it != s->children.end()) it->second.member = false;
  }
  if (c.Same()) return managers;
  FieldSet changed = c.modified.Union(c.added);
  for (ManagerEntry& m : managers) {
    m.fields = m.fields.Difference(changed.Intersection(m.fields)).Difference(c.removed);
  }
  ManagerEntry self{.manager = manager, .operation = "Update", .api_version = api_version, .subresource = subresource};
  FieldSet taken = changed;
  std::string time = subresource == "scale" ? "" : now;
  if (ManagerEntry* prev = FindManager(managers, self)) {
    prev->fields = prev->fields.Union(taken);
    prev->time = time;
  } else if (!taken.Empty()) {
    self.fields = std::move(taken);
    self.time = time;
    managers.push_back(std::move(self));
  }
  DropEmpty(managers);
  CapManagers(managers);
  return managers;
}

ApplyResult ApplyConfig(const TypeDef& type, std::vector<ManagerEntry> managers, const OJson& live,
                        const OJson& config, const std::string& manager, const std::string& api_version,
                        const std::string& now, bool force, const FieldSet& strip) {
  ApplyResult out;
  OJson merged = Merge(type, live, config);
  ManagerEntry self_key{.manager = manager, .operation = "Apply", .api_version = api_version};
  FieldSet last;
  if (ManagerEntry* prev = FindManager(managers, self_key)) last = prev->fields;
  FieldSet set = RecursiveDifference(ToFieldSet(type, config), strip);
  {
    auto it = set.children.find(FieldElement("metadata"));
    if (it != set.children.end()) it->second.member = false;
  }
  // Fields the manager applied before and no longer applies go, unless someone else owns them.
  FieldSet dropped = last.Difference(set);
  if (!dropped.Empty()) {
    FieldSet others;
    for (const ManagerEntry& m : managers) {
      if (ManagerKey(m) != ManagerKey(self_key)) others = others.Union(m.fields);
    }
    std::vector<FieldPath> gone;
    for (const FieldPath& p : dropped.Members()) {
      if (!others.Has(p)) gone.push_back(p);
    }
    RemovePaths(type, merged, gone);
  }
  Comparison c = Compare(type, &live, &merged);
  c.added = RecursiveDifference(c.added, strip);
  c.modified = RecursiveDifference(c.modified, strip);
  c.removed = RecursiveDifference(c.removed, strip);
  FieldSet changed = c.modified.Union(c.added);
  for (const ManagerEntry& m : managers) {
    if (ManagerKey(m) == ManagerKey(self_key)) continue;
    FieldSet conflict = m.fields.Intersection(changed);
    for (const FieldPath& p : conflict.Members()) {
      out.conflicts.push_back(Conflict{
          m.operation == "Update" ? absl::StrCat("\"", m.manager, "\" using ", m.api_version)
                                  : absl::StrCat("\"", m.manager, "\""),
          p});
    }
  }
  if (!out.conflicts.empty() && !force) return out;
  out.conflicts.clear();
  for (ManagerEntry& m : managers) {
    if (ManagerKey(m) == ManagerKey(self_key)) continue;
    m.fields = m.fields.Difference(changed.Intersection(m.fields)).Difference(c.removed);
  }
  bool changed_object = merged != live;
  if (ManagerEntry* prev = FindManager(managers, self_key)) {
    prev->fields = set;
    prev->api_version = api_version;
    if (changed_object) prev->time = now;
  } else {
    self_key.fields = set;
    self_key.time = now;
    managers.push_back(std::move(self_key));
  }
  DropEmpty(managers);
  CapManagers(managers);
  out.object = std::move(merged);
  out.managers = std::move(managers);
  return out;
}

std::string ConflictMessage(const std::vector<Conflict>& conflicts) {
  if (conflicts.size() == 1) {
    return absl::StrCat("Apply failed with 1 conflict: conflict with ", conflicts[0].manager, ": ",
                        PathString(conflicts[0].path));
  }
  std::map<std::string, std::vector<std::string>> by_manager;
  for (const Conflict& c : conflicts) by_manager[c.manager].push_back(PathString(c.path));
  std::vector<std::string> lines;
  for (const auto& [m, paths] : by_manager) {
    lines.push_back(absl::StrCat("conflicts with ", m, ":"));
    for (const std::string& p : paths) lines.push_back(absl::StrCat("- ", p));
  }
  return absl::StrCat("Apply failed with ", conflicts.size(), " conflicts: ", absl::StrJoin(lines, "\n"));
}

}  // namespace k8slb::fakeapi::api
