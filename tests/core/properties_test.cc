// The eight rules of docs/endpoint-semantics.md as properties, over generated slice histories (slice_model.h: up to six
// slices of up to 80 endpoints from shared address pools, so sets of well over 100 endpoints with
// duplicates across slices; all 27 condition combinations including nil; deletions; relists;
// slices of other services/namespaces; slices without the selected port).
//
// Teeth. Each property names the rule whose violation it catches; teeth_test.cc shows the store
// properties failing on doubles of the peers' bugs, and each property was also seen to fail by
// mutating the implementation:
//  1 Union      - kuberesolver's per-event replace (https://github.com/sercand/kuberesolver/issues/66),
//                 tonic-lb-k8s (insert-only), nil-ready read
//                 as not-ready (kuberesolver), dedup keeping the wrong copy, a slice without the
//                 selected port contributing, other services' slices counted.
//  2 Replace    - a relist that only inserts (tonic-lb-k8s).
//  3 Order      - a merge whose result depends on event order (last writer wins per HostPort,
//                 kuberesolver).
//  4 Picks      - a picker returning a stale endpoint (e.g. indexing a previous snapshot) or an
//                 ineligible one while an eligible exists; a store leaking not-ready endpoints.
//  5 RR exact   - any counter that skips or repeats (e.g. a per-thread counter, or random picks).
//  6 LR         - sampling with replacement (Envoy): the unique busiest endpoint gets picked when
//                 both draws hit it; comparing the wrong way; ignoring the second sample.
//  7 Topology   - no node/zone preference, a preference from partial hints (kube-proxy uses hints
//                 only when every endpoint has them), or no fallback when the preferred endpoints
//                 cannot serve.
//  8 Fallback   - using serving-terminating endpoints while a ready one exists, or using
//                 not-serving ones at all.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "k8slb/picker.h"
#include "k8slb/slice_store.h"
#include "picker_support.h"
#include "slice_model.h"

