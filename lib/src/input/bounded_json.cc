#include "input/bounded_json.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace k8slb::input {
namespace {

using nlohmann::json;

// Forwards every SAX event to one of nlohmann's DOM builders (the same ones json::parse uses) and
// aborts the parse, by returning false, at the first container deeper than the limit or the
// first value beyond the count. nlohmann's parser keeps one bit per open container and the
// builders one pointer, so stopping there bounds them too.
template <typename Dom>
class Gate {
 public:
  Gate(Dom& dom, const JsonLimits& limits)
      : dom_(dom), max_depth_(limits.max_depth < 1 ? 1 : limits.max_depth), max_values_(limits.max_values) {}

  bool null() { return Count() && dom_.null(); }
  bool boolean(bool v) { return Count() && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return Count() && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return Count() && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return Count() && dom_.number_float(v, s);
  }
  bool string(json::string_t& v) { return Count() && dom_.string(v); }
  bool binary(json::binary_t& v) { return Count() && dom_.binary(v); }
  bool key(json::string_t& v) { return dom_.key(v); }
  bool start_object(std::size_t n) { return Count() && Enter() && dom_.start_object(n); }
  bool start_array(std::size_t n) { return Count() && Enter() && dom_.start_array(n); }
  bool end_object() {
    --depth_;
    return dom_.end_object();
  }
  bool end_array() {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& ex) {
    error_ = CleanMessage(ex.what(), last_token);
    return dom_.parse_error(position, last_token, ex);
  }

  bool too_deep() const { return too_deep_; }
  bool too_many() const { return too_many_; }
  int max_depth() const { return max_depth_; }
  size_t max_values() const { return max_values_; }
  const std::string& error() const { return error_; }

 private:
  bool Count() {
    if (max_values_ != 0 && ++values_ > max_values_) {
      too_many_ = true;
      return false;
    }
    return true;
  }
  bool Enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }

  // "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error while
  // parsing value - invalid literal; last read: '...'; expected ..." without the id and without
  // the text read (the input is untrusted and may be large).
  static std::string CleanMessage(std::string what, const std::string& last_token) {
    if (what.rfind("[json.exception.", 0) == 0) {
      const size_t end = what.find("] ");
      if (end != std::string::npos) what.erase(0, end + 2);
    }
    const std::string marker = "; last read: '";
    const size_t at = what.find(marker);
    if (at != std::string::npos) {
      const size_t quoted_end = at + marker.size() + last_token.size() + 1;
      what.erase(at, std::min(quoted_end, what.size()) - at);
    }
    return what;
  }

  Dom& dom_;
  const int max_depth_;
  const size_t max_values_;
  int depth_ = 0;
  size_t values_ = 0;
  bool too_deep_ = false;
  bool too_many_ = false;
  std::string error_;
};

template <typename Dom>
absl::StatusOr<json> Run(std::string_view text, Dom& dom, json& root, const JsonLimits& limits) {
  Gate<Dom> gate(dom, limits);
  const bool ok = json::sax_parse(text.begin(), text.end(), &gate, nlohmann::json::input_format_t::json,
                                  /*strict=*/true);
  if (gate.too_deep()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JSON nested deeper than ", gate.max_depth(), " levels (arrays/objects); refusing to parse it"));
  }
  if (gate.too_many()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON holds more than ", gate.max_values(), " values; refusing to parse it"));
  }
  if (!ok || dom.is_errored()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", gate.error().empty() ? "parse error" : gate.error()));
  }
  if (root.is_discarded()) root = nullptr;  // as json::parse: a top level dropped by the filter
  return std::move(root);
}

}  // namespace

absl::StatusOr<json> ParseJson(std::string_view text, const JsonLimits& limits) {
  json root;
  nlohmann::detail::json_sax_dom_parser<json> dom(root, /*allow_exceptions=*/false);
  return Run(text, dom, root, limits);
}

absl::StatusOr<json> ParseJson(std::string_view text, const JsonFilter& filter,
                               const JsonLimits& limits) {
  json root;
  nlohmann::detail::json_sax_dom_callback_parser<json> dom(root, filter, /*allow_exceptions=*/false);
  return Run(text, dom, root, limits);
}

int JsonDepth(const json& value) {
  int deepest = 0;
  std::vector<std::pair<const json*, int>> todo{{&value, 0}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    ++depth;
    if (depth > deepest) deepest = depth;
    for (const json& child : *v) {
      if (child.is_structured()) todo.emplace_back(&child, depth);
    }
  }
  return deepest;
}

}  // namespace k8slb::input
