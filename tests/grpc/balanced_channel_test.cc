// BalancedChannel against real echo servers on 127.0.1.x, fed by a ManualEndpointSource: spread,
// scale-up, removal, rolling update, crash, discovery outage, no endpoints.
#include "k8slb/balanced_channel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <set>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "test_pods.h"

namespace k8slb::testing {
namespace {

using std::chrono::milliseconds;

echo::EchoRequest Request(uint64_t id) {
  echo::EchoRequest req;
  req.set_message("m");
  req.set_request_id(id);
  return req;
}

std::vector<std::unique_ptr<echo::EchoServer>> StartPods(int n, double latency_ms = 0, int first_octet = 1) {
  std::vector<std::unique_ptr<echo::EchoServer>> pods;
  for (int i = 0; i < n; ++i) pods.push_back(StartPod("echo-" + std::to_string(i), first_octet + i, latency_ms));
  return pods;
}

std::shared_ptr<BalancedChannel> MakeChannel(std::shared_ptr<EndpointSource> source, BalancedChannelOptions options) {
  auto channel = BalancedChannel::Create(std::move(source), std::move(options));
  EXPECT_TRUE(channel.ok()) << channel.status();
  return *channel;
}

TEST(BalancedChannelTest, RoundRobinSpreadsExactlyEvenlyOverFivePods) {
  auto pods = StartPods(5);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints(EndpointsOf(pods));
  auto channel = MakeChannel(source, TestOptions(PickPolicy::kRoundRobin));
  EchoClient client(channel);
  std::map<std::string, int> counts;
  for (int i = 0; i < 500; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
    echo::EchoResponse resp;
    grpc::Status s = client->Echo(&ctx, Request(i), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.request_id(), static_cast<uint64_t>(i));
    ++counts[resp.pod_name()];
  }
  ASSERT_EQ(counts.size(), 5u);
  for (const auto& [pod, n] : counts) EXPECT_EQ(n, 100) << pod;
  // Metrics agree with what the servers saw.
  ChannelMetrics m = channel->Metrics();
  ASSERT_EQ(m.endpoints.size(), 5u);
  for (const EndpointMetrics& e : m.endpoints) {
    EXPECT_EQ(e.picks, 100u) << e.pod_name;
    EXPECT_EQ(e.successes, 100u) << e.pod_name;
    EXPECT_EQ(e.in_flight, 0);
  }
}

// Every power-of-two-choices policy over the real gRPC path, where calls take well under a
// millisecond and the first call to a pod also waits for its connection: 1000 RPCs from 4 threads
// over 5 equal pods, 200 expected per pod. Uniform random picking alone has a standard deviation
// of about 12.6 per pod; ±25 % (±50) is about 4 σ, so a failure means a real bias, not noise.
// latency-ewma follows measured latency, and pods that are equal on a quiet machine are not while
// other processes take the cores (ctest -j, CI): a pod whose server thread waits for a core is
// slower for a while, and the policy moves calls off it. Its bound is therefore "no pod starved or
// flooded" (half to one and a half times the fair share; on a quiet machine it stays within
// ±25 % as least-request does: docs/policies.md). peak-ewma is not among them: one slow call
// prices a pod at its peak for seconds (τ = 10 s), so its spread of idle equal pods is uneven by
// design (Finagle's trade).
class EvenSpreadOverGrpcTest : public ::testing::TestWithParam<std::string_view> {};

TEST_P(EvenSpreadOverGrpcTest, SpreadsEvenlyWithinTolerance) {
  const std::optional<NamedPolicy> named = FindNamedPolicy(GetParam());
  ASSERT_TRUE(named.has_value());
  auto pods = StartPods(5);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints(EndpointsOf(pods));
  BalancedChannelOptions options = TestOptions(named->policy);
  options.load_signal = named->load_signal;
  auto channel = MakeChannel(source, options);
  EchoClient client(channel);
  absl::Mutex mu;
  std::map<std::string, int> counts;  // under mu
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
        echo::EchoResponse resp;
        grpc::Status s = client->Echo(&ctx, Request(t * 1000 + i), &resp);
        if (!s.ok()) {
          ++failures;
          continue;
        }
        absl::MutexLock lock(&mu);
        ++counts[resp.pod_name()];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  absl::MutexLock lock(&mu);
  ASSERT_EQ(counts.size(), 5u);
  const bool follows_latency = RecordsLatency(named->load_signal);
  for (const auto& [pod, n] : counts) {
    EXPECT_GE(n, follows_latency ? 100 : 150) << pod;
    EXPECT_LE(n, follows_latency ? 300 : 250) << pod;
  }
}

INSTANTIATE_TEST_SUITE_P(NamedPolicies, EvenSpreadOverGrpcTest,
                         ::testing::Values("least-request", "latency-ewma", "orca-weighted"),
                         [](const ::testing::TestParamInfo<std::string_view>& info) {
                           std::string name(info.param);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(BalancedChannelTest, NewEndpointReceivesRpcsSoonAfterTheSnapshot) {
  auto pods = StartPods(4);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints(EndpointsOf(pods));
  auto channel = MakeChannel(source, TestOptions());
  EchoClient client(channel);
  Traffic traffic(client, 2);
  std::this_thread::sleep_for(milliseconds(200));
  pods.push_back(StartPod("echo-new", 9));
  auto published = Clock::now();
  source->SetEndpoints(EndpointsOf(pods));
  ASSERT_TRUE(WaitFor([&] { return pods.back()->completed() > 0; }, milliseconds(3000)));
  auto first = Clock::now();
  std::this_thread::sleep_for(milliseconds(200));
  traffic.Stop();
  auto results = traffic.results();
  EXPECT_EQ(Failures(results), 0);
  // The first RPC the new pod answered, as seen by the client.
  auto first_client = Clock::time_point::max();
  for (const Result& r : results) {
    if (r.pod == "echo-new") first_client = std::min(first_client, r.end);
  }
  ASSERT_NE(first_client, Clock::time_point::max());
  auto reaction = std::chrono::duration_cast<std::chrono::microseconds>(std::min(first, first_client) - published);
  std::cout << "[ measure ] new endpoint's first RPC " << reaction.count() / 1000.0 << " ms after the snapshot\n";
  // The expected figure is about a millisecond (bench/grpc measures it); this bound only catches
  // a new endpoint that is not used at all, with room for a loaded machine.
  EXPECT_LT(reaction, milliseconds(1000));
  EXPECT_GT(CountByPod(results)["echo-new"], 10);
}

TEST(BalancedChannelTest, RemovedEndpointGetsNoNewRpcsAndItsInFlightOnesComplete) {
  auto pods = StartPods(5, /*latency_ms=*/50);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints(EndpointsOf(pods));
  auto channel = MakeChannel(source, TestOptions());
  EchoClient client(channel);
  Traffic traffic(client, 10);
  std::this_thread::sleep_for(milliseconds(300));
  echo::EchoServer& leaving = *pods[2];
  std::shared_ptr<EndpointStats> stats = source->Current()->endpoints()[2].stats;
  ASSERT_EQ(source->Current()->endpoints()[2].pod_name, "echo-2");
  // Wait for a moment when the leaving pod has calls in flight, then remove it.
  ASSERT_TRUE(WaitFor([&] { return stats->in_flight.load() > 0; }, milliseconds(2000)));
  std::vector<Endpoint> rest = EndpointsOf(pods);
  rest.erase(rest.begin() + 2);
  source->SetEndpoints(rest);
  int64_t in_flight_at_removal = stats->in_flight.load();
  // Calls picked just before the swap reach the server within a few ms; after that, nothing new.
  std::this_thread::sleep_for(milliseconds(30));
  uint64_t received = leaving.received();
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(leaving.received(), received) << "a removed endpoint received new RPCs";
  EXPECT_EQ(leaving.completed(), leaving.received()) << "in-flight RPCs of the removed endpoint did not complete";
  traffic.Stop();
  auto results = traffic.results();
  EXPECT_EQ(Failures(results), 0);
  EXPECT_GT(in_flight_at_removal + static_cast<int64_t>(received), 0);
  EXPECT_EQ(stats->in_flight.load(), 0);
  // The removed endpoint's channel is released once its last call ended.
  EXPECT_TRUE(WaitFor([&] { return channel->Metrics().draining_endpoints == 0; }, milliseconds(2000)));
  EXPECT_EQ(channel->Metrics().endpoints.size(), 4u);
}

TEST(BalancedChannelTest, RollingUpdateOfFivePodsHasNoFailedRpcs) {
  // maxSurge 1, maxUnavailable 0: start a new pod, add it; remove an old pod from the set, then
  // stop it gracefully (the endpoints controller drops a terminating pod before it exits).
  auto old_pods = StartPods(5, /*latency_ms=*/2, 1);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints(EndpointsOf(old_pods));
  auto channel = MakeChannel(source, TestOptions());
  EchoClient client(channel);
  Traffic traffic(client, 4, milliseconds(3000), std::chrono::microseconds(500));
  std::this_thread::sleep_for(milliseconds(200));
  std::vector<std::unique_ptr<echo::EchoServer>> new_pods;
  for (int i = 0; i < 5; ++i) {
    new_pods.push_back(StartPod("echo-v2-" + std::to_string(i), 11 + i, 2));
    std::vector<Endpoint> set = EndpointsOf(new_pods);
    for (int j = i; j < 5; ++j) set.push_back(EndpointOf(*old_pods[j]));
    source->SetEndpoints(set);
    std::this_thread::sleep_for(milliseconds(100));
    set.erase(std::remove_if(set.begin(), set.end(),
                             [&](const Endpoint& e) { return e.pod_name == old_pods[i]->pod_name(); }),
              set.end());
    source->SetEndpoints(set);
    // The preStop drain: a call picked just before the swap may still be on its way; a server
    // that has begun shutting down cancels calls that arrive (Kubernetes needs the same pause
    // between endpoint removal and SIGTERM for the same reason).
    std::this_thread::sleep_for(milliseconds(100));
    old_pods[i]->Shutdown(milliseconds(2000));
    std::this_thread::sleep_for(milliseconds(50));
  }
  std::this_thread::sleep_for(milliseconds(200));
  traffic.Stop();
  auto results = traffic.results();
  ASSERT_GT(results.size(), 200u);
  EXPECT_EQ(Failures(results), 0);
  for (const Result& r : results) {
    if (r.code != grpc::StatusCode::OK) ADD_FAILURE() << r.message;
  }
  auto counts = CountByPod(results);
  for (const auto& p : new_pods) EXPECT_GT(counts[p->pod_name()], 0) << p->pod_name();
}

TEST(BalancedChannelTest, CrashedPodCostsAtMostAboutTheEjectionThresholdThenNothing) {
  auto pods = StartPods(5);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints(EndpointsOf(pods));
  BalancedChannelOptions options = TestOptions();
  options.outlier.consecutive_unavailable = 5;
  auto channel = MakeChannel(source, options);
  EchoClient client(channel);
  constexpr int kThreads = 4;
  Traffic traffic(client, kThreads, milliseconds(3000), std::chrono::microseconds(200));
  std::this_thread::sleep_for(milliseconds(300));
  auto crash = Clock::now();
  pods[3]->Kill();  // no snapshot change: discovery does not know yet
  std::this_thread::sleep_for(milliseconds(1500));
  traffic.Stop();
  auto results = traffic.results();
  int failures = 0;
  int late_failures = 0;
  for (const Result& r : results) {
    if (r.code == grpc::StatusCode::OK) continue;
    ++failures;
    // UNAVAILABLE for calls that met the dead connection; CANCELLED for the calls in flight when
    // the in-process server was killed (it cancels them; a killed process would reset instead).
    EXPECT_TRUE(r.code == grpc::StatusCode::UNAVAILABLE || r.code == grpc::StatusCode::CANCELLED) << r.message;
    if (r.start > crash + milliseconds(500)) ++late_failures;
  }
  std::cout << "[ measure ] failed RPCs after the crash: " << failures << "\n";
  // The calls in flight at the crash, plus the consecutive failures that eject the pod (or the
  // connection's TRANSIENT_FAILURE, whichever comes first), plus the calls other threads picked
  // meanwhile: at most threshold + 2 × concurrency.
  EXPECT_LE(failures, 5 + 2 * kThreads);
  EXPECT_EQ(late_failures, 0);
  size_t after = 0;
  for (const Result& r : results) after += r.start > crash + milliseconds(500) && r.code == grpc::StatusCode::OK;
  EXPECT_GT(after, 100u);
  ChannelMetrics m = channel->Metrics();
  for (const EndpointMetrics& e : m.endpoints) {
    if (e.pod_name == "echo-3") {
      EXPECT_TRUE(e.connection_failing || e.ejected) << "dead pod still eligible";
    }
  }
}

TEST(BalancedChannelTest, PodAnsweringUnavailableIsEjectedAfterExactlyTheThreshold) {
  // The connection stays healthy but the pod answers UNAVAILABLE: only outlier ejection helps.
  auto pods = StartPods(5, 0, 51);
  pods[1]->SetErrorRate(1.0);  // default injected code: UNAVAILABLE
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints(EndpointsOf(pods));
  BalancedChannelOptions options = TestOptions(PickPolicy::kRoundRobin);
  options.outlier.base_ejection_time = std::chrono::seconds(60);
  auto channel = MakeChannel(source, options);
  EchoClient client(channel);
  int failures = 0;
  for (int i = 0; i < 300; ++i) {
    grpc::ClientContext ctx;
    echo::EchoResponse resp;
    grpc::Status s = client->Echo(&ctx, Request(i), &resp);
    if (!s.ok()) {
      ++failures;
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    }
  }
  // Sequential calls: exactly the threshold fails, then the pod is out for a minute.
  EXPECT_EQ(failures, 5);
  ChannelMetrics m = channel->Metrics();
  for (const EndpointMetrics& e : m.endpoints) {
    EXPECT_EQ(e.ejected, e.pod_name == "echo-1") << e.pod_name;
    EXPECT_EQ(e.ejections, e.pod_name == "echo-1" ? 1u : 0u) << e.pod_name;
  }
}

TEST(BalancedChannelTest, DiscoveryOutageKeepsTrafficOnTheLastKnownPods) {
  auto pods = StartPods(5);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  DiscoveryStats healthy;
  healthy.synced = true;
  healthy.last_sync_unix_ms = 1;
  source->SetDiscovery(healthy);
  source->SetEndpoints(EndpointsOf(pods));
  auto channel = MakeChannel(source, TestOptions());
  EchoClient client(channel);
  Traffic traffic(client, 3);
  std::this_thread::sleep_for(milliseconds(200));
  // The API server goes away: discovery reports errors and publishes nothing new (fail-static).
  DiscoveryStats failing = healthy;
  failing.errors = 3;
  failing.last_error = "connect to https://127.0.0.1:6443: connection refused";
  source->SetDiscovery(failing);
  size_t before = traffic.count();
  std::this_thread::sleep_for(milliseconds(500));
  traffic.Stop();
  auto results = traffic.results();
  EXPECT_EQ(Failures(results), 0);
  EXPECT_GT(results.size() - before, 100u);
  std::set<std::string> used;
  for (size_t i = before; i < results.size(); ++i) used.insert(results[i].pod);
  EXPECT_EQ(used.size(), 5u);
  std::string text = RenderPrometheus(channel->Metrics());
  EXPECT_NE(text.find("k8slb_discovery_healthy{channel=\"default/echo:grpc\"} 0"), std::string::npos) << text;
}

TEST(BalancedChannelTest, NoEndpointsFailsAtTheDeadlineWithTheReason) {
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  DiscoveryStats stats;
  stats.synced = false;
  stats.last_error =
      "403 Forbidden: endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:default:client\" "
      "cannot list resource \"endpointslices\"";
  source->SetDiscovery(stats);
  auto channel = MakeChannel(source, TestOptions());
  EchoClient client(channel);
  grpc::ClientContext ctx;
  auto start = Clock::now();
  ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(300));
  echo::EchoResponse resp;
  grpc::Status s = client.With(ctx)->Echo(&ctx, Request(1), &resp);
  auto waited = Clock::now() - start;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(s.error_message().find("no endpoints for default/echo:grpc"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("403 Forbidden"), std::string::npos) << s.error_message();
  EXPECT_GE(waited, milliseconds(250));
  EXPECT_EQ(channel->Metrics().no_endpoint_failures, 1u);

  // Synced, but the service has nothing: the message says so.
  stats.synced = true;
  stats.last_error.clear();
  source->SetDiscovery(stats);
  grpc::ClientContext ctx2;
  ctx2.set_deadline(std::chrono::system_clock::now() + milliseconds(50));
  s = client.With(ctx2)->Echo(&ctx2, Request(2), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(s.error_message().find("no EndpointSlices"), std::string::npos) << s.error_message();
}

TEST(BalancedChannelTest, FailFastModeFailsAtOnceWithUnavailable) {
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  BalancedChannelOptions options = TestOptions();
  options.no_endpoint_mode = NoEndpointMode::kFailFast;
  auto channel = MakeChannel(source, options);
  EchoClient client(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(60000));
  echo::EchoResponse resp;
  auto start = Clock::now();
  grpc::Status s = client.With(ctx)->Echo(&ctx, Request(1), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("published no endpoints"), std::string::npos) << s.error_message();
  EXPECT_LT(Clock::now() - start, milliseconds(30000));
  auto picked = channel->Pick();
  EXPECT_EQ(picked.status().code(), absl::StatusCode::kUnavailable);
}

TEST(BalancedChannelTest, CallWaitsForTheFirstEndpoints) {
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  auto channel = MakeChannel(source, TestOptions());
  EchoClient client(channel);
  auto pod = StartPod("late", 3);
  grpc::Status status;
  echo::EchoResponse resp;
  std::thread caller([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(10000));
    status = client.With(ctx)->Echo(&ctx, Request(7), &resp);
  });
  std::this_thread::sleep_for(milliseconds(100));
  source->SetEndpoints({EndpointOf(*pod)});
  caller.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(resp.pod_name(), "late");
  EXPECT_TRUE(channel->WaitForEndpoints(milliseconds(10)).ok());
}

TEST(BalancedChannelTest, ClientCountsTheCallAsInFlightForItsDuration) {
  auto pod = StartPod("slow", 4, /*latency_ms=*/300);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints({EndpointOf(*pod)});
  auto channel = MakeChannel(source, TestOptions());
  EchoClient client(channel);
  std::shared_ptr<EndpointStats> stats = source->Current()->endpoints()[0].stats;
  std::thread caller([&] {
    grpc::ClientContext ctx;
    echo::EchoResponse resp;
    EXPECT_TRUE(client->Echo(&ctx, Request(1), &resp).ok());
  });
  EXPECT_TRUE(WaitFor([&] { return pod->received() == 1; }, milliseconds(3000)));
  EXPECT_EQ(stats->in_flight.load(), 1);
  caller.join();
  EXPECT_EQ(stats->in_flight.load(), 0);
  EXPECT_EQ(stats->successes.load(), 1u);
}

TEST(BalancedChannelTest, PickHandleCoversAnAsyncCallUntilItsCallback) {
  auto pod = StartPod("async", 5, /*latency_ms=*/200);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints({EndpointOf(*pod)});
  auto channel = MakeChannel(source, TestOptions());
  std::shared_ptr<EndpointStats> stats = source->Current()->endpoints()[0].stats;
  grpc::ClientContext ctx;
  auto picked = channel->Pick(ctx);
  ASSERT_TRUE(picked.ok()) << picked.status();
  EXPECT_EQ(picked->handle.pod_name(), "async");
  auto stub = echo::Echo::NewStub(picked->channel);
  echo::EchoRequest req = Request(3);
  echo::EchoResponse resp;
  absl::Mutex mu;
  bool done = false;  // under mu
  grpc::Status status;  // under mu
  auto handle = std::make_shared<CallHandle>(std::move(picked->handle));
  stub->async()->Echo(&ctx, &req, &resp, [&, handle](grpc::Status s) {
    handle->Done();  // ends the in-flight count when the call completes
    absl::MutexLock lock(&mu);
    status = s;
    done = true;
  });
  EXPECT_TRUE(WaitFor([&] { return pod->received() == 1; }, milliseconds(3000)));
  EXPECT_EQ(stats->in_flight.load(), 1);
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(5)));
    EXPECT_TRUE(status.ok());
  }
  EXPECT_EQ(stats->in_flight.load(), 0);
  EXPECT_EQ(resp.pod_name(), "async");
}

TEST(BalancedChannelTest, PeakEwmaAvoidsASlowPodThatIsNotBusy) {
  // Sequential calls: every in-flight count is 0 at pick time, so in-flight P2C is uniform (25 %
  // each over 4 pods) while peak-EWMA sees the slow pod's latency and avoids it after its first
  // answers. Bound: under 10 % (noise on a shared box can briefly spike a fast pod's EWMA).
  auto pods = StartPods(4, 0, 61);
  pods[0]->SetLatency(40, 0);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints(EndpointsOf(pods));
  BalancedChannelOptions options = TestOptions();
  options.load_signal = LoadSignal::kPeakEwmaLatency;
  options.ewma_decay = std::chrono::milliseconds(1000);
  auto channel = MakeChannel(source, options);
  EchoClient client(channel);
  std::map<std::string, int> counts;
  for (int i = 0; i < 240; ++i) {
    grpc::ClientContext ctx;
    echo::EchoResponse resp;
    ASSERT_TRUE(client->Echo(&ctx, Request(i), &resp).ok());
    if (i >= 40) ++counts[resp.pod_name()];  // after warm-up: every pod measured
  }
  EXPECT_LT(counts["echo-0"], 20) << "slow pod share with peak-EWMA";
  ChannelMetrics m = channel->Metrics();
  for (const EndpointMetrics& e : m.endpoints) {
    if (e.pod_name == "echo-0") {
      EXPECT_GE(e.latency_ewma_ms, 30.0);
    }
  }
}

// `n` calls one after another, each of which must succeed; `counts` gets the answering pods.
void EchoInTurn(EchoClient& client, int n, std::map<std::string, int>* counts) {
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    echo::EchoResponse resp;
    ASSERT_TRUE(client->Echo(&ctx, Request(i), &resp).ok());
    ++(*counts)[resp.pod_name()];
  }
}

