#include "fakeapi/api/validation.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace k8slb::fakeapi::api {
namespace {

using Json = nlohmann::json;

// Wording of apimachinery pkg/util/validation/validation.go.
constexpr absl::string_view kDns1123LabelErrMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character";
constexpr absl::string_view kDns1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
constexpr absl::string_view kDns1123SubdomainErrMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character";
constexpr absl::string_view kDns1123SubdomainFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
constexpr absl::string_view kQualifiedNameErrMsg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
constexpr absl::string_view kQualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
constexpr absl::string_view kLabelValueErrMsg =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character";
constexpr size_t kDns1123LabelMaxLength = 63;
constexpr size_t kDns1123SubdomainMaxLength = 253;
constexpr size_t kQualifiedNameMaxLength = 63;
constexpr size_t kLabelValueMaxLength = 63;
constexpr size_t kTotalAnnotationSizeLimit = 256 * 1024;

std::string RegexError(absl::string_view msg, absl::string_view fmt, std::initializer_list<absl::string_view> examples) {
  std::string out(msg);
  if (examples.size() == 0) return absl::StrCat(out, " (regex used for validation is '", fmt, "')");
  out += " (e.g. ";
  bool first = true;
  for (absl::string_view e : examples) {
    if (!first) out += " or ";
    first = false;
    absl::StrAppend(&out, "'", e, "', ");
  }
  absl::StrAppend(&out, "regex used for validation is '", fmt, "')");
  return out;
}

std::string MaxLenError(size_t n) { return absl::StrCat("must be no more than ", n, " characters"); }

bool LowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool Alnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool MatchesDns1123Label(absl::string_view s) {
  if (s.empty() || !LowerAlnum(s.front()) || !LowerAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return LowerAlnum(c) || c == '-'; });
}

bool MatchesDns1123Subdomain(absl::string_view s) {
  if (s.empty()) return false;
  for (absl::string_view label : absl::StrSplit(s, '.')) {
    if (!MatchesDns1123Label(label)) return false;
  }
  return true;
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool MatchesQualifiedNamePart(absl::string_view s) {
  if (s.empty() || !Alnum(s.front()) || !Alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return Alnum(c) || c == '-' || c == '_' || c == '.'; });
}

std::vector<std::string> Prefixed(std::vector<std::string> msgs, absl::string_view prefix) {
  for (std::string& m : msgs) m = absl::StrCat(prefix, m);
  return msgs;
}

