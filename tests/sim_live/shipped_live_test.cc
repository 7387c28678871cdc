// The shipped rolling-update and scale-up scenarios in the live engine, with the real grpc++ DNS
// client (grpc-dns) beside the simulated strategies:
// - each passes its own expect: block live, grpc-dns included (the virtual engine skips grpc-dns;
//   tests/sim checks that side);
// - real gRPC's DNS client and the virtual engine's model of it (headless-dns) agree: per-pod
//   shares of all RPCs (failed ones under "(none)" or their pod), the failed share, and when the
//   new pods of a rollout first get traffic (after gRPC's 30 s re-resolution cooldown);
// - for k8slb's own strategies, the per-pod counts the clients recorded equal the calls the echo
//   servers answered, exactly.
//
// Every test is one live run in a process of its own (ctest runs each test alone; RunLive moves
// its thread into the pods' network namespace), and skips with the reason where no namespace can
// be made. Nothing here is timed: reaction times are scenario-time measurements compared with a
// tolerance far above the machine's scheduling noise (2 s against a 30 s cooldown).
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sim/engine/check.h"
#include "sim/engine/engine.h"
#include "sim/engine/recorder.h"
#include "sim/live/live_engine.h"
#include "sim/live/pod_network.h"
#include "sim/scenario/scenario.h"
#include "tests/sim_live/shares.h"

namespace k8slb::sim {
namespace {

constexpr double kTolerancePoints = 5.0;

struct Ran {
  Report report;
  RunSummary summary;
};

scenario::Scenario LoadShipped(const std::string& name) {
  auto sc = scenario::LoadScenario(std::string(K8SLB_SCENARIOS_DIR) + "/" + name + ".yaml");
  EXPECT_TRUE(sc.ok()) << sc.status();
  return sc.value_or(scenario::Scenario{});
}

Ran RunScenario(const scenario::Scenario& sc, RunMode mode, std::vector<std::string> strategies,
        std::optional<double> duration_s = std::nullopt, double speed = 1.0) {
  RunOptions options;
  options.mode = mode;
  options.seed = sc.seed;
  options.strategies = std::move(strategies);
  options.duration_s = duration_s;
  options.speed = speed;
  if (mode == RunMode::kLive) options.pod_network = RunOptions::PodNetwork::kNamespace;
  RunRecorder recorder(MakeRunInfo(sc, options));
  absl::StatusOr<RunSummary> summary =
      mode == RunMode::kLive ? live::RunLive(sc, options, recorder) : RunVirtual(sc, options, recorder);
  EXPECT_TRUE(summary.ok()) << summary.status();
  return Ran{recorder.Snapshot(RunDurationS(sc, options), true), summary.value_or(RunSummary{})};
}

// Share of ALL the strategy's RPCs (ok or failed) per pod; failures before a pod was chosen count
// under "(none)", so the failed share is compared too.
std::map<std::string, double> AllShares(const StrategyReport& s) {
  std::map<std::string, double> shares;
  const double total = static_cast<double>(s.ok + s.failed);
  if (total == 0) return shares;
  for (const auto& [pod, n] : s.per_pod) shares[pod] += 100.0 * static_cast<double>(n) / total;
  for (const auto& [pod, n] : s.per_pod_failed) shares[pod] += 100.0 * static_cast<double>(n) / total;
  return shares;
}

// Real grpc-dns (live) against the model's headless-dns (virtual), within kTolerancePoints.
void ExpectModelAgrees(const Report& live, const Report& virt) {
  const StrategyReport* real = live.FindStrategy("grpc-dns");
  const StrategyReport* model = virt.FindStrategy("headless-dns");
  ASSERT_NE(real, nullptr);
  ASSERT_NE(model, nullptr);
  ASSERT_GT(real->ok + real->failed, 1000u) << "too few live RPCs to compare";
  const auto rs = AllShares(*real);
  const auto ms = AllShares(*model);
  std::printf("%s: grpc-dns (live) %s\n%s: headless-dns (virtual) %s\n", live.scenario.c_str(),
              DescribeShares(rs).c_str(), virt.scenario.c_str(), DescribeShares(ms).c_str());
  SCOPED_TRACE("\n  grpc-dns live:         " + DescribeShares(rs) + "\n  headless-dns virtual: " + DescribeShares(ms));
  std::map<std::string, std::pair<double, double>> all;
  for (const auto& [pod, share] : rs) all[pod].first = share;
  for (const auto& [pod, share] : ms) all[pod].second = share;
  for (const auto& [pod, pair] : all) EXPECT_NEAR(pair.first, pair.second, kTolerancePoints) << "pod " << pod;
  const double real_failed = 100.0 * real->failed / static_cast<double>(real->ok + real->failed);
  const double model_failed = 100.0 * model->failed / static_cast<double>(model->ok + model->failed);
  EXPECT_NEAR(real_failed, model_failed, kTolerancePoints) << "failed share";
  EXPECT_EQ(real->pods_used, model->pods_used);
}

class ShippedLiveTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (auto why = live::PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
  }
};

TEST_P(ShippedLiveTest, IncludesGrpcDnsAndPassesItsExpectations) {
  const scenario::Scenario sc = LoadShipped(GetParam());
  ASSERT_NE(std::find(sc.strategies.begin(), sc.strategies.end(), "grpc-dns"), sc.strategies.end());
  const Ran live = RunScenario(sc, RunMode::kLive, {});
  const StrategyReport* dns = live.report.FindStrategy("grpc-dns");
  ASSERT_NE(dns, nullptr) << "the live run includes the scenario's grpc-dns";
  EXPECT_GT(dns->ok, 0u);
  int grpc_dns_checked = 0;
  for (const CheckResult& r : EvaluateExpectations(live.report, sc.expect)) {
    EXPECT_NE(r.outcome, CheckOutcome::kFailed) << r.strategy << " " << r.check << ": " << r.message;
    grpc_dns_checked += r.strategy == "grpc-dns" && r.outcome == CheckOutcome::kPassed;
  }
  EXPECT_GT(grpc_dns_checked, 0) << "no expectation checked grpc-dns";
  ExpectModelAgrees(live.report, RunScenario(sc, RunMode::kVirtual, {"headless-dns"}).report);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ShippedLiveTest, ::testing::Values("rolling-update", "scale-up"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "rolling-update" ? std::string("RollingUpdate")
                                                                 : std::string("ScaleUp");
                         });

// Past the 30 s cooldown: every old pod is gone by t ~ 16, each lost connection asked gRPC to
// resolve again, and it does at t = 30 (30 s after its first resolution); the five new pods then
// get traffic. Speed 2 (the cooldown scales with it): 20 s of wall time.
TEST(GrpcDnsModelTest, RolloutReResolvesAfterTheCooldownAsModelled) {
  if (auto why = live::PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
  const scenario::Scenario sc = LoadShipped("rolling-update");
  const Ran live = RunScenario(sc, RunMode::kLive, {"grpc-dns"}, 40.0, 2.0);
  const Ran virt = RunScenario(sc, RunMode::kVirtual, {"headless-dns"}, 40.0);
  ExpectModelAgrees(live.report, virt.report);
  const StrategyReport* real = live.report.FindStrategy("grpc-dns");
  const StrategyReport* model = virt.report.FindStrategy("headless-dns");
  ASSERT_NE(real, nullptr);
  ASSERT_NE(model, nullptr);
  ASSERT_TRUE(real->new_pod_first_rpc.has_value());
  ASSERT_TRUE(model->new_pod_first_rpc.has_value());
  EXPECT_EQ(real->new_pod_first_rpc->never, 0) << "a new pod never got traffic from real gRPC";
  EXPECT_EQ(real->new_pod_first_rpc->count, model->new_pod_first_rpc->count);
  EXPECT_NEAR(real->new_pod_first_rpc->max, model->new_pod_first_rpc->max, 2.0);
  EXPECT_GT(real->new_pod_first_rpc->max, 10.0) << "real gRPC reached a new pod before its cooldown ended";
}

// k8slb's own strategies: what the clients recorded per pod (ok RPCs, attributed by the answering
// pod) equals what the echo servers counted, exactly, through a scale-up and a rolling update.
constexpr char kCounting[] = R"(
name: count-agreement
seed: 11
service: {name: echo, namespace: default, port: 50051, portName: grpc}
cluster: {zones: [zone-a]}
pods: {replicas: 3, startupSeconds: 0.3, latency: {meanMs: 1.0}, drainSeconds: 0.5, terminationGraceSeconds: 5}
clients: {count: 2, rateRps: 100, concurrency: 4, durationSeconds: 6}
strategies: [round-robin]
timeline:
  - {at: 1, kind: scale, replicas: 4}
  - {at: 2, kind: rollout, maxSurge: 1, maxUnavailable: 0}
)";

class ServerCountsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (auto why = live::PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
  }
};

