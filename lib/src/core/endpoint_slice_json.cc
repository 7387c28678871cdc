// EndpointSlice <-> JSON, following the discovery.k8s.io/v1 types
// (https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/). The parser walks the document by hand instead of using nlohmann's
// from_json/get<T>() so that (a) no exception escapes, (b) every error names the field path, and
// (c) a slice is either parsed whole or rejected: an endpoint is never half-filled.
//
// Go's encoding/json decodes `null` into a nil pointer/slice/map, so `null` is accepted wherever a
// field is optional (`"endpoints": null` is what a placeholder slice looks like on the wire:
// kubernetes#135968, kubernetes-client/python#2423). Unknown fields are ignored, as in Go.
#include <arpa/inet.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "k8slb/endpoint_slice.h"
#include "k8slb/endpoint_slice_json.h"

namespace k8slb {
namespace {

using Json = nlohmann::json;

absl::Status FieldError(const std::string& path, std::string_view what) {
  return absl::InvalidArgumentError(path + ": " + std::string(what));
}

std::string Join(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string Index(const std::string& parent, size_t i) { return parent + "[" + std::to_string(i) + "]"; }

std::string MapKey(const std::string& parent, const std::string& key) {
  return parent + "[" + Json(key).dump() + "]";
}

// Returns the member `key` of `object` or nullptr when it is missing or JSON null (Go: nil).
const Json* Member(const Json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status ReadOptionalString(const Json& object, std::string_view key, const std::string& path,
                                std::optional<std::string>* out) {
  const Json* v = Member(object, key);
  if (v == nullptr) {
    out->reset();
    return absl::OkStatus();
  }
  if (!v->is_string()) return FieldError(Join(path, key), "expected string");
  *out = v->get<std::string>();
  return absl::OkStatus();
}

// A Go `string` field: null or missing is "".
absl::Status ReadString(const Json& object, std::string_view key, const std::string& path, std::string* out) {
  std::optional<std::string> s;
  if (absl::Status st = ReadOptionalString(object, key, path, &s); !st.ok()) return st;
  *out = s.value_or("");
  return absl::OkStatus();
}

absl::Status ReadOptionalBool(const Json& object, std::string_view key, const std::string& path,
                              std::optional<bool>* out) {
  const Json* v = Member(object, key);
  if (v == nullptr) {
    out->reset();
    return absl::OkStatus();
  }
  if (!v->is_boolean()) return FieldError(Join(path, key), "expected boolean");
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status ReadOptionalInt(const Json& object, std::string_view key, const std::string& path, int64_t min,
                             int64_t max, std::optional<int64_t>* out) {
  const Json* v = Member(object, key);
  if (v == nullptr) {
    out->reset();
    return absl::OkStatus();
  }
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return FieldError(Join(path, key), "integer out of range");
    *out = static_cast<int64_t>(u);
    return absl::OkStatus();
  }
  if (v->is_number_integer()) {
    int64_t i = v->get<int64_t>();
    if (i < min || i > max) return FieldError(Join(path, key), "integer out of range");
    *out = i;
    return absl::OkStatus();
  }
  return FieldError(Join(path, key), "expected integer");
}

// Returns the array member or nullptr for missing/null; error when it is not an array.
absl::StatusOr<const Json*> ReadOptionalArray(const Json& object, std::string_view key, const std::string& path) {
  const Json* v = Member(object, key);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) return FieldError(Join(path, key), "expected array");
  return v;
}

absl::StatusOr<const Json*> ReadOptionalObject(const Json& object, std::string_view key, const std::string& path) {
  const Json* v = Member(object, key);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) return FieldError(Join(path, key), "expected object");
  return v;
}

absl::Status ReadStringMap(const Json& object, std::string_view key, const std::string& path,
                           std::map<std::string, std::string>* out) {
  out->clear();
  absl::StatusOr<const Json*> map = ReadOptionalObject(object, key, path);
  if (!map.ok()) return map.status();
  if (*map == nullptr) return absl::OkStatus();
  for (auto it = (*map)->begin(); it != (*map)->end(); ++it) {
    if (!it.value().is_string()) return FieldError(MapKey(Join(path, key), it.key()), "expected string");
    (*out)[it.key()] = it.value().get<std::string>();
  }
  return absl::OkStatus();
}

absl::Status ReadNameList(const Json& object, std::string_view key, const std::string& path,
                          std::vector<std::string>* out) {
  out->clear();
  absl::StatusOr<const Json*> list = ReadOptionalArray(object, key, path);
  if (!list.ok()) return list.status();
  if (*list == nullptr) return absl::OkStatus();
  const std::string list_path = Join(path, key);
  for (size_t i = 0; i < (*list)->size(); ++i) {
    const Json& item = (**list)[i];
    const std::string item_path = Index(list_path, i);
    if (!item.is_object()) return FieldError(item_path, "expected object");
    std::optional<std::string> name;
    if (absl::Status st = ReadOptionalString(item, "name", item_path, &name); !st.ok()) return st;
    // ForZone.name and ForNode.name are required by the API (EndpointHints in
    // https://kubernetes.io/docs/reference/kubernetes-api/service-resources/endpoint-slice-v1/).
    if (!name.has_value() || name->empty()) return FieldError(Join(item_path, "name"), "required");
    out->push_back(std::move(*name));
  }
  return absl::OkStatus();
}

absl::StatusOr<AddressType> ParseAddressType(const Json& object) {
  const Json* v = Member(object, "addressType");
  if (v == nullptr) return FieldError("addressType", "required");
  if (!v->is_string()) return FieldError("addressType", "expected string");
  const std::string& s = v->get_ref<const std::string&>();
  if (s == "IPv4") return AddressType::kIPv4;
  if (s == "IPv6") return AddressType::kIPv6;
  if (s == "FQDN") return AddressType::kFqdn;
  return FieldError("addressType", "unknown value " + Json(s).dump() + " (want IPv4, IPv6 or FQDN)");
}

// Addresses are checked as kube-apiserver 1.32 validates them (kubernetes
// pkg/apis/discovery/validation ValidateEndpointSlice and pkg/apis/core/validation
// ValidateNonSpecialIP), so that a slice the server would refuse is refused here too, and one it
// stores is read: IPv4 in dotted decimal (octets may carry leading zeros, read as decimal, as Go's
// netutils.ParseIPSloppy does; the address is kept in canonical form so it can be dialed), IPv6
// without a zone and not IPv4-mapped, neither unspecified nor link-local (unicast or multicast).
// Loopback addresses, which a server refuses by default, are accepted: k8slb-fakeapi can be told
// to store them (--allow-loopback-endpoints) for pods that run on one host, and a real server
// never sends them.
std::optional<std::string> CanonicalIPv4(const std::string& text) {
  uint32_t octets[4];
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (pos >= text.size() || text[pos] != '.') return std::nullopt;
      ++pos;
    }
    size_t start = pos;
    uint32_t v = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 4) {
      v = v * 10 + static_cast<uint32_t>(text[pos] - '0');
      ++pos;
    }
    if (pos == start || pos - start > 3 || v > 255) return std::nullopt;
    octets[i] = v;
  }
  if (pos != text.size()) return std::nullopt;
  std::string out;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) out.push_back('.');
    out += std::to_string(octets[i]);
  }
  return out;
}

