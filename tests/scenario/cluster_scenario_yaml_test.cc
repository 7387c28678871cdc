// fakeapi's reader of a scenario file's cluster half (k8slb-fakeapi --scenario): it reads every
// shipped scenario exactly as the simulator does, skips the simulator's sections, and refuses bad
// cluster sections with the same "FILE:LINE: FIELD: problem" messages.
#include <filesystem>
#include <string>

#include "fakeapi/model/cluster_scenario.h"
#include "fakeapi/scenario/cluster_scenario_yaml.h"
#include "gtest/gtest.h"
#include "sim/scenario/scenario.h"

namespace k8slb::fake {
namespace {

void ExpectSameClusterHalf(const ClusterScenario& a, const ClusterScenario& b, const std::string& what) {
  EXPECT_EQ(a.source_file, b.source_file) << what;
  EXPECT_EQ(a.seed, b.seed) << what;
  EXPECT_EQ(a.token_rotation_s, b.token_rotation_s) << what;
  EXPECT_EQ(a.service.name, b.service.name) << what;
  EXPECT_EQ(a.service.namespace_name, b.service.namespace_name) << what;
  EXPECT_EQ(a.service.port, b.service.port) << what;
  EXPECT_EQ(a.service.port_name, b.service.port_name) << what;
  EXPECT_EQ(a.service.traffic_distribution, b.service.traffic_distribution) << what;
  EXPECT_EQ(a.cluster.zones, b.cluster.zones) << what;
  EXPECT_EQ(a.cluster.nodes_per_zone, b.cluster.nodes_per_zone) << what;
  EXPECT_EQ(a.cluster.max_endpoints_per_slice, b.cluster.max_endpoints_per_slice) << what;
  EXPECT_EQ(a.cluster.slice_batching_s, b.cluster.slice_batching_s) << what;
  EXPECT_EQ(a.cluster.pod_cidr, b.cluster.pod_cidr) << what;
  EXPECT_EQ(a.cluster.crash_detect_s, b.cluster.crash_detect_s) << what;
  EXPECT_EQ(a.pods.replicas, b.pods.replicas) << what;
  EXPECT_EQ(a.pods.startup_s, b.pods.startup_s) << what;
  EXPECT_EQ(a.pods.latency.mean_ms, b.pods.latency.mean_ms) << what;
  EXPECT_EQ(a.pods.latency.jitter_ms, b.pods.latency.jitter_ms) << what;
  EXPECT_EQ(a.pods.error_rate, b.pods.error_rate) << what;
  EXPECT_EQ(a.pods.termination_grace_s, b.pods.termination_grace_s) << what;
  EXPECT_EQ(a.pods.drain_s, b.pods.drain_s) << what;
  ASSERT_EQ(a.timeline.size(), b.timeline.size()) << what;
  for (size_t i = 0; i < a.timeline.size(); ++i) {
    EXPECT_EQ(a.timeline[i].Describe(), b.timeline[i].Describe()) << what << " event " << i;
    EXPECT_EQ(a.timeline[i].t_s, b.timeline[i].t_s) << what << " event " << i;
    EXPECT_EQ(a.timeline[i].line, b.timeline[i].line) << what << " event " << i;
  }
}

TEST(ClusterScenarioYaml, ReadsEveryShippedScenarioAsTheSimulatorDoes) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(K8SLB_SCENARIOS_DIR)) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    const std::string path = entry.path().string();
    absl::StatusOr<ClusterScenario> cluster = LoadClusterScenario(path);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    absl::StatusOr<scenario::Scenario> full = scenario::LoadScenario(path);
    ASSERT_TRUE(full.ok()) << full.status();
    ExpectSameClusterHalf(*cluster, *full, path);
  }
  EXPECT_GE(count, 13);
}

