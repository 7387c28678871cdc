// Tests of the live engine's parts on loopback: the kube-proxy-like pinning proxy, the
// headless-DNS client's re-resolution rule, the open-loop load generator, the pod fleet's
// per-port servers and counts, and a live run with a crash and a slow pod (echo servers stopped
// hard / slowed as the model says).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "echo_server/echo_server.h"
#include "k8slb/discovery.h"
#include "sim/engine/engine.h"
#include "sim/engine/recorder.h"
#include "sim/live/live_engine.h"
#include "sim/live/pod_fleet.h"
#include "sim/live/pod_network.h"
#include "sim/live/load_generator.h"
#include "sim/live/strategies.h"
#include "sim/live/tcp_proxy.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim::live {
namespace {

using std::chrono::milliseconds;

std::chrono::system_clock::time_point Deadline(int ms = 2000) {
  return std::chrono::system_clock::now() + milliseconds(ms);
}

struct Pods {
  std::vector<std::unique_ptr<echo::EchoServer>> servers;
  std::vector<Backend> backends;
};

// Echo servers on 127.0.220.{1..n}, ephemeral ports (no clash with parallel tests).
Pods StartPods(int n) {
  Pods pods;
  for (int i = 1; i <= n; ++i) {
    echo::EchoServerOptions o;
    o.listen = "127.0.220." + std::to_string(i) + ":0";
    o.pod_name = "pod-" + std::to_string(i);
    auto s = echo::EchoServer::Start(o);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) continue;
    pods.backends.push_back({"127.0.220." + std::to_string(i), (*s)->port()});
    pods.servers.push_back(std::move(*s));
  }
  return pods;
}

TEST(PinningTcpProxyTest, PinsEachConnectionToOneBackend) {
  Pods pods = StartPods(3);
  ASSERT_EQ(pods.backends.size(), 3u);
  std::atomic<size_t> next{0};
  std::vector<std::string> pinned;
  std::mutex mu;
  PinningTcpProxy proxy({.listen_host = "127.0.0.2",
                         .listen_port = 0,
                         .pick = [&]() -> std::optional<Backend> {
                           return pods.backends[next.fetch_add(1) % pods.backends.size()];
                         },
                         .on_pinned = [&](const Backend& b) {
                           std::lock_guard<std::mutex> lock(mu);
                           pinned.push_back(b.host);
                         },
                         .io = nullptr});
  ASSERT_TRUE(proxy.Start().ok());
  // Three clients (three connections): each sticks to one pod; together they cover all three.
  std::set<std::string> used;
  for (int c = 0; c < 3; ++c) {
    ClusterIpClient client(proxy.address());
    std::set<std::string> seen;
    for (int i = 0; i < 20; ++i) {
      CallOutcome out = client.Call(i, Deadline());
      ASSERT_TRUE(out.ok);
      seen.insert(out.pod);
    }
    EXPECT_EQ(seen.size(), 1u) << "one connection must stay on one pod";
    used.insert(*seen.begin());
  }
  EXPECT_EQ(used.size(), 3u);
  EXPECT_EQ(proxy.connections_accepted(), 3u);
  proxy.Stop();
}

TEST(PinningTcpProxyTest, NoBackendMeansConnectionFails) {
  PinningTcpProxy proxy({.listen_host = "127.0.0.2",
                         .listen_port = 0,
                         .pick = []() -> std::optional<Backend> { return std::nullopt; },
                         .on_pinned = nullptr,
                         .io = nullptr});
  ASSERT_TRUE(proxy.Start().ok());
  ClusterIpClient client(proxy.address());
  CallOutcome out = client.Call(1, Deadline(500));
  EXPECT_FALSE(out.ok);
  EXPECT_GE(proxy.connections_accepted(), 1u);
}