// Empty: acceptable. Otherwise what is wrong with the address.
std::string SpecialIPv4(const std::string& canonical) {
  in_addr a;
  if (inet_pton(AF_INET, canonical.c_str(), &a) != 1) return "not an IPv4 address";
  uint32_t ip = ntohl(a.s_addr);
  if (ip == 0) return "may not be unspecified (0.0.0.0)";
  if ((ip >> 16) == 0xA9FE) return "may not be in the link-local range (169.254.0.0/16)";
  if ((ip >> 8) == 0xE00000) return "may not be in the link-local multicast range (224.0.0.0/24)";
  return "";
}

std::string SpecialIPv6(const in6_addr& a) {
  const uint8_t* b = a.s6_addr;
  bool zero = true;
  for (int i = 0; i < 16; ++i) zero = zero && b[i] == 0;
  if (zero) return "may not be unspecified (::)";
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return "may not be in the link-local range (fe80::/10)";
  if (b[0] == 0xFF && (b[1] & 0x0F) == 0x02) return "may not be in the link-local multicast range (ff02::/16)";
  bool mapped = b[10] == 0xFF && b[11] == 0xFF;
  for (int i = 0; i < 10; ++i) mapped = mapped && b[i] == 0;
  if (mapped) return "must be an IPv6 address (not IPv4-mapped)";
  return "";
}

