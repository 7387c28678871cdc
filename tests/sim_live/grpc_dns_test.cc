// The live grpc-dns strategy: real grpc++ name resolution (gRPC's c-ares DNS resolver and
// round_robin) against the run's cluster DNS (fakeapi/dns). The DNS answers must follow the
// model's EndpointSlices: after a rolling update replaced every pod, the channel can only reach
// the new pods if the answer it resolves again lists them.
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "sim/engine/engine.h"
#include "sim/engine/recorder.h"
#include "sim/live/live_engine.h"
#include "sim/live/pod_network.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim::live {
namespace {

// Three pods replaced one by one from t = 10; gRPC resolves again once a connection is lost, but
// no sooner than 30 s (scenario time) after its previous resolution, so the new pods are reached
// from about t = 30 on; the run lasts until t = 60 so that they get many RPCs whatever the
// machine's load. At speed 10 the run takes 6 s.
constexpr char kRollout[] = R"(
name: grpc-dns-rollout
seed: 5
service: {name: echo, namespace: default, port: 50051, portName: grpc}
cluster: {zones: [zone-a]}
pods: {replicas: 3, startupSeconds: 0.3, latency: {meanMs: 1.0}, drainSeconds: 0.3, terminationGraceSeconds: 5}
clients: {count: 1, rateRps: 20, concurrency: 4, durationSeconds: 60}
strategies: [grpc-dns]
timeline:
  - {at: 10, kind: rollout, maxSurge: 1, maxUnavailable: 0}
)";

TEST(GrpcDnsStrategyTest, ResolvesTheHeadlessServiceAndFollowsARollout) {
  if (auto why = PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
  auto sc = scenario::ParseScenario(kRollout, "grpc-dns-rollout.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  RunOptions options;
  options.mode = RunMode::kLive;
  options.seed = 5;
  options.speed = 10;
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto summary = RunLive(*sc, options, recorder);
  ASSERT_TRUE(summary.ok()) << summary.status();
  Report r = recorder.Snapshot(60, true);
  const StrategyReport* dns = r.FindStrategy("grpc-dns");
  ASSERT_NE(dns, nullptr);
  std::printf("grpc-dns: %lu ok, %lu failed\n", static_cast<unsigned long>(dns->ok),
              static_cast<unsigned long>(dns->failed));
  for (const auto& [pod, n] : dns->per_pod) std::printf("  %s: %lu\n", pod.c_str(), static_cast<unsigned long>(n));
  ASSERT_TRUE(r.environment.count("cluster_dns")) << "the report names the run's cluster DNS";
  EXPECT_NE(r.environment.at("cluster_dns").find("echo-headless.default.svc.cluster.local"), std::string::npos);

  // The pods at the end were all created by the rollout, after the Service's first slices: only
  // an answer resolved after the slices changed can have named them. (Which old pods got RPCs
  // depends on how far the rollout was when the client first resolved, so they are not checked.)
  int final_pods = 0;
  int replaced = 0;
  for (const ReportPod& pod : r.pods) {
    if (pod.deleted_s.has_value()) {
      ++replaced;
      continue;
    }
    ++final_pods;
    const uint64_t served = dns->per_pod.count(pod.name) ? dns->per_pod.at(pod.name) : 0;
    EXPECT_GT(served, 0u) << pod.name << " (created at t=" << pod.created_s
                          << ") never got an RPC: the DNS answer did not follow the slices";
  }
  EXPECT_EQ(final_pods, 3);
  EXPECT_EQ(replaced, 3);
}

}  // namespace
}  // namespace k8slb::sim::live
