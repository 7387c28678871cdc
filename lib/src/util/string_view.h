// The one bridge between std::string_view and absl::string_view. Debian's Abseil is built with
// ABSL_OPTION_USE_STD_STRING_VIEW 0, so absl::string_view is its own type and does not convert
// from std::string_view implicitly (absl/base/options.h explains the option). Where Abseil uses
// std::string_view these are identities. Internal (not installed), header-only, pure.
#ifndef K8SLB_UTIL_STRING_VIEW_H_
#define K8SLB_UTIL_STRING_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace k8slb::util {

inline absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view StdView(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace k8slb::util

#endif  // K8SLB_UTIL_STRING_VIEW_H_
