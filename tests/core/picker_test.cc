// Pickers: exact tests with scripted randomness, statistical tests with stated tolerances, the
// eligibility rules, zone preference, concurrency of the round-robin counter, and "Pick() does
// not allocate".
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <new>
#include <optional>
#include <thread>
#include <tuple>

#include "k8slb/picker.h"
#include "k8slb/topology.h"
#include "picker_support.h"

// Counting global allocator. GCC 12 flags free() in a replaced operator delete as mismatched
// with the replaced operator new once both are inlined (both use malloc/free: a false positive).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
// Counting global allocator for the no-allocation test (this binary only).
namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace k8slb {
namespace {

using coretest::kTieFirst;
using coretest::kTieSecond;
using coretest::MakeEndpoints;
using coretest::MakeSet;
using coretest::ScriptIndex;
using coretest::ScriptPair;

PickerOptions Options(PickPolicy policy, std::shared_ptr<RandomSource> random,
                      std::optional<std::string> zone = std::nullopt, std::shared_ptr<Clock> clock = nullptr) {
  return PickerOptions{.policy = policy, .client_zone = std::move(zone), .random = std::move(random),
                       .clock = std::move(clock), .seed = 0};
}

size_t IndexOf(const EndpointSet& set, const Endpoint* e) {
  EXPECT_NE(e, nullptr);
  return static_cast<size_t>(e - set.endpoints().data());
}

void SetLoads(const EndpointSet& set, const std::vector<int64_t>& loads) {
  for (size_t i = 0; i < loads.size(); ++i) set.endpoints()[i].stats->in_flight.store(loads[i]);
}

TEST(PickPolicy, NamesRoundTrip) {
  EXPECT_EQ(PickPolicyName(PickPolicy::kRoundRobin), "round-robin");
  EXPECT_EQ(PickPolicyName(PickPolicy::kLeastRequest), "least-request");
  EXPECT_EQ(ParsePickPolicy("round-robin"), PickPolicy::kRoundRobin);
  EXPECT_EQ(ParsePickPolicy("least-request"), PickPolicy::kLeastRequest);
  EXPECT_EQ(ParsePickPolicy("random"), std::nullopt);
  EXPECT_EQ(ParsePickPolicy(""), std::nullopt);
}

TEST(Picker, EmptySetGivesNull) {
  for (PickPolicy p : {PickPolicy::kRoundRobin, PickPolicy::kLeastRequest}) {
    auto picker = MakePicker(MakeSet({}), Options(p, MakeSeededRandom(1), "zone-a"));
    EXPECT_EQ(picker->Pick(), nullptr);
    EXPECT_EQ(MakePicker(nullptr, Options(p, nullptr))->Pick(), nullptr);
  }
}

// ---- exact, scripted -------------------------------------------------------------------------------

TEST(RoundRobin, StartsAtTheScriptedOffsetAndRotates) {
  auto set = MakeSet(MakeEndpoints(5));
  auto picker = MakePicker(set, Options(PickPolicy::kRoundRobin, MakeScriptedRandom({ScriptIndex(2, 5)})));
  std::vector<size_t> got;
  for (int i = 0; i < 7; ++i) got.push_back(IndexOf(*set, picker->Pick()));
  EXPECT_EQ(got, (std::vector<size_t>{2, 3, 4, 0, 1, 2, 3}));
}

TEST(RoundRobin, KTimesNPicksGiveExactlyKEach) {
  for (size_t n : {1, 2, 3, 7, 100}) {
    auto set = MakeSet(MakeEndpoints(n));
    auto picker = MakePicker(set, Options(PickPolicy::kRoundRobin, MakeSeededRandom(n)));
    std::vector<int> counts(n);
    for (size_t i = 0; i < 5 * n; ++i) ++counts[IndexOf(*set, picker->Pick())];
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(counts[i], 5) << "n=" << n << " i=" << i;
  }
}

// Each thread rotates over its own lane of the counter (up to 16 threads), so two threads racing
// through 200,000 picks give every endpoint exactly its share, and the second thread's lane starts
// half way round from the first's, so their first picks differ.
TEST(RoundRobin, TwoThreadsRotateExactlyEachOnItsOwnLane) {
  const size_t n = 10;
  const int k = 20000;
  auto set = MakeSet(MakeEndpoints(n));
  auto picker = MakePicker(set, Options(PickPolicy::kRoundRobin, MakeScriptedRandom({ScriptIndex(3, n)})));
  std::vector<std::atomic<int>> counts(n);
  size_t first_a = n, first_b = n;
  auto work = [&](size_t& first) {
    first = IndexOf(*set, picker->Pick());
    counts[first].fetch_add(1);
    for (size_t i = 1; i < k * n / 2; ++i) counts[IndexOf(*set, picker->Pick())].fetch_add(1);
  };
  // One after the other starts its lane, so which lane started first is known.
  std::thread a(work, std::ref(first_a));
  while (counts[3].load() == 0) std::this_thread::yield();
  std::thread b(work, std::ref(first_b));
  a.join();
  b.join();
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(counts[i].load(), k) << i;
  EXPECT_EQ(first_a, 3u);
  EXPECT_EQ(first_b, 8u);  // 3 + 10 / 2
}

TEST(LeastRequest, ScriptedPairPicksTheLessLoaded) {
  auto set = MakeSet(MakeEndpoints(4));
  SetLoads(*set, {0, 3, 1, 1});
  // Pair (1, 3), one draw: loads 3 vs 1 → endpoint 3.
  auto picker = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeScriptedRandom({ScriptPair(1, 3, 4)})));
  EXPECT_EQ(IndexOf(*set, picker->Pick()), 3u);
  // Pair (3, 0) → endpoint 0 with load 0.
  picker = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeScriptedRandom({ScriptPair(3, 0, 4)})));
  EXPECT_EQ(IndexOf(*set, picker->Pick()), 0u);
  // Pair (3, 2): loads 1 vs 1 tie, the coin keeps the first, 3.
  picker = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeScriptedRandom({ScriptPair(3, 2, 4, kTieFirst)})));
  EXPECT_EQ(IndexOf(*set, picker->Pick()), 3u);
}

