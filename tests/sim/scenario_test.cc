// Scenario parsing and validation: defaults, every field, and one test per kind of error, each
// checking that the single message names the file, the line and the field.
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/scenario/scenario.h"

namespace k8slb::scenario {
namespace {

TEST(ScenarioParse, EmptyMappingGivesDefaultsAndNameFromFile) {
  auto sc = ParseScenario("{}", "dir/my-case.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  EXPECT_EQ(sc->name, "my-case");
  EXPECT_EQ(sc->source_file, "dir/my-case.yaml");
  EXPECT_EQ(sc->service.name, "echo");
  EXPECT_EQ(sc->service.namespace_name, "default");
  EXPECT_EQ(sc->service.port, 50051);
  EXPECT_EQ(sc->service.port_name, "grpc");
  EXPECT_EQ(sc->pods.replicas, 5);
  EXPECT_EQ(sc->clients.count, 1);
  EXPECT_EQ(sc->strategies, (std::vector<std::string>{"clusterip", "headless-dns", "round-robin", "least-request",
                                                     "latency-ewma"}));
  EXPECT_TRUE(sc->timeline.empty());
  EXPECT_FALSE(sc->live_only);
}

TEST(ScenarioParse, EveryField) {
  const char* yaml = R"(
name: full
description: all fields
seed: 42
liveOnly: false
tokenRotationSeconds: 0
service: {name: echo, namespace: prod, port: 8080, portName: web, trafficDistribution: PreferClose}
cluster:
  zones: [a, b]
  nodesPerZone: 2
  maxEndpointsPerSlice: 50
  sliceBatchingSeconds: 0.5
  podCIDR: 10.1.0.0/16
  crashDetectSeconds: 2
pods:
  replicas: 4
  startupSeconds: 2
  latency: {meanMs: 3, jitterMs: 1}
  errorRate: 0.01
  terminationGraceSeconds: 20
  drainSeconds: 2
clients: {count: 3, zone: b, rateRps: 50, concurrency: 8, durationSeconds: 60}
strategies: [round-robin, least-request]
timeline:
  - {at: 30, kind: stall, durationSeconds: 5}
  - {at: 10, kind: scale, replicas: 6}
  - {at: 11, kind: evict, pod: echo-5}
  - {at: 12, kind: evict, count: 2}
  - {at: 13, kind: rollout, maxSurge: 2, maxUnavailable: 1}
  - {at: 14, kind: notReady, pod: echo-1, forSeconds: 3}
  - {at: 15, kind: slow, pod: echo-2, factor: 4, forSeconds: 2}
  - {at: 16, kind: crash, pod: echo-3}
  - {at: 17, kind: zoneDown, zone: b}
  - {at: 18, kind: disconnect}
  - {at: 19, kind: expire}
  - {at: 20, kind: errors, status: 429, durationSeconds: 4}
expect:
  - {strategy: "*", maxFailed: 3, maxFailedRatio: 0.1, maxImbalance: 1.5}
  - {strategy: least-request, maxReactionSeconds: 0.5, maxRemovalReactionSeconds: 0.2,
     minPodsUsed: 2, maxPodsUsed: 9, maxP99Ms: 10}
)";
  auto sc = ParseScenario(yaml, "full.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  EXPECT_EQ(sc->name, "full");
  EXPECT_EQ(sc->seed, 42u);
  EXPECT_EQ(sc->service.namespace_name, "prod");
  EXPECT_EQ(sc->service.port, 8080);
  EXPECT_EQ(sc->service.traffic_distribution, "PreferClose");
  EXPECT_EQ(sc->cluster.zones, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(sc->cluster.max_endpoints_per_slice, 50);
  EXPECT_DOUBLE_EQ(sc->cluster.slice_batching_s, 0.5);
  EXPECT_EQ(sc->cluster.pod_cidr, "10.1.0.0/16");
  EXPECT_DOUBLE_EQ(sc->pods.latency.mean_ms, 3);
  EXPECT_DOUBLE_EQ(sc->pods.error_rate, 0.01);
  EXPECT_EQ(sc->clients.zone, "b");
  EXPECT_EQ(sc->clients.concurrency, 8);
  ASSERT_EQ(sc->timeline.size(), 12u);
  // Sorted by time; the stall written first comes last.
  EXPECT_EQ(sc->timeline.front().kind, EventKind::kScale);
  EXPECT_EQ(sc->timeline.front().line, 26);
  EXPECT_EQ(sc->timeline.back().kind, EventKind::kStall);
  EXPECT_EQ(sc->timeline[3].max_surge, 2);
  EXPECT_EQ(sc->timeline[10].status, 429);
  ASSERT_EQ(sc->expect.size(), 2u);
  EXPECT_EQ(sc->expect[0].max_failed, 3u);
  EXPECT_EQ(sc->expect[1].strategy, "least-request");
  EXPECT_EQ(sc->expect[1].max_pods_used, 9);
  EXPECT_DOUBLE_EQ(*sc->expect[1].max_removal_reaction_s, 0.2);
}

TEST(ScenarioParse, DescribeAndKindNames) {
  Event e;
  e.kind = EventKind::kScale;
  e.replicas = 8;
  EXPECT_EQ(e.Describe(), "scale to 8");
  e.kind = EventKind::kEvict;
  e.pod = "echo-3";
  EXPECT_EQ(e.Describe(), "evict echo-3");
  e.pod.clear();
  e.count = 2;
  EXPECT_EQ(e.Describe(), "evict 2 random pods");
  e.kind = EventKind::kSlow;
  e.pod = "echo-1";
  e.factor = 10;
  e.for_s = 0;
  EXPECT_EQ(e.Describe(), "slow echo-1 x10 until the end");
  e.kind = EventKind::kErrors;
  e.status = 503;
  e.duration_s = 2.5;
  EXPECT_EQ(e.Describe(), "errors 503 for 2.5s");
  EXPECT_EQ(EventKindName(EventKind::kNotReady), "notReady");
  EXPECT_EQ(EventKindName(EventKind::kZoneDown), "zoneDown");
}

TEST(ScenarioParse, SlowStartPerStrategy) {
  auto sc = ParseScenario("clients:\n  slowStart:\n    least-request: {windowSeconds: 2.5, aggression: 2}\n"
                          "expect:\n  - {strategy: \"*\", maxEarlyShare: 0.05, earlySeconds: 3}\n",
                          "s.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  ASSERT_EQ(sc->clients.slow_start.size(), 1u);
  const SlowStartOptions& o = sc->clients.slow_start.at("least-request");
  EXPECT_EQ(o.window.count(), 2'500'000'000);
  EXPECT_EQ(o.aggression, 2.0);
  EXPECT_EQ(o.min_weight, 0.1);  // the library's default
  ASSERT_EQ(sc->expect.size(), 1u);
  EXPECT_EQ(sc->expect[0].max_early_share, 0.05);
  EXPECT_EQ(sc->expect[0].early_s, 3.0);
}

struct BadCase {
  const char* what;
  const char* yaml;
  const char* prefix;   // expected start of the message: "FILE:LINE: FIELD:"
  const char* contains; // and a word of the problem
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.what; }

class ScenarioErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ScenarioErrors, OneMessageNamingFileLineField) {
  const BadCase& c = GetParam();
  auto sc = ParseScenario(c.yaml, "bad.yaml");
  ASSERT_FALSE(sc.ok()) << c.what;
  const std::string msg(sc.status().message());
  EXPECT_EQ(msg.rfind(c.prefix, 0), 0u) << c.what << ": " << msg;
  EXPECT_NE(msg.find(c.contains), std::string::npos) << c.what << ": " << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
}

INSTANTIATE_TEST_SUITE_P(
    All, ScenarioErrors,
    ::testing::Values(
        BadCase{"unknown top-level key", "name: x\nreplicas: 3\n", "bad.yaml:2: replicas:",
                "unknown field"},
        BadCase{"slow start for a strategy without a picker", "clients:\n  slowStart:\n    clusterip: {windowSeconds: 5}\n",
                "bad.yaml:3: clients.slowStart.clusterip:", "not a k8slb strategy"},
        BadCase{"slow start negative window", "clients:\n  slowStart:\n    least-request: {windowSeconds: -1}\n",
                "bad.yaml:3: clients.slowStart.least-request.windowSeconds:", "at least 0"},
        BadCase{"slow start aggression 0", "clients:\n  slowStart:\n    round-robin: {windowSeconds: 5, aggression: 0}\n",
                "bad.yaml:3: clients.slowStart.round-robin.aggression:", "greater than 0"},
        BadCase{"slow start aggression NaN", "clients:\n  slowStart:\n    round-robin: {windowSeconds: 5, aggression: .nan}\n",
                "bad.yaml:3: clients.slowStart.round-robin.aggression:", "expected a number"},
        BadCase{"slow start min weight above 1", "clients:\n  slowStart:\n    peak-ewma: {windowSeconds: 5, minWeight: 1.5}\n",
                "bad.yaml:3: clients.slowStart.peak-ewma.minWeight:", "at most 1"},
        BadCase{"topology spill band inverted", "clients:\n  topologySpill: {lowLoad: 2, highLoad: 1.5}\n",
                "bad.yaml:2: clients.topologySpill.highLoad:", "highLoad (1.5) must be above lowLoad (2)"},
        BadCase{"topology spill low above the default high", "clients:\n  topologySpill: {lowLoad: 3}\n",
                "bad.yaml:2: clients.topologySpill.lowLoad:", "highLoad (2) must be above lowLoad (3)"},
        BadCase{"topology spill NaN", "clients:\n  topologySpill: {highLoad: .nan}\n",
                "bad.yaml:2: clients.topologySpill.highLoad:", "expected a number"},
        BadCase{"topology spill enabled not a bool", "clients:\n  topologySpill: {enabled: maybe}\n",
                "bad.yaml:2: clients.topologySpill.enabled:", "expected true or false"},
        BadCase{"topology spill unknown key", "clients:\n  topologySpill: {band: 3}\n",
                "bad.yaml:2: clients.topologySpill.band:", "unknown field (allowed: enabled, lowLoad, highLoad)"},
        BadCase{"slow start without a window", "clients:\n  slowStart:\n    peak-ewma: {aggression: 2}\n",
                "bad.yaml:3: clients.slowStart.peak-ewma:", "windowSeconds is required"},
        BadCase{"early share above 1", "expect:\n  - {maxEarlyShare: 1.5}\n",
                "bad.yaml:2: expect[0].maxEarlyShare:", "at most 1"},
        BadCase{"unknown nested key", "pods:\n  replica: 3\n", "bad.yaml:2: pods.replica:",
                "unknown field"},
        BadCase{"wrong type", "pods:\n  replicas: three\n", "bad.yaml:2: pods.replicas:",
                "whole number"},
        BadCase{"fraction for an integer", "clients:\n  count: 1.5\n",
                "bad.yaml:2: clients.count:", "whole number"},
        BadCase{"negative", "pods:\n  replicas: -1\n", "bad.yaml:2: pods.replicas:",
                "-1"},
        BadCase{"zero duration", "clients:\n  durationSeconds: 0\n",
                "bad.yaml:2: clients.durationSeconds:", "greater than 0"},
        BadCase{"error rate above 1", "pods:\n  errorRate: 2\n", "bad.yaml:2: pods.errorRate:",
                "at most 1"},
        BadCase{"mapping expected", "service: echo\n", "bad.yaml:1: service:",
                "expected a mapping"},
        BadCase{"unknown event kind", "timeline:\n  - at: 1\n    kind: explode\n",
                "bad.yaml:3: timeline[0].kind:", "unknown event kind \"explode\""},
        BadCase{"event without kind", "timeline:\n  - at: 1\n", "bad.yaml:2: timeline[0].kind:",
                "missing"},
        BadCase{"event without at", "timeline:\n  - kind: disconnect\n",
                "bad.yaml:2: timeline[0].at:", "missing"},
        BadCase{"field of another kind", "timeline:\n  - {at: 1, kind: scale, pod: echo-1}\n",
                "bad.yaml:2: timeline[0].pod:", "unknown field"},
        BadCase{"missing required event field",
                "timeline:\n  - {at: 1, kind: notReady, pod: echo-1}\n",
                "bad.yaml:2: timeline[0].forSeconds:", "missing"},
        BadCase{"unknown pod", "pods: {replicas: 3}\ntimeline:\n  - {at: 1, kind: crash, pod: echo-7}\n",
                "bad.yaml:3: timeline[0].pod:", "unknown pod \"echo-7\""},
        BadCase{"badly named pod", "timeline:\n  - {at: 1, kind: crash, pod: web-1}\n",
                "bad.yaml:2: timeline[0].pod:", "echo-N"},
        BadCase{"unknown zone", "timeline:\n  - {at: 1, kind: zoneDown, zone: mars}\n",
                "bad.yaml:2: timeline[0].zone:", "unknown zone"},
        BadCase{"event after the end", "clients: {durationSeconds: 10}\ntimeline:\n  - {at: 11, kind: expire}\n",
                "bad.yaml:3: timeline[0].at:", "after the end"},
        BadCase{"unknown strategy", "strategies:\n  - round-robin\n  - random\n",
                "bad.yaml:3: strategies[1]:", "unknown strategy \"random\""},
        BadCase{"expect names a strategy not run",
                "strategies: [round-robin]\nexpect:\n  - {strategy: clusterip, maxFailed: 0}\n",
                "bad.yaml:3: expect[0].strategy:", "clusterip"},
        BadCase{"unknown expect field", "expect:\n  - {strategy: \"*\", maxFailures: 0}\n",
                "bad.yaml:2: expect[0].maxFailures:", "unknown field"},
        BadCase{"client zone not in cluster", "clients: {zone: zone-z}\n",
                "bad.yaml:1: clients.zone:", "unknown zone"},
        BadCase{"duplicate key", "pods:\n  replicas: 3\n  replicas: 4\n",
                "bad.yaml:3: pods.replicas:", "duplicate"},
        BadCase{"bad CIDR", "cluster: {podCIDR: 300.1.0.0/24}\n", "bad.yaml:1: cluster.podCIDR:",
                "CIDR"},
        BadCase{"malformed YAML", "pods:\n  replicas: [1, 2\n", "bad.yaml:", "malformed YAML"},
        BadCase{"not a mapping", "- a\n- b\n", "bad.yaml:1: (document):", "expected a mapping"},
        BadCase{"empty file", "", "bad.yaml:1: (document):", "empty"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string name;
      for (char ch : std::string(info.param.what)) name += std::isalnum(ch) ? ch : '_';
      return name;
    });

TEST(ScenarioParse, PodsCreatedByEarlierEventsAreKnown) {
  // echo-5 exists only after the scale to 6.
  const char* yaml = "pods: {replicas: 3}\ntimeline:\n"
                     "  - {at: 2, kind: crash, pod: echo-5}\n"
                     "  - {at: 1, kind: scale, replicas: 6}\n";
  EXPECT_TRUE(ParseScenario(yaml, "x.yaml").ok());
}

TEST(ScenarioLoad, MissingFileNamesIt) {
  auto sc = LoadScenario("/nonexistent/dir/none.yaml");
  ASSERT_FALSE(sc.ok());
  EXPECT_NE(std::string(sc.status().message()).find("/nonexistent/dir/none.yaml:1:"),
            std::string::npos);
}

TEST(ShippedScenarios, AllValidateWithServiceEcho) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(K8SLB_SCENARIOS_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    auto sc = LoadScenario(entry.path().string());
    ASSERT_TRUE(sc.ok()) << sc.status();
    EXPECT_EQ(sc->name, entry.path().stem().string());
    EXPECT_FALSE(sc->description.empty()) << sc->name;
    EXPECT_EQ(sc->service.name, "echo");
    EXPECT_EQ(sc->service.namespace_name, "default");
    EXPECT_EQ(sc->service.port, 50051);
    EXPECT_EQ(sc->service.port_name, "grpc");
    EXPECT_FALSE(sc->expect.empty()) << sc->name << " has no expect: block";
  }
  EXPECT_GE(count, 13);
}

}  // namespace
}  // namespace k8slb::scenario
