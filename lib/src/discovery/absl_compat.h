// Debian's Abseil is built with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), so
// std::string_view does not convert implicitly; this adapts at the few call sites that need it.
#ifndef K8SLB_DISCOVERY_ABSL_COMPAT_H_
#define K8SLB_DISCOVERY_ABSL_COMPAT_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace k8slb::discovery {

inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace k8slb::discovery

#endif  // K8SLB_DISCOVERY_ABSL_COMPAT_H_
