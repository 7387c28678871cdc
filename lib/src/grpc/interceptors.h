// The client interceptors of a BalancedChannel's endpoint channels:
// - the outcome interceptor, on every endpoint channel: maps each call's final grpc status to the
//   library's CallOutcome and records it in the OutlierDetector and (with a latency policy)
//   the LatencySignal, explains a failure when no endpoint of the set is usable, and stores the
//   server's ORCA load report from the trailers into the endpoint's stats (orca.h);
// - the fail interceptor, on the "failing channel": completes every call at once with a fixed
//   status without touching the network (grpc++'s hijacking interceptors), which is how
//   Client<Service> hands a stub-based caller the reason a pick failed.
// Factories are immutable and may be used from any thread; grpc++ creates one interceptor per
// call and runs it on that call's threads.
#ifndef K8SLB_SRC_GRPC_INTERCEPTORS_H_
#define K8SLB_SRC_GRPC_INTERCEPTORS_H_

#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/status.h>

#include <map>
#include <memory>
#include <string>

#include "k8slb/call_outcome.h"
#include "k8slb/discovery.h"
#include "k8slb/endpoint_set.h"
#include "k8slb/load_signal.h"
#include "k8slb/outlier_detector.h"
#include "k8slb/random.h"

namespace k8slb::internal {

// gRPC's status codes as the library's outcomes: UNAVAILABLE counts toward ejection (Envoy's
// consecutive_5xx with gRPC's UNAVAILABLE as the 5xx); DEADLINE_EXCEEDED and CANCELLED say
// nothing about the endpoint; any other error means the server answered.
CallOutcome OutcomeOfGrpcStatus(grpc::StatusCode code);

// Writes `message` to `sink`, or to stderr at warning level and above when there is no sink.
void LogTo(const LogSink& sink, LogLevel level, const std::string& message);

// What the outcome interceptor of one endpoint records into. Immutable once built.
struct CallSignals {
  std::shared_ptr<EndpointStats> stats;
  std::shared_ptr<OutlierDetector> detector;
  std::shared_ptr<const LatencySignal> latency;  // null: the latency signal is not tracked
  std::shared_ptr<Clock> clock;                  // ORCA reports' arrival time (the picker's clock)
  std::string channel_name;                      // for log lines: "k8slb: CHANNEL: ejected ENDPOINT ..."
  std::string endpoint_name;                     // "address (pod)"
  LogSink log;
};

// Stores the ORCA load report among `trailers` (endpoint-load-metrics-bin, else its k8slb mirror)
// into the signals' stats at the clock's now. A report that does not decode is counted
// (orca_malformed; the first one per endpoint is logged) and ignored: the last good one stays.
// No report: nothing happens.
void RecordLoadReportTrailer(const CallSignals& signals,
                             const std::multimap<grpc::string_ref, grpc::string_ref>& trailers);

std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> MakeOutcomeInterceptorFactory(
    std::shared_ptr<const CallSignals> signals);
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface> MakeFailInterceptorFactory(grpc::Status status);

}  // namespace k8slb::internal

#endif  // K8SLB_SRC_GRPC_INTERCEPTORS_H_
