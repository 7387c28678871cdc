// The k8slb-sim binary: exit codes and one-line errors, run → check on a real report, and
// check failing on a doctored report.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

namespace {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr
};

Result RunSim(const std::string& args) {
  const std::string cmd = std::string(K8SLB_SIM_BINARY) + " " + args + " 2>&1";
  Result r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string Scenario(const std::string& name) {
  return std::string(K8SLB_SCENARIOS_DIR) + "/" + name + ".yaml";
}

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("k8slb-sim-cli-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

int Lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Cli, HelpEverywhere) {
  for (const char* args : {"--help", "run --help", "validate --help", "check --help",
                           "list --help"}) {
    const Result r = RunSim(args);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << args;
  }
}

TEST(Cli, BadInputIsOneLineAndNonZero) {
  for (const char* args : {"", "frobnicate", "run", "run steady --bogus",
                           "run steady --mode sideways", "run steady --strategies rr",
                           "run steady --duration -1", "run steady --duration inf",
                           "run steady --duration 1e99", "run steady --speed inf",
                           "run steady --watch-delay-ms nan", "run no-such-scenario"}) {
    const Result r = RunSim(args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_EQ(Lines(r.out), 1) << args << ":\n" << r.out;
  }
}

TEST(Cli, ValidateReportsFileLineField) {
  const std::string dir = TempDir("validate");
  std::filesystem::create_directories(dir);
  const std::string bad = dir + "/bad.yaml";
  std::ofstream(bad) << "pods:\n  replicas: 3\ntimeline:\n  - {at: 1, kind: teleport}\n";
  const Result r = RunSim("validate " + Scenario("steady") + " " + bad);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(bad + ":4: timeline[0].kind: unknown event kind \"teleport\""),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("steady.yaml: ok"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(Cli, ValidateRefusesEventsOnPodsThatCannotExistThen) {
  // The pod named by an event must exist at the event's time: never created yet, or already
  // removed by an earlier event, is a validation error naming the event's line.
  const std::string dir = TempDir("validate-pods");
  std::filesystem::create_directories(dir);
  const std::string unborn = dir + "/unborn.yaml";
  std::ofstream(unborn) << "pods:\n  replicas: 3\ntimeline:\n  - {at: 1, kind: crash, pod: echo-7}\n"
                           "  - {at: 2, kind: scale, replicas: 8}\n";
  const std::string gone = dir + "/gone.yaml";
  std::ofstream(gone) << "pods:\n  replicas: 3\n  drainSeconds: 1\ntimeline:\n"
                         "  - {at: 5, kind: evict, pod: echo-1}\n  - {at: 10, kind: crash, pod: echo-1}\n";
  const std::string fine = dir + "/fine.yaml";
  std::ofstream(fine) << "pods:\n  replicas: 3\ntimeline:\n  - {at: 1, kind: scale, replicas: 8}\n"
                         "  - {at: 5, kind: crash, pod: echo-7}\n";
  Result r = RunSim("validate " + unborn);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(unborn + ":4: timeline[0].pod: unknown pod \"echo-7\""), std::string::npos) << r.out;
  r = RunSim("validate " + gone);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(gone + ":6: timeline[1].pod: pod \"echo-1\" no longer exists at 10s"), std::string::npos)
      << r.out;
  r = RunSim("validate " + fine);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("fine.yaml: ok"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(Cli, ListShowsShippedScenarios) {
  const Result r = RunSim("list");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* name : {"steady", "scale-up", "rolling-update", "large-service",
                           "token-rotation"}) {
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
  }
  EXPECT_NE(r.out.find("[live only]"), std::string::npos);
}

TEST(Cli, RunThenCheckAndDoctoredReportFails) {
  const std::string out = TempDir("run");
  const Result run = RunSim("run " + Scenario("steady") + " --out " + out);
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("clusterip"), std::string::npos);
  EXPECT_NE(run.out.find("imbalance"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(out + "/report.json"));
  EXPECT_TRUE(std::filesystem::exists(out + "/timeline-least-request.csv"));

  const Result ok = RunSim("check " + out);
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("checks passed"), std::string::npos) << ok.out;

  // Doctor the report: ClusterIP now claims to have used three pods; k8slb failed RPCs.
  nlohmann::json j;
  {
    std::ifstream in(out + "/report.json");
    in >> j;
  }
  for (auto& s : j["strategies"]) {
    if (s["name"] == "clusterip") s["pods_used"] = 3;
    if (s["name"] == "round-robin") s["rpcs"]["failed"] = 7;
  }
  std::ofstream(out + "/report.json") << j.dump();
  const Result bad = RunSim("check " + out + " --scenario " + Scenario("steady"));
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.out.find("FAIL  clusterip      maxPodsUsed"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("round-robin maxFailed: failed RPCs 7 > 0"), std::string::npos)
      << bad.out;
  std::filesystem::remove_all(out);
}

TEST(Cli, CheckOfACorruptReportNamesTheField) {
  const std::string out = TempDir("corrupt");
  ASSERT_EQ(RunSim("run steady --quiet --out " + out).code, 0);
  nlohmann::json j;
  std::ifstream(out + "/report.json") >> j;
  j["duration_s"] = 1e308;
  std::ofstream(out + "/report.json") << j.dump();
  const Result r = RunSim("check " + out);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("report.json: duration_s: must be between 0 and 1e+06 s, got 1e+308"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(Lines(r.out), 1) << r.out;
  std::filesystem::remove_all(out);
}

TEST(Cli, RunCheckFlagAndSeedAreRecorded) {
  const std::string out = TempDir("seed");
  const Result r = RunSim("run scale-up --seed 9 --strategies least-request,round-robin --quiet "
                       "--check --out " + out);
  EXPECT_EQ(r.code, 0) << r.out;
  nlohmann::json j;
  std::ifstream(out + "/report.json") >> j;
  EXPECT_EQ(j["seed"], 9);
  ASSERT_EQ(j["strategies"].size(), 2u);
  EXPECT_EQ(j["strategies"][0]["name"], "least-request");
  std::filesystem::remove_all(out);
}

TEST(Cli, LiveOnlyScenarioInVirtualModeFailsClearly) {
  const Result r = RunSim("run token-rotation --out " + TempDir("live-only"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("live-only"), std::string::npos) << r.out;
  EXPECT_EQ(Lines(r.out), 1) << r.out;
}

}  // namespace
