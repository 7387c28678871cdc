// The gRPC layer's mapping of status codes to the library's call outcomes (what the outcome
// interceptor records for ejection and the latency signal).
#include "grpc/interceptors.h"

#include <gtest/gtest.h>

#include "k8slb/orca.h"

namespace k8slb::internal {
namespace {

TEST(InterceptorsTest, MapsGrpcCodesToCallOutcomes) {
  EXPECT_EQ(OutcomeOfGrpcStatus(grpc::StatusCode::OK), CallOutcome::kSuccess);
  EXPECT_EQ(OutcomeOfGrpcStatus(grpc::StatusCode::UNAVAILABLE), CallOutcome::kUnavailable);
  EXPECT_EQ(OutcomeOfGrpcStatus(grpc::StatusCode::DEADLINE_EXCEEDED), CallOutcome::kNeutral);
  EXPECT_EQ(OutcomeOfGrpcStatus(grpc::StatusCode::CANCELLED), CallOutcome::kNeutral);
  EXPECT_EQ(OutcomeOfGrpcStatus(grpc::StatusCode::INTERNAL), CallOutcome::kServerError);
  EXPECT_EQ(OutcomeOfGrpcStatus(grpc::StatusCode::RESOURCE_EXHAUSTED), CallOutcome::kServerError);
}

TEST(InterceptorsTest, LogsGoToTheSinkWhenThereIsOne) {
  std::vector<std::pair<LogLevel, std::string>> lines;
  LogTo([&](LogLevel level, const std::string& m) { lines.emplace_back(level, m); }, LogLevel::kDebug, "hello");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].first, LogLevel::kDebug);
  EXPECT_EQ(lines[0].second, "hello");
}

// The load-report trailer: stored when it decodes, counted and ignored when it does not (the
// last good report stays), the k8slb mirror read when the standard key is absent.
TEST(InterceptorsTest, RecordsTheLoadReportTrailer) {
  auto clock = std::make_shared<ManualClock>(1'000'000'000);
  CallSignals signals;
  signals.stats = std::make_shared<EndpointStats>();
  signals.clock = clock;
  signals.channel_name = "ns/svc:grpc";
  signals.endpoint_name = "10.0.0.1:50051 (pod-a)";
  std::vector<std::string> logged;
  signals.log = [&](LogLevel, const std::string& m) { logged.push_back(m); };
  OrcaLoadReport report;
  report.cpu_utilization = 0.8;
  report.application_utilization = 0.4;  // preferred to the CPU figure
  report.rps_fractional = 200;
  report.eps = 10;
  const std::string good = EncodeOrcaLoadReport(report);
  const std::string bad = std::string("\x09\x00", 2);  // cpu_utilization with 1 of its 8 bytes
  using Trailers = std::multimap<grpc::string_ref, grpc::string_ref>;
  const std::string std_key(kOrcaTrailerKey);
  const std::string mirror_key(kOrcaMirrorTrailerKey);

  RecordLoadReportTrailer(signals, Trailers{{"other-bin", good}});
  EXPECT_EQ(signals.stats->orca_reports.load(), 0u);

  RecordLoadReportTrailer(signals, Trailers{{mirror_key, good}});
  EXPECT_EQ(signals.stats->orca_reports.load(), 1u);
  EXPECT_EQ(signals.stats->orca_utilization.load(), 0.4);
  EXPECT_EQ(signals.stats->orca_qps.load(), 200);
  EXPECT_EQ(signals.stats->orca_eps.load(), 10);
  EXPECT_EQ(signals.stats->orca_report_nanos.load(), 1'000'000'000);

  // Malformed, under either key: counted, logged once, the last good report kept.
  clock->AdvanceNanos(5);
  RecordLoadReportTrailer(signals, Trailers{{std_key, bad}, {mirror_key, good}});  // the standard key wins
  RecordLoadReportTrailer(signals, Trailers{{mirror_key, bad}});
  EXPECT_EQ(signals.stats->orca_malformed.load(), 2u);
  EXPECT_EQ(signals.stats->orca_reports.load(), 1u);
  EXPECT_EQ(signals.stats->orca_utilization.load(), 0.4);
  EXPECT_EQ(signals.stats->orca_report_nanos.load(), 1'000'000'000);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("ns/svc:grpc: ignoring a malformed load report from 10.0.0.1:50051 (pod-a)"),
            std::string::npos) << logged[0];
  EXPECT_NE(logged[0].find("truncated 64-bit value"), std::string::npos) << logged[0];

  // A newer good report replaces the load.
  report.application_utilization = 0;  // now the CPU figure counts
  const std::string newer = EncodeOrcaLoadReport(report);
  RecordLoadReportTrailer(signals, Trailers{{std_key, newer}});
  EXPECT_EQ(signals.stats->orca_utilization.load(), 0.8);
  EXPECT_EQ(signals.stats->orca_report_nanos.load(), 1'000'000'005);
}

}  // namespace
}  // namespace k8slb::internal