const Json* Member(const Json& object, absl::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string StringOr(const Json* v, std::string def = "") {
  return v != nullptr && v->is_string() ? v->get<std::string>() : def;
}

const char* SpecialMessage(SpecialIp s) {
  switch (s) {
    case SpecialIp::kLoopback:
      return "may not be in the loopback range (127.0.0.0/8, ::1/128)";
    case SpecialIp::kLinkLocal:
      return "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
    case SpecialIp::kLinkLocalMulticast:
      return "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)";
    case SpecialIp::kUnspecified:
    case SpecialIp::kNone:
      break;
  }
  return "";
}

// ValidateNonSpecialIP: "must be a valid IP address", then one error per special range.
void ValidateNonSpecialIp(const std::string& address, const std::string& path, const EndpointSliceRules& rules,
                          ValidationResult* out) {
  std::optional<ParsedIp> ip = ParseIpSloppy(address);
  if (!ip) {
    out->errors.push_back(Invalid(path, GoValue::String(address), "must be a valid IP address"));
    return;
  }
  for (SpecialIp s : SpecialRanges(*ip)) {
    FieldError e = s == SpecialIp::kUnspecified
                       ? Invalid(path, GoValue::String(address), absl::StrCat("may not be unspecified (", address, ")"))
                       : Invalid(path, GoValue::String(address), SpecialMessage(s));
    if (s == SpecialIp::kLoopback && rules.allow_loopback) {
      out->waived.push_back(std::move(e));
    } else {
      out->errors.push_back(std::move(e));
    }
  }
}

// IsFullyQualifiedDomainName (apimachinery validation.go).
void ValidateFqdn(const std::string& address, const std::string& path, FieldErrorList* out) {
  if (address.empty()) {
    out->push_back(Required(path, ""));
    return;
  }
  std::string name = address;
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (std::vector<std::string> errs = IsDNS1123Subdomain(name); !errs.empty()) {
    out->push_back(Invalid(path, GoValue::String(name), absl::StrJoin(errs, ",")));
    return;
  }
  std::vector<absl::string_view> labels = absl::StrSplit(name, '.');
  if (labels.size() < 2) {
    out->push_back(Invalid(path, GoValue::String(name), "should be a domain with at least two segments separated by dots"));
    return;
  }
  for (absl::string_view label : labels) {
    if (std::vector<std::string> errs = IsDNS1123Label(label); !errs.empty()) {
      out->push_back(Invalid(path, GoValue::String(std::string(label)), absl::StrJoin(errs, ",")));
      return;
    }
  }
}

void AddEach(FieldErrorList* out, const std::vector<std::string>& msgs, const std::string& path,
             const std::string& value) {
  for (const std::string& m : msgs) out->push_back(Invalid(path, GoValue::String(value), m));
}

void ValidateHints(const Json& hints, const std::string& path, FieldErrorList* out) {
  const Json* zones = Member(hints, "forZones");
  if (zones == nullptr || !zones->is_array()) return;
  const std::string zpath = Child(path, "forZones");
  if (zones->size() > static_cast<size_t>(kMaxZoneHints)) {
    out->push_back(TooMany(zpath, static_cast<int64_t>(zones->size()), kMaxZoneHints));
    return;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < zones->size(); ++i) {
    const std::string zone_path = Child(Index(zpath, i), "name");
    std::string name = StringOr(Member((*zones)[i], "name"));
    if (!seen.insert(name).second) out->push_back(Duplicate(zone_path, GoValue::String(name)));
    AddEach(out, IsValidLabelValue(name), zone_path, name);
  }
}

void ValidateEndpoints(const Json* endpoints, const std::string& address_type, const EndpointSliceRules& rules,
                       ValidationResult* out) {
  if (endpoints == nullptr || !endpoints->is_array()) return;
  if (endpoints->size() > static_cast<size_t>(kMaxEndpointsPerSlice)) {
    out->errors.push_back(TooMany("endpoints", static_cast<int64_t>(endpoints->size()), kMaxEndpointsPerSlice));
    return;
  }
  for (size_t i = 0; i < endpoints->size(); ++i) {
    const Json& e = (*endpoints)[i];
    const std::string idx = Index("endpoints", i);
    const std::string addr_path = Child(idx, "addresses");
    const Json* addresses = Member(e, "addresses");
    size_t n = addresses != nullptr && addresses->is_array() ? addresses->size() : 0;
    if (n == 0) {
      out->errors.push_back(Required(addr_path, "must contain at least 1 address"));
    } else if (n > static_cast<size_t>(kMaxAddressesPerEndpoint)) {
      out->errors.push_back(TooMany(addr_path, static_cast<int64_t>(n), kMaxAddressesPerEndpoint));
    }
    for (size_t a = 0; a < n; ++a) {
      std::string address = StringOr(&(*addresses)[a]);
      const std::string path = Index(addr_path, a);
      // Unknown address types fall through unvalidated (validation.go).
      if (address_type == "IPv4") {
        std::optional<ParsedIp> ip = ParseIpSloppy(address);
        if (!ip || !ip->is_v4) out->errors.push_back(Invalid(path, GoValue::String(address), "must be a valid IPv4 address"));
        ValidateNonSpecialIp(address, path, rules, out);
      } else if (address_type == "IPv6") {
        std::optional<ParsedIp> ip = ParseIpSloppy(address);
        if (!ip || ip->is_v4) out->errors.push_back(Invalid(path, GoValue::String(address), "must be a valid IPv6 address"));
        ValidateNonSpecialIp(address, path, rules, out);
      } else if (address_type == "FQDN") {
        ValidateFqdn(address, path, &out->errors);
      }
    }
    if (const Json* node = Member(e, "nodeName"); node != nullptr) {
      std::string name = StringOr(node);
      AddEach(&out->errors, IsDNS1123Subdomain(name), Child(idx, "nodeName"), name);
    }
    if (const Json* topology = Member(e, "deprecatedTopology"); topology != nullptr && topology->is_object()) {
      const std::string tpath = Child(idx, "deprecatedTopology");
      if (topology->size() > static_cast<size_t>(kMaxTopologyLabels)) {
        out->errors.push_back(TooMany(tpath, static_cast<int64_t>(topology->size()), kMaxTopologyLabels));
      }
      FieldErrorList label_errors = ValidateLabels(*topology, tpath);
      out->errors.insert(out->errors.end(), label_errors.begin(), label_errors.end());
    }
    // zone is not validated by this version (the recorded server stores "Zone A").
    if (const Json* hostname = Member(e, "hostname"); hostname != nullptr) {
      std::string name = StringOr(hostname);
      AddEach(&out->errors, IsDNS1123Label(name), Child(idx, "hostname"), name);
    }
    if (const Json* hints = Member(e, "hints"); hints != nullptr) ValidateHints(*hints, Child(idx, "hints"), &out->errors);
  }
}

void ValidatePorts(const Json* ports, FieldErrorList* out) {
  if (ports == nullptr || !ports->is_array()) return;
  if (ports->size() > static_cast<size_t>(kMaxPortsPerSlice)) {
    out->push_back(TooMany("ports", static_cast<int64_t>(ports->size()), kMaxPortsPerSlice));
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < ports->size(); ++i) {
    const Json& p = (*ports)[i];
    const std::string idx = Index("ports", i);
    std::string name = StringOr(Member(p, "name"));
    if (!name.empty()) AddEach(out, IsDNS1123Label(name), Child(idx, "name"), name);
    if (!names.insert(name).second) out->push_back(Duplicate(Child(idx, "name"), GoValue::String(name)));
    const Json* protocol = Member(p, "protocol");
    if (protocol == nullptr) {
      out->push_back(Required(Child(idx, "protocol"), ""));
    } else {
      std::string proto = StringOr(protocol);
      if (proto != "SCTP" && proto != "TCP" && proto != "UDP") {
        out->push_back(NotSupported(Child(idx, "protocol"), GoValue::String(proto), {"SCTP", "TCP", "UDP"}));
      }
    }
    if (const Json* app = Member(p, "appProtocol"); app != nullptr) {
      std::string value = StringOr(app);
      AddEach(out, IsQualifiedName(value), Child(idx, "appProtocol"), value);
    }
    // The port number is not range-checked by this version: 0, -1 and 70000 are stored.
  }
}

}  // namespace