TEST(BalancedChannelTest, ZoneAwarePrefersInZoneHints) {
  auto pods = StartPods(4, 0, 21);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  std::vector<Endpoint> endpoints;
  for (int i = 0; i < 4; ++i) endpoints.push_back(EndpointOf(*pods[i], {i < 2 ? "zone-a" : "zone-b"}));
  source->SetEndpoints(endpoints);
  BalancedChannelOptions options = TestOptions();
  options.client_zone = "zone-b";
  auto channel = MakeChannel(source, options);
  EchoClient client(channel);
  std::map<std::string, int> counts;
  ASSERT_NO_FATAL_FAILURE(EchoInTurn(client, 100, &counts));
  EXPECT_EQ(counts["echo-0"] + counts["echo-1"], 0);
  EXPECT_EQ(counts["echo-2"] + counts["echo-3"], 100);
  EXPECT_EQ(channel->Metrics().client_zone.value_or(""), "zone-b");
}

TEST(BalancedChannelTest, NodeHintsKeepCallsOnTheClientsNode) {
  auto pods = StartPods(4, 0, 23);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  std::vector<Endpoint> endpoints;
  for (int i = 0; i < 4; ++i) {
    Endpoint e = EndpointOf(*pods[i], {"zone-a"});
    e.node_name = i == 3 ? "node-b" : "node-a";
    e.hint_nodes = {*e.node_name};
    endpoints.push_back(std::move(e));
  }
  source->SetEndpoints(endpoints);
  BalancedChannelOptions options = TestOptions();
  options.client_zone = "zone-a";
  options.client_node = "node-b";
  auto channel = MakeChannel(source, options);
  EchoClient client(channel);
  std::map<std::string, int> counts;
  ASSERT_NO_FATAL_FAILURE(EchoInTurn(client, 50, &counts));
  EXPECT_EQ(counts["echo-3"], 50);
}

