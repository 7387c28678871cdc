// Timeline events that name pods which cannot exist at their time are refused, with the usual
// "FILE:LINE: FIELD: problem" message; events on pods that can exist (also with another seed) are
// accepted. The check replays the cluster model, so these cases follow the model's own rules:
// pods `<service>-N`, scale-down deletes the newest ready pods first, drainSeconds of serving
// while terminating, zone loss after crashDetectSeconds.
#include <string>

#include "fakeapi/model/cluster_scenario.h"
#include "fakeapi/model/timeline_check.h"
#include "fakeapi/scenario/cluster_scenario_yaml.h"
#include "gtest/gtest.h"
#include "sim/scenario/scenario.h"

namespace k8slb::fake {
namespace {

// A cluster with `pods` (drain 1 s, startup 1 s, crash detect 3 s) and the given timeline lines.
std::string Yaml(const std::string& pods, const std::string& timeline, const std::string& extra = "") {
  return "pods: {" + pods + ", drainSeconds: 1, startupSeconds: 1}\n" + extra + "timeline:\n" + timeline;
}

std::string Refusal(const std::string& yaml) {
  absl::StatusOr<ClusterScenario> sc = ParseClusterScenario(yaml, "t.yaml");
  if (sc.ok()) return "accepted";
  return std::string(sc.status().message());
}

bool Accepted(const std::string& yaml) { return Refusal(yaml) == "accepted"; }

TEST(TimelineCheck, CrashOfAnEvictedPodIsRefusedOnceItIsGone) {
  const std::string timeline =
      "  - {at: 5, kind: evict, pod: echo-1}\n"
      "  - {at: 10, kind: crash, pod: echo-1}\n";
  const std::string msg = Refusal(Yaml("replicas: 3", timeline));
  EXPECT_EQ(msg.rfind("t.yaml:4: timeline[1].pod: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("pod \"echo-1\" no longer exists at 10s: deleted by \"evict echo-1\" at 5s, removed at 6s"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("pods then: echo-0, echo-2, echo-3"), std::string::npos) << msg;
}

TEST(TimelineCheck, EventsOnATerminatingPodAreAccepted) {
  // Within drainSeconds the evicted pod still exists (and still serves).
  EXPECT_TRUE(Accepted(Yaml("replicas: 3", "  - {at: 5, kind: evict, pod: echo-1}\n"
                                           "  - {at: 5.5, kind: crash, pod: echo-1}\n"
                                           "  - {at: 5.9, kind: slow, pod: echo-1, factor: 2}\n")));
  // At the instant the drain ends the pod is gone: model timers run before an event at that time.
  EXPECT_NE(Refusal(Yaml("replicas: 3", "  - {at: 5, kind: evict, pod: echo-1}\n"
                                        "  - {at: 6, kind: crash, pod: echo-1}\n"))
                .find("no longer exists at 6s"),
            std::string::npos);
}

TEST(TimelineCheck, PodsBeyondTheReplicasAliveThenAreRefused) {
  // Scale 5 → 3 deletes the newest ready pods (echo-4, echo-3); they are gone a drain later.
  const std::string msg = Refusal(Yaml("replicas: 5", "  - {at: 10, kind: scale, replicas: 3}\n"
                                                      "  - {at: 20, kind: notReady, pod: echo-4, forSeconds: 1}\n"));
  EXPECT_EQ(msg.rfind("t.yaml:4: timeline[1].pod: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("deleted by \"scale to 3\" at 10s, removed at 11s (pods then: echo-0 .. echo-2)"),
            std::string::npos)
      << msg;
  EXPECT_TRUE(Accepted(Yaml("replicas: 5", "  - {at: 10, kind: scale, replicas: 3}\n"
                                           "  - {at: 20, kind: crash, pod: echo-2}\n")));
}

TEST(TimelineCheck, PodsNotCreatedYetAreUnknown) {
  const std::string msg = Refusal(Yaml("replicas: 3", "  - {at: 1, kind: crash, pod: echo-5}\n"
                                                      "  - {at: 2, kind: scale, replicas: 6}\n"));
  EXPECT_EQ(msg.rfind("t.yaml:3: timeline[0].pod: unknown pod \"echo-5\": no pod of that name has been created by 1s "
                      "(pods then: echo-0 .. echo-2)",
                      0),
            0u)
      << msg;
  // Listed before the scale in the file, but later in time: fine.
  EXPECT_TRUE(Accepted(Yaml("replicas: 3", "  - {at: 3, kind: crash, pod: echo-5}\n"
                                           "  - {at: 2, kind: scale, replicas: 6}\n")));
}

TEST(TimelineCheck, ReplacementsAndRolloutsFollowTheModel) {
  // The evicted echo-1 is replaced by echo-3; a rollout replaces echo-0 .. echo-3 with echo-4 ..
  // echo-6 one at a time (maxSurge 1, startup 1 s, drain 1 s).
  const std::string timeline =
      "  - {at: 2, kind: evict, pod: echo-1}\n"
      "  - {at: 4, kind: crash, pod: echo-3}\n"
      "  - {at: 10, kind: rollout, maxSurge: 1, maxUnavailable: 0}\n"
      "  - {at: 30, kind: slow, pod: echo-6, factor: 3}\n";
  EXPECT_TRUE(Accepted(Yaml("replicas: 3", timeline)));
  const std::string msg =
      Refusal(Yaml("replicas: 3", timeline + "  - {at: 30, kind: crash, pod: echo-0}\n"));
  EXPECT_NE(msg.find("timeline[4].pod: pod \"echo-0\" no longer exists at 30s: deleted at "), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("by \"rollout maxSurge=1 maxUnavailable=0\" (from 10s)"), std::string::npos) << msg;
}

TEST(TimelineCheck, PodsOfALostZoneAreGoneAfterCrashDetection) {
  // Zones alternate per pod: echo-1 and echo-3 run in zone-b.
  const std::string extra = "cluster: {zones: [zone-a, zone-b], crashDetectSeconds: 3}\n";
  EXPECT_TRUE(Accepted(Yaml("replicas: 4", "  - {at: 5, kind: zoneDown, zone: zone-b}\n"
                                           "  - {at: 7, kind: notReady, pod: echo-3, forSeconds: 1}\n",
                            extra)));
  const std::string msg = Refusal(Yaml("replicas: 4", "  - {at: 5, kind: zoneDown, zone: zone-b}\n"
                                                      "  - {at: 9, kind: crash, pod: echo-3}\n",
                                       extra));
  EXPECT_NE(msg.find("pod \"echo-3\" no longer exists at 9s: its zone went down with \"zoneDown zone-b\" at 5s, "
                     "removed at 8s"),
            std::string::npos)
      << msg;
}

TEST(TimelineCheck, RandomEvictionsDoNotMakeAPodImpossible) {
  // Which pods `count` evicts depends on the run's seed (k8slb-sim run --seed), so a later event
  // on any of them is accepted whatever the scenario's seed picked.
  for (int seed = 1; seed <= 40; ++seed) {
    const std::string extra = "seed: " + std::to_string(seed) + "\n";
    for (const char* pod : {"echo-0", "echo-1", "echo-2", "echo-3"}) {
      const std::string timeline = std::string("  - {at: 5, kind: evict, count: 2}\n") +
                                   "  - {at: 10, kind: crash, pod: " + pod + "}\n" +
                                   "  - {at: 11, kind: scale, replicas: 2}\n" +
                                   "  - {at: 20, kind: notReady, pod: " + pod + ", forSeconds: 1}\n";
      EXPECT_TRUE(Accepted(Yaml("replicas: 4", timeline, extra))) << "seed " << seed << " " << pod << ": "
                                                                   << Refusal(Yaml("replicas: 4", timeline, extra));
    }
  }
}

TEST(TimelineCheck, WhatNoSeedChangesIsStillRefusedAfterARandomEviction) {
  // A pod evicted by name, or never created, cannot exist in any run.
  EXPECT_NE(Refusal(Yaml("replicas: 4", "  - {at: 3, kind: evict, pod: echo-1}\n"
                                        "  - {at: 5, kind: evict, count: 1}\n"
                                        "  - {at: 10, kind: crash, pod: echo-1}\n"))
                .find("no longer exists at 10s: deleted by \"evict echo-1\" at 3s"),
            std::string::npos);
  EXPECT_NE(Refusal(Yaml("replicas: 4", "  - {at: 5, kind: evict, count: 1}\n"
                                        "  - {at: 10, kind: crash, pod: echo-9}\n"))
                .find("unknown pod \"echo-9\""),
            std::string::npos);
}

TEST(TimelineCheck, PodsFollowTheServiceName) {
  // The scenario's Deployment carries the Service's name.
  EXPECT_TRUE(Accepted(Yaml("replicas: 2", "  - {at: 1, kind: crash, pod: api-1}\n", "service: {name: api}\n")));
  const std::string msg = Refusal(Yaml("replicas: 2", "  - {at: 1, kind: crash, pod: echo-1}\n", "service: {name: api}\n"));
  EXPECT_NE(msg.find("timeline[0].pod: pods are named api-N"), std::string::npos) << msg;
}

TEST(TimelineCheck, ApiFaultsAndUnnamedEventsNeedNoReplay) {
  ClusterScenario sc;
  TimelineEvent disconnect;
  disconnect.t_s = 1;
  disconnect.kind = TimelineEventKind::kDisconnect;
  TimelineEvent scale;
  scale.t_s = 2;
  scale.kind = TimelineEventKind::kScale;
  scale.replicas = 9;
  sc.timeline.push_back(disconnect);
  sc.timeline.push_back(scale);
  absl::StatusOr<std::optional<TimelineProblem>> problem = FindImpossiblePodEvent(sc);
  ASSERT_TRUE(problem.ok()) << problem.status();
  EXPECT_FALSE(problem->has_value());
}

TEST(TimelineCheck, TheSimulatorRefusesTheSameEvents) {
  // k8slb-sim validate/run parse with sim/scenario, which reads the timeline through the same code.
  const std::string yaml = "clients: {durationSeconds: 30}\n" +
                           Yaml("replicas: 3", "  - {at: 5, kind: evict, pod: echo-1}\n"
                                               "  - {at: 10, kind: crash, pod: echo-1}\n");
  absl::StatusOr<scenario::Scenario> sc = scenario::ParseScenario(yaml, "t.yaml");
  ASSERT_FALSE(sc.ok());
  EXPECT_EQ(std::string(sc.status().message()).rfind("t.yaml:5: timeline[1].pod: pod \"echo-1\" no longer exists", 0),
            0u)
      << sc.status();
}

}  // namespace
}  // namespace k8slb::fake
