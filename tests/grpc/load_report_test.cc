// k8slb-client's output formats: the json and table shapes it documents (--help, README).
#include "client/load_report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace k8slb::client {
namespace {

LoadReport Sample() {
  LoadReport r;
  r.frontend = "client-1";
  r.target = "kubernetes:///echo.default:grpc";
  r.policy = "least-request";
  r.duration_s = 2;
  r.records = {{30, 1000, "echo-b", 0, ""}, {10, 2000, "echo-a", 0, ""}, {20, 3000, "echo-a", 0, ""},
               {40, 500, "", 14, "connection refused"}};
  return r;
}

TEST(LoadReportTest, JsonListsOnePodPerSuccessfulRpcInCompletionOrder) {
  auto j = nlohmann::json::parse(FormatJson(Sample()));
  EXPECT_EQ(j["frontend"], "client-1");
  EXPECT_EQ(j["backends"], nlohmann::json::array({"echo-a", "echo-a", "echo-b"}));
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["errors"]["connection refused"], 1);
}

TEST(LoadReportTest, JsonGivesEachRpcItsSendTimeLatencyAndPodInCompletionOrder) {
  LoadReport report = Sample();
  report.start_unix_us = 1'764'547'200'000'000;
  auto j = nlohmann::json::parse(FormatJson(report));
  EXPECT_EQ(j["start_unix_us"], 1'764'547'200'000'000);
  ASSERT_EQ(j["rpcs"].size(), 4u);
  // Completion order: ends at 10, 20, 30, 40 us; sent = end - latency.
  EXPECT_EQ(j["rpcs"][0], nlohmann::json({{"pod", "echo-a"}, {"sent_us", 10 - 2000}, {"latency_us", 2000}, {"code", 0}}));
  EXPECT_EQ(j["rpcs"][1]["sent_us"], 20 - 3000);
  EXPECT_EQ(j["rpcs"][2]["pod"], "echo-b");
  EXPECT_EQ(j["rpcs"][3], nlohmann::json({{"pod", ""}, {"sent_us", 40 - 500}, {"latency_us", 500}, {"code", 14}}));
}

TEST(LoadReportTest, TableHasOneRowPerPodStartingWithNameAndCount) {
  std::istringstream in(FormatTable(Sample()));
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), 2u);
  std::istringstream a(rows[0]);
  std::string pod, share;
  int count = 0;
  double p50 = 0, p99 = 0;
  a >> pod >> count >> share >> p50 >> p99;
  EXPECT_EQ(pod, "echo-a");
  EXPECT_EQ(count, 2);
  EXPECT_EQ(share, "66.7%");
  EXPECT_DOUBLE_EQ(p50, 2.0);
  EXPECT_DOUBLE_EQ(p99, 3.0);
  EXPECT_EQ(rows[1].rfind("echo-b", 0), 0u);
}

}  // namespace
}  // namespace k8slb::client
