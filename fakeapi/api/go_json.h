// A JSON reader that fails and warns the way the Kubernetes API server's (Go encoding/json via
// sigs.k8s.io/json) does, so that a malformed body gets the real server's message:
//   "unexpected end of JSON input", "invalid character '}' after object key", ...
// It keeps object keys in document order and records duplicate keys (the server accepts them
// with a `duplicate field "..."` warning; the last value wins).
//
// Pure functions; thread-safe.
#ifndef K8SLB_FAKEAPI_API_GO_JSON_H_
#define K8SLB_FAKEAPI_API_GO_JSON_H_

#include <nlohmann/json.hpp>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb::fakeapi::api {

struct GoJsonDocument {
  nlohmann::ordered_json value;
  // Paths of keys that appeared twice in one object ("addressType", "metadata.name",
  // "endpoints[0].zone"), in document order.
  std::vector<std::string> duplicate_fields;
};

// The error message is Go's (without a "json: " prefix where Go has none).
absl::StatusOr<GoJsonDocument> ParseGoJson(absl::string_view text);

}  // namespace k8slb::fakeapi::api

#endif  // K8SLB_FAKEAPI_API_GO_JSON_H_