TEST(LeastRequest, TiesAreBrokenByThePairsCoin) {
  auto set = MakeSet(MakeEndpoints(4));
  SetLoads(*set, {2, 2, 2, 2});
  auto first = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeScriptedRandom({ScriptPair(1, 3, 4, kTieFirst)})));
  EXPECT_EQ(IndexOf(*set, first->Pick()), 1u);
  auto second = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeScriptedRandom({ScriptPair(1, 3, 4, kTieSecond)})));
  EXPECT_EQ(IndexOf(*set, second->Pick()), 3u);
}

// One draw gives every ordered pair of distinct indices equally often and a fair, independent
// coin: over 2^16 evenly spread draws for n = 5 each of the 20 pairs appears within 2 % of
// 1/20 and each (pair, coin) within 4 % of 1/40 (the reductions' bias is below n / 2^32; a
// sampler that allows first == second, or reuses a bit of the index as the coin, fails this).
TEST(SampleDistinctPair, EveryOrderedPairAndCoinEquallyOften) {
  const size_t n = 5;
  std::map<std::tuple<size_t, size_t, bool>, int> counts;
  const int draws = 1 << 16;
  auto r = MakeSeededRandom(3);
  for (int d = 0; d < draws; ++d) {
    DistinctPair p = SampleDistinctPair(r->Next(), n);
    ASSERT_NE(p.first, p.second);
    ASSERT_LT(p.first, n);
    ASSERT_LT(p.second, n);
    ++counts[{p.first, p.second, p.coin}];
  }
  ASSERT_EQ(counts.size(), 2 * n * (n - 1));
  for (const auto& [key, c] : counts) {
    EXPECT_NEAR(c, draws / 40.0, draws / 40.0 * 0.08) << std::get<0>(key) << "," << std::get<1>(key);
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      int both = counts[{i, j, false}] + counts[{i, j, true}];
      EXPECT_NEAR(both, draws / 20.0, draws / 20.0 * 0.06) << i << "," << j;
    }
  }
  // The scripted draws of the tests above decode to what they name.
  for (size_t m : {2u, 3u, 4u, 7u, 100000u}) {
    for (size_t i : {size_t{0}, size_t{1}, m - 1}) {
      for (size_t j : {size_t{0}, m / 2, m - 1}) {
        if (i == j) continue;
        for (bool coin : {false, true}) {
          DistinctPair p = SampleDistinctPair(ScriptPair(i, j, m, coin), m);
          EXPECT_EQ(p.first, i);
          EXPECT_EQ(p.second, j);
          EXPECT_EQ(p.coin, coin);
        }
      }
    }
  }
}

