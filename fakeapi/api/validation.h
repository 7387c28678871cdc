// Object validation as kube-apiserver 1.32 does it, message for message, so that fakeapi answers a
// bad write with the same 422 body as a real server (the recorded answers in
// tests/fidelity/realapi/ are the reference). Sources:
//   apimachinery pkg/util/validation (names, labels, qualified names)
//   apimachinery pkg/api/validation/objectmeta.go (ValidateObjectMeta)
//   kubernetes pkg/apis/discovery/validation/validation.go (ValidateEndpointSlice)
//   kubernetes pkg/apis/core/validation/validation.go (ValidateNonSpecialIP)
//
// Validators read decoded, defaulted objects as JSON (what the server would hold after decoding
// into the Go type) and never throw. Pure functions; thread-safe.
#ifndef K8SLB_FAKEAPI_API_VALIDATION_H_
#define K8SLB_FAKEAPI_API_VALIDATION_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "fakeapi/api/field_error.h"

namespace k8slb::fakeapi::api {

// ---- apimachinery string validators: each returns the messages (empty = valid) ----
std::vector<std::string> IsDNS1123Label(absl::string_view value);
std::vector<std::string> IsDNS1123Subdomain(absl::string_view value);
std::vector<std::string> IsQualifiedName(absl::string_view value);
std::vector<std::string> IsValidLabelValue(absl::string_view value);

// An IP as Go's netutils.ParseIPSloppy reads it (IPv4 octets may carry leading zeros; no zones),
// always in 16-byte form (IPv4 as ::ffff:a.b.c.d).
struct ParsedIp {
  std::array<uint8_t, 16> bytes{};
  bool is_v4 = false;  // IPv4 text, or an IPv4-mapped IPv6 address (Go's To4() != nil)
};
std::optional<ParsedIp> ParseIpSloppy(absl::string_view text);

// The address ranges a real API server refuses in EndpointSlices and Endpoints
// (ValidateNonSpecialIP). kNone: an ordinary address.
enum class SpecialIp { kNone, kUnspecified, kLoopback, kLinkLocal, kLinkLocalMulticast };
std::vector<SpecialIp> SpecialRanges(const ParsedIp& ip);

// metadata.labels / annotations / name / generateName / finalizers / ownerReferences of any
// namespaced object (ValidateObjectMeta with NameIsDNSSubdomain).
FieldErrorList ValidateObjectMeta(const nlohmann::json& object, bool requires_namespace);
FieldErrorList ValidateLabels(const nlohmann::json& labels, const std::string& path);

struct EndpointSliceRules {
  // Accept loopback addresses (k8slb-fakeapi --allow-loopback-endpoints). Each accepted one is
  // reported in `waived` so that the server can say so in a Warning header.
  bool allow_loopback = false;
};

struct ValidationResult {
  FieldErrorList errors;
  // Errors a real server would report that the rules waived (e.g. loopback addresses).
  FieldErrorList waived;
  bool ok() const { return errors.empty(); }
};

// A decoded discovery.k8s.io/v1 EndpointSlice (defaults applied: ports[].name "" and
// ports[].protocol "TCP" when unset).
ValidationResult ValidateEndpointSlice(const nlohmann::json& slice, const EndpointSliceRules& rules);
// An update: the above, then addressType immutable.
ValidationResult ValidateEndpointSliceUpdate(const nlohmann::json& updated, const nlohmann::json& old,
                                             const EndpointSliceRules& rules);

// Limits of discovery.k8s.io/v1 (validation.go).
inline constexpr int kMaxEndpointsPerSlice = 1000;
inline constexpr int kMaxAddressesPerEndpoint = 100;
inline constexpr int kMaxPortsPerSlice = 20000;
inline constexpr int kMaxZoneHints = 8;
inline constexpr int kMaxTopologyLabels = 16;

}  // namespace k8slb::fakeapi::api

#endif  // K8SLB_FAKEAPI_API_VALIDATION_H_
