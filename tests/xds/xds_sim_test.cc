// The simulator's live strategy xds: proxyless grpc++ clients dial xds:///echo.default:grpc
// through an in-process k8slb-xds against the live engine's fakeapi, beside round-robin (k8slb's
// BalancedChannel) on the same cluster and timeline. The spread must follow a scale-up: the three
// pods that join at t = 2 s get their round-robin share, as they do for round-robin. The virtual
// engine does not model the xds clients and refuses the strategy by name.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "sim/engine/engine.h"
#include "sim/engine/recorder.h"
#include "sim/live/live_engine.h"
#include "sim/live/pod_network.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim {
namespace {

constexpr char kScaleUp[] = R"(
name: xds-scale-up
seed: 5
service: {name: echo, namespace: default, port: 50051, portName: grpc}
cluster: {zones: [zone-a], podCIDR: 127.0.216.0/24}
pods: {replicas: 3, startupSeconds: 0.5, latency: {meanMs: 1.0}, drainSeconds: 0.5, terminationGraceSeconds: 5}
clients: {count: 2, rateRps: 100, concurrency: 4, durationSeconds: 8}
strategies: [xds, round-robin]
timeline:
  - {at: 2, kind: scale, replicas: 6}
)";

uint64_t Count(const StrategyReport& s, const std::string& pod) {
  auto it = s.per_pod.find(pod);
  return it == s.per_pod.end() ? 0 : it->second;
}

TEST(XdsSimStrategyTest, SpreadFollowsAScaleUp) {
  auto sc = scenario::ParseScenario(kScaleUp, "xds-scale-up.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  RunOptions options;
  options.mode = RunMode::kLive;
  options.seed = 5;
  // Pods in a private network namespace where one can be made, else on loopback (opted in).
  if (live::PodNamespaceUnavailable()) {
    options.pod_network = RunOptions::PodNetwork::kLoopback;
    options.allow_loopback_endpoints = true;
  }
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto summary = live::RunLive(*sc, options, recorder);
  ASSERT_TRUE(summary.ok()) << summary.status();
  for (const auto& note : summary->notes) std::printf("  note: %s\n", note.c_str());
  Report r = recorder.Snapshot(8, true);
  for (const char* name : {"xds", "round-robin"}) {
    const StrategyReport* s = r.FindStrategy(name);
    ASSERT_NE(s, nullptr) << name;
    std::printf("  %s: ok %lu failed %lu:", name, s->ok, s->failed);
    for (const auto& [pod, n] : s->per_pod) std::printf(" %s=%lu", pod.c_str(), n);
    std::printf("\n");
  }
  const StrategyReport& xds = *r.FindStrategy("xds");
  // Every RPC was sent through the xDS clients' own balancer (no failures from a missing or
  // empty assignment), and all six pods served.
  EXPECT_GT(xds.ok, 0u);
  EXPECT_LE(xds.failed, xds.ok / 50) << "more than 2 % of the xds clients' RPCs failed";
  EXPECT_EQ(xds.pods_used, 6);
  // Round robin over 3 pods for 2.5 s, then over 6 for 5.5 s: a joining pod gets about
  // 0.92 / 1.58 = 0.58 of an original pod's count. Without the push of the scaled-up slice it
  // would get none; bounds leave room for the ramp (connections are made on the first pick).
  uint64_t old_min = UINT64_MAX, old_max = 0, new_min = UINT64_MAX, new_max = 0;
  for (int i = 0; i < 6; ++i) {
    const uint64_t n = Count(xds, "echo-" + std::to_string(i));
    uint64_t& lo = i < 3 ? old_min : new_min;
    uint64_t& hi = i < 3 ? old_max : new_max;
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  EXPECT_GE(new_min * 10, old_max * 3) << "a pod that joined got less than 30 % of an original pod's RPCs";
  EXPECT_LE(new_max * 10, old_min * 9) << "a pod that joined at t = 2 s got as many RPCs as one there from t = 0";
  // Each joining pod was reached after it became ready.
  ASSERT_TRUE(xds.new_pod_first_rpc.has_value());
  EXPECT_EQ(xds.new_pod_first_rpc->never, 0u);
  EXPECT_EQ(xds.new_pod_first_rpc->count, 3u);
  EXPECT_EQ(r.environment.count("pod_network"), 1u);
}

// The virtual engine has no xds clients: it skips the scenario's xds with a note (and runs the
// rest), and refuses xds named explicitly.
TEST(XdsSimStrategyTest, TheVirtualEngineSkipsItOrRefusesItByName) {
  auto sc = scenario::ParseScenario(kScaleUp, "xds-scale-up.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  EXPECT_TRUE(IsKnownStrategy("xds"));
  {
    RunOptions options;
    RunRecorder recorder(MakeRunInfo(*sc, options));
    auto summary = RunVirtual(*sc, options, recorder);
    ASSERT_TRUE(summary.ok()) << summary.status();
    const Report r = recorder.Snapshot(8, true);
    EXPECT_EQ(r.FindStrategy("xds"), nullptr);
    EXPECT_NE(r.FindStrategy("round-robin"), nullptr);
    EXPECT_TRUE(std::any_of(summary->notes.begin(), summary->notes.end(), [](const std::string& n) {
      return n.find("strategy xds skipped") != std::string::npos;
    }));
  }
  RunOptions options;
  options.strategies = {"xds"};
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto summary = RunVirtual(*sc, options, recorder);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(summary.status().message().find("strategy xds runs real clients"), std::string::npos)
      << summary.status();
}

}  // namespace
}  // namespace k8slb::sim
