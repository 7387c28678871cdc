// Zone spill (topology.h, TopologySpillOptions): a picker leaves its preferred endpoints while
// this client's requests in flight per eligible endpoint of the pool in use stay above the band,
// and returns below it. Loads are set by hand on the endpoints' stats, so every expectation is a
// count over a bounded number of picks: checks run every 16 picks on these small sets, the first
// check of a pool takes the load as it is, and later ones blend it in with weight 1/4.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "k8slb/picker.h"
#include "k8slb/topology.h"
#include "picker_support.h"

namespace k8slb {
namespace {

using coretest::MakeEndpoints;
using coretest::MakeSet;

// Two endpoints in zone-a, four in zone-b, every one hinted for its zone (PreferSameZone).
std::shared_ptr<const EndpointSet> OnePodHeavyZoneSet() {
  std::vector<Endpoint> es = MakeEndpoints(6);
  for (size_t i = 0; i < es.size(); ++i) {
    es[i].zone = i < 2 ? "zone-a" : "zone-b";
    es[i].hint_zones = {*es[i].zone};
  }
  return MakeSet(std::move(es));
}

void SetInFlight(const EndpointSet& set, const std::vector<int32_t>& loads) {
  for (size_t i = 0; i < loads.size(); ++i) set.endpoints()[i].stats->in_flight.store(loads[i]);
}

PickerOptions ZoneA(PickPolicy policy, uint64_t seed) {
  PickerOptions options;
  options.policy = policy;
  options.client_zone = "zone-a";
  options.random = MakeSeededRandom(seed);
  return options;
}

// Picks `n` times; how many went outside zone-a.
int OutOfZone(const Picker& picker, int n) {
  int out = 0;
  for (int i = 0; i < n; ++i) out += *picker.Pick()->zone != "zone-a";
  return out;
}

constexpr PickPolicy kPolicies[] = {PickPolicy::kRoundRobin, PickPolicy::kLeastRequest};

TEST(TopologySpill, OptionsAreValidatedByName) {
  EXPECT_TRUE(ValidateTopologySpillOptions({}).ok());
  struct Case {
    TopologySpillOptions options;
    std::string field;
  };
  const std::vector<Case> bad = {
      {{.low_load = -0.1}, "topology_spill.low_load"},
      {{.low_load = std::nan("")}, "topology_spill.low_load"},
      {{.high_load = INFINITY}, "topology_spill.high_load"},
      {{.low_load = 1.0, .high_load = 1.0}, "topology_spill.high_load must be a finite number above low_load (1)"},
      {{.high_load = std::nan("")}, "topology_spill.high_load"},
  };
  for (const Case& c : bad) {
    absl::Status status = ValidateTopologySpillOptions(c.options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(std::string(status.message()).find(c.field), std::string::npos) << status.message();
  }
}

TEST(TopologySpill, StaysInTheZoneWhileItsLoadIsWithinTheBand) {
  auto set = OnePodHeavyZoneSet();
  SetInFlight(*set, {2, 2, 0, 0, 0, 0});  // 2.0 per zone-a endpoint: at the band's top, not above
  for (PickPolicy policy : kPolicies) {
    auto picker = MakePicker(set, ZoneA(policy, 1));
    EXPECT_EQ(OutOfZone(*picker, 1000), 0) << PickPolicyName(policy);
    EXPECT_FALSE(picker->topology_spilled());
  }
}

TEST(TopologySpill, SpillsAboveTheBandAndReturnsBelowIt) {
  for (PickPolicy policy : kPolicies) {
    auto set = OnePodHeavyZoneSet();
    SetInFlight(*set, {3, 3, 0, 0, 0, 0});  // 3 per zone-a endpoint > 2.0
    auto picker = MakePicker(set, ZoneA(policy, 2));
    // The first check, at the 16th pick, sees 3.0 and spills; every later pick may leave the zone.
    EXPECT_EQ(OutOfZone(*picker, 15), 0) << PickPolicyName(policy);
    const int spilled_out = OutOfZone(*picker, 600);
    EXPECT_TRUE(picker->topology_spilled()) << PickPolicyName(policy);
    // Spilled: 6 in flight over 6 endpoints is 1.0, above the low mark: it stays out. Round robin
    // sends 4 of every 6 to zone-b; least-request all but the rare pair of two zone-a endpoints.
    if (policy == PickPolicy::kRoundRobin) {
      EXPECT_NEAR(spilled_out, 400, 2);
    } else {
      EXPECT_GE(spilled_out, 540);
    }
    // The zone's calls finish: 0 in flight anywhere. The spilled pool's EWMA falls from 1.0 by a
    // quarter per check (0.75 < 0.8 at the next one), so it is back within two checks.
    SetInFlight(*set, {0, 0, 0, 0, 0, 0});
    OutOfZone(*picker, 32);
    EXPECT_FALSE(picker->topology_spilled()) << PickPolicyName(policy);
    EXPECT_EQ(OutOfZone(*picker, 500), 0) << PickPolicyName(policy);
  }
}

TEST(TopologySpill, TheBandIsAHysteresis) {
  // Zone-a at 2.0 per endpoint (not above the top), all six at 8/6 = 1.33 (not below the bottom):
  // a picker that is local stays local, one that has spilled stays out.
  for (PickPolicy policy : kPolicies) {
    auto set = OnePodHeavyZoneSet();
    auto local = MakePicker(set, ZoneA(policy, 3));
    auto spilled = MakePicker(set, ZoneA(policy, 3));
    SetInFlight(*set, {5, 5, 0, 0, 0, 0});
    OutOfZone(*spilled, 16);
    ASSERT_TRUE(spilled->topology_spilled());
    SetInFlight(*set, {2, 2, 1, 1, 1, 1});
    EXPECT_EQ(OutOfZone(*local, 800), 0) << PickPolicyName(policy);
    EXPECT_FALSE(local->topology_spilled());
    EXPECT_GT(OutOfZone(*spilled, 800), 400) << PickPolicyName(policy);
    EXPECT_TRUE(spilled->topology_spilled());
  }
}

TEST(TopologySpill, OneOverloadedCheckIsSmoothedOnceTheZoneHasHistory) {
  auto set = OnePodHeavyZoneSet();
  auto picker = MakePicker(set, ZoneA(PickPolicy::kLeastRequest, 4));
  SetInFlight(*set, {1, 1, 0, 0, 0, 0});
  OutOfZone(*picker, 32);  // two checks at 1.0
  // One burst of 3.0 per endpoint for one check: 1.0 + (3.0 - 1.0) / 4 = 1.5, within the band.
  SetInFlight(*set, {3, 3, 0, 0, 0, 0});
  EXPECT_EQ(OutOfZone(*picker, 16), 0);
  SetInFlight(*set, {1, 1, 0, 0, 0, 0});
  EXPECT_EQ(OutOfZone(*picker, 200), 0);
  EXPECT_FALSE(picker->topology_spilled());
  // Held at 3.0 from about 1.0, the EWMA goes 1.5, 1.875, 2.16: the third check spills.
  SetInFlight(*set, {3, 3, 0, 0, 0, 0});
  int checks = 0;
  while (!picker->topology_spilled() && checks < 10) {
    OutOfZone(*picker, 16);
    ++checks;
  }
  EXPECT_TRUE(picker->topology_spilled());
  EXPECT_GE(checks, 2);
  EXPECT_LE(checks, 6);
}

TEST(TopologySpill, DisabledKeepsKubeProxysRuleHoweverLoaded) {
  auto set = OnePodHeavyZoneSet();
  SetInFlight(*set, {50, 50, 0, 0, 0, 0});
  for (PickPolicy policy : kPolicies) {
    PickerOptions options = ZoneA(policy, 5);
    options.topology_spill.enabled = false;
    auto picker = MakePicker(set, options);
    EXPECT_EQ(OutOfZone(*picker, 500), 0) << PickPolicyName(policy);
    EXPECT_FALSE(picker->topology_spilled());
  }
}

TEST(TopologySpill, IneligibleEndpointsDoNotCountAndAPoolThatCannotServeChangesNothing) {
  auto set = OnePodHeavyZoneSet();
  // One zone-a endpoint failing with a stale count of 9: the other one, at 1, is the zone's load.
  SetInFlight(*set, {9, 1, 0, 0, 0, 0});
  set->endpoints()[0].stats->connection_failing = true;
  auto picker = MakePicker(set, ZoneA(PickPolicy::kLeastRequest, 6));
  std::map<size_t, int> counts;
  for (int i = 0; i < 400; ++i) ++counts[static_cast<size_t>(picker->Pick() - set->endpoints().data())];
  EXPECT_EQ(counts[1], 400);
  EXPECT_FALSE(picker->topology_spilled());
  // Both failing: the fallback to all endpoints serves, and the spill state stays as it was.
  set->endpoints()[1].stats->connection_failing = true;
  EXPECT_EQ(OutOfZone(*picker, 400), 400);
  EXPECT_FALSE(picker->topology_spilled());
}

TEST(TopologySpill, ANodePoolSpillsToEveryEndpoint) {
  // PreferSameNode hints: n0 holds endpoints 0 and 1 (zone za with n1's 2 and 3), n2 holds 4 and 5
  // (zone zb). Spilling leaves the node for all six, not for the node's zone only.
  std::vector<Endpoint> es = MakeEndpoints(6);
  for (size_t i = 0; i < es.size(); ++i) {
    es[i].node_name = "n" + std::to_string(i / 2);
    es[i].zone = i < 4 ? "za" : "zb";
    es[i].hint_nodes = {*es[i].node_name};
    es[i].hint_zones = {*es[i].zone};
  }
  auto set = MakeSet(std::move(es));
  SetInFlight(*set, {4, 4, 0, 0, 0, 0});
  PickerOptions options;
  options.policy = PickPolicy::kRoundRobin;
  options.client_zone = "za";
  options.client_node = "n0";
  options.random = MakeSeededRandom(7);
  auto picker = MakePicker(set, options);
  std::map<std::string, int> by_node;
  for (int i = 0; i < 15; ++i) ++by_node[*picker->Pick()->node_name];
  EXPECT_EQ(by_node["n0"], 15);
  by_node.clear();
  for (int i = 0; i < 600; ++i) ++by_node[*picker->Pick()->node_name];
  EXPECT_TRUE(picker->topology_spilled());
  EXPECT_NEAR(by_node["n0"], 200, 2);
  EXPECT_NEAR(by_node["n1"], 200, 2);
  EXPECT_NEAR(by_node["n2"], 200, 2);
}

TEST(TopologySpill, LargePoolsAreCheckedLessOftenButStillSpill) {
  // 2,000 endpoints, 1,000 in zone-a: a check reads the pool, so it runs every 2,048 picks.
  std::vector<Endpoint> es = MakeEndpoints(2000);
  for (size_t i = 0; i < es.size(); ++i) {
    es[i].zone = i % 2 == 0 ? "zone-a" : "zone-b";
    es[i].hint_zones = {*es[i].zone};
  }
  auto set = MakeSet(std::move(es));
  for (const Endpoint& e : set->endpoints()) e.stats->in_flight.store(*e.zone == "zone-a" ? 3 : 0);
  auto picker = MakePicker(set, ZoneA(PickPolicy::kLeastRequest, 8));
  EXPECT_EQ(OutOfZone(*picker, 2047), 0);
  EXPECT_FALSE(picker->topology_spilled());
  OutOfZone(*picker, 1);
  EXPECT_TRUE(picker->topology_spilled());
}

TEST(TopologySpill, WithoutAPreferenceNothingSpills) {
  auto set = MakeSet(MakeEndpoints(4));
  SetInFlight(*set, {9, 9, 9, 9});
  PickerOptions options;
  options.client_zone = "zone-a";  // no endpoint has hints: no preference
  options.random = MakeSeededRandom(9);
  auto picker = MakePicker(set, options);
  for (int i = 0; i < 100; ++i) ASSERT_NE(picker->Pick(), nullptr);
  EXPECT_FALSE(picker->topology_spilled());
}

}  // namespace
}  // namespace k8slb