TEST_P(ServerCountsTest, ClientAndServerPerPodCountsAgreeExactly) {
  auto sc = scenario::ParseScenario(kCounting, "count-agreement.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  const Ran live = RunScenario(*sc, RunMode::kLive, {GetParam()});
  const StrategyReport* s = live.report.FindStrategy(GetParam());
  ASSERT_NE(s, nullptr);
  ASSERT_GT(s->ok, 1000u);
  ASSERT_FALSE(live.summary.served.empty()) << "the live run reports the servers' counts";
  std::map<std::string, std::pair<uint64_t, uint64_t>> both;  // pod -> (client, server)
  for (const auto& [pod, n] : s->per_pod) both[pod].first = n;
  for (const auto& [pod, ports] : live.summary.served) {
    auto it = ports.find(sc->service.port);
    if (it != ports.end()) both[pod].second = it->second;
  }
  int pods_with_traffic = 0;
  for (const auto& [pod, counts] : both) {
    std::printf("%s %s: client %lu, server %lu\n", GetParam().c_str(), pod.c_str(),
                static_cast<unsigned long>(counts.first), static_cast<unsigned long>(counts.second));
    EXPECT_EQ(counts.first, counts.second) << "pod " << pod;
    pods_with_traffic += counts.second > 0;
  }
  EXPECT_GE(pods_with_traffic, 7) << "3 pods, one added, then all four replaced";
}

INSTANTIATE_TEST_SUITE_P(K8slbStrategies, ServerCountsTest,
                         ::testing::Values("round-robin", "least-request", "latency-ewma", "peak-ewma"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name;
                           for (char c : info.param) {
                             if (c != '-') name += c;
                           }
                           return name;
                         });

}  // namespace
}  // namespace k8slb::sim