TEST(LeastRequest, SingleEndpointAndLoadsFromInFlightGuards) {
  auto one = MakeSet(MakeEndpoints(1));
  EXPECT_EQ(IndexOf(*one, MakePicker(one, Options(PickPolicy::kLeastRequest, nullptr))->Pick()), 0u);

  auto set = MakeSet(MakeEndpoints(2));
  auto picker = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeSeededRandom(3)));
  {
    InFlightGuard g(set->endpoints()[0].stats);
    EXPECT_EQ(set->endpoints()[0].stats->in_flight.load(), 1);
    for (int i = 0; i < 50; ++i) EXPECT_EQ(IndexOf(*set, picker->Pick()), 1u);
  }
  EXPECT_EQ(set->endpoints()[0].stats->in_flight.load(), 0);
}

// ---- statistical ------------------------------------------------------------------------------------

// Expected pick probabilities of P2C with distinct sampling: every unordered pair equally likely
// (1 / C(n,2)); the less loaded of the pair wins; a tie is a fair coin.
std::vector<double> ExactP2C(const std::vector<int64_t>& loads) {
  const size_t n = loads.size();
  std::vector<double> p(n, 0.0);
  const double pair = 2.0 / static_cast<double>(n * (n - 1));
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = a + 1; b < n; ++b) {
      if (loads[a] < loads[b]) {
        p[a] += pair;
      } else if (loads[b] < loads[a]) {
        p[b] += pair;
      } else {
        p[a] += pair / 2;
        p[b] += pair / 2;
      }
    }
  }
  return p;
}

// Draws `picks` with a seeded source and checks every frequency against the exact probability
// within 5 binomial standard deviations (per endpoint; a false alarm is < 1e-6 per check) and
// exact zeros where the probability is zero.
void ExpectP2CFrequencies(const std::vector<int64_t>& loads, const std::vector<double>& expected, uint64_t seed) {
  constexpr int kPicks = 60000;
  auto set = MakeSet(MakeEndpoints(loads.size()));
  SetLoads(*set, loads);
  auto picker = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeSeededRandom(seed)));
  std::vector<int> counts(loads.size());
  for (int i = 0; i < kPicks; ++i) ++counts[IndexOf(*set, picker->Pick())];
  for (size_t i = 0; i < loads.size(); ++i) {
    const double p = expected[i];
    if (p == 0.0) {
      EXPECT_EQ(counts[i], 0) << "endpoint " << i;
      continue;
    }
    const double sigma = std::sqrt(p * (1 - p) / kPicks);
    EXPECT_NEAR(static_cast<double>(counts[i]) / kPicks, p, 5 * sigma) << "endpoint " << i << " load " << loads[i];
  }
}

