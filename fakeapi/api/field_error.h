// Field errors as the Kubernetes API reports them: the value type of apimachinery's
// pkg/util/validation/field (Error, ErrorList), with the same wording, so that a 422 body built
// from them carries the real server's `message` and `details.causes`
// (https://github.com/kubernetes/apimachinery/blob/v0.32.0/pkg/util/validation/field/errors.go).
//
// Plain value types and pure functions; thread-safe.
#ifndef K8SLB_FAKEAPI_API_FIELD_ERROR_H_
#define K8SLB_FAKEAPI_API_FIELD_ERROR_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <variant>
#include <vector>

namespace k8slb::fakeapi::api {

enum class FieldErrorType {
  kNotFound,      // "Not found"         FieldValueNotFound
  kRequired,      // "Required value"    FieldValueRequired
  kDuplicate,     // "Duplicate value"   FieldValueDuplicate
  kInvalid,       // "Invalid value"     FieldValueInvalid
  kNotSupported,  // "Unsupported value" FieldValueNotSupported
  kForbidden,     // "Forbidden"         FieldValueForbidden
  kTooLong,       // "Too long"          FieldValueTooLong
  kTooMany,       // "Too many"          FieldValueTooMany
  kInternal,      // "Internal error"    InternalError
};

// The bad value as Go's ErrorBody prints it: a quoted string (%q), a plain number (%v), a
// pre-rendered Go literal (e.g. `map[string]string{"app":"echo"}`), or nothing.
struct GoValue {
  enum class Kind { kNone, kString, kInt, kLiteral };
  Kind kind = Kind::kNone;
  std::string text;
  int64_t number = 0;

  static GoValue None() { return {}; }
  static GoValue String(std::string s) { return GoValue{Kind::kString, std::move(s), 0}; }
  static GoValue Int(int64_t n) { return GoValue{Kind::kInt, {}, n}; }
  static GoValue Literal(std::string go_syntax) { return GoValue{Kind::kLiteral, std::move(go_syntax), 0}; }
};

struct FieldError {
  FieldErrorType type = FieldErrorType::kInvalid;
  std::string field;  // "endpoints[0].addresses[0]"
  GoValue value;
  std::string detail;

  // "Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)"
  // (field.Error.ErrorBody: the cause message).
  std::string Body() const;
  // "endpoints[0].addresses[0]: " + Body() (field.Error.Error()).
  std::string Message() const;
  // "FieldValueInvalid" (metav1.CauseType).
  absl::string_view Reason() const;
};

using FieldErrorList = std::vector<FieldError>;

FieldError Invalid(std::string field, GoValue value, std::string detail);
FieldError Required(std::string field, std::string detail);
FieldError Duplicate(std::string field, GoValue value);
FieldError NotSupported(std::string field, GoValue value, const std::vector<std::string>& supported);
FieldError Forbidden(std::string field, std::string detail);
FieldError TooMany(std::string field, int64_t actual, int64_t max);
FieldError TooLong(std::string field, int64_t max_bytes);

// The aggregate text of a list (utilerrors.Aggregate over ErrorList.ToAggregate()): one message
// alone, several as "[a, b]", identical messages once.
std::string AggregateMessage(const FieldErrorList& errors);

// Go's %q for a string (strconv.Quote): ASCII printable kept, `"` and `\` escaped, the rest as
// \n, \t, \xNN or \uNNNN.
std::string GoQuote(absl::string_view s);

// Field path helpers: Child("endpoints[0]", "addresses") = "endpoints[0].addresses".
std::string Child(absl::string_view parent, absl::string_view name);
std::string Index(absl::string_view parent, size_t i);
// map key: parent[key] (field.Path.Key).
std::string Key(absl::string_view parent, absl::string_view key);

}  // namespace k8slb::fakeapi::api

#endif  // K8SLB_FAKEAPI_API_FIELD_ERROR_H_