std::vector<std::string> IsDNS1123Label(absl::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kDns1123LabelMaxLength) errs.push_back(MaxLenError(kDns1123LabelMaxLength));
  if (!MatchesDns1123Label(value)) {
    if (MatchesDns1123Subdomain(value)) {
      // A valid subdomain but not a label: the length was checked, so it must be the dots.
      errs.push_back("must not contain dots");
    } else {
      errs.push_back(RegexError(kDns1123LabelErrMsg, kDns1123LabelFmt, {"my-name", "123-abc"}));
    }
  }
  return errs;
}

std::vector<std::string> IsDNS1123Subdomain(absl::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kDns1123SubdomainMaxLength) errs.push_back(MaxLenError(kDns1123SubdomainMaxLength));
  if (!MatchesDns1123Subdomain(value)) {
    errs.push_back(RegexError(kDns1123SubdomainErrMsg, kDns1123SubdomainFmt, {"example.com"}));
  }
  return errs;
}

std::vector<std::string> IsQualifiedName(absl::string_view value) {
  std::vector<std::string> errs;
  std::vector<absl::string_view> parts = absl::StrSplit(value, '/');
  absl::string_view name;
  if (parts.size() == 1) {
    name = parts[0];
  } else if (parts.size() == 2) {
    absl::string_view prefix = parts[0];
    name = parts[1];
    if (prefix.empty()) {
      errs.push_back("prefix part must be non-empty");
    } else if (std::vector<std::string> msgs = IsDNS1123Subdomain(prefix); !msgs.empty()) {
      for (std::string& m : Prefixed(std::move(msgs), "prefix part ")) errs.push_back(std::move(m));
    }
  } else {
    errs.push_back(absl::StrCat("a qualified name ",
                                RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"}),
                                " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
    return errs;
  }
  if (name.empty()) {
    errs.push_back("name part must be non-empty");
  } else if (name.size() > kQualifiedNameMaxLength) {
    errs.push_back(absl::StrCat("name part ", MaxLenError(kQualifiedNameMaxLength)));
  }
  if (!MatchesQualifiedNamePart(name)) {
    errs.push_back(absl::StrCat("name part ",
                                RegexError(kQualifiedNameErrMsg, kQualifiedNameFmt, {"MyName", "my.name", "123-abc"})));
  }
  return errs;
}

std::vector<std::string> IsValidLabelValue(absl::string_view value) {
  std::vector<std::string> errs;
  if (value.size() > kLabelValueMaxLength) errs.push_back(MaxLenError(kLabelValueMaxLength));
  if (!value.empty() && !MatchesQualifiedNamePart(value)) {
    errs.push_back(RegexError(kLabelValueErrMsg, absl::StrCat("(", kQualifiedNameFmt, ")?"),
                              {"MyValue", "my_value", "12345"}));
  }
  return errs;
}

std::optional<ParsedIp> ParseIpSloppy(absl::string_view text) {
  // Go's net.ParseIP decides by the first '.' or ':'.
  size_t sep = text.find_first_of(".:");
  if (sep == absl::string_view::npos) return std::nullopt;
  ParsedIp ip;
  if (text[sep] == '.') {
    // Dotted decimal; leading zeros are decimal (Go 1.16 rules kept by ParseIPSloppy).
    absl::string_view rest = text;
    uint8_t v4[4];
    for (int i = 0; i < 4; ++i) {
      if (rest.empty()) return std::nullopt;
      if (i > 0) {
        if (rest[0] != '.') return std::nullopt;
        rest.remove_prefix(1);
      }
      size_t digits = 0;
      uint32_t n = 0;
      while (digits < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[digits]))) {
        n = n * 10 + static_cast<uint32_t>(rest[digits] - '0');
        ++digits;
        if (n > 0xFFFFFF) return std::nullopt;
      }
      if (digits == 0 || n > 0xFF) return std::nullopt;
      v4[i] = static_cast<uint8_t>(n);
      rest.remove_prefix(digits);
    }
    if (!rest.empty()) return std::nullopt;
    ip.bytes[10] = 0xff;
    ip.bytes[11] = 0xff;
    std::copy(v4, v4 + 4, ip.bytes.begin() + 12);
    ip.is_v4 = true;
    return ip;
  }
  if (text.size() > 64) return std::nullopt;
  std::string s(text);
  in6_addr a;
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
  std::copy(a.s6_addr, a.s6_addr + 16, ip.bytes.begin());
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  ip.is_v4 = std::equal(kMapped, kMapped + 12, ip.bytes.begin());
  return ip;
}