TEST(LeastRequestStatistics, Loads001NeverPickTheLoadedAndSplitTheIdleInHalves) {
  // Pairs {0,1} tie → 1/2 each, {0,2} → 0, {1,2} → 1: P = 1/2, 1/2, 0.
  EXPECT_EQ(ExactP2C({0, 0, 1}), (std::vector<double>{0.5, 0.5, 0.0}));
  ExpectP2CFrequencies({0, 0, 1}, {0.5, 0.5, 0.0}, 11);
}

TEST(LeastRequestStatistics, Loads012FollowThePairMath) {
  // {0,1} → 0, {0,2} → 0, {1,2} → 1: P = 2/3, 1/3, 0.
  const std::vector<double> want = {2.0 / 3, 1.0 / 3, 0.0};
  const std::vector<double> got = ExactP2C({0, 1, 2});
  for (size_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(got[i], want[i]);
  ExpectP2CFrequencies({0, 1, 2}, want, 12);
}

TEST(LeastRequestStatistics, Loads0112WithATie) {
  // 6 pairs: {0,x} → 0 three times; {1,2} tie; {1,3} → 1; {2,3} → 2: P = 1/2, 1/4, 1/4, 0.
  const std::vector<double> want = {0.5, 0.25, 0.25, 0.0};
  const std::vector<double> got = ExactP2C({0, 1, 1, 2});
  for (size_t i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(got[i], want[i]);
  ExpectP2CFrequencies({0, 1, 1, 2}, want, 13);
}

TEST(LeastRequestStatistics, RandomLoadsMatchThePairMath) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    auto r = MakeSeededRandom(seed * 977);
    std::vector<int64_t> loads(3 + seed * 2);
    for (int64_t& l : loads) l = static_cast<int64_t>(r->Uniform(4));
    ExpectP2CFrequencies(loads, ExactP2C(loads), seed);
  }
}

TEST(RoundRobinStatistics, RandomStartIsUniform) {
  // 3000 pickers over 3 endpoints: first picks ~1000 each; 5 sigma = 5·sqrt(3000·(1/3)(2/3)) ≈ 129.
  auto set = MakeSet(MakeEndpoints(3));
  auto random = MakeSeededRandom(99);
  std::vector<int> first(3);
  for (int i = 0; i < 3000; ++i) ++first[IndexOf(*set, MakePicker(set, Options(PickPolicy::kRoundRobin, random))->Pick())];
  for (int c : first) EXPECT_NEAR(c, 1000, 129);
}

// ---- eligibility -------------------------------------------------------------------------------------

TEST(Eligibility, RoundRobinSkipsFailingEndpoints) {
  auto set = MakeSet(MakeEndpoints(3));
  set->endpoints()[1].stats->connection_failing = true;
  auto picker = MakePicker(set, Options(PickPolicy::kRoundRobin, MakeScriptedRandom({ScriptIndex(0, 3)})));
  std::vector<size_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(IndexOf(*set, picker->Pick()));
  EXPECT_EQ(got, (std::vector<size_t>{0, 2, 0, 2}));
}

TEST(Eligibility, EjectionEndsWithTheInjectedClock) {
  auto clock = std::make_shared<ManualClock>(1000);
  auto set = MakeSet(MakeEndpoints(2));
  set->endpoints()[0].stats->SetEjectedUntil(5000);
  for (PickPolicy policy : {PickPolicy::kRoundRobin, PickPolicy::kLeastRequest}) {
    auto picker = MakePicker(set, Options(policy, MakeSeededRandom(5), std::nullopt, clock));
    for (int i = 0; i < 20; ++i) EXPECT_EQ(IndexOf(*set, picker->Pick()), 1u);
    clock->SetNanos(5000);
    std::map<size_t, int> counts;
    for (int i = 0; i < 200; ++i) ++counts[IndexOf(*set, picker->Pick())];
    EXPECT_GT(counts[0], 0);
    clock->SetNanos(1000);
  }
}