// Returns the address to keep, or an error text.
absl::StatusOr<std::string> CheckAddress(AddressType type, const std::string& address) {
  switch (type) {
    case AddressType::kIPv4: {
      std::optional<std::string> canonical = CanonicalIPv4(address);
      if (!canonical) return absl::InvalidArgumentError("must be a valid IPv4 address");
      std::string special = SpecialIPv4(*canonical);
      if (!special.empty()) return absl::InvalidArgumentError(special);
      return *canonical;
    }
    case AddressType::kIPv6: {
      in6_addr a;
      if (address.find('%') != std::string::npos || inet_pton(AF_INET6, address.c_str(), &a) != 1) {
        return absl::InvalidArgumentError("must be a valid IPv6 address");
      }
      std::string special = SpecialIPv6(a);
      if (!special.empty()) return absl::InvalidArgumentError(special);
      return address;
    }
    case AddressType::kFqdn: {
      bool ok = !address.empty() && address.size() <= 253;
      for (char c : address) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
      }
      if (!ok) return absl::InvalidArgumentError("must be a valid DNS subdomain (lower case)");
      return address;
    }
  }
  return absl::InvalidArgumentError("unknown address type");
}

absl::StatusOr<SliceEndpoint> ParseEndpoint(const Json& e, AddressType type, const std::string& path) {
  if (!e.is_object()) return FieldError(path, "expected object");
  SliceEndpoint out;

  absl::StatusOr<const Json*> addresses = ReadOptionalArray(e, "addresses", path);
  if (!addresses.ok()) return addresses.status();
  const std::string addr_path = Join(path, "addresses");
  if (*addresses == nullptr || (*addresses)->empty()) return FieldError(addr_path, "expected at least one address");
  for (size_t i = 0; i < (*addresses)->size(); ++i) {
    const Json& a = (**addresses)[i];
    if (!a.is_string()) return FieldError(Index(addr_path, i), "expected string");
    std::string s = a.get<std::string>();
    absl::StatusOr<std::string> kept = CheckAddress(type, s);
    if (!kept.ok()) {
      return FieldError(Index(addr_path, i), "invalid " + std::string(AddressTypeName(type)) + " address " +
                                                 Json(s).dump() + ": " + std::string(kept.status().message()));
    }
    out.addresses.push_back(std::move(*kept));
  }

  absl::StatusOr<const Json*> conditions = ReadOptionalObject(e, "conditions", path);
  if (!conditions.ok()) return conditions.status();
  if (*conditions != nullptr) {
    const std::string cpath = Join(path, "conditions");
    if (absl::Status st = ReadOptionalBool(**conditions, "ready", cpath, &out.conditions.ready); !st.ok()) return st;
    if (absl::Status st = ReadOptionalBool(**conditions, "serving", cpath, &out.conditions.serving); !st.ok())
      return st;
    if (absl::Status st = ReadOptionalBool(**conditions, "terminating", cpath, &out.conditions.terminating);
        !st.ok())
      return st;
  }

  if (absl::Status st = ReadOptionalString(e, "hostname", path, &out.hostname); !st.ok()) return st;
  if (absl::Status st = ReadOptionalString(e, "nodeName", path, &out.node_name); !st.ok()) return st;
  if (absl::Status st = ReadOptionalString(e, "zone", path, &out.zone); !st.ok()) return st;

  absl::StatusOr<const Json*> target = ReadOptionalObject(e, "targetRef", path);
  if (!target.ok()) return target.status();
  if (*target != nullptr) {
    const std::string tpath = Join(path, "targetRef");
    ObjectReference ref;
    if (absl::Status st = ReadString(**target, "kind", tpath, &ref.kind); !st.ok()) return st;
    if (absl::Status st = ReadString(**target, "namespace", tpath, &ref.namespace_name); !st.ok()) return st;
    if (absl::Status st = ReadString(**target, "name", tpath, &ref.name); !st.ok()) return st;
    if (absl::Status st = ReadString(**target, "uid", tpath, &ref.uid); !st.ok()) return st;
    out.target_ref = std::move(ref);
  }

  absl::StatusOr<const Json*> hints = ReadOptionalObject(e, "hints", path);
  if (!hints.ok()) return hints.status();
  if (*hints != nullptr) {
    const std::string hpath = Join(path, "hints");
    if (absl::Status st = ReadNameList(**hints, "forZones", hpath, &out.hint_zones); !st.ok()) return st;
    if (absl::Status st = ReadNameList(**hints, "forNodes", hpath, &out.hint_nodes); !st.ok()) return st;
  }
  return out;
}

