// Server-reported load (ORCA, gRFC A51) in the gRPC layer: the load tracker's windows, the echo
// server's report trailer as a plain grpc++ client sees it.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "k8slb/orca.h"
#include "k8slb/orca_server.h"
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
  auto stub = echo::Echo::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  echo::EchoRequest req;
  echo::EchoResponse resp;
  *status = stub->Echo(&ctx, req, &resp);
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

}  // namespace
}  // namespace k8slb::testing