TEST(BalancedChannelTest, ClientNodeComesFromTheEnvironmentWhenNotSet) {
  BalancedChannelOptions options;
  options.node_env_var = "K8SLB_TEST_NODE_VAR";
  ::setenv("K8SLB_TEST_NODE_VAR", "node-x", 1);
  EXPECT_EQ(ResolveClientNode(options).value_or(""), "node-x");
  options.client_node = "node-y";
  EXPECT_EQ(ResolveClientNode(options).value_or(""), "node-y");
  options.client_node = "";
  EXPECT_FALSE(ResolveClientNode(options).has_value());
  ::unsetenv("K8SLB_TEST_NODE_VAR");
}

TEST(BalancedChannelTest, ClientZoneComesFromTheEnvironmentWhenNotSet) {
  BalancedChannelOptions options;
  options.zone_env_var = "K8SLB_TEST_ZONE_VAR";
  ::setenv("K8SLB_TEST_ZONE_VAR", "zone-x", 1);
  EXPECT_EQ(ResolveClientZone(options).value_or(""), "zone-x");
  options.client_zone = "zone-y";
  EXPECT_EQ(ResolveClientZone(options).value_or(""), "zone-y");
  options.client_zone = "";
  EXPECT_FALSE(ResolveClientZone(options).has_value());
  options.client_zone.reset();
  ::unsetenv("K8SLB_TEST_ZONE_VAR");
  EXPECT_FALSE(ResolveClientZone(options).has_value());
}