TEST(Eligibility, LeastRequestPrefersTheEligibleOfThePairOverLoad) {
  auto set = MakeSet(MakeEndpoints(2));
  SetLoads(*set, {0, 9});
  set->endpoints()[0].stats->connection_failing = true;
  auto picker = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeSeededRandom(8)));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(IndexOf(*set, picker->Pick()), 1u);
}

TEST(Eligibility, LeastRequestFindsTheOnlyEligibleOneInALargeSet) {
  // Retries then a scan: with 1 eligible in 1000, random pairs rarely hit it.
  auto set = MakeSet(MakeEndpoints(1000));
  for (const Endpoint& e : set->endpoints()) e.stats->connection_failing = true;
  set->endpoints()[617].stats->connection_failing = false;
  auto picker = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeSeededRandom(4)));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(IndexOf(*set, picker->Pick()), 617u);
}

TEST(Eligibility, NoneEligibleStillReturnsOne) {
  auto set = MakeSet(MakeEndpoints(4));
  for (const Endpoint& e : set->endpoints()) e.stats->connection_failing = true;
  for (PickPolicy policy : {PickPolicy::kRoundRobin, PickPolicy::kLeastRequest}) {
    auto picker = MakePicker(set, Options(policy, MakeSeededRandom(2), "zone-a"));
    for (int i = 0; i < 20; ++i) EXPECT_LT(IndexOf(*set, picker->Pick()), 4u);
  }
}

// ---- zone-aware --------------------------------------------------------------------------------------

std::shared_ptr<const EndpointSet> ZonedSet() {
  std::vector<Endpoint> es = MakeEndpoints(6);
  for (size_t i = 0; i < es.size(); ++i) {
    es[i].zone = i < 2 ? "zone-a" : "zone-b";
    es[i].hint_zones = {*es[i].zone};  // every endpoint hinted, as the controller writes them
  }
  return MakeSet(std::move(es));
}

TEST(ZoneAware, PrefersHintedEndpointsOfTheClientZone) {
  auto set = ZonedSet();
  for (PickPolicy policy : {PickPolicy::kRoundRobin, PickPolicy::kLeastRequest}) {
    auto picker = MakePicker(set, Options(policy, MakeSeededRandom(1), "zone-a"));
    std::map<std::string, int> counts;
    for (int i = 0; i < 100; ++i) {
      const Endpoint* e = picker->Pick();
      ++counts[e->hint_zones.empty() ? "" : e->hint_zones[0]];
    }
    EXPECT_EQ(counts["zone-a"], 100);
  }
}

TEST(ZoneAware, OneEndpointWithoutHintsTurnsThePreferenceOff) {
  // kube-proxy's rule: hints are used only when every endpoint has them (a slice the controller
  // has not hinted yet, or a Service without trafficDistribution, must not pin a zone).
  std::vector<Endpoint> es = MakeEndpoints(6);
  for (size_t i = 0; i < es.size(); ++i) {
    es[i].zone = i < 2 ? "zone-a" : "zone-b";
    if (i != 5) es[i].hint_zones = {*es[i].zone};
  }
  auto set = MakeSet(std::move(es));
  auto picker = MakePicker(set, Options(PickPolicy::kRoundRobin, MakeSeededRandom(1), "zone-a"));
  std::map<size_t, int> counts;
  for (int i = 0; i < 60; ++i) ++counts[IndexOf(*set, picker->Pick())];
  EXPECT_EQ(counts.size(), 6u);
  for (const auto& [i, c] : counts) EXPECT_EQ(c, 10) << i;
}

