// OutlierDetector: passive outlier ejection for one BalancedChannel (Envoy's consecutive_5xx with
// gRPC UNAVAILABLE as the 5xx, its base/max ejection time and max ejection percent).
//
// Record() is called from any RPC-completion thread (the endpoint channel's interceptor). The
// success path touches only the endpoint's atomics; reaching the threshold takes the detector's
// mutex to decide ejection against the current set (rare). SetEndpoints() is called by the
// control plane on every snapshot. Time comes from the injected Clock so tests are exact.
#ifndef K8SLB_SRC_GRPC_OUTLIER_DETECTOR_H_
#define K8SLB_SRC_GRPC_OUTLIER_DETECTOR_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "k8slb/balanced_channel.h"
#include "k8slb/discovery.h"
#include "k8slb/endpoint_set.h"
#include "k8slb/random.h"

namespace k8slb::internal {

// How a finished call counts for ejection.
enum class CallOutcome {
  kSuccess,      // OK: resets the consecutive count
  kUnavailable,  // UNAVAILABLE: counts toward ejection
  kServerError,  // another error the server produced: a failure, but the server answered (resets)
  kNeutral,      // DEADLINE_EXCEEDED, CANCELLED: a failure that says nothing about the endpoint
};
CallOutcome ClassifyStatusCode(int grpc_status_code);

// Per-endpoint ejection history; guarded by the detector's mutex.
struct EjectionState {
  uint32_t multiplier = 0;            // Envoy's ejection multiplier
  int64_t last_ejection_end_nanos = 0;
};

class OutlierDetector {
 public:
  OutlierDetector(OutlierDetectionOptions options, std::shared_ptr<Clock> clock, LogSink log, std::string name);

  // The set ejection percentages are computed against (the current one).
  void SetEndpoints(std::shared_ptr<const EndpointSet> set);
  // Records one finished call. Returns true when this call ejected the endpoint.
  bool Record(EndpointStats& stats, EjectionState& state, CallOutcome outcome, std::string_view endpoint_name);
  // " (k8slb: all N endpoints of NAME are ejected or failing to connect)" when no endpoint of the
  // current set is eligible, else empty. Used to explain failed calls.
  std::string AllIneligibleNote() const;

  const Clock& clock() const { return *clock_; }

 private:
  const OutlierDetectionOptions options_;
  const std::shared_ptr<Clock> clock_;
  const LogSink log_;
  const std::string name_;
  mutable std::mutex mu_;
  std::shared_ptr<const EndpointSet> set_;  // guarded by mu_
};

}  // namespace k8slb::internal

#endif  // K8SLB_SRC_GRPC_OUTLIER_DETECTOR_H_
