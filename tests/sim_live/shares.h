// Formatting per-pod traffic shares for the live tests' messages: "echo-0=33.3% echo-1=...".
#ifndef K8SLB_TESTS_SIM_LIVE_SHARES_H_
#define K8SLB_TESTS_SIM_LIVE_SHARES_H_

#include <cstdio>
#include <map>
#include <string>

namespace k8slb::sim {

// Pod name -> share in percent, in the map's (name) order.
inline std::string DescribeShares(const std::map<std::string, double>& shares) {
  std::string out;
  for (const auto& [pod, share] : shares) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "%s%s=%.1f%%", out.empty() ? "" : " ", pod.c_str(), share);
    out += buf;
  }
  return out;
}

}  // namespace k8slb::sim

#endif  // K8SLB_TESTS_SIM_LIVE_SHARES_H_