TEST(ZoneAware, FallsBackToAllWhenTheZoneHasNoUsableEndpoint) {
  auto set = ZonedSet();
  // No endpoint hinted for zone-c: round robin over all six (kube-proxy drops such hints too).
  auto picker = MakePicker(set, Options(PickPolicy::kRoundRobin, MakeSeededRandom(1), "zone-c"));
  std::map<size_t, int> counts;
  for (int i = 0; i < 60; ++i) ++counts[IndexOf(*set, picker->Pick())];
  EXPECT_EQ(counts.size(), 6u);
  for (const auto& [i, c] : counts) EXPECT_EQ(c, 10);
  // zone-a's endpoints failing: fall back to the others.
  set->endpoints()[0].stats->connection_failing = true;
  set->endpoints()[1].stats->connection_failing = true;
  picker = MakePicker(set, Options(PickPolicy::kLeastRequest, MakeSeededRandom(1), "zone-a"));
  for (int i = 0; i < 50; ++i) EXPECT_GE(IndexOf(*set, picker->Pick()), 2u);
}

// ---- topology: kube-proxy's rule (topology.h) ---------------------------------------------------------

// Six endpoints on nodes n0..n2 (two each) in zones za (n0, n1) and zb (n2), hinted as the
// EndpointSlice controller hints PreferSameNode: each for its own node and its own zone.
std::vector<Endpoint> NodeHintedEndpoints() {
  std::vector<Endpoint> es = MakeEndpoints(6);
  for (size_t i = 0; i < es.size(); ++i) {
    const std::string node = "n" + std::to_string(i / 2);
    es[i].node_name = node;
    es[i].zone = i < 4 ? "za" : "zb";
    es[i].hint_nodes = {node};
    es[i].hint_zones = {*es[i].zone};
  }
  return es;
}

std::vector<uint32_t> PodIndices(const std::vector<Endpoint>& es, const std::vector<uint32_t>& preferred) {
  std::vector<uint32_t> out;
  for (uint32_t k : preferred) out.push_back(static_cast<uint32_t>(std::stoi(es[k].pod_name.substr(5))));
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Topology, ChoosesSameNodeThenSameZoneThenAll) {
  struct Case {
    std::string what;
    std::optional<std::string> zone, node;
    std::function<void(std::vector<Endpoint>&)> edit;
    TopologyMode mode;
    std::vector<uint32_t> pods;  // the preferred pods' numbers
  };
  const std::vector<Case> cases = {
      {"node hinted for this node", "za", "n1", nullptr, TopologyMode::kSameNode, {2, 3}},
      {"node hints, no zone known", std::nullopt, "n2", nullptr, TopologyMode::kSameNode, {4, 5}},
      {"no endpoint for this node: zone", "za", "n9", nullptr, TopologyMode::kSameZone, {0, 1, 2, 3}},
      {"one endpoint without node hints: zone", "zb", "n0",
       [](std::vector<Endpoint>& es) { es[3].hint_nodes.clear(); }, TopologyMode::kSameZone, {4, 5}},
      {"no node known: zone", "zb", std::nullopt, nullptr, TopologyMode::kSameZone, {4, 5}},
      {"empty names count as unknown", "", "", nullptr, TopologyMode::kAll, {}},
      {"one endpoint without zone hints, no node: all", "za", std::nullopt,
       [](std::vector<Endpoint>& es) { es[0].hint_zones.clear(); }, TopologyMode::kAll, {}},
      {"no hints for this zone: all", "zq", std::nullopt, nullptr, TopologyMode::kAll, {}},
      {"a hint naming several zones counts for each", "zb", std::nullopt,
       [](std::vector<Endpoint>& es) { es[0].hint_zones = {"za", "zb"}; }, TopologyMode::kSameZone, {0, 4, 5}},
      {"nothing known about the client: all", std::nullopt, std::nullopt, nullptr, TopologyMode::kAll, {}},
  };
  for (const Case& c : cases) {
    std::vector<Endpoint> es = NodeHintedEndpoints();
    if (c.edit) c.edit(es);
    auto set = MakeSet(std::move(es));
    const TopologyChoice choice = ChooseTopology(set->endpoints(), ClientTopology{.zone = c.zone, .node = c.node});
    EXPECT_EQ(TopologyModeName(choice.mode), TopologyModeName(c.mode)) << c.what;
    EXPECT_EQ(PodIndices(set->endpoints(), choice.preferred), c.pods) << c.what;
  }
  EXPECT_EQ(ChooseTopology({}, ClientTopology{.zone = "za", .node = "n0"}).mode, TopologyMode::kAll);
}

