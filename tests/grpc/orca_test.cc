// Server-reported load (ORCA, gRFC A51) in the gRPC layer: the load tracker's windows, the echo
// server's report trailer as a plain grpc++ client sees it, and end to end: a BalancedChannel
// with the "orca-weighted" policy sends more calls to the pod that reports less load.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "k8slb/orca.h"
#include "k8slb/orca_server.h"
#include "k8slb/picker.h"
#include "test_pods.h"

namespace k8slb::testing {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

struct FakeCpu {
  std::shared_ptr<std::atomic<int64_t>> nanos = std::make_shared<std::atomic<int64_t>>(0);
  std::function<int64_t()> source() const {
    return [n = nanos] { return n->load(); };
  }
};

TEST(ServerLoadTrackerTest, ReportsTheLastCompleteWindow) {
  auto clock = std::make_shared<ManualClock>(10 * kSecond);
  FakeCpu cpu;
  ServerLoadTracker tracker({.clock = clock, .cpu_nanos = cpu.source(), .cpu_count = 2});
  // Before a window has ended: zero rates, calls in flight counted.
  tracker.CallStarted();
  tracker.CallStarted();
  OrcaLoadReport r = tracker.Report();
  EXPECT_EQ(r.rps_fractional, 0);
  EXPECT_EQ(r.cpu_utilization, 0);
  ASSERT_EQ(r.named_metrics.size(), 1u);
  EXPECT_EQ(r.named_metrics[0], (std::pair<std::string, double>("in_flight", 2)));
  // Window [10 s, 11 s): 4 calls, 1 error, 1 CPU-second of 2 CPUs.
  for (int i = 0; i < 4; ++i) {
    if (i >= 2) tracker.CallStarted();
    tracker.CallFinished(/*error=*/i == 3);
  }
  clock->AdvanceNanos(kSecond);
  cpu.nanos->store(kSecond);
  r = tracker.Report();
  EXPECT_EQ(r.rps_fractional, 4);
  EXPECT_EQ(r.eps, 1);
  EXPECT_DOUBLE_EQ(r.cpu_utilization, 0.5);
  EXPECT_EQ(r.named_metrics[0].second, 0);
  // The next window's calls do not show until it ends.
  tracker.CallStarted();
  tracker.CallFinished(false);
  clock->AdvanceNanos(kSecond / 2);
  EXPECT_EQ(tracker.Report().rps_fractional, 4);
  clock->AdvanceNanos(kSecond / 2);
  EXPECT_EQ(tracker.Report().rps_fractional, 1);
  EXPECT_EQ(tracker.Report().eps, 0);
  // Idle for longer than a window: the last complete window saw nothing.
  tracker.CallStarted();
  tracker.CallFinished(false);
  clock->AdvanceNanos(5 * kSecond);
  r = tracker.Report();
  EXPECT_EQ(r.rps_fractional, 0);
  EXPECT_TRUE(DecodeOrcaLoadReport(EncodeOrcaLoadReport(r)).ok());
}

TEST(ServerLoadTrackerTest, MeasuresThisProcessByDefault) {
  ServerLoadTracker tracker;
  OrcaLoadReport r = tracker.Report();
  EXPECT_GE(r.cpu_utilization, 0);
  EXPECT_TRUE(DecodeOrcaLoadReport(EncodeOrcaLoadReport(r)).ok());
}

// One Echo call through a plain channel; the report its trailer carries.
absl::StatusOr<OrcaLoadReport> EchoAndReadReport(const std::string& address, grpc::Status* status) {
  auto echo_client = echo::Echo::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  echo::EchoRequest req;
  echo::EchoResponse resp;
  *status = echo_client->Echo(&ctx, req, &resp);
  const auto& trailers = ctx.GetServerTrailingMetadata();
  // grpc++ 1.51 does not show endpoint-load-metrics-bin to the application (orca.h): read the
  // mirror, as the k8slb client does.
  auto it = trailers.find(std::string(kOrcaMirrorTrailerKey));
  if (it == trailers.end()) return absl::NotFoundError("no k8slb-load-report-bin trailer");
  return DecodeOrcaLoadReport(std::string_view(it->second.data(), it->second.size()));
}

TEST(EchoServerOrcaTest, AFixedReportArrivesOnEveryReplyErrorsIncluded) {
  echo::EchoServerOptions o;
  o.listen = "127.0.1.80:0";
  o.pod_name = "orca-fixed";
  o.orca = echo::EchoServerOptions::Orca::kFixed;
  o.orca_report.application_utilization = 0.9;
  o.orca_report.rps_fractional = 100;
  o.orca_report.utilization = {{"gpu", 0.5}};
  auto server = echo::EchoServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::Status status;
  absl::StatusOr<OrcaLoadReport> r = EchoAndReadReport((*server)->address(), &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, o.orca_report);
  (*server)->SetErrorRate(1);
  r = EchoAndReadReport((*server)->address(), &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, o.orca_report);
}

TEST(EchoServerOrcaTest, MeasuredReportsAndNoneWhenOff) {
  echo::EchoServerOptions o;
  o.listen = "127.0.1.81:0";
  o.orca = echo::EchoServerOptions::Orca::kMeasured;
  auto measured = echo::EchoServer::Start(o);
  ASSERT_TRUE(measured.ok()) << measured.status();
  grpc::Status status;
  absl::StatusOr<OrcaLoadReport> r = EchoAndReadReport((*measured)->address(), &status);
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->named_metrics.size(), 1u);
  EXPECT_EQ(r->named_metrics[0].first, "in_flight");