std::vector<SpecialIp> SpecialRanges(const ParsedIp& ip) {
  std::vector<SpecialIp> out;
  const auto& b = ip.bytes;
  if (ip.is_v4) {
    if (b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] == 0) out.push_back(SpecialIp::kUnspecified);
    if (b[12] == 127) out.push_back(SpecialIp::kLoopback);
    if (b[12] == 169 && b[13] == 254) out.push_back(SpecialIp::kLinkLocal);
    if (b[12] == 224 && b[13] == 0 && b[14] == 0) out.push_back(SpecialIp::kLinkLocalMulticast);
    return out;
  }
  bool zero15 = std::all_of(b.begin(), b.begin() + 15, [](uint8_t x) { return x == 0; });
  if (zero15 && b[15] == 0) out.push_back(SpecialIp::kUnspecified);
  if (zero15 && b[15] == 1) out.push_back(SpecialIp::kLoopback);
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) out.push_back(SpecialIp::kLinkLocal);
  if (b[0] == 0xff && (b[1] & 0x0f) == 0x02) out.push_back(SpecialIp::kLinkLocalMulticast);
  return out;
}

FieldErrorList ValidateLabels(const Json& labels, const std::string& path) {
  FieldErrorList out;
  if (!labels.is_object()) return out;
  // Go ranges over a map; report keys in sorted order so the output is deterministic.
  std::map<std::string, std::string> sorted;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    sorted[it.key()] = it.value().is_string() ? it.value().get<std::string>() : "";
  }
  for (const auto& [k, v] : sorted) {
    AddEach(&out, IsQualifiedName(k), path, k);
    AddEach(&out, IsValidLabelValue(v), path, v);
  }
  return out;
}