TEST(Topology, PickerPrefersSameNodeAndFallsBackToAllWhenTheNodeCannotServe) {
  auto set = MakeSet(NodeHintedEndpoints());
  for (PickPolicy policy : {PickPolicy::kRoundRobin, PickPolicy::kLeastRequest}) {
    PickerOptions options = Options(policy, MakeSeededRandom(3), "za");
    options.client_node = "n1";
    auto picker = MakePicker(set, options);
    std::map<std::string, int> by_node;
    for (int i = 0; i < 100; ++i) ++by_node[*picker->Pick()->node_name];
    EXPECT_EQ(by_node["n1"], 100) << PickPolicyName(policy);
  }
  // Both of n1's endpoints failing: every endpoint again (not only za's), as for zones.
  for (const Endpoint& e : set->endpoints()) {
    if (e.node_name == "n1") e.stats->connection_failing = true;
  }
  PickerOptions options = Options(PickPolicy::kRoundRobin, MakeSeededRandom(3), "za");
  options.client_node = "n1";
  auto picker = MakePicker(set, options);
  std::map<std::string, int> by_node;
  for (int i = 0; i < 80; ++i) ++by_node[*picker->Pick()->node_name];
  EXPECT_EQ(by_node["n1"], 0);
  EXPECT_EQ(by_node["n0"], 40);
  EXPECT_EQ(by_node["n2"], 40);
}

// ---- no allocation on the pick path -----------------------------------------------------------------

TEST(Picker, PickDoesNotAllocate) {
  auto set = ZonedSet();
  set->endpoints()[3].stats->connection_failing = true;  // exercise the skip path too
  set->endpoints()[4].stats->SetEjectedUntil(std::numeric_limits<int64_t>::max());
  for (PickPolicy policy : {PickPolicy::kRoundRobin, PickPolicy::kLeastRequest}) {
    for (std::optional<std::string> zone : {std::optional<std::string>(), std::optional<std::string>("zone-b")}) {
      auto picker = MakePicker(set, Options(policy, nullptr, zone));
      picker->Pick();  // first use of the thread-local random state
      const int64_t before = g_allocations.load();
      for (int i = 0; i < 1000; ++i) picker->Pick();
      EXPECT_EQ(g_allocations.load(), before) << PickPolicyName(policy);
    }
  }
}

TEST(Picker, PickDoesNotAllocateWhileAnEndpointRamps) {
  std::vector<Endpoint> endpoints = MakeEndpoints(5);
  const int64_t start = 1'000'000'000;
  endpoints[2].stats->ready_since_nanos = start;
  auto set = MakeSet(std::move(endpoints));
  auto clock = std::make_shared<ManualClock>(start + 500'000'000);  // half way through a 1 s window
  for (PickPolicy policy : {PickPolicy::kRoundRobin, PickPolicy::kLeastRequest}) {
    PickerOptions options = Options(policy, nullptr, std::nullopt, clock);
    options.slow_start = SlowStartOptions{.window = std::chrono::seconds(1), .aggression = 2.0, .min_weight = 0.1};
    auto picker = MakePicker(set, options);
    picker->Pick();
    const int64_t before = g_allocations.load();
    for (int i = 0; i < 1000; ++i) picker->Pick();
    EXPECT_EQ(g_allocations.load(), before) << PickPolicyName(policy);
  }
}

// ---- InFlightGuard -----------------------------------------------------------------------------------

