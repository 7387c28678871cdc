// The xds strategy in a build without k8slb-xds (-DK8SLB_BUILD_XDS=OFF): refused, saying why.
#include "sim/live/strategies.h"

namespace k8slb::sim::live {

absl::StatusOr<std::unique_ptr<StrategyClient>> MakeXdsClient(int, StrategyEnvironment&) {
  return absl::FailedPreconditionError(
      "strategy xds needs k8slb-xds, which this build leaves out (configured with -DK8SLB_BUILD_XDS=OFF)");
}

}  // namespace k8slb::sim::live
