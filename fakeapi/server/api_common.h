// Kubernetes API plumbing shared by the fake server's handlers: Status bodies with the real
// server's wording (https://kubernetes.io/docs/reference/using-api/api-concepts/), query-parameter parsing (bool rules,
// empty resourceVersion = unset), and label / field selectors. Pure functions and value types;
// thread-safe.
#ifndef K8SLB_FAKEAPI_SERVER_API_COMMON_H_
#define K8SLB_FAKEAPI_SERVER_API_COMMON_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "fakeapi/api/field_error.h"
#include <nlohmann/json.hpp>

#include "fakeapi/server/http_server.h"

namespace k8slb::fakeapi {

// A group + resource, as in Go's schema.GroupResource: "endpointslices.discovery.k8s.io", "pods".
struct GroupResource {
  std::string group;
  std::string resource;
  std::string Qualified() const { return group.empty() ? resource : resource + "." + group; }
};

struct StatusCauseSpec {
  std::string reason;   // details.causes[].reason (omitted when empty)
  std::string message;  // omitted when empty
  std::string field;    // omitted when empty
};

struct StatusDetails {
  std::string name, group, kind, uid;  // each omitted when empty
  std::vector<StatusCauseSpec> causes;
  std::optional<int> retry_after_s;    // details.retryAfterSeconds
};

// A meta/v1 Status. Omitted when empty, as Go's encoding omits them: message, reason, code (0);
// `details` absent when nullopt, `{}` when present and empty.
struct StatusError {
  int code = 500;
  std::string status = "Failure";
  std::string reason;
  std::string message;
  std::optional<StatusDetails> details;
  bool nosniff = false;                    // X-Content-Type-Options: nosniff (403s)
  std::optional<int> retry_after_header;   // Retry-After
};

nlohmann::ordered_json StatusObject(const StatusError& error);
// The JSON text of the Status (compact, no newline).
std::string StatusJson(const StatusError& error);
// A complete response: the Status body (with the trailing newline the server writes),
// Content-Type application/json, and the Retry-After / nosniff headers when set.
HttpResponse StatusResponse(const StatusError& error);

StatusError BadRequest(std::string message);
StatusError Unauthorized();
StatusError NotFound(const GroupResource& gr, const std::string& name);
// "the server could not find the requested resource" (unknown resource, removed version).
StatusError NotFoundResource();
StatusError AlreadyExists(const GroupResource& gr, const std::string& name);
// `Operation cannot be fulfilled on <gr> "<name>": <why>`.
StatusError Conflict(const GroupResource& gr, const std::string& name, const std::string& why);
StatusError ObjectModified(const GroupResource& gr, const std::string& name);
// 422 Invalid from field errors (errors.NewInvalid): `<Kind>.<group> "<name>" is invalid: <errors>`,
// details {name, group, kind: Kind, causes: one per error}.
StatusError InvalidObject(const std::string& group, const std::string& kind, const std::string& name,
                          const api::FieldErrorList& errors);
StatusError Expired(std::string message);
StatusError TooManyRequests(int retry_after_s);
// 500 InternalError "Internal error occurred: <cause>".
StatusError InternalError(const std::string& cause);
// A 500 with only a message, as the server answers storage and decoding failures.
StatusError PlainInternalError(const std::string& message);
StatusError Timeout(const std::string& message, int retry_after_s);
StatusError MethodNotAllowed();

// Request attributes for authorization (apiserver requestinfo.go).
struct RequestAttributes {
  std::string user;
  std::string verb;  // get, list, watch, create, update, patch, delete, deletecollection
  std::string api_group;
  std::string resource;
  std::string subresource;
  std::string namespace_name;  // "" = cluster scope
  std::string name;
  std::string path;  // non-resource requests: the URL path ("/api"); empty for resource requests
};
// 403 with the exact RBAC wording (responsewriters/errors.go forbiddenMessage + NewForbidden).
StatusError Forbidden(const RequestAttributes& attrs);

// text/plain "404 page not found" (Go http.NotFound), for unknown paths.
HttpResponse PageNotFound();

// Bool query parameter: false only when absent, "0" or case-insensitive "false" (§2.2).
bool ParseBoolParam(const std::optional<std::string>& value);

// resourceVersion parameter: nullopt when absent or empty (§2.2, checklist 17); error when not a
// non-negative decimal.
absl::StatusOr<std::optional<int64_t>> ParseResourceVersionParam(const std::optional<std::string>& value);

// Label selector (equality and set-based, apimachinery labels.Parse grammar).
class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGreaterThan, kLessThan };
  struct Requirement {
    std::string key;
    Op op = Op::kEquals;
    std::vector<std::string> values;
  };
  static absl::StatusOr<LabelSelector> Parse(std::string_view text);
  bool Matches(const std::map<std::string, std::string>& labels) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

// Field selector restricted to `known_fields` (metadata.name, metadata.namespace, ...). Unknown
// fields give the real server's message through `unknown_field_message`.
class FieldSelector {
 public:
  struct Term {
    std::string field;
    bool equals = true;  // false: !=
    std::string value;
  };
  static absl::StatusOr<FieldSelector> Parse(std::string_view text, const std::vector<std::string>& known_fields,
                                            const std::function<std::string(const std::string&)>& unknown_field_message);
  bool Matches(const std::function<std::string(const std::string&)>& field_value) const;
  // The name a `metadata.name=X` term pins, if any (RBAC uses it as the request name).
  std::optional<std::string> PinnedName() const;
  bool empty() const { return terms_.empty(); }

 private:
  std::vector<Term> terms_;
};

// The default field-selector error of apimachinery (DefaultMetaV1FieldSelectorConversion).
std::string DefaultFieldSelectorMessage(const std::string& field);

// RFC 3339 UTC timestamp for `unix_seconds` ("2025-01-01T00:00:00Z").
std::string Rfc3339(int64_t unix_seconds);
// kubectl's human duration for an AGE column ("5s", "3m", "2d4h").
std::string HumanDuration(int64_t seconds);

}  // namespace k8slb::fakeapi

#endif  // K8SLB_FAKEAPI_SERVER_API_COMMON_H_