TEST(ClusterScenarioYaml, SkipsTheSimulatorsSectionsAndTheRunEnd) {
  // Sections the simulator reads are not read here (k8slb-sim validate checks them), and events
  // are not bounded by clients.durationSeconds: the API server replays the timeline regardless.
  const char* yaml =
      "name: Not_A_Label\nclients: {durationSeconds: 10, zone: nowhere}\nstrategies: 7\nexpect: {}\n"
      "liveOnly: maybe\ndescription: [1]\n"
      "timeline:\n  - {at: 60, kind: scale, replicas: 2}\n";
  absl::StatusOr<ClusterScenario> sc = ParseClusterScenario(yaml, "s.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  ASSERT_EQ(sc->timeline.size(), 1u);
  EXPECT_EQ(sc->timeline[0].t_s, 60);
  // The simulator refuses the same file.
  EXPECT_FALSE(scenario::ParseScenario(yaml, "s.yaml").ok());
}

TEST(ClusterScenarioYaml, RefusesUnknownKeysAndBadClusterSections) {
  struct Case {
    const char* yaml;
    const char* prefix;
    const char* contains;
  };
  for (const Case& c : {
           Case{"timelime: []\n", "c.yaml:1: timelime: ", "unknown field (allowed: seed, tokenRotationSeconds"},
           Case{"pods: {replicas: -1}\n", "c.yaml:1: pods.replicas: ", "must be in [0, 5000]"},
           Case{"service: {name: Echo}\n", "c.yaml:1: service.name: ", "DNS label"},
           Case{"timeline:\n  - {at: 1, kind: explode}\n", "c.yaml:2: timeline[0].kind: ", "unknown event kind"},
           Case{"cluster: {zones: [a]}\ntimeline:\n  - {at: 1, kind: zoneDown, zone: b}\n",
                "c.yaml:3: timeline[0].zone: ", "unknown zone \"b\""},
           Case{"", "c.yaml:1: (document): ", "empty file"},
           Case{"pods: [1, 2\n", "c.yaml:", "malformed YAML"},
       }) {
    absl::StatusOr<ClusterScenario> sc = ParseClusterScenario(c.yaml, "c.yaml");
    ASSERT_FALSE(sc.ok()) << c.yaml;
    const std::string msg(sc.status().message());
    EXPECT_EQ(msg.rfind(c.prefix, 0), 0u) << msg;
    EXPECT_NE(msg.find(c.contains), std::string::npos) << msg;
  }
}

TEST(ClusterScenarioYaml, PodCidrsTheModelCannotServeAreRefusedUpFront) {
  // A /31 or /32 has no usable pod address; the model needs a prefix of 8..30. Both readers say
  // so at the podCIDR line instead of the run failing later.
  for (const char* cidr : {"10.0.0.0/31", "10.0.0.0/32", "10.0.0.0/7"}) {
    const std::string yaml = std::string("cluster:\n  podCIDR: ") + cidr + "\n";
    absl::StatusOr<ClusterScenario> sc = ParseClusterScenario(yaml, "c.yaml");
    ASSERT_FALSE(sc.ok()) << cidr;
    EXPECT_EQ(std::string(sc.status().message()).rfind("c.yaml:2: cluster.podCIDR: ", 0), 0u) << sc.status();
    EXPECT_NE(std::string(sc.status().message()).find("prefix length from 8 to 30"), std::string::npos)
        << sc.status();
    absl::StatusOr<scenario::Scenario> full = scenario::ParseScenario(yaml, "c.yaml");
    ASSERT_FALSE(full.ok()) << cidr;
    EXPECT_EQ(full.status().message(), sc.status().message());
  }
  EXPECT_TRUE(ParseClusterScenario("cluster: {podCIDR: 10.0.0.0/30}\n", "c.yaml").ok());
}

TEST(ClusterScenarioYaml, FilesThatCannotBeScenariosAreRefusedWithBoundedMemory) {
  absl::StatusOr<ClusterScenario> missing = LoadClusterScenario("/nonexistent/dir/none.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(std::string(missing.status().message()), "/nonexistent/dir/none.yaml:1: (file): cannot read the file");
  // An endless input stops at the size cap instead of growing until memory runs out.
  absl::StatusOr<ClusterScenario> endless = LoadClusterScenario("/dev/zero");
  ASSERT_FALSE(endless.ok());
  EXPECT_EQ(std::string(endless.status().message()), "/dev/zero:1: (file): larger than 16 MiB; not a scenario file");
}

}  // namespace
}  // namespace k8slb::fake