absl::StatusOr<SlicePort> ParsePort(const Json& p, const std::string& path) {
  if (!p.is_object()) return FieldError(path, "expected object");
  SlicePort out;
  if (absl::Status st = ReadOptionalString(p, "name", path, &out.name); !st.ok()) return st;
  std::optional<int64_t> port;
  // Any int32: the server stores 0, negative and >65535 port numbers as given (it does not check
  // the range); a port outside 1..65535 is dropped later, by the port selection (slice_store.cc).
  if (absl::Status st = ReadOptionalInt(p, "port", path, std::numeric_limits<int32_t>::min(),
                                        std::numeric_limits<int32_t>::max(), &port);
      !st.ok())
    return st;
  if (port.has_value()) out.port = static_cast<int32_t>(*port);
  if (absl::Status st = ReadOptionalString(p, "protocol", path, &out.protocol); !st.ok()) return st;
  if (absl::Status st = ReadOptionalString(p, "appProtocol", path, &out.app_protocol); !st.ok()) return st;
  return out;
}

absl::StatusOr<ObjectMeta> ParseMeta(const Json& m, const std::string& path) {
  if (!m.is_object()) return FieldError(path, "expected object");
  ObjectMeta out;
  if (absl::Status st = ReadString(m, "name", path, &out.name); !st.ok()) return st;
  if (absl::Status st = ReadString(m, "namespace", path, &out.namespace_name); !st.ok()) return st;
  if (absl::Status st = ReadString(m, "generateName", path, &out.generate_name); !st.ok()) return st;
  if (absl::Status st = ReadString(m, "uid", path, &out.uid); !st.ok()) return st;
  if (absl::Status st = ReadString(m, "resourceVersion", path, &out.resource_version); !st.ok()) return st;
  if (absl::Status st = ReadString(m, "creationTimestamp", path, &out.creation_timestamp); !st.ok()) return st;
  std::optional<int64_t> generation;
  if (absl::Status st = ReadOptionalInt(m, "generation", path, std::numeric_limits<int64_t>::min(),
                                        std::numeric_limits<int64_t>::max(), &generation);
      !st.ok())
    return st;
  out.generation = generation.value_or(0);
  if (absl::Status st = ReadStringMap(m, "labels", path, &out.labels); !st.ok()) return st;
  if (absl::Status st = ReadStringMap(m, "annotations", path, &out.annotations); !st.ok()) return st;

  absl::StatusOr<const Json*> owners = ReadOptionalArray(m, "ownerReferences", path);
  if (!owners.ok()) return owners.status();
  if (*owners != nullptr) {
    const std::string opath = Join(path, "ownerReferences");
    for (size_t i = 0; i < (*owners)->size(); ++i) {
      const Json& o = (**owners)[i];
      const std::string ipath = Index(opath, i);
      if (!o.is_object()) return FieldError(ipath, "expected object");
      OwnerReference ref;
      if (absl::Status st = ReadString(o, "apiVersion", ipath, &ref.api_version); !st.ok()) return st;
      if (absl::Status st = ReadString(o, "kind", ipath, &ref.kind); !st.ok()) return st;
      if (absl::Status st = ReadString(o, "name", ipath, &ref.name); !st.ok()) return st;
      if (absl::Status st = ReadString(o, "uid", ipath, &ref.uid); !st.ok()) return st;
      std::optional<bool> b;
      if (absl::Status st = ReadOptionalBool(o, "controller", ipath, &b); !st.ok()) return st;
      ref.controller = b.value_or(false);
      if (absl::Status st = ReadOptionalBool(o, "blockOwnerDeletion", ipath, &b); !st.ok()) return st;
      ref.block_owner_deletion = b.value_or(false);
      out.owner_references.push_back(std::move(ref));
    }
  }
  return out;
}

}  // namespace

