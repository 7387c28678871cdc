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
