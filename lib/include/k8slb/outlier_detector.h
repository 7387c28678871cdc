// OutlierDetector: passive outlier ejection for one client's view of a Service (Envoy's
// consecutive_5xx with an RPC stack's "unavailable" as the 5xx, its base/max ejection time,
// ejection multiplier and max ejection percent). No RPC stack and no wall clock: the gRPC layer
// feeds it from its call interceptor on the steady clock, the simulator on its virtual clock.
//
// Threads: Record() from any call-completion thread; its common path touches only the endpoint's
// atomics, and reaching the threshold takes the detector's mutex to decide against the current
// set (rare). SetEndpoints() from the control plane on every snapshot. AllIneligibleNote() from
// any thread. An ejection shows to pickers through EndpointStats::ejected_until_nanos.
#ifndef K8SLB_OUTLIER_DETECTOR_H_
#define K8SLB_OUTLIER_DETECTOR_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "k8slb/call_outcome.h"
#include "k8slb/endpoint_set.h"
#include "k8slb/random.h"

namespace k8slb {

// Passive outlier detection, after Envoy's outlier detection
// (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/outlier).
struct OutlierDetectionOptions {
  // Consecutive kUnavailable results that eject an endpoint; 0 disables ejection. kSuccess and
  // kServerError (the server answered) reset the count; kNeutral leaves it unchanged.
  uint32_t consecutive_unavailable = 5;
  // Ejection time = base × k, where k (the ejection multiplier) grows by one per ejection and
  // decreases by one for every base period spent healthy, and the product is capped at max
  // (Envoy's base_ejection_time / max_ejection_time).
  std::chrono::milliseconds base_ejection_time{30000};
  std::chrono::milliseconds max_ejection_time{300000};
  // Never eject beyond this share of the current set (Envoy's max_ejection_percent). With one
  // endpoint and 50 % nothing is ejected: there would be nothing else to send to.
  uint32_t max_ejection_percent = 50;
};

// OK, or InvalidArgument naming the field ("outlier.max_ejection_percent must be at most 100").
absl::Status ValidateOutlierDetectionOptions(const OutlierDetectionOptions& options);

// What Record() did when it ejected an endpoint (for the caller's log or report).
struct Ejection {
  std::chrono::nanoseconds duration{0};
  uint32_t multiplier = 0;     // the ejection multiplier after this ejection
  uint32_t consecutive = 0;    // the threshold that was reached
};
// "ejected NAME for 30000 ms after 5 consecutive UNAVAILABLE (ejection 1)".
std::string DescribeEjection(const Ejection& ejection, std::string_view endpoint_name);

class OutlierDetector {
 public:
  // `clock` null: steady clock. `name` names the service in AllIneligibleNote().
  OutlierDetector(OutlierDetectionOptions options, std::shared_ptr<Clock> clock, std::string name);
  OutlierDetector(const OutlierDetector&) = delete;
  OutlierDetector& operator=(const OutlierDetector&) = delete;

  // The set ejection percentages are computed against (the current one). Endpoints outside it are
  // never ejected (they are not picked anyway).
  void SetEndpoints(std::shared_ptr<const EndpointSet> set) ABSL_LOCKS_EXCLUDED(mu_);
  // Records one finished call on `stats` (successes, failures, the consecutive count) and decides
  // ejection. Returns the ejection when this call ejected the endpoint.
  std::optional<Ejection> Record(EndpointStats& stats, CallOutcome outcome) ABSL_LOCKS_EXCLUDED(mu_);
  // " (k8slb: all N endpoints of NAME are unusable: E ejected, F failing to connect)" when no
  // endpoint of the current set is eligible, else empty. Used to explain failed calls.
  std::string AllIneligibleNote() const ABSL_LOCKS_EXCLUDED(mu_);

  const OutlierDetectionOptions& options() const { return options_; }
  const Clock& clock() const { return *clock_; }

 private:
  std::optional<Ejection> MaybeEjectLocked(EndpointStats& stats) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const OutlierDetectionOptions options_;
  const std::shared_ptr<Clock> clock_;
  const std::string name_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const EndpointSet> set_ ABSL_GUARDED_BY(mu_);
};

}  // namespace k8slb

#endif  // K8SLB_OUTLIER_DETECTOR_H_
