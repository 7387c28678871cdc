// The simulator's own sections of a scenario file, beside the cluster half: clients.discovery
// overrides (absent = the library's defaults).
#include <string>

#include "gtest/gtest.h"
#include "sim/scenario/scenario.h"

namespace k8slb::scenario {
namespace {

TEST(SimulatorScenario, DiscoveryOverridesAreOptional) {
  absl::StatusOr<Scenario> none = ParseScenario("{}", "d.yaml");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->clients.discovery.backoff_initial_s.has_value());
  EXPECT_FALSE(none->clients.discovery.backoff_max_s.has_value());

  absl::StatusOr<Scenario> both =
      ParseScenario("clients:\n  discovery: {backoffInitialSeconds: 0.2, backoffMaxSeconds: 5}\n", "d.yaml");
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->clients.discovery.backoff_initial_s, 0.2);
  EXPECT_EQ(both->clients.discovery.backoff_max_s, 5);
}

TEST(SimulatorScenario, DiscoveryOverridesAreChecked) {
  struct Case {
    const char* yaml;
    const char* message;
  };
  for (const Case& c : {
           Case{"clients:\n  discovery: {backoffInitialSeconds: 0}\n",
                "d.yaml:2: clients.discovery.backoffInitialSeconds: must be greater than 0, got 0"},
           Case{"clients:\n  discovery:\n    backoffInitialSeconds: 2\n    backoffMaxSeconds: 1\n",
                "d.yaml:4: clients.discovery.backoffMaxSeconds: must be at least backoffInitialSeconds (2), got 1"},
           Case{"clients:\n  discovery: {jitter: 1}\n",
                "d.yaml:2: clients.discovery.jitter: unknown field (allowed: backoffInitialSeconds, backoffMaxSeconds)"},
       }) {
    absl::StatusOr<Scenario> sc = ParseScenario(c.yaml, "d.yaml");
    ASSERT_FALSE(sc.ok()) << c.yaml;
    EXPECT_EQ(std::string(sc.status().message()), c.message);
  }
}

}  // namespace
}  // namespace k8slb::scenario
