// Shared helpers for the cluster model tests: a cluster on a ManualClock, time advance through the
// model's timers, and views of the Service's slices keyed by pod name.
#ifndef K8SLB_TESTS_CLUSTER_CLUSTER_TEST_UTIL_H_
#define K8SLB_TESTS_CLUSTER_CLUSTER_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fakeapi/model/cluster.h"
#include "k8slb/random.h"
#include "sim/scenario/scenario.h"

namespace k8slb::fake::testing {

constexpr int64_t kSecond = 1'000'000'000;

struct TestCluster {
  std::shared_ptr<ManualClock> clock;
  std::unique_ptr<Cluster> cluster;

  // Advances virtual time to now + seconds, running every model timer at its own instant.
  void Advance(double seconds) {
    int64_t target = clock->NowNanos() + static_cast<int64_t>(seconds * 1e9);
    for (int guard = 0; guard < 1'000'000; ++guard) {
      std::optional<int64_t> next = cluster->NextTimerNanos();
      if (!next || *next > target) break;
      if (*next > clock->NowNanos()) clock->SetNanos(*next);
      cluster->RunDue();
    }
    clock->SetNanos(target);
    cluster->RunDue();
  }
};

inline scenario::Scenario MakeScenario(int replicas, int max_per_slice = 100,
                                       std::vector<std::string> zones = {"zone-a"}) {
  scenario::Scenario s;
  s.name = "test";
  s.seed = 7;
  s.pods.replicas = replicas;
  s.pods.startup_s = 2;
  s.pods.drain_s = 1;
  s.pods.termination_grace_s = 30;
  s.cluster.max_endpoints_per_slice = max_per_slice;
  s.cluster.zones = std::move(zones);
  s.cluster.pod_cidr = "127.1.0.0/16";
  s.cluster.crash_detect_s = 3;
  return s;
}

inline TestCluster FromScenario(const scenario::Scenario& s) {
  TestCluster t;
  t.clock = std::make_shared<ManualClock>(0);
  auto c = Cluster::FromScenario(s, t.clock);
  EXPECT_TRUE(c.ok()) << c.status();
  if (c.ok()) t.cluster = std::move(*c);
  return t;
}

inline TestCluster Empty(ClusterOptions options = {}) {
  TestCluster t;
  t.clock = std::make_shared<ManualClock>(0);
  auto c = Cluster::Create(std::move(options), t.clock);
  EXPECT_TRUE(c.ok()) << c.status();
  if (c.ok()) t.cluster = std::move(*c);
  return t;
}

// pod name → the endpoint's conditions, over all slices of the Service (fails on duplicates).
struct EndpointView {
  bool ready = false, serving = false, terminating = false;
  std::string slice;
  std::string address;
  std::vector<std::string> hint_zones;
  std::vector<std::string> hint_nodes;
};
inline std::map<std::string, EndpointView> Endpoints(const Cluster& c, const std::string& svc = "echo",
                                                     const std::string& ns = "default") {
  std::map<std::string, EndpointView> out;
  for (const EndpointSlice& s : c.Slices(ns, svc)) {
    for (const SliceEndpoint& e : s.endpoints) {
      std::string name = e.target_ref ? e.target_ref->name : e.addresses.front();
      EXPECT_EQ(out.count(name), 0u) << "duplicate endpoint " << name;
      out[name] = EndpointView{.ready = e.conditions.EffectiveReady(), .serving = e.conditions.EffectiveServing(),
                               .terminating = e.conditions.EffectiveTerminating(), .slice = s.metadata.name,
                               .address = e.addresses.front(), .hint_zones = e.hint_zones,
                               .hint_nodes = e.hint_nodes};
    }
  }
  return out;
}

inline std::vector<PodInfo> LivePods(const Cluster& c) {
  std::vector<PodInfo> out;
  for (const PodInfo& p : c.Pods()) {
    if (!p.deleted_nanos) out.push_back(p);
  }
  return out;
}

}  // namespace k8slb::fake::testing

#endif  // K8SLB_TESTS_CLUSTER_CLUSTER_TEST_UTIL_H_
