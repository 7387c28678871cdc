// Bounded JSON parsing for everything that arrives from the network (watch event lines, list
// pages, error bodies, request bodies of the fake API server).
//
// nlohmann's DOM parser accepts any nesting depth: a line of '[' characters builds one array per
// byte (about 75 bytes of heap per input byte) and everything that later walks the document
// recursively (dump, copy, merge_patch) overflows the stack. ParseJson runs nlohmann's own SAX
// DOM builders behind a gate that aborts the parse at the first container deeper than
// `max_depth` or the first value beyond `max_values`, so memory is bounded by the limits
// whatever the input, and the error says which limit was hit. Go's encoding/json refuses nesting beyond 10000
// (https://go.dev/src/encoding/json/scanner.go, maxNestingDepth); serde_json stops at 128
// (https://docs.rs/serde_json/latest/serde_json/struct.Deserializer.html#method.disable_recursion_limit).
//
// Error messages never quote the input (it may hold a bearer token a server echoed back): they
// give the position and what was wrong. Pure functions; thread-safe.
#ifndef K8SLB_INPUT_BOUNDED_JSON_H_
#define K8SLB_INPUT_BOUNDED_JSON_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace k8slb::input {

// Deep enough for every Kubernetes object (an EndpointSlice list item is 7 levels deep, managed
// fields of a Deployment about 15) with a wide margin, small enough that recursive walks of a
// parsed document stay far from any thread's stack limit, also in sanitizer builds.
inline constexpr int kDefaultMaxJsonDepth = 512;

// A 1000-endpoint EndpointSlice (the API's maximum) holds about 25,000 values; nlohmann spends
// 16 to 80 bytes on each, so this bounds one document's DOM to well under 100 MB however its
// bytes are arranged ("[[],[],...]" costs ~16 bytes of heap per input byte).
inline constexpr size_t kDefaultMaxJsonValues = 1'000'000;

struct JsonLimits {
  int max_depth = kDefaultMaxJsonDepth;          // arrays and objects nested inside each other; >= 1
  size_t max_values = kDefaultMaxJsonValues;     // scalars, arrays and objects; 0: no limit
};

// As nlohmann::json::parser_callback_t: called at each parse event with the nesting depth;
// returning false drops the value just finished (object_end/array_end/value) or the value that
// follows (key). Lets a caller convert and drop the items of a large list one at a time.
using JsonFilter =
    std::function<bool(int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed)>;

// Parses one JSON document (trailing bytes other than whitespace are an error). InvalidArgument
// names the problem: "nested deeper than 512 levels", "more than 1000000 values" or nlohmann's
// "syntax error at line L, column C: ..." without the text read. A value the filter drops still
// counts towards max_values (it was parsed); pass 0 and bound the kept part in the filter when
// the document is consumed piece by piece (a list whose items are converted one at a time).
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, const JsonLimits& limits = {});
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, const JsonFilter& filter,
                                         const JsonLimits& limits = {});

// The nesting depth of a document (a scalar is 0, [] is 1, [[]] is 2), computed without
// recursion. For documents built in memory, e.g. the result of applying a JSON patch.
int JsonDepth(const nlohmann::json& value);

}  // namespace k8slb::input

#endif  // K8SLB_INPUT_BOUNDED_JSON_H_
