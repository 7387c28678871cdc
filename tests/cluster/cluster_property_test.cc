// Property: over random operation sequences and time advances, whenever the model
// is quiescent (after each call / RunDue, no batching), the usable endpoints of the slices, as the
// library's SliceStore computes them from the watch stream, are exactly the model's ready pods
// (or, when none is ready, its serving-and-terminating pods: the kube-proxy fallback).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

#include "cluster_test_util.h"
#include "k8slb/slice_store.h"

namespace k8slb::fake::testing {
namespace {

std::set<std::string> ExpectedUsable(const Cluster& c) {
  std::set<std::string> ready, fallback;
  for (const PodInfo& p : c.Pods()) {
    if (p.deleted_nanos || p.address.empty() || p.labels.count("app") == 0 || p.labels.at("app") != "echo") continue;
    if (p.ready && !p.terminating) ready.insert(p.name);
    if (p.ready && p.terminating) fallback.insert(p.name);
  }
  return ready.empty() ? fallback : ready;
}

std::set<std::string> UsableIn(const SliceStore& store) {
  std::set<std::string> out;
  for (const Endpoint& e : store.Current()->endpoints()) out.insert(e.pod_name);
  return out;
}

RC_GTEST_PROP(ClusterProperty, SlicesMatchReadyPodsAtEveryQuiescentVersion, ()) {
  scenario::Scenario s = MakeScenario(*rc::gen::inRange(0, 6), *rc::gen::inRange(1, 5), {"zone-a", "zone-b"});
  s.seed = *rc::gen::inRange<uint64_t>(1, 1000);
  s.pods.startup_s = *rc::gen::element(0.0, 0.5, 2.0);
  s.pods.drain_s = *rc::gen::element(0.0, 1.0, 3.0);
  TestCluster t = FromScenario(s);
  RC_ASSERT(t.cluster != nullptr);
  Cluster& c = *t.cluster;

  SliceStore store(SliceStoreOptions{.service_name = "echo", .namespace_name = "default",
                                     .port = PortSelector::ByName("grpc")});
  store.Replace(c.Slices("default", "echo"));  // the initial list
  uint64_t last_rv = c.resource_version();
  c.Subscribe([&](const StoredEvent& e) {
    RC_ASSERT(e.resource_version > last_rv);
    last_rv = e.resource_version;
    if (e.kind != ResourceKind::kEndpointSlice) return;
    SliceEventType type = e.type == ChangeType::kAdded      ? SliceEventType::kAdded
                          : e.type == ChangeType::kModified ? SliceEventType::kModified
                                                            : SliceEventType::kDeleted;
    store.Apply(SliceEvent{.type = type, .slice = *e.slice});
  });

  auto check = [&] {
    std::set<std::string> expected = ExpectedUsable(c);
    RC_ASSERT(UsableIn(store) == expected);
    // And the slices' own shape: at most max per slice, every endpoint once.
    std::set<std::string> seen;
    for (const EndpointSlice& sl : c.Slices("default", "echo")) {
      RC_ASSERT(static_cast<int>(sl.endpoints.size()) <= s.cluster.max_endpoints_per_slice);
      for (const SliceEndpoint& e : sl.endpoints) RC_ASSERT(seen.insert(e.addresses.front()).second);
    }
  };
  check();

  int replicas = s.pods.replicas;
  const int steps = *rc::gen::inRange(5, 40);
  bool zone_down = false;
  for (int i = 0; i < steps; ++i) {
    std::vector<PodInfo> live = LivePods(c);
    auto pick = [&]() -> std::string {
      if (live.empty()) return "echo-none";
      return live[*rc::gen::inRange<size_t>(0, live.size())].name;
    };
    switch (*rc::gen::inRange(0, 9)) {
      case 0:
        replicas = *rc::gen::inRange(0, 9);
        RC_ASSERT(c.Scale("default", "echo", replicas).ok());
        break;
      case 1: (void)c.DeletePod("default", pick()); break;
      case 2: {
        int surge = *rc::gen::inRange(0, 3);
        int unavailable = *rc::gen::inRange(surge == 0 ? 1 : 0, 3);
        RC_ASSERT(c.Rollout("default", "echo", surge, unavailable).ok());
        break;
      }
      case 3: (void)c.SetPodNotReady("default", pick(), *rc::gen::inRange<int64_t>(1, 5) * kSecond); break;
      case 4: (void)c.CrashPod("default", pick()); break;
      case 5:
        if (!zone_down && *rc::gen::arbitrary<bool>()) {
          RC_ASSERT(c.ZoneDown("zone-b").ok());
          zone_down = true;
        }
        break;
      default: t.Advance(*rc::gen::inRange(0, 40) / 10.0); break;
    }
    check();
  }
  t.Advance(120);  // everything settles: replicas are back and ready, rollouts are done
  check();
  std::vector<PodInfo> live = LivePods(c);
  RC_ASSERT(static_cast<int>(live.size()) == replicas);
  std::set<std::string> hashes;
  for (const PodInfo& p : live) {
    RC_ASSERT(p.ready && p.serving && !p.terminating && !p.crashed);
    RC_ASSERT(p.zone == "zone-a" || !zone_down);
    hashes.insert(p.template_hash);
  }
  RC_ASSERT(hashes.size() <= 1u);
  RC_ASSERT(ExpectedUsable(c).size() == live.size());
}

}  // namespace
}  // namespace k8slb::fake::testing
