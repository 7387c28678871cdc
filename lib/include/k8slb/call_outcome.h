// CallOutcome: how a finished call counts for the per-endpoint signals (outlier ejection, the
// latency signal). RPC stacks map their status codes onto it (the gRPC layer: UNAVAILABLE is
// kUnavailable, DEADLINE_EXCEEDED and CANCELLED are kNeutral, other errors kServerError); the
// simulator maps its simulated results. A plain enum; no state.
#ifndef K8SLB_CALL_OUTCOME_H_
#define K8SLB_CALL_OUTCOME_H_

namespace k8slb {

enum class CallOutcome {
  kSuccess,      // the call succeeded: resets the consecutive-failure count; its latency counts
  kUnavailable,  // the endpoint could not serve (gRPC UNAVAILABLE): counts toward ejection
  kServerError,  // another error the server produced: a failure, but the server answered (resets)
  kNeutral,      // deadline exceeded, cancelled: a failure that says nothing about the endpoint
};

}  // namespace k8slb

#endif  // K8SLB_CALL_OUTCOME_H_
