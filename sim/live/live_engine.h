// The live engine (issue 6 "Engines", `k8slb-sim run --mode live`): the scenario on real
// processes-in-miniature on loopback, in real time scaled by RunOptions::speed.
//
//  - fakeapi (FakeApiServer) in-process over HTTPS replays the scenario's timeline (model events
//    and API faults) on its own timer thread;
//  - one real echo server per pod (PodFleet) on the pod's own address (the cluster model's
//    127.0.x.y) and the Service port;
//  - strategies: `clusterip` through a kube-proxy-like TCP proxy on a loopback VIP,
//    `headless-dns` with a native grpc round_robin channel over a once-resolved address list,
//    `round-robin` / `least-request` with k8slb's BalancedChannel doing real list+watch discovery
//    against fakeapi with the service-account token (rotated when the scenario says so).
//
// All strategies run CONCURRENTLY on one cluster, one fakeapi and one set of echo servers: every
// strategy then sees exactly the same timeline (the same pods, the same random evictions, the
// same API faults at the same instants), pods and events are recorded once, and the run takes
// the scenario's duration instead of four times it. Each strategy has its own clients and
// connections; they share only the backends, whose latency model does not depend on load.
//
// RunLive is called from one thread; it blocks for the scenario's duration / speed plus start-up
// and teardown (about a second), writes DIR/report.json with complete:false at least once a
// second while it runs, and leaves the final complete:true write to the caller (engine.h).
#ifndef K8SLB_SIM_LIVE_LIVE_ENGINE_H_
#define K8SLB_SIM_LIVE_LIVE_ENGINE_H_

#include "absl/status/statusor.h"
#include "sim/engine/engine.h"
#include "sim/engine/recorder.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim::live {

absl::StatusOr<RunSummary> RunLive(const scenario::Scenario& scenario, const RunOptions& options,
                                   RunRecorder& recorder);

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_LIVE_ENGINE_H_
