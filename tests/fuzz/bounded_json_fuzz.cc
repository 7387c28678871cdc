// libFuzzer target: the bounded JSON parser (lib/src/input) against nlohmann's own parser.
// Oracle: within the limits both agree exactly (same document, or both refuse the syntax); when
// ours refuses for a limit, nlohmann's document really exceeds it. Any input may also be large
// (the CI step runs with -max_len of several MB): memory stays bounded by the limits.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "input/bounded_json.h"

namespace {

constexpr k8slb::input::JsonLimits kLimits{.max_depth = 64, .max_values = 100'000};

// Depth and value count of a document as nlohmann's parser sees it, without building it.
struct Measure {
  int depth = 0, max_depth = 0;
  size_t values = 0;
  bool Value() { return ++values, true; }
  bool Open() { return ++values, max_depth = std::max(max_depth, ++depth), true; }
  bool Close() { return --depth, true; }
  bool null() { return Value(); }
  bool boolean(bool) { return Value(); }
  bool number_integer(nlohmann::json::number_integer_t) { return Value(); }
  bool number_unsigned(nlohmann::json::number_unsigned_t) { return Value(); }
  bool number_float(nlohmann::json::number_float_t, const std::string&) { return Value(); }
  bool string(std::string&) { return Value(); }
  bool binary(nlohmann::json::binary_t&) { return Value(); }
  bool start_object(std::size_t) { return Open(); }
  bool start_array(std::size_t) { return Open(); }
  bool key(std::string&) { return true; }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  auto ours = k8slb::input::ParseJson(text, kLimits);
  if (ours.ok() && k8slb::input::JsonDepth(*ours) > kLimits.max_depth) std::abort();
  Measure m;
  const bool valid = nlohmann::json::sax_parse(text.begin(), text.end(), &m);
  const bool within = m.max_depth <= kLimits.max_depth && m.values <= kLimits.max_values;
  if (!valid) {
    if (ours.ok()) std::abort();  // accepted what nlohmann refuses
    return 0;                     // refused: for the syntax, or for a limit reached first
  }
  if (within) {
    // Within the limits the result is exactly nlohmann's (the DOM is small here).
    if (!ours.ok() || *ours != nlohmann::json::parse(text)) std::abort();
  } else if (ours.ok()) {
    std::abort();  // beyond a limit but accepted
  }
  return 0;
}
