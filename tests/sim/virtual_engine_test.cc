// The virtual-time engine on every shipped scenario (each must pass its own expect: block),
// determinism, refusal of live-only scenarios, and that the k8slb expectations would fail for a
// strategy without k8slb (so the shipped checks are not vacuous).
//
// The scenarios run at their full length: the whole set takes a few seconds of CPU (the largest,
// large-service, ~1 s); nothing is shortened.
#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "k8slb/picker.h"
#include "report/json.h"
#include "report/schema.h"
#include "sim/engine/check.h"
#include "sim/engine/engine.h"
#include "sim/engine/recorder.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim {
namespace {

std::string ScenarioPath(const std::string& name) {
  return std::string(K8SLB_SCENARIOS_DIR) + "/" + name + ".yaml";
}

struct Ran {
  scenario::Scenario scenario;
  Report report;
  RunSummary summary;
};

Ran RunScenario(const std::string& name, std::optional<uint64_t> seed = std::nullopt,
                std::vector<std::string> strategies = {}) {
  auto sc = scenario::LoadScenario(ScenarioPath(name));
  EXPECT_TRUE(sc.ok()) << sc.status();
  RunOptions options;
  options.seed = seed.value_or(sc->seed);
  options.strategies = std::move(strategies);
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto summary = RunVirtual(*sc, options, recorder);
  EXPECT_TRUE(summary.ok()) << summary.status();
  Ran ran{*sc, recorder.Snapshot(RunDurationS(*sc, options), true), summary.value_or(RunSummary{})};
  return ran;
}

std::vector<std::string> VirtualScenarios() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(K8SLB_SCENARIOS_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    auto sc = scenario::LoadScenario(entry.path().string());
    if (sc.ok() && !sc->live_only) names.push_back(sc->name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

class ShippedScenario : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedScenario, PassesItsExpectations) {
  const Ran ran = RunScenario(GetParam());
  ASSERT_FALSE(ran.scenario.expect.empty());
  EXPECT_GT(ran.summary.rpcs, 0u);
  for (const auto& s : ran.report.strategies) EXPECT_GT(s.ok, 0u) << s.name;
  const auto results = EvaluateExpectations(ran.report, ran.scenario.expect);
  for (const auto& r : results) {
    EXPECT_NE(r.outcome, CheckOutcome::kFailed)
        << GetParam() << ": " << r.strategy << " " << r.check << ": " << r.message;
  }
  int passed = 0;
  for (const auto& r : results) passed += r.outcome == CheckOutcome::kPassed;
  EXPECT_GT(passed, 0) << "every check was skipped";
}

// The expectations written for k8slb's P2C strategies (least-request, and the default
// latency-ewma) must not hold for a strategy that lacks what k8slb adds: applied to ClusterIP's
// results (or round robin's, in slow-pod where the point is P2C vs round robin) at least one fails.
TEST_P(ShippedScenario, K8slbExpectationsFailForAWeakerStrategy) {
  const Ran ran = RunScenario(GetParam());
  const std::string weaker = ran.report.FindStrategy("clusterip") ? "clusterip" : "round-robin";
  for (const char* k8slb : {"least-request", "latency-ewma"}) {
    std::vector<scenario::Expectation> moved;
    for (const auto& x : ran.scenario.expect) {
      if (x.strategy != k8slb) continue;
      scenario::Expectation y = x;
      y.strategy = weaker;
      moved.push_back(y);
    }
    ASSERT_FALSE(moved.empty()) << GetParam() << " has no " << k8slb << " expectations";
    EXPECT_FALSE(AllPassed(EvaluateExpectations(ran.report, moved)))
        << GetParam() << ": " << k8slb << "'s checks also pass for " << weaker;
  }
}

// slow-start's checks measure slow start: the same scenario with clients.slowStart removed fails
// least-request's maxEarlyShare (a new pod gets about the even share at once).
TEST(SlowStartScenario, FailsItsChecksWithoutSlowStart) {
  auto sc = scenario::LoadScenario(ScenarioPath("slow-start"));
  ASSERT_TRUE(sc.ok()) << sc.status();
  ASSERT_FALSE(sc->clients.slow_start.empty());
  sc->clients.slow_start.clear();
  RunOptions options;
  options.seed = sc->seed;
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto summary = RunVirtual(*sc, options, recorder);
  ASSERT_TRUE(summary.ok()) << summary.status();
  const Report report = recorder.Snapshot(RunDurationS(*sc, options), true);
  int failed_early_share = 0;
  for (const CheckResult& r : EvaluateExpectations(report, sc->expect)) {
    if (r.check == "maxEarlyShare" && r.outcome == CheckOutcome::kFailed) ++failed_early_share;
  }
  EXPECT_GE(failed_early_share, 1);
}

// zone-one-pod: four clients in zone-b, whose only pod (echo-1) would get 150 % of its capacity,
// until echo-3 joins zone-b at t=10 (ready at 11). With the library's default spill band, every
// k8slb strategy sends a good share to zone-a's echo-0 and echo-2 before the scale and almost none
// after it; with spill off (kube-proxy's rule alone) the zone's queue makes the checks fail.
Report RunZoneOnePod(const scenario::Scenario& sc, std::optional<double> duration_s) {
  RunOptions options;
  options.seed = sc.seed;
  options.duration_s = duration_s;
  options.strategies = {"round-robin", "least-request", "latency-ewma", "peak-ewma"};
  RunRecorder recorder(MakeRunInfo(sc, options));
  auto summary = RunVirtual(sc, options, recorder);
  EXPECT_TRUE(summary.ok()) << summary.status();
  return recorder.Snapshot(RunDurationS(sc, options), true);
}

TEST(ZoneOnePodScenario, SpillsWhileTheZoneIsOverloadedAndReturnsOnceItIsNot) {
  auto sc = scenario::LoadScenario(ScenarioPath("zone-one-pod"));
  ASSERT_TRUE(sc.ok()) << sc.status();
  ASSERT_TRUE(sc->clients.topology_spill.enabled);
  const Report first_half = RunZoneOnePod(*sc, 10.0);  // stops at the scale
  const Report whole = RunZoneOnePod(*sc, std::nullopt);
  for (const StrategyReport& st : whole.strategies) {
    const StrategyReport* before = first_half.FindStrategy(st.name);
    ASSERT_NE(before, nullptr);
    auto zone_a = [](const StrategyReport& r) { return r.per_pod.at("echo-0") + r.per_pod.at("echo-2"); };
    const uint64_t spilled_before = zone_a(*before);
    const uint64_t spilled_after = zone_a(st) - spilled_before;  // t in [10, 20): spilling until ~11
    EXPECT_GT(static_cast<double>(spilled_before), 0.25 * static_cast<double>(before->ok)) << st.name;
    EXPECT_LT(static_cast<double>(spilled_after), 0.15 * static_cast<double>(spilled_before)) << st.name;
  }
}

TEST(ZoneOnePodScenario, FailsItsChecksWithoutSpill) {
  auto sc = scenario::LoadScenario(ScenarioPath("zone-one-pod"));
  ASSERT_TRUE(sc.ok()) << sc.status();
  sc->clients.topology_spill.enabled = false;
  const Report report = RunZoneOnePod(*sc, std::nullopt);
  std::map<std::string, int> failed_p99;
  for (const CheckResult& r : EvaluateExpectations(report, sc->expect)) {
    if (r.check == "maxP99Ms" && r.outcome == CheckOutcome::kFailed) ++failed_p99[r.strategy];
  }
  EXPECT_EQ(failed_p99["round-robin"], 1);
  EXPECT_EQ(failed_p99["least-request"], 1);
  EXPECT_EQ(failed_p99["latency-ewma"], 1);
  EXPECT_EQ(failed_p99["peak-ewma"], 1);
}

INSTANTIATE_TEST_SUITE_P(All, ShippedScenario, ::testing::ValuesIn(VirtualScenarios()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The simulator's strategy names and the library's named policies are two lists; the virtual
// engine models the two baselines itself and runs every other name through the library's policy
// of that name. A name added to one list and not the other must fail here, not fall back silently.
TEST(VirtualEngine, EveryModelledStrategyIsABaselineOrALibraryPolicy) {
  for (std::string_view name : report::kStrategyNames) {
    if (report::IsLiveOnlyStrategy(name) || name == "clusterip" || name == "headless-dns") continue;
    EXPECT_TRUE(FindNamedPolicy(name).has_value()) << name << " has no library policy";
  }
  for (const NamedPolicy& policy : kNamedPolicies) {
    EXPECT_TRUE(report::IsKnownStrategy(policy.name)) << policy.name << " is not a simulator strategy";
    EXPECT_FALSE(report::IsLiveOnlyStrategy(policy.name)) << policy.name;
  }
}

// node-local: PreferSameNode hints and a client on zone-a-node-1, where the scheduler puts echo-1
// and echo-4 (pods are placed round robin over the three nodes). Without the crashes, k8slb's
// strategies use exactly those two; with them (t=5, back ~t=8), they still serve most calls,
// the other four only the fallback's share. Fails if the node hints are ignored (an even spread:
// 1/3 on the node) or if the preference outlives the crash (nothing on the other nodes).
TEST(VirtualEngine, NodeHintsKeepK8slbOnTheClientsNode) {
  auto sc = scenario::LoadScenario(ScenarioPath("node-local"));
  ASSERT_TRUE(sc.ok()) << sc.status();
  auto run = [](const scenario::Scenario& scenario) {
    RunOptions options;
    options.seed = scenario.seed;
    options.strategies = {"round-robin", "least-request", "latency-ewma"};
    RunRecorder recorder(MakeRunInfo(scenario, options));
    auto summary = RunVirtual(scenario, options, recorder);
    EXPECT_TRUE(summary.ok()) << summary.status();
    return recorder.Snapshot(RunDurationS(scenario, options), true);
  };
  scenario::Scenario quiet = *sc;
  quiet.timeline.clear();
  for (const auto& st : run(quiet).strategies) {
    std::map<std::string, uint64_t> used;
    for (const auto& [pod, n] : st.per_pod) {
      if (n > 0) used[pod] = n;
    }
    EXPECT_EQ(used.size(), 2u) << st.name;
    EXPECT_TRUE(used.count("echo-1") && used.count("echo-4")) << st.name;
  }
  for (const auto& st : run(*sc).strategies) {
    const double on_node = static_cast<double>(st.per_pod.at("echo-1") + st.per_pod.at("echo-4"));
    const double share = on_node / static_cast<double>(st.ok);
    // 5 s + ~6 s of 15 on the node; the rest spread over six pods.
    EXPECT_GT(share, 0.6) << st.name;
    EXPECT_LT(share, 0.9) << st.name;
    for (const char* other : {"echo-0", "echo-2", "echo-3", "echo-5"}) EXPECT_GT(st.per_pod.at(other), 0u) << st.name;
  }
}

TEST(VirtualEngine, SameSeedSameReport) {
  for (const char* name : {"steady", "crash", "zone-outage"}) {
    const Ran a = RunScenario(name, 5);
    const Ran b = RunScenario(name, 5);
    EXPECT_EQ(report::ToJson(a.report), report::ToJson(b.report)) << name;
  }
}

TEST(VirtualEngine, DifferentSeedDifferentRun) {
  const Ran a = RunScenario("eviction", 1);
  const Ran b = RunScenario("eviction", 2);
  EXPECT_NE(report::ToJson(a.report), report::ToJson(b.report));
}

TEST(VirtualEngine, StrategiesDoNotAffectEachOther) {
  // Running a strategy alone gives the same numbers as running it beside the others.
  const Ran all = RunScenario("rolling-update", 3);
  for (const char* name : {"least-request", "latency-ewma"}) {
    const Ran alone = RunScenario("rolling-update", 3, {name});
    const StrategyReport* a = all.report.FindStrategy(name);
    const StrategyReport* b = alone.report.FindStrategy(name);
    ASSERT_NE(a, nullptr) << name;
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(a->per_pod, b->per_pod) << name;
    EXPECT_EQ(a->failed, b->failed) << name;
  }
}

TEST(VirtualEngine, SteadyIsTheClassicDemo) {
  const Ran ran = RunScenario("steady");
  const StrategyReport* cip = ran.report.FindStrategy("clusterip");
  const StrategyReport* rr = ran.report.FindStrategy("round-robin");
  ASSERT_NE(cip, nullptr);
  ASSERT_NE(rr, nullptr);
  EXPECT_EQ(cip->pods_used, 1);
  EXPECT_EQ(rr->pods_used, 5);
  // Round robin from one client: exactly even.
  for (const auto& [pod, n] : rr->per_pod) EXPECT_EQ(n, rr->ok / 5) << pod;
}

TEST(VirtualEngine, RecordsPodsAndEventsOnce) {
  const Ran ran = RunScenario("scale-up");
  EXPECT_EQ(ran.report.pods.size(), 6u);
  ASSERT_EQ(ran.report.events.size(), 1u);
  EXPECT_EQ(ran.report.events[0].kind, "scale");
  EXPECT_EQ(ran.report.events[0].detail, "scale to 6");
  EXPECT_DOUBLE_EQ(ran.report.events[0].t_s, 5.0);
  for (const auto& p : ran.report.pods) {
    EXPECT_FALSE(p.address.empty()) << p.name;
    EXPECT_EQ(p.zone, "zone-a");
    ASSERT_TRUE(p.ready_s.has_value()) << p.name;
  }
}

TEST(VirtualEngine, DurationOverride) {
  auto sc = scenario::LoadScenario(ScenarioPath("scale-up"));
  ASSERT_TRUE(sc.ok());
  RunOptions options;
  options.duration_s = 2.0;  // before the scale at t=5: it must not happen
  RunRecorder recorder(MakeRunInfo(*sc, options));
  ASSERT_TRUE(RunVirtual(*sc, options, recorder).ok());
  const Report r = recorder.Snapshot(2.0, true);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.pods.size(), 3u);
  // 2 clients × 100 RPC/s × 2 s.
  EXPECT_EQ(r.FindStrategy("round-robin")->ok, 400u);
}

TEST(VirtualEngine, RefusesLiveOnlyScenarios) {
  auto sc = scenario::LoadScenario(ScenarioPath("token-rotation"));
  ASSERT_TRUE(sc.ok());
  RunOptions options;
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto result = RunVirtual(*sc, options, recorder);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(result.status().message()).find("--mode live"), std::string::npos);
}

// A scenario may list live-only strategies (real clients): the virtual run leaves them out of its
// report, and says so in a note and in the report's environment, never silently.
TEST(VirtualEngine, SkipsTheScenariosLiveOnlyStrategiesWithANote) {
  const Ran ran = RunScenario("scale-up");
  ASSERT_NE(std::find(ran.scenario.strategies.begin(), ran.scenario.strategies.end(), "grpc-dns"),
            ran.scenario.strategies.end())
      << "scale-up should list grpc-dns";
  EXPECT_EQ(ran.report.FindStrategy("grpc-dns"), nullptr);
  ASSERT_NE(ran.report.FindStrategy("headless-dns"), nullptr);
  ASSERT_TRUE(ran.report.environment.count("skipped_strategies"));
  EXPECT_EQ(ran.report.environment.at("skipped_strategies"), "grpc-dns");
  int notes = 0;
  for (const auto& note : ran.summary.notes) {
    notes += note.find("strategy grpc-dns skipped") != std::string::npos &&
             note.find("--mode live") != std::string::npos;
  }
  EXPECT_EQ(notes, 1);
}

// Named explicitly, a live-only strategy is refused; a scenario of live-only strategies alone has
// nothing to run virtually and is refused too.
TEST(VirtualEngine, RefusesLiveOnlyStrategiesItCannotSkip) {
  auto sc = scenario::LoadScenario(ScenarioPath("scale-up"));
  ASSERT_TRUE(sc.ok()) << sc.status();
  {
    RunOptions options;
    options.strategies = {"round-robin", "grpc-dns"};
    RunRecorder recorder(MakeRunInfo(*sc, options));
    auto result = RunVirtual(*sc, options, recorder);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(std::string(result.status().message()).find("grpc-dns"), std::string::npos);
  }
  sc->strategies = {"grpc-dns", "xds"};
  sc->expect.clear();
  RunOptions options;
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto result = RunVirtual(*sc, options, recorder);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(result.status().message()).find("grpc-dns, xds"), std::string::npos)
      << result.status();
}

TEST(VirtualEngine, ApiOutageIsFailStatic) {
  // During 20 s of API errors the set is never emptied: no RPC fails for lack of endpoints.
  const Ran ran = RunScenario("apiserver-outage");
  for (const char* name : {"round-robin", "least-request"}) {
    const StrategyReport* s = ran.report.FindStrategy(name);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->per_pod_failed.count("(none)"), 0u) << name;
  }
}