namespace k8slb::coretest {
namespace {

#define RC_ASSERT_HOLDS(expr)        \
  do {                               \
    auto failure_ = (expr);          \
    if (failure_) RC_FAIL(*failure_); \
  } while (0)

std::shared_ptr<const EndpointSet> RunHistory(const SliceStoreOptions& options, const History& history) {
  SliceStore store(options);
  ApiState api;
  for (const HistoryStep& s : history) {
    if (s.kind == HistoryStep::Kind::kEvent) {
      store.Apply(s.event);
    } else {
      store.Replace(s.relist);
    }
  }
  return store.Current();
}

// ---- 1 -------------------------------------------------------------------------------------------
RC_GTEST_PROP(StoreProperties, PublishedSetIsUnionOfUsableEndpointsOfCurrentSlices, ()) {
  const SliceStoreOptions options = *GenStoreOptions();
  const History history = *GenHistory();
  RC_ASSERT_HOLDS(CheckUnion(RealStore(), options, history));
}

// Everything a snapshot says except its version and stats pointers.
std::string Content(const EndpointSet& set) {
  std::string out = std::to_string(static_cast<int>(set.reason())) + "|" + std::to_string(set.known_endpoints()) +
                    "|" + std::to_string(set.slice_count());
  for (const Endpoint& e : set.endpoints()) {
    out += "|" + e.HostPort() + "," + std::to_string(e.ready) + std::to_string(e.serving) +
           std::to_string(e.terminating) + "," + e.slice_name + "," + e.pod_namespace + "/" + e.pod_name + "," + e.zone.value_or("-") + "," +
           e.node_name.value_or("-") + "," + e.hostname.value_or("-") + ",";
    for (const std::string& z : e.hint_zones) out += z + ";";
    out += ",";
    for (const std::string& node : e.hint_nodes) out += node + ";";
  }
  return out;
}

// Bookkeeping that goes with 1: the version moves iff the content moved, Apply/Replace report
// it, and an endpoint that stays known keeps its stats object (in-flight counts survive swaps).
RC_GTEST_PROP(StoreProperties, VersionsAndStatsFollowContent, ()) {
  const SliceStoreOptions options = *GenStoreOptions();
  const History history = *GenHistory();
  SliceStore store(options);
  int listener_calls = 0;
  store.SetListener([&](const std::shared_ptr<const EndpointSet>&) { ++listener_calls; });
  std::map<std::string, std::shared_ptr<EndpointStats>> seen;
  for (const HistoryStep& s : history) {
    auto before = store.Current();
    bool changed = s.kind == HistoryStep::Kind::kEvent ? store.Apply(s.event) : store.Replace(s.relist);
    auto after = store.Current();
    RC_ASSERT(changed == (before != after));
    RC_ASSERT(after->version() == before->version() + (changed ? 1 : 0));
    if (!changed) continue;
    RC_ASSERT(Content(*before) != Content(*after));  // a new version means new content
    std::vector<std::string> a, b;
    for (const Endpoint& e : before->endpoints()) a.push_back(e.HostPort());
    for (const Endpoint& e : after->endpoints()) b.push_back(e.HostPort());
    for (const Endpoint& e : after->endpoints()) {
      RC_ASSERT(e.stats != nullptr);
      auto it = before->Find(e.HostPort());
      if (it.has_value()) RC_ASSERT(before->endpoints()[*it].stats == e.stats);
    }
    RC_ASSERT(std::is_sorted(b.begin(), b.end()));
    RC_ASSERT(std::adjacent_find(b.begin(), b.end()) == b.end());  // dedup
    RC_ASSERT(after->known_endpoints() >= after->size());
  }
  RC_ASSERT(static_cast<uint64_t>(listener_calls) == store.Current()->version());
  // Coverage of the generator, printed by rapidcheck: big services, the fallback, empty sets.
  RC_CLASSIFY(store.Current()->known_endpoints() > 100, "over 100 endpoints");
  RC_CLASSIFY(store.Current()->slice_count() >= 2, "2+ slices");
  RC_CLASSIFY(store.Current()->reason() == UsableReason::kServingTerminatingFallback, "fallback");
  RC_CLASSIFY(store.Current()->empty(), "empty");
}

// ---- 2 -------------------------------------------------------------------------------------------
RC_GTEST_PROP(StoreProperties, ReplaceEqualsFreshStore, ()) {
  const SliceStoreOptions options = *GenStoreOptions();
  const History before = *GenHistory();
  const std::vector<EndpointSlice> list = *rc::gen::container<std::vector<EndpointSlice>>(
      static_cast<size_t>(*rc::gen::inRange(0, 7)), GenAnySlice());
  RC_ASSERT_HOLDS(CheckReplaceReconciles(RealStore(), options, before, list));
  // The real store also agrees on the slices it holds.
  SliceStore a(options), b(options);
  for (const HistoryStep& s : before) s.kind == HistoryStep::Kind::kEvent ? a.Apply(s.event) : a.Replace(s.relist);
  a.Replace(list);
  b.Replace(list);
  RC_ASSERT(a.SliceKeys() == b.SliceKeys());
  RC_ASSERT(a.Current()->known_endpoints() == b.Current()->known_endpoints());
  RC_ASSERT(a.Current()->reason() == b.Current()->reason());
}

// ---- 3 -------------------------------------------------------------------------------------------
rc::Gen<std::vector<size_t>> GenPermutation(size_t n) {
  return rc::gen::exec([n] {
    std::vector<std::pair<int, size_t>> keyed;
    for (size_t i = 0; i < n; ++i) keyed.emplace_back(*Choice(1 << 30), i);
    std::sort(keyed.begin(), keyed.end());
    std::vector<size_t> out;
    for (auto& [k, i] : keyed) out.push_back(i);
    return out;
  });
}

RC_GTEST_PROP(StoreProperties, FinalSlicesInAnyOrderGiveTheSameSet, ()) {
  const SliceStoreOptions options = *GenStoreOptions();
  const std::vector<EndpointSlice> final_slices = *GenDistinctSlices();
  RC_PRE(!final_slices.empty());
  const std::vector<size_t> permutation = *GenPermutation(final_slices.size());
  const History noise = *GenHistory();
  RC_ASSERT_HOLDS(CheckOrderIndependent(RealStore(), options, final_slices, permutation, noise));
}

// ---- 4 -------------------------------------------------------------------------------------------
RC_GTEST_PROP(PickerProperties, PicksComeFromTheSnapshotReadyAndEligibleFirst, ()) {
  const SliceStoreOptions options = *GenStoreOptions();
  const auto set = RunHistory(options, *GenHistory());
  const PickPolicy policy = *rc::gen::element(PickPolicy::kRoundRobin, PickPolicy::kLeastRequest);
  const std::optional<std::string> zone =
      *rc::gen::element<std::optional<std::string>>(std::nullopt, "zone-a", "zone-b", "zone-x");
  auto clock = std::make_shared<ManualClock>(1'000'000);
  bool any_ready = false, any_eligible = false;
  for (const Endpoint& e : set->endpoints()) {
    // Some endpoints failing, some ejected (until before or after now), some loaded.
    const int state = *Choice(8);
    e.stats->connection_failing.store(state == 0);
    if (state != 0) e.stats->SetEjectedUntil(state == 1 ? 2'000'000 : 500'000);
    e.stats->in_flight.store(*Choice(4));
    any_ready = any_ready || e.ready;
    any_eligible = any_eligible || e.stats->Eligible(clock->NowNanos());
  }
  auto picker = MakePicker(set, PickerOptions{.policy = policy, .client_zone = zone,
                                              .random = MakeSeededRandom(*GenSeed()),
                                              .clock = clock, .seed = 0});
  RC_ASSERT(&picker->set() == set.get());
  for (int i = 0; i < 200; ++i) {
    const Endpoint* e = picker->Pick();
    if (set->empty()) {
      RC_ASSERT(e == nullptr);
      continue;
    }
    RC_ASSERT(e != nullptr);
    RC_ASSERT(e >= set->endpoints().data() && e < set->endpoints().data() + set->size());
    if (any_ready) RC_ASSERT(e->ready);
    if (any_eligible) RC_ASSERT(e->stats->Eligible(clock->NowNanos()));
  }
}

// ---- 5 -------------------------------------------------------------------------------------------
RC_GTEST_PROP(PickerProperties, RoundRobinPicksEachEndpointExactlyKTimes, ()) {
  const size_t n = *rc::gen::inRange<size_t>(1, 400);
  const int k = *rc::gen::inRange(1, 5);
  const auto set = MakeSet(MakeEndpoints(n));
  auto picker = MakePicker(set, PickerOptions{.policy = PickPolicy::kRoundRobin, .client_zone = {},
                                              .random = MakeSeededRandom(*GenSeed()),
                                              .clock = nullptr, .seed = 0});
  std::map<const Endpoint*, int> counts;
  for (size_t i = 0; i < k * n; ++i) ++counts[picker->Pick()];
  RC_ASSERT(counts.size() == n);
  for (const auto& [e, c] : counts) RC_ASSERT(c == k);
}

// ---- 6 -------------------------------------------------------------------------------------------
RC_GTEST_PROP(PickerProperties, LeastRequestPicksTheLessLoadedOfTwoDistinctSamples, ()) {
  const size_t n = *rc::gen::inRange<size_t>(2, 60);
  const auto set = MakeSet(MakeEndpoints(n));
  std::vector<int64_t> loads = *rc::gen::container<std::vector<int64_t>>(n, rc::gen::resize(100, rc::gen::inRange<int64_t>(0, 6)));
  for (size_t i = 0; i < n; ++i) set->endpoints()[i].stats->in_flight.store(loads[i]);
  auto random = std::make_shared<RecordingRandom>(*GenSeed());
  auto picker = MakePicker(set, PickerOptions{.policy = PickPolicy::kLeastRequest, .client_zone = {},
                                              .random = random, .clock = nullptr, .seed = 0});
  const int64_t max_load = *std::max_element(loads.begin(), loads.end());
  const bool unique_max = std::count(loads.begin(), loads.end(), max_load) == 1;
  for (int p = 0; p < 300; ++p) {
    random->Clear();
    const Endpoint* e = picker->Pick();
    RC_ASSERT(e != nullptr);
    const size_t picked = static_cast<size_t>(e - set->endpoints().data());
    // Recover the two samples from the first draw (i from its high half, j from its low half
    // shifted past i).
    RC_ASSERT(random->drawn().size() >= 1u);
    const size_t i = UniformOf(random->drawn()[0] & 0xffffffff00000000u, n);
    size_t j = UniformOf(random->drawn()[0] << 32, n - 1);
    j += (j >= i);
    RC_ASSERT(i != j);
    RC_ASSERT(picked == i || picked == j);
    const size_t other = picked == i ? j : i;
    RC_ASSERT(loads[picked] <= loads[other]);
    if (unique_max) RC_ASSERT(loads[picked] != max_load);
  }
}

// ---- 7 -------------------------------------------------------------------------------------------
RC_GTEST_PROP(PickerProperties, TopologyAwarePrefersByKubeProxysRuleAndFallsBackToAll, ()) {
  const size_t n = *rc::gen::inRange<size_t>(1, 120);
  std::vector<Endpoint> endpoints = MakeEndpoints(n);
  const std::vector<std::string> zones = {"zone-a", "zone-b", "zone-c"};
  const std::vector<std::string> nodes = {"node-1", "node-2", "node-3", "node-4"};
  // Mostly fully hinted sets (as the controller writes them), sometimes one hint missing.
  const bool hint_every_zone = *Choice(4) != 0;
  const bool hint_every_node = *Choice(3) == 0;
  for (Endpoint& e : endpoints) {
    const int z = *Choice(4);
    if (z < 3) e.zone = zones[z];
    const std::string node = nodes[*Choice(4)];
    e.node_name = node;
    if (z < 3 && (hint_every_zone || *Choice(8) != 0)) e.hint_zones = {zones[z]};
    if (hint_every_node || *Choice(8) == 0) e.hint_nodes = {node};
    e.stats->connection_failing.store(*Choice(5) == 0);
  }
  const auto set = MakeSet(std::move(endpoints));
  const std::string client_zone = *rc::gen::element<std::string>("zone-a", "zone-b", "zone-x");
  const std::optional<std::string> client_node =
      *rc::gen::element<std::optional<std::string>>(std::nullopt, "node-1", "node-9");
  const PickPolicy policy = *rc::gen::element(PickPolicy::kRoundRobin, PickPolicy::kLeastRequest);
  auto picker = MakePicker(set, PickerOptions{.policy = policy, .client_zone = client_zone,
                                              .client_node = client_node,
                                              .random = MakeSeededRandom(*GenSeed()),
                                              .clock = nullptr, .seed = 0});
  // The oracle, written out here: same node when every endpoint has node hints and one names
  // the client's node; else same zone likewise; else nothing is preferred.
  auto names = [](const std::vector<std::string>& hints, const std::optional<std::string>& name) {
    return name.has_value() && std::find(hints.begin(), hints.end(), *name) != hints.end();
  };
  auto applies = [&](auto hints_of, const std::optional<std::string>& name) {
    bool all = true, one = false;
    for (const Endpoint& e : set->endpoints()) {
      all = all && !hints_of(e).empty();
      one = one || names(hints_of(e), name);
    }
    return all && one;
  };
  const bool by_node = applies([](const Endpoint& e) { return e.hint_nodes; }, client_node);
  const bool by_zone = !by_node && applies([](const Endpoint& e) { return e.hint_zones; }, client_zone);
  auto in_zone = [&](const Endpoint& e) {
    if (by_node) return names(e.hint_nodes, client_node);
    return by_zone && names(e.hint_zones, client_zone);
  };
  bool in_zone_usable = false, any_eligible = false;
  for (const Endpoint& e : set->endpoints()) {
    const bool eligible = !e.stats->connection_failing.load();
    in_zone_usable = in_zone_usable || (in_zone(e) && eligible);
    any_eligible = any_eligible || eligible;
  }
  std::set<const Endpoint*> seen;
  for (size_t p = 0; p < 4 * n; ++p) {
    const Endpoint* e = picker->Pick();
    RC_ASSERT(e != nullptr);
    if (in_zone_usable) RC_ASSERT(in_zone(*e));
    if (any_eligible) RC_ASSERT(!e->stats->connection_failing.load());
    seen.insert(e);
  }
  // "Else from all": with no preferred usable endpoint, round robin reaches every eligible one.
  if (!in_zone_usable && policy == PickPolicy::kRoundRobin) {
    size_t eligible = 0;
    for (const Endpoint& e : set->endpoints()) eligible += e.stats->connection_failing.load() ? 0 : 1;
    if (eligible > 0) RC_ASSERT(seen.size() == eligible);
  }
}

// ---- 8 -------------------------------------------------------------------------------------------
RC_GTEST_PROP(StoreProperties, ServingTerminatingUsedOnlyWhenNoneIsReady, ()) {
  const SliceStoreOptions options = *GenStoreOptions();
  const History history = *GenHistory();
  RC_ASSERT_HOLDS(CheckFallbackOnlyWhenNoneReady(RealStore(), options, history));
  // And the snapshot says so.
  const auto set = RunHistory(options, history);
  const bool any_not_ready = std::any_of(set->endpoints().begin(), set->endpoints().end(),
                                         [](const Endpoint& e) { return !e.ready; });
  if (any_not_ready) RC_ASSERT(set->reason() == UsableReason::kServingTerminatingFallback);
  if (set->empty()) RC_ASSERT(set->reason() == UsableReason::kNone);
}

}  // namespace
}  // namespace k8slb::coretest
