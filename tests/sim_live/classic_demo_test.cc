// The shipped classic-demo scenario through the real k8slb-sim binary, live: over the ClusterIP
// every RPC of the one client reaches one pod; with the headless Service's DNS name, gRPC's DNS
// resolver and round_robin (grpc-dns) they reach all five pods, as with k8slb's round-robin.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "report/json.h"
#include "sim/engine/recorder.h"
#include "sim/live/pod_network.h"
#include "tests/sim_live/subprocess.h"

namespace k8slb::sim::live {
namespace {

using k8slb::testing::RunProcess;
using k8slb::testing::SpawnOptions;
using std::chrono::milliseconds;

TEST(ClassicDemoTest, ClusterIpPinsOnePodAndGrpcDnsSpreadsOverAllFive) {
  if (auto why = PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
  const std::string scenario = std::string(K8SLB_SOURCE_DIR) + "/scenarios/classic-demo.yaml";
  const std::string out = ::testing::TempDir() + "k8slb-classic-demo-" + std::to_string(::getpid());
  auto run = RunProcess({K8SLB_SIM_BIN, "run", scenario, "--mode", "live", "--out", out}, SpawnOptions{},
                        milliseconds(120000));
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  auto report = report::LoadJson(out);
  ASSERT_TRUE(report.ok()) << report.status();

  const StrategyReport* clusterip = report->FindStrategy("clusterip");
  ASSERT_NE(clusterip, nullptr);
  EXPECT_EQ(clusterip->ok, 10u);
  EXPECT_EQ(clusterip->failed, 0u);
  EXPECT_EQ(clusterip->pods_used, 1) << run.out;
  uint64_t most = 0;
  for (const auto& [pod, n] : clusterip->per_pod) most = std::max(most, n);
  EXPECT_EQ(most, 10u) << run.out;

  for (const char* name : {"grpc-dns", "round-robin"}) {
    const StrategyReport* s = report->FindStrategy(name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(s->ok, 10u) << name;
    EXPECT_EQ(s->failed, 0u) << name;
    EXPECT_EQ(s->pods_used, 5) << name << "\n" << run.out;
  }
  // The scenario's own expect: block agrees.
  auto check = RunProcess({K8SLB_SIM_BIN, "check", out}, SpawnOptions{}, milliseconds(60000));
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

}  // namespace
}  // namespace k8slb::sim::live