// An `errors` window is an outage for its whole length: no other API fault inside it brings the
// watch back early (a disconnect cuts nothing that is open and its reconnect fails like every
// request; a stall's end is no success either). Pods that become ready during the outage get
// their first RPC only after the errors stop, within the library's capped backoff (1.6 s) of it.
class FaultInsideErrors : public ::testing::TestWithParam<std::string> {};

TEST_P(FaultInsideErrors, DoesNotEndTheOutageEarly) {
  auto run = [](const std::string& extra_fault) {
    const std::string yaml =
        "name: errors-window\n"
        "pods: {replicas: 3, startupSeconds: 1, drainSeconds: 1, terminationGraceSeconds: 5}\n"
        "clients: {count: 2, rateRps: 100, concurrency: 4, durationSeconds: 35}\n"
        "timeline:\n"
        "  - {at: 5, kind: errors, status: 500, durationSeconds: 20}\n" +
        extra_fault + "  - {at: 7, kind: scale, replicas: 5}\n";
    auto sc = scenario::ParseScenario(yaml, "errors-window.yaml");
    EXPECT_TRUE(sc.ok()) << sc.status();
    RunOptions options;
    options.strategies = {"round-robin"};
    RunRecorder recorder(MakeRunInfo(*sc, options));
    EXPECT_TRUE(RunVirtual(*sc, options, recorder).ok());
    return recorder.Snapshot(RunDurationS(*sc, options), true);
  };
  const Report alone = run("");
  const Report with_fault = run(GetParam());
  for (const Report* r : {&alone, &with_fault}) {
    double first_ready = 1e9, last_ready = 0;
    for (const auto& p : r->pods) {
      if (p.created_s <= 0) continue;
      ASSERT_TRUE(p.ready_s.has_value()) << p.name;
      first_ready = std::min(first_ready, *p.ready_s);
      last_ready = std::max(last_ready, *p.ready_s);
    }
    ASSERT_LT(last_ready, 10.0) << "the new pods are ready well inside the outage";
    const StrategyReport* rr = r->FindStrategy("round-robin");
    ASSERT_NE(rr, nullptr);
    ASSERT_TRUE(rr->new_pod_first_rpc.has_value());
    EXPECT_EQ(rr->new_pod_first_rpc->count, 2u);
    // No traffic to a new pod before the errors end at t=25 ...
    EXPECT_GE(rr->new_pod_first_rpc->p50, 25.0 - last_ready) << GetParam();
    // ... and all of it within one capped backoff step of the end.
    EXPECT_LE(rr->new_pod_first_rpc->max, 25.0 + 1.6 + 0.1 - first_ready) << GetParam();
  }
  EXPECT_NEAR(with_fault.FindStrategy("round-robin")->new_pod_first_rpc->p50,
              alone.FindStrategy("round-robin")->new_pod_first_rpc->p50, 0.05)
      << GetParam();
}

std::string FaultName(const ::testing::TestParamInfo<std::string>& info) {
  static const char* const kNames[] = {"Disconnect", "Stall", "TwoDisconnects"};
  return kNames[info.index];
}

INSTANTIATE_TEST_SUITE_P(All, FaultInsideErrors,
                         ::testing::Values("  - {at: 6, kind: disconnect}\n",
                                           "  - {at: 6, kind: stall, durationSeconds: 3}\n",
                                           "  - {at: 6, kind: disconnect}\n  - {at: 20, kind: disconnect}\n"),
                         FaultName);

}  // namespace
}  // namespace k8slb::sim