std::string_view AddressTypeName(AddressType type) {
  switch (type) {
    case AddressType::kIPv4:
      return "IPv4";
    case AddressType::kIPv6:
      return "IPv6";
    case AddressType::kFqdn:
      return "FQDN";
  }
  return "IPv4";
}

std::string EndpointSlice::ServiceName() const {
  auto it = metadata.labels.find(std::string(kServiceNameLabel));
  return it == metadata.labels.end() ? std::string() : it->second;
}

absl::StatusOr<ObjectMeta> ObjectMetaFromJson(const nlohmann::json& metadata) {
  return ParseMeta(metadata, "metadata");
}

absl::StatusOr<EndpointSlice> EndpointSliceFromJson(const nlohmann::json& object) {
  if (!object.is_object()) return absl::InvalidArgumentError("EndpointSlice: expected a JSON object");
  // kind/apiVersion are optional (list items omit them: https://kubernetes.io/docs/reference/using-api/api-concepts/#collections), but when present
  // they must say EndpointSlice, so that a Status or another kind is not taken for a slice.
  std::optional<std::string> kind;
  if (absl::Status st = ReadOptionalString(object, "kind", "", &kind); !st.ok()) return st;
  if (kind.has_value() && *kind != "EndpointSlice") {
    return FieldError("kind", "expected \"EndpointSlice\", got " + Json(*kind).dump());
  }
  std::optional<std::string> api_version;
  if (absl::Status st = ReadOptionalString(object, "apiVersion", "", &api_version); !st.ok()) return st;
  if (api_version.has_value() && *api_version != "discovery.k8s.io/v1") {
    return FieldError("apiVersion", "expected \"discovery.k8s.io/v1\", got " + Json(*api_version).dump());
  }

  EndpointSlice slice;
  const Json* meta = Member(object, "metadata");
  if (meta == nullptr) return FieldError("metadata", "required");
  absl::StatusOr<ObjectMeta> parsed_meta = ParseMeta(*meta, "metadata");
  if (!parsed_meta.ok()) return parsed_meta.status();
  slice.metadata = std::move(*parsed_meta);
  if (slice.metadata.name.empty()) return FieldError("metadata.name", "required");

  absl::StatusOr<AddressType> type = ParseAddressType(object);
  if (!type.ok()) return type.status();
  slice.address_type = *type;

  absl::StatusOr<const Json*> endpoints = ReadOptionalArray(object, "endpoints", "");
  if (!endpoints.ok()) return endpoints.status();
  if (*endpoints != nullptr) {
    slice.endpoints.reserve((*endpoints)->size());
    for (size_t i = 0; i < (*endpoints)->size(); ++i) {
      absl::StatusOr<SliceEndpoint> e = ParseEndpoint((**endpoints)[i], slice.address_type, Index("endpoints", i));
      if (!e.ok()) return e.status();
      slice.endpoints.push_back(std::move(*e));
    }
  }

  absl::StatusOr<const Json*> ports = ReadOptionalArray(object, "ports", "");
  if (!ports.ok()) return ports.status();
  if (*ports != nullptr) {
    for (size_t i = 0; i < (*ports)->size(); ++i) {
      absl::StatusOr<SlicePort> p = ParsePort((**ports)[i], Index("ports", i));
      if (!p.ok()) return p.status();
      slice.ports.push_back(std::move(*p));
    }
  }
  return slice;
}

absl::StatusOr<EndpointSlice> ParseEndpointSlice(std::string_view json_text) {
  Json doc = Json::parse(json_text.begin(), json_text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("EndpointSlice: invalid JSON");
  return EndpointSliceFromJson(doc);
}

}  // namespace k8slb