FieldErrorList ValidateObjectMeta(const Json& object, bool requires_namespace) {
  FieldErrorList out;
  const Json* meta = Member(object, "metadata");
  static const Json kEmpty = Json::object();
  if (meta == nullptr) meta = &kEmpty;
  std::string generate_name = StringOr(Member(*meta, "generateName"));
  if (!generate_name.empty()) {
    // A prefix may end in '-' (maskTrailingDash).
    std::string masked = generate_name;
    if (masked.size() > 1 && masked.back() == '-') masked.back() = 'a';
    AddEach(&out, IsDNS1123Subdomain(masked), "metadata.generateName", generate_name);
  }
  std::string name = StringOr(Member(*meta, "name"));
  if (name.empty()) {
    out.push_back(Required("metadata.name", "name or generateName is required"));
  } else {
    AddEach(&out, IsDNS1123Subdomain(name), "metadata.name", name);
  }
  std::string ns = StringOr(Member(*meta, "namespace"));
  if (requires_namespace) {
    if (ns.empty()) {
      out.push_back(Required("metadata.namespace", ""));
    } else {
      AddEach(&out, IsDNS1123Label(ns), "metadata.namespace", ns);
    }
  } else if (!ns.empty()) {
    out.push_back(Forbidden("metadata.namespace", "not allowed on this type"));
  }
  if (const Json* gen = Member(*meta, "generation"); gen != nullptr && gen->is_number_integer() &&
                                                      gen->get<int64_t>() < 0) {
    out.push_back(Invalid("metadata.generation", GoValue::Int(gen->get<int64_t>()),
                          "must be greater than or equal to 0"));
  }
  if (const Json* labels = Member(*meta, "labels"); labels != nullptr) {
    FieldErrorList l = ValidateLabels(*labels, "metadata.labels");
    out.insert(out.end(), l.begin(), l.end());
  }
  if (const Json* annotations = Member(*meta, "annotations"); annotations != nullptr && annotations->is_object()) {
    size_t total = 0;
    std::map<std::string, size_t> keys;
    for (auto it = annotations->begin(); it != annotations->end(); ++it) {
      keys[it.key()] = it.value().is_string() ? it.value().get_ref<const std::string&>().size() : 0;
    }
    for (const auto& [k, size] : keys) {
      AddEach(&out, IsQualifiedName(absl::AsciiStrToLower(k)), "metadata.annotations", k);
      total += k.size() + size;
    }
    if (total > kTotalAnnotationSizeLimit) {
      out.push_back(TooLong("metadata.annotations", static_cast<int64_t>(kTotalAnnotationSizeLimit)));
    }
  }
  if (const Json* owners = Member(*meta, "ownerReferences"); owners != nullptr && owners->is_array()) {
    std::vector<std::string> controllers;
    for (const Json& o : *owners) {
      const std::string path = "metadata.ownerReferences";
      std::string api_version = StringOr(Member(o, "apiVersion"));
      std::string kind = StringOr(Member(o, "kind"));
      if (api_version.empty()) out.push_back(Invalid(Child(path, "apiVersion"), GoValue::String(api_version), "version must not be empty"));
      if (kind.empty()) out.push_back(Invalid(Child(path, "kind"), GoValue::String(kind), "kind must not be empty"));
      if (StringOr(Member(o, "name")).empty()) out.push_back(Invalid(Child(path, "name"), GoValue::String(""), "name must not be empty"));
      if (StringOr(Member(o, "uid")).empty()) out.push_back(Invalid(Child(path, "uid"), GoValue::String(""), "uid must not be empty"));
      if (const Json* c = Member(o, "controller"); c != nullptr && c->is_boolean() && c->get<bool>()) {
        controllers.push_back(absl::StrCat(kind, "/", StringOr(Member(o, "name"))));
      }
    }
    if (controllers.size() > 1) {
      out.push_back(Invalid("metadata.ownerReferences", GoValue::Literal("[]v1.OwnerReference{...}"),
                            absl::StrCat("Only one reference can have Controller set to true. Found \"true\" in "
                                         "references for ",
                                         absl::StrJoin(controllers, " and "))));
    }
  }
  if (const Json* finalizers = Member(*meta, "finalizers"); finalizers != nullptr && finalizers->is_array()) {
    bool orphan = false, foreground = false;
    for (const Json& f : *finalizers) {
      std::string name = StringOr(&f);
      AddEach(&out, IsQualifiedName(name), "metadata.finalizers", name);
      orphan |= name == "orphan";
      foreground |= name == "foregroundDeletion";
    }
    if (orphan && foreground) {
      out.push_back(Invalid("metadata.finalizers", GoValue::Literal("[]string{\"orphan\", \"foregroundDeletion\"}"),
                            "finalizer orphan and foregroundDeletion cannot be both set"));
    }
  }
  return out;
}

ValidationResult ValidateEndpointSlice(const Json& slice, const EndpointSliceRules& rules) {
  ValidationResult out;
  out.errors = ValidateObjectMeta(slice, /*requires_namespace=*/true);
  std::string address_type = StringOr(Member(slice, "addressType"));
  if (address_type.empty()) {
    out.errors.push_back(Required("addressType", ""));
  } else if (address_type != "FQDN" && address_type != "IPv4" && address_type != "IPv6") {
    out.errors.push_back(NotSupported("addressType", GoValue::String(address_type), {"FQDN", "IPv4", "IPv6"}));
  }
  ValidateEndpoints(Member(slice, "endpoints"), address_type, rules, &out);
  ValidatePorts(Member(slice, "ports"), &out.errors);
  return out;
}

ValidationResult ValidateEndpointSliceUpdate(const Json& updated, const Json& old, const EndpointSliceRules& rules) {
  ValidationResult out = ValidateEndpointSlice(updated, rules);
  std::string now = StringOr(Member(updated, "addressType"));
  if (now != StringOr(Member(old, "addressType"))) {
    out.errors.push_back(Invalid("addressType", GoValue::String(now), "field is immutable"));
  }
  return out;
}

}  // namespace k8slb::fakeapi::api