TEST(BalancedChannelTest, SourceFromSliceStoreFollowsSliceEvents) {
  auto pods = StartPods(2, 0, 31);
  auto store = std::make_shared<SliceStore>(SliceStoreOptions{
      .service_name = "echo", .namespace_name = "default", .port = PortSelector::ByName("grpc")});
  auto source = MakeSliceStoreSource(store, "default/echo:grpc");
  auto channel = MakeChannel(source, TestOptions(PickPolicy::kRoundRobin));
  EndpointSlice slice;
  slice.metadata.name = "echo-abc";
  slice.metadata.namespace_name = "default";
  slice.metadata.labels[std::string(kServiceNameLabel)] = "echo";
  SlicePort port;
  port.name = "grpc";
  port.port = pods[0]->port();
  slice.ports.push_back(port);
  SliceEndpoint e;
  e.addresses = {"127.0.1.31"};
  e.target_ref = ObjectReference{"Pod", "default", "echo-0", "uid-0"};
  slice.endpoints.push_back(e);
  store->Apply(SliceEvent{SliceEventType::kAdded, slice});
  // The control thread applies the snapshot; the store's Apply does not wait for it.
  ASSERT_TRUE(WaitFor([&] { return channel->CurrentSet()->size() == 1; }, milliseconds(10000)));
  EchoClient client(channel);
  grpc::ClientContext ctx;
  echo::EchoResponse resp;
  ASSERT_TRUE(client->Echo(&ctx, Request(1), &resp).ok());
  EXPECT_EQ(resp.pod_name(), "echo-0");
  store->Apply(SliceEvent{SliceEventType::kDeleted, slice});
  EXPECT_TRUE(WaitFor([&] { return channel->CurrentSet()->empty(); }, milliseconds(10000)));
}

TEST(BalancedChannelTest, FailedCallsSayWhenEveryEndpointIsUnusable) {
  // One pod that dies: with a single endpoint nothing can be ejected (max percent), its
  // connection fails, and the failure message explains that no endpoint is usable.
  auto pod = StartPod("lonely", 6);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints({EndpointOf(*pod)});
  auto channel = MakeChannel(source, TestOptions());
  EchoClient client(channel);
  {
    grpc::ClientContext ctx;
    echo::EchoResponse resp;
    ASSERT_TRUE(client->Echo(&ctx, Request(1), &resp).ok());
  }
  pod->Kill();
  std::shared_ptr<EndpointStats> stats = source->Current()->endpoints()[0].stats;
  ASSERT_TRUE(WaitFor([&] { return stats->connection_failing.load(); }, milliseconds(5000)));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(2000));
  echo::EchoResponse resp;
  grpc::Status s = client->Echo(&ctx, Request(2), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("all 1 endpoints of default/echo:grpc are unusable"), std::string::npos)
      << s.error_message();
}

}  // namespace
}  // namespace k8slb::testing
