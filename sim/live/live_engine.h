// The live engine (`k8slb-sim run --mode live`): the scenario on real processes-in-miniature,
// in real time scaled by RunOptions::speed.
//
//  - Where: the run enters a private network namespace of its own (pod_network.h) where the
//    pods have addresses from 198.18.0.0/15, which a real API server accepts; two runs at once
//    never collide. Only with RunOptions::allow_loopback_endpoints may pods use the host's
//    loopback (127.x) instead, announced on stderr and recorded in the report.
//  - The API: fakeapi (FakeApiServer) in-process over HTTPS replays the scenario's timeline
//    (model events and API faults) on its own timer thread. With RunOptions::api_server_kubeconfig
//    the same model is played into a user's API server instead (api_mirror.h: a selector-less
//    Service and the EndpointSlices, managed by k8slb-sim, removed at the end), reached through a
//    relay into the namespace (external_api.h), and the k8slb clients discover through it.
//  - Pods: one real echo server per pod (PodFleet) on the pod's address and the Service port.
//  - Strategies (strategies.h): `clusterip` through a kube-proxy-like TCP proxy on a virtual
//    IP, `headless-dns` with a native grpc round_robin channel over a once-resolved address
//    list, `grpc-dns` with real grpc++ DNS resolution (gRPC's c-ares resolver, round_robin)
//    against the run's cluster DNS (fakeapi/dns, on this namespace's loopback, answering for a
//    headless twin `<service>-headless` of the scenario's Service), `round-robin` /
//    `least-request` with k8slb's BalancedChannel doing real list+watch discovery with the
//    library's default DiscoveryOptions (unless the scenario's clients.discovery overrides them).
//  - External strategies (a scenario's `{name, command, env}`): the program, once per client, in
//    the namespace (external_client.h), dialing a headless Service of its own on its own port;
//    the pods' servers count its RPCs (RunRecorder::RecordServed), so any language works.
//
// All strategies run CONCURRENTLY on one cluster, one API and one set of echo servers: every
// strategy then sees exactly the same timeline (the same pods, the same random evictions, the
// same API faults at the same instants), pods and events are recorded once, and the run takes
// the scenario's duration instead of four times it. Each strategy has its own clients and
// connections; they share only the backends, whose latency model does not depend on load.
//
// RunLive is called from one thread, which it moves into the pods' namespace for good (the
// first call per process creates it; see pod_network.h). It blocks for the scenario's
// duration / speed plus start-up and teardown (about a second), writes DIR/report.json with
// complete:false at least once a second while it runs, and leaves the final complete:true write
// to the caller (engine.h). SIGINT or SIGTERM during the run stop it early: everything it made
// is removed and it returns Cancelled ("interrupted by SIGINT ...").
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