TEST(PinningTcpProxyTest, BackendDeathMovesTheConnection) {
  Pods pods = StartPods(2);
  ASSERT_EQ(pods.backends.size(), 2u);
  std::atomic<int> alive_mask{3};
  PinningTcpProxy proxy({.listen_host = "127.0.0.2",
                         .listen_port = 0,
                         .pick = [&]() -> std::optional<Backend> {
                           return (alive_mask.load() & 1) ? pods.backends[0] : pods.backends[1];
                         },
                         .on_pinned = nullptr,
                         .io = nullptr});
  ASSERT_TRUE(proxy.Start().ok());
  ClusterIpClient client(proxy.address());
  CallOutcome first = client.Call(1, Deadline());
  ASSERT_TRUE(first.ok);
  EXPECT_EQ(first.pod, "pod-1");
  alive_mask.store(2);
  pods.servers[0]->Kill();
  // After the pinned pod dies the channel reconnects through the proxy to the other pod.
  std::string last;
  for (int i = 0; i < 50 && last != "pod-2"; ++i) {
    CallOutcome out = client.Call(i, Deadline(500));
    if (out.ok) {
      last = out.pod;
    } else {
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  EXPECT_EQ(last, "pod-2");
}

TEST(HeadlessDnsClientTest, ResolvesOnceAndReResolvesOnlyAfterFailureAndInterval) {
  Pods pods = StartPods(3);
  ASSERT_EQ(pods.backends.size(), 3u);
  std::vector<Backend> dns = {pods.backends[0], pods.backends[1]};
  std::mutex mu;
  double now = 0;
  int lookups = 0;
  HeadlessDnsClient client(
      [&]() {
        std::lock_guard<std::mutex> lock(mu);
        ++lookups;
        return dns;
      },
      [&]() {
        std::lock_guard<std::mutex> lock(mu);
        return now;
      },
      30.0);
  std::map<std::string, int> counts;
  for (int i = 0; i < 40; ++i) {
    CallOutcome out = client.Call(i, Deadline());
    ASSERT_TRUE(out.ok);
    counts[out.pod]++;
  }
  // round_robin over the resolved pair: both used, about evenly.
  EXPECT_EQ(counts.size(), 2u);
  // Exact alternation starts once both subchannels are READY; the first calls may all go to
  // whichever connected first.
  EXPECT_NEAR(counts["pod-1"], 20, 4);
  // DNS now also has pod-3, but nothing failed: no re-resolution.
  {
    std::lock_guard<std::mutex> lock(mu);
    dns.push_back(pods.backends[2]);
  }
  for (int i = 0; i < 20; ++i) EXPECT_NE(client.Call(i, Deadline()).pod, "pod-3");
  EXPECT_EQ(client.resolutions(), 1);
  // Both resolved pods die: failures, but within 30 s no re-resolution.
  pods.servers[0]->Kill();
  pods.servers[1]->Kill();
  {
    std::lock_guard<std::mutex> lock(mu);
    now = 10;
  }
  EXPECT_FALSE(client.Call(1, Deadline(300)).ok);
  EXPECT_EQ(client.resolutions(), 1);
  // 30 s after the first resolution, the pending request is served before the next call:
  // the new answer holds only pod-3 (DNS drops the dead pods).
  {
    std::lock_guard<std::mutex> lock(mu);
    now = 31;
    dns = {pods.backends[2]};
  }
  CallOutcome out = client.Call(3, Deadline());
  EXPECT_TRUE(out.ok);
  EXPECT_EQ(out.pod, "pod-3");
  EXPECT_EQ(client.resolutions(), 2);
  EXPECT_EQ(lookups, 2);
  // A broken connection to a resolved pod requests re-resolution too, still rate limited.
  {
    std::lock_guard<std::mutex> lock(mu);
    dns = {pods.backends[2]};
    now = 40;
  }
  client.OnConnectionBroken(pods.backends[2].host);
  EXPECT_TRUE(client.Call(4, Deadline()).ok);
  EXPECT_EQ(client.resolutions(), 2);  // 9 s after the last one: not yet
  {
    std::lock_guard<std::mutex> lock(mu);
    now = 61.5;
  }
  EXPECT_TRUE(client.Call(5, Deadline()).ok);
  EXPECT_EQ(client.resolutions(), 3);
}

TEST(LoadGeneratorTest, OpenLoopSendsAtTheScenarioRate) {
  RunInfo info;
  info.strategies = {"s"};
  RunRecorder recorder(info);
  ScenarioClock clock(std::chrono::steady_clock::now(), 2.0);  // twice as fast
  std::atomic<int> calls{0};
  LoadGenerator gen({.strategy = "s", .rate_rps = 100, .concurrency = 2, .start_s = 0,
                     .end_s = 2.0, .rpc_timeout = milliseconds(500)},
                    clock, recorder, [&](uint64_t, std::chrono::system_clock::time_point) {
                      calls.fetch_add(1);
                      return CallOutcome{.ok = true, .pod = "p"};
                    });
  gen.Start();
  gen.Join();  // ends by itself at scenario t = 2 s (1 s of wall time)
  // 2 scenario seconds at 100/s: slots 0..199.
  EXPECT_EQ(calls.load(), 200);
  Report r = recorder.Snapshot(2.0, true);
  ASSERT_NE(r.FindStrategy("s"), nullptr);
  EXPECT_EQ(r.FindStrategy("s")->ok, 200u);
}

// k8slb clients get the library's DiscoveryOptions, changed only where the scenario says so.
TEST(DiscoverySettingsTest, LibraryDefaultsUnlessTheScenarioOverridesThem) {
  auto plain = scenario::ParseScenario("clients: {count: 1}\n", "plain.yaml");
  ASSERT_TRUE(plain.ok()) << plain.status();
  DiscoveryOptions options;
  ApplyDiscoveryOverrides(plain->clients.discovery, &options);
  const DiscoveryOptions defaults;
  EXPECT_EQ(options.backoff_initial, defaults.backoff_initial);
  EXPECT_EQ(options.backoff_max, defaults.backoff_max);

  auto tuned = scenario::ParseScenario(
      "clients: {discovery: {backoffInitialSeconds: 0.2, backoffMaxSeconds: 5}}\n", "tuned.yaml");
  ASSERT_TRUE(tuned.ok()) << tuned.status();
  ApplyDiscoveryOverrides(tuned->clients.discovery, &options);
  EXPECT_EQ(options.backoff_initial, milliseconds(200));
  EXPECT_EQ(options.backoff_max, milliseconds(5000));

  auto only_max = scenario::ParseScenario("clients: {discovery: {backoffMaxSeconds: 2}}\n", "m.yaml");
  ASSERT_TRUE(only_max.ok());
  DiscoveryOptions partly;
  ApplyDiscoveryOverrides(only_max->clients.discovery, &partly);
  EXPECT_EQ(partly.backoff_initial, defaults.backoff_initial);
  EXPECT_EQ(partly.backoff_max, milliseconds(2000));

  for (const auto& [yaml, message] : std::vector<std::pair<std::string, std::string>>{
           {"clients: {discovery: {backoffInitialSeconds: 2, backoffMaxSeconds: 1}}\n",
            "bad.yaml:1: clients.discovery.backoffMaxSeconds: must be at least backoffInitialSeconds (2), got 1"},
           {"clients: {discovery: {backoffInitialSeconds: 0}}\n",
            "bad.yaml:1: clients.discovery.backoffInitialSeconds: must be greater than 0, got 0"},
           {"clients: {discovery: {stallSeconds: 3}}\n", "clients.discovery"}}) {
    auto bad = scenario::ParseScenario(yaml, "bad.yaml");
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(std::string(bad.status().message()).find(message), std::string::npos) << bad.status();
  }
}

// Every pod serves every port of the fleet (one Service port per strategy is how server-side
// counts can be told apart), and the servers count what they answered per port, also across a
// stop.
TEST(PodFleetTest, ServesEveryPortAndCountsPerPort) {
  RunInfo info;
  info.strategies = {"s"};
  RunRecorder recorder(info);
  PodFleet fleet({.ports = {50061, 50062}, .latency_mean_ms = 0.1}, recorder);
  fake::PodInfo pod;
  pod.name = "echo-0";
  pod.address = "127.0.220.40";
  pod.ready = true;
  pod.serving = true;
  fleet.OnPodChange(pod, 0);
  ASSERT_TRUE(fleet.WaitIdle(milliseconds(10000)));
  ASSERT_TRUE(fleet.errors().empty()) << fleet.errors()[0];
  std::vector<Backend> ready = fleet.ReadyBackends();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].port, 50061);  // the first port is the Service port
  auto first = MakeIsolatedChannel("ipv4:127.0.220.40:50061", "");
  auto second = MakeIsolatedChannel("ipv4:127.0.220.40:50062", "");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(EchoOnce(first, i, Deadline()).ok);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(EchoOnce(second, i, Deadline()).ok);
  auto counts = fleet.ServedCounts();
  EXPECT_EQ(counts["echo-0"][50061], 3u);
  EXPECT_EQ(counts["echo-0"][50062], 2u);
  pod.terminating = true;  // the process exits after its drain
  pod.serving = false;
  fleet.OnPodChange(pod, 1);
  ASSERT_TRUE(fleet.WaitIdle(milliseconds(10000)));
  EXPECT_FALSE(EchoOnce(second, 9, Deadline(500)).ok);
  counts = fleet.ServedCounts();
  EXPECT_EQ(counts["echo-0"][50061], 3u);
  EXPECT_EQ(counts["echo-0"][50062], 2u);
  EXPECT_EQ(fleet.servers_started(), 1);
}

