// Slow start: an endpoint that just became ready (first seen by a client, or back from outlier
// ejection) gets a share of the calls that ramps up over a window instead of its full share at
// once, so a pod whose caches, JIT or connection pools are still cold is not flooded (Envoy's
// slow start mode, https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/slow_start;
// asked of gRPC in grpc/grpc#40858 and the open gRFC A100).
//
// SlowStartOptions and SlowStartFactor are plain values and pure functions (any thread). The
// ramp's start is control-plane state: StartSlowStartRamps() is called by whoever builds the
// snapshots (the gRPC layer, the simulator) on each new snapshot, on one thread per channel; it
// writes EndpointStats::ready_since_nanos, which pickers read when they are built. The end of an
// ejection restarts the ramp by itself: pickers take the later of ready_since_nanos and
// ejected_until_nanos as the ramp's start.
#ifndef K8SLB_SLOW_START_H_
#define K8SLB_SLOW_START_H_

#include <chrono>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "k8slb/endpoint_set.h"

namespace k8slb {

// Envoy's slow_start_config (slow_start_window, aggression, min_weight_percent as a fraction).
// The default window is 0: slow start is off unless asked for, since a ramp holds back a pod that
// may be needed at once (a scale-up under overload, the only pod of a zone).
struct SlowStartOptions {
  // How long the ramp lasts; 0 = off.
  std::chrono::nanoseconds window{0};
  // > 0; 1 is linear, larger ramps faster early (the factor is (t/window)^(1/aggression)).
  double aggression = 1.0;
  // The factor never drops below this, in [0, 1] (Envoy's default 10 %).
  double min_weight = 0.1;

  bool enabled() const { return window.count() > 0; }
};

// OK, or InvalidArgument naming the field with `prefix`, e.g.
// "slow_start.aggression must be a positive number, got -1".
absl::Status ValidateSlowStartOptions(const SlowStartOptions& options, std::string_view prefix = "slow_start");

// The share multiplier `elapsed_nanos` after the ramp's start, in (0, 1]:
// max(min_weight, (elapsed / window)^(1 / aggression)), and 1 from the window's end on (or when
// slow start is off). Envoy also floors elapsed at 1 s; min_weight already bounds the start.
double SlowStartFactor(const SlowStartOptions& options, int64_t elapsed_nanos);

// No ramp started (EndpointStats::ready_since_nanos): the endpoint was there from the start.
inline constexpr int64_t kNoRampStart = INT64_MIN;

// Control plane, once per new snapshot `next` that follows `previous` (null for a client's first
// snapshot): an endpoint (by HostPort) that `previous` did not hold starts its ramp at
// `now_nanos`; one it held keeps its start (copied when the two snapshots do not share its
// stats). The first snapshot starts no ramp, nor does one that keeps none of `previous`'s
// endpoints (the first endpoints after an empty snapshot, a complete replacement): with every
// endpoint new, all would ramp together and get the same share anyway.
void StartSlowStartRamps(const EndpointSet* previous, const EndpointSet& next, int64_t now_nanos);

}  // namespace k8slb

#endif  // K8SLB_SLOW_START_H_