  o.orca = echo::EchoServerOptions::Orca::kOff;
  auto off = echo::EchoServer::Start(o);
  ASSERT_TRUE(off.ok()) << off.status();
  r = EchoAndReadReport((*off)->address(), &status);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
}

TEST(EchoServerOrcaTest, RefusesAFixedReportNoClientAccepts) {
  echo::EchoServerOptions o;
  o.listen = "127.0.1.82:0";
  o.orca = echo::EchoServerOptions::Orca::kFixed;
  o.orca_report.mem_utilization = 2;
  auto server = echo::EchoServer::Start(o);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(server.status().message()).find("mem_utilization is above 1"), std::string::npos)
      << server.status();
}

std::unique_ptr<echo::EchoServer> StartReportingPod(const std::string& name, int ip_last_octet, double utilization) {
  echo::EchoServerOptions o;
  o.listen = "127.0.1." + std::to_string(ip_last_octet) + ":0";
  o.pod_name = name;
  o.orca = echo::EchoServerOptions::Orca::kFixed;
  o.orca_report.rps_fractional = 100;  // same qps: the weights differ by utilization alone
  o.orca_report.application_utilization = utilization;
  auto server = echo::EchoServer::Start(o);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Two pods report the same qps, utilization 0.9 and 0.1: A58 weights 111 and 1000. The channel
// runs on a manual clock, so the 10-s blackout passes when the test says, not after a sleep.
// During the blackout neither pod has a weight and sequential calls (in flight 0 at every pick)
// are a coin flip per pick: of 200, each pod gets 100 ± 7 (1 σ); the bound 50 is 7 σ. After it,
// P2C over two endpoints compares both on every pick, cost 1/weight: the light pod should get
// every call. Bound: at least 90 % of 400, so one odd pick (a report racing a pick) cannot fail
// the test, while an even split (weights ignored) or a preference for the heavy pod does.
TEST(OrcaWeightedEndToEndTest, TheLessLoadedPodGetsMoreCalls) {
  auto heavy = StartReportingPod("heavy", 90, 0.9);
  auto light = StartReportingPod("light", 91, 0.1);
  ASSERT_NE(heavy, nullptr);
  ASSERT_NE(light, nullptr);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints({EndpointOf(*heavy), EndpointOf(*light)});
  auto clock = std::make_shared<ManualClock>(1'000 * kSecond);
  BalancedChannelOptions options = TestOptions();
  const std::optional<NamedPolicy> policy = FindNamedPolicy("orca-weighted");
  ASSERT_TRUE(policy.has_value());
  options.policy = policy->policy;
  options.load_signal = policy->load_signal;
  options.clock = clock;
  auto channel = BalancedChannel::Create(source, options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  EchoClient client(*channel);
  auto echo_n = [&](int n) {
    std::map<std::string, int> counts;
    for (int i = 0; i < n; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      echo::EchoRequest req;
      echo::EchoResponse resp;
      grpc::Status status = client->Echo(&ctx, req, &resp);
      EXPECT_TRUE(status.ok()) << status.error_message();
      ++counts[resp.pod_name()];
    }
    return counts;
  };
  auto weights = [&] {
    std::map<std::string, std::pair<uint64_t, double>> out;  // pod → (reports, weight)
    for (const EndpointMetrics& e : (*channel)->Metrics().endpoints) out[e.pod_name] = {e.orca_reports, e.orca_weight};
    return out;
  };

  std::map<std::string, int> before = echo_n(200);
  EXPECT_GE(before["heavy"], 50);
  EXPECT_GE(before["light"], 50);
  auto w = weights();
  ASSERT_GT(w["heavy"].first, 0u) << "no report reached the client from the heavy pod";
  ASSERT_GT(w["light"].first, 0u) << "no report reached the client from the light pod";
  EXPECT_EQ(w["heavy"].second, 0) << "weight inside the blackout";

  clock->AdvanceNanos(11 * kSecond);
  w = weights();
  EXPECT_NEAR(w["heavy"].second, 100 / 0.9, 1e-6);
  EXPECT_NEAR(w["light"].second, 100 / 0.1, 1e-6);
  std::map<std::string, int> after = echo_n(400);
  EXPECT_GE(after["light"], 360) << "heavy " << after["heavy"] << ", light " << after["light"];
}

}  // namespace
}  // namespace k8slb::testing