TEST(InFlightGuard, CountsForItsLifetimeAndMoves) {
  auto stats = std::make_shared<EndpointStats>();
  {
    InFlightGuard a(stats);
    EXPECT_EQ(stats->in_flight.load(), 1);
    InFlightGuard b(std::move(a));
    EXPECT_EQ(stats->in_flight.load(), 1);
    InFlightGuard c;
    c = std::move(b);
    EXPECT_EQ(stats->in_flight.load(), 1);
    c.Release();
    c.Release();  // idempotent
    EXPECT_EQ(stats->in_flight.load(), 0);
    InFlightGuard d(stats);
    InFlightGuard e(stats);
    EXPECT_EQ(stats->in_flight.load(), 2);
    d = std::move(e);  // d's own count ends, e's moves in
    EXPECT_EQ(stats->in_flight.load(), 1);
  }
  EXPECT_EQ(stats->in_flight.load(), 0);
  InFlightGuard null_guard(nullptr);  // harmless
}

// The dense records pickers read: EndpointStats' hot members are the records' atomics, each load
// record sits alone in one 8-byte slot and each signals record in a 32-byte one, and records handed
// out again start from zero (a comeback must not inherit a stranger's in-flight count or ejection).
TEST(EndpointStats, HotMembersLiveInAlignedRecordsThatAreResetOnReuse) {
  static_assert(sizeof(EndpointLoad) == 8);
  static_assert(sizeof(EndpointSignals) == 32);
  std::vector<const EndpointLoad*> records;
  {
    std::vector<std::unique_ptr<EndpointStats>> stats;
    for (int i = 0; i < 100; ++i) {
      stats.push_back(std::make_unique<EndpointStats>());
      EndpointStats& s = *stats.back();
      EXPECT_EQ(reinterpret_cast<uintptr_t>(&s.load()) % 8, 0u);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(&s.signals()) % 32, 0u);
      EXPECT_EQ(&s.in_flight, &s.load().in_flight);
      EXPECT_EQ(&s.ejected_until_nanos, &s.signals().ejected_until_nanos);
      EXPECT_EQ(&s.latency_ewma_nanos, &s.signals().latency_ewma_nanos);
      EXPECT_EQ(&s.connection_failing, &s.load().connection_failing);
      EXPECT_EQ(&s.latency_stamp_nanos, &s.signals().latency_stamp_nanos);
      EXPECT_FALSE(s.load().ever_ejected.load());
      s.in_flight.store(7);
      s.SetEjectedUntil(9);
      EXPECT_TRUE(s.load().ever_ejected.load());
      EXPECT_EQ(s.ejected_until_nanos.load(), 9);
      s.latency_ewma_nanos.store(3.5);
      s.connection_failing.store(true);
      s.latency_stamp_nanos.store(11);
      s.latency_answers.store(3);
      records.push_back(&s.load());
    }
    std::vector<const EndpointLoad*> sorted = records;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "two stats share a record";
  }
  std::vector<std::unique_ptr<EndpointStats>> again;
  for (int i = 0; i < 100; ++i) {
    again.push_back(std::make_unique<EndpointStats>());
    const EndpointLoad& r = again.back()->load();
    const EndpointSignals& g = again.back()->signals();
    EXPECT_EQ(r.in_flight.load(), 0);
    EXPECT_FALSE(r.ever_ejected.load());
    EXPECT_EQ(g.ejected_until_nanos.load(), 0);
    EXPECT_EQ(g.latency_ewma_nanos.load(), 0.0);
    EXPECT_FALSE(r.connection_failing.load());
    EXPECT_EQ(g.latency_stamp_nanos.load(), 0);
    EXPECT_EQ(g.latency_answers.load(), 0u);
  }
  // The freed records were taken again (memory stays bounded by the peak number of stats).
  int reused = 0;
  for (const auto& s : again) reused += std::count(records.begin(), records.end(), &s->load()) > 0;
  EXPECT_EQ(reused, 100);
}

}  // namespace
}  // namespace k8slb