// A live run with a crash (echo server killed, no slice change until the model notices) and a
// slow pod: k8slb's least-request shifts load off the slow pod and stops using the crashed one.
// In the run's network namespace (skipped, with the reason, where none can be made) and on the
// host's loopback with the explicit opt-in.
class LiveEngineTest : public ::testing::TestWithParam<RunOptions::PodNetwork> {};

TEST_P(LiveEngineTest, CrashAndSlowPod) {
  if (GetParam() == RunOptions::PodNetwork::kNamespace) {
    if (auto why = PodNamespaceUnavailable()) GTEST_SKIP() << "no private network namespace: " << *why;
  }
  constexpr char kYaml[] = R"(
name: crash-slow
seed: 3
service: {name: echo, namespace: default, port: 50051, portName: grpc}
cluster: {zones: [zone-a], podCIDR: 127.0.214.0/24, crashDetectSeconds: 1}
pods: {replicas: 3, startupSeconds: 0.3, latency: {meanMs: 2.0}, drainSeconds: 0.2, terminationGraceSeconds: 5}
clients: {count: 1, rateRps: 200, concurrency: 8, durationSeconds: 5}
strategies: [least-request]
timeline:
  - {at: 0.5, kind: slow, pod: echo-0, factor: 20}
  - {at: 2, kind: crash, pod: echo-1}
)";
  auto sc = scenario::ParseScenario(kYaml, "crash-slow.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();
  RunOptions options;
  options.mode = RunMode::kLive;
  options.seed = 3;
  options.pod_network = GetParam();
  options.allow_loopback_endpoints = GetParam() == RunOptions::PodNetwork::kLoopback;
  RunRecorder recorder(MakeRunInfo(*sc, options));
  auto summary = RunLive(*sc, options, recorder);
  ASSERT_TRUE(summary.ok()) << summary.status();
  Report r = recorder.Snapshot(5, true);
  const StrategyReport* lr = r.FindStrategy("least-request");
  ASSERT_NE(lr, nullptr);
  for (const auto& [pod, n] : lr->per_pod) std::printf("  %s: %lu\n", pod.c_str(), n);
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[1].kind, "crash");
  // The slow pod (40 ms) gets far less than an even share of 1,000 RPCs.
  ASSERT_TRUE(lr->per_pod.count("echo-2"));
  EXPECT_LT(lr->per_pod.count("echo-0") ? lr->per_pod.at("echo-0") : 0, lr->per_pod.at("echo-2") / 2);
  // echo-1 served only until its crash at t = 2 of 5 s; a crash costs at most the calls in
  // flight and those sent before the channel notices (a handful), never a steady error rate.
  ASSERT_TRUE(lr->per_pod.count("echo-1"));
  EXPECT_LT(lr->per_pod.at("echo-1"), lr->per_pod.at("echo-2") * 3 / 4);
  EXPECT_LT(lr->failed, 100u);
  EXPECT_GT(summary->rpcs, 800u);
  ASSERT_FALSE(r.pods.empty());
  EXPECT_EQ(r.pods.front().address,
            GetParam() == RunOptions::PodNetwork::kNamespace ? "198.18.0.1" : "127.0.214.1");
}

INSTANTIATE_TEST_SUITE_P(PodNetwork, LiveEngineTest,
                         ::testing::Values(RunOptions::PodNetwork::kNamespace,
                                           RunOptions::PodNetwork::kLoopback),
                         [](const ::testing::TestParamInfo<RunOptions::PodNetwork>& info) {
                           return info.param == RunOptions::PodNetwork::kNamespace
                                      ? std::string("Namespace")
                                      : std::string("Loopback");
                         });

}  // namespace
}  // namespace k8slb::sim::live
