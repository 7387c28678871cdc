// The gRPC layer's mapping of status codes to the library's call outcomes (what the outcome
// interceptor records for ejection and the latency signal).
#include "grpc/interceptors.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace k8slb::internal
