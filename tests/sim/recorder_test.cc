// RunRecorder: counts, reaction times, imbalance, percentiles, the report.json/CSV format (the
// contract of docs/report-format.md), round trips, and the expectation checks.
#include <filesystem>
#include <limits>
#include <map>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "report/json.h"
#include "sim/engine/check.h"
#include "sim/engine/recorder.h"
#include "sim/engine/text_report.h"

namespace k8slb::sim {
namespace {

RunInfo Info() {
  RunInfo info;
  info.scenario = "unit";
  info.scenario_file = "unit.yaml";
  info.mode = "virtual";
  info.seed = 7;
  info.timeline_bucket_s = 1.0;
  info.strategies = {"round-robin", "clusterip"};
  return info;
}

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("k8slb-sim-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Recorder, CountsImbalancePodsUsedAndNoPod) {
  RunRecorder rec(Info());
  for (const char* p : {"echo-0", "echo-1", "echo-2"}) {
    rec.RecordPod({.name = p, .address = "127.0.1.1", .zone = "zone-a", .created_s = 0});
    rec.UpdatePod(p, PodChange::kReady, 0);
  }
  for (int i = 0; i < 6; ++i) rec.RecordRpc("round-robin", 0.1 * i, "echo-0", true, 1.0);
  for (int i = 0; i < 2; ++i) rec.RecordRpc("round-robin", 0.1 * i, "echo-1", true, 1.0);
  rec.RecordRpc("round-robin", 0.5, "echo-2", false, 0.1);
  rec.RecordRpc("round-robin", 0.6, RunRecorder::kNoPod, false, 0.05);
  rec.RecordRpc("no-such-strategy", 0.6, "echo-0", true, 1.0);  // ignored
  const Report r = rec.Snapshot(10, true);
  const StrategyReport* s = r.FindStrategy("round-robin");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->ok, 8u);
  EXPECT_EQ(s->failed, 2u);
  EXPECT_EQ(s->per_pod.at("echo-0"), 6u);
  EXPECT_EQ(s->per_pod.at("echo-2"), 0u);
  EXPECT_EQ(s->per_pod_failed.at("(none)"), 1u);
  EXPECT_EQ(s->pods_used, 2);
  // mean over the 3 pods alive all run = 8/3; max 6 → 2.25.
  ASSERT_TRUE(s->imbalance.has_value());
  EXPECT_NEAR(*s->imbalance, 2.25, 1e-9);
  EXPECT_EQ(r.pods.size(), 3u);  // (none) is not a pod
  const StrategyReport* c = r.FindStrategy("clusterip");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->ok + c->failed, 0u);
  EXPECT_FALSE(c->imbalance.has_value());
}

TEST(Recorder, ReactionTimes) {
  RunRecorder rec(Info());
  rec.RecordPod({.name = "echo-0", .address = "", .zone = "", .created_s = 0});
  rec.UpdatePod("echo-0", PodChange::kReady, 0);
  rec.RecordPod({.name = "echo-5", .address = "", .zone = "", .created_s = 4});
  rec.UpdatePod("echo-5", PodChange::kReady, 5.0);     // new pod
  rec.UpdatePod("echo-0", PodChange::kUnready, 6.0);   // leaves at 6
  rec.UpdatePod("echo-0", PodChange::kReady, 8.0);     // back at 8 (a new interval)
  rec.RecordRpc("round-robin", 5.25, "echo-5", true, 1);
  rec.RecordRpc("round-robin", 5.5, "echo-5", true, 1);
  rec.RecordRpc("round-robin", 6.0, "echo-0", true, 1);  // after it left: counts
  rec.RecordRpc("round-robin", 6.125, "echo-0", true, 1);
  rec.RecordRpc("round-robin", 8.5, "echo-0", true, 1);  // first after coming back: 0.5
  // clusterip never uses echo-5 and never returns to echo-0.
  rec.RecordRpc("clusterip", 1.0, "echo-0", true, 1);
  const Report r = rec.Snapshot(20, true);
  const StrategyReport* s = r.FindStrategy("round-robin");
  ASSERT_TRUE(s->new_pod_first_rpc.has_value());
  EXPECT_EQ(s->new_pod_first_rpc->count, 2u);
  EXPECT_EQ(s->new_pod_first_rpc->never, 0u);
  EXPECT_NEAR(s->new_pod_first_rpc->max, 0.5, 1e-9);
  ASSERT_TRUE(s->removed_pod_last_rpc.has_value());
  EXPECT_EQ(s->removed_pod_last_rpc->count, 1u);
  EXPECT_NEAR(s->removed_pod_last_rpc->max, 0.125, 1e-9);
  const StrategyReport* c = r.FindStrategy("clusterip");
  EXPECT_EQ(c->new_pod_first_rpc->never, 2u);
  EXPECT_NEAR(c->removed_pod_last_rpc->max, 0.0, 1e-9);
  // echo-5 was created at 4 > 0: not "alive the whole run".
  const ReportPod& p5 = r.pods[1];
  EXPECT_EQ(p5.name, "echo-5");
  EXPECT_DOUBLE_EQ(*p5.ready_s, 5.0);
  ASSERT_EQ(r.pods[0].usable.size(), 2u);
  EXPECT_DOUBLE_EQ(*r.pods[0].usable[0].second, 6.0);
  EXPECT_FALSE(r.pods[0].usable[1].second.has_value());
}

TEST(Recorder, LatencyPercentilesWithinOnePercent) {
  RunRecorder rec(Info());
  rec.RecordPod({.name = "echo-0", .address = "", .zone = "", .created_s = 0});
  for (int i = 1; i <= 10000; ++i) rec.RecordRpc("round-robin", 0, "echo-0", true, i * 0.01);
  const Report r = rec.Snapshot(1, true);
  const auto& lat = r.FindStrategy("round-robin")->latency_ms;
  EXPECT_NEAR(lat.p50, 50.0, 0.5);
  EXPECT_NEAR(lat.p99, 99.0, 1.0);
  EXPECT_NEAR(lat.p999, 99.9, 1.0);
}

TEST(Recorder, WritesReportAndTimelineInTheDocumentedFormat) {
  const std::string dir = TempDir("format");
  RunRecorder rec(Info());
  rec.RecordEvent(2.0, "scale", "scale to 3");
  rec.RecordPod({.name = "echo-0", .address = "127.0.1.1", .zone = "zone-a", .created_s = 0});
  rec.UpdatePod("echo-0", PodChange::kReady, 0);
  rec.RecordPod({.name = "echo-1", .address = "127.0.1.2", .zone = "zone-a", .created_s = 0});
  rec.UpdatePod("echo-1", PodChange::kReady, 0);
  rec.UpdatePod("echo-1", PodChange::kDeleted, 3.0);
  for (int i = 0; i < 40; ++i) {
    rec.RecordRpc("round-robin", i * 0.1, i % 2 ? "echo-1" : "echo-0", true, 1.0 + i % 3);
  }
  rec.RecordRpc("round-robin", 3.95, RunRecorder::kNoPod, false, 0.05);
  // An incomplete write (live --follow) then the final one: the CSV is appended, not repeated.
  ASSERT_TRUE(rec.WriteReport(dir, false, 2.0).ok());
  auto partial = report::LoadJson(dir);
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_FALSE(partial->complete);
  ASSERT_TRUE(rec.WriteReport(dir, true, 4.0).ok());

  const auto j = nlohmann::json::parse(ReadFile(dir + "/report.json"));
  for (const char* key : {"format", "scenario", "scenario_file", "mode", "seed", "complete",
                          "duration_s", "timeline_bucket_s", "events", "pods", "strategies"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["scenario"], "unit");
  EXPECT_EQ(j["mode"], "virtual");
  EXPECT_EQ(j["seed"], 7);
  EXPECT_EQ(j["complete"], true);
  EXPECT_EQ(j["events"][0]["kind"], "scale");
  EXPECT_EQ(j["events"][0]["detail"], "scale to 3");
  EXPECT_EQ(j["events"][0]["t_s"], 2.0);
  for (const char* key : {"name", "address", "zone", "created_s", "ready_s", "deleted_s"}) {
    EXPECT_TRUE(j["pods"][0].contains(key)) << key;
  }
  EXPECT_TRUE(j["pods"][0]["deleted_s"].is_null());
  EXPECT_EQ(j["pods"][1]["deleted_s"], 3.0);
  const auto& s = j["strategies"][0];
  EXPECT_EQ(s["name"], "round-robin");
  EXPECT_EQ(s["rpcs"]["ok"], 40);
  EXPECT_EQ(s["rpcs"]["failed"], 1);
  EXPECT_EQ(s["per_pod"]["echo-0"], 20);
  EXPECT_EQ(s["per_pod_failed"]["(none)"], 1);
  for (const char* key : {"p50", "p99", "p999"}) EXPECT_TRUE(s["latency_ms"][key].is_number());
  EXPECT_TRUE(s.contains("imbalance"));
  EXPECT_TRUE(s.contains("pods_used"));
  EXPECT_TRUE(s.contains("reaction_s"));
  EXPECT_EQ(s["timeline_csv"], "timeline-round-robin.csv");

  const std::string csv = ReadFile(dir + "/timeline-round-robin.csv");
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "t_s,pod,ok,failed,p50_ms,p99_ms");
  int rows = 0;
  double last_t = -1;
  uint64_t ok_total = 0;
  while (std::getline(lines, line)) {
    ++rows;
    std::istringstream cells(line);
    std::string t, pod, ok, failed;
    std::getline(cells, t, ',');
    std::getline(cells, pod, ',');
    std::getline(cells, ok, ',');
    std::getline(cells, failed, ',');
    EXPECT_GE(std::stod(t), last_t) << "bucket order";
    last_t = std::stod(t);
    ok_total += std::stoull(ok);
  }
  EXPECT_EQ(ok_total, 40u);  // each RPC exactly once across the appended chunks
  EXPECT_EQ(rows, 9);        // 4 buckets × 2 pods + the (none) row
  EXPECT_NE(csv.find(",(none),0,1,"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir + "/timeline-clusterip.csv"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/report.json.tmp"));
  std::filesystem::remove_all(dir);
}

TEST(Recorder, JsonRoundTrip) {
  RunRecorder rec(Info());
  rec.RecordEvent(1.0, "crash", "crash echo-0");
  rec.RecordPod({.name = "echo-0", .address = "a", .zone = "z", .created_s = 0});
  rec.UpdatePod("echo-0", PodChange::kReady, 0);
  rec.RecordPod({.name = "echo-1", .address = "", .zone = "", .created_s = 2});
  rec.UpdatePod("echo-1", PodChange::kReady, 2.5);
  rec.RecordRpc("round-robin", 3.0, "echo-1", true, 2.0);
  const Report r = rec.Snapshot(10, true);
  const std::string json = report::ToJson(r);
  auto back = report::ParseJson(json, "x.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(report::ToJson(*back), json);
}

TEST(Recorder, ParsedReportNamesTheBadField) {
  RunRecorder rec(Info());
  auto j = nlohmann::json::parse(report::ToJson(rec.Snapshot(1, true)));
  j["strategies"][0]["rpcs"]["ok"] = "many";
  auto r = report::ParseJson(j.dump(), "r.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(std::string(r.status().message()),
            "r.json: strategies[0].rpcs.ok: expected a non-negative integer, got \"many\"");
  EXPECT_FALSE(report::ParseJson("{nope", "r.json").ok());
}

TEST(Recorder, WritesNothingAReaderWouldRefuse) {
  // The writer obeys the readers' rule: a run that claims to cover 1e308 s (or inf) fails to
  // write instead of leaving a report that no reader can open.
  const std::string dir = TempDir("refuse");
  RunRecorder rec(Info());
  for (double covered : {1e308, std::numeric_limits<double>::infinity(), 2e6}) {
    const absl::Status st = rec.WriteReport(dir, true, covered);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << covered;
    EXPECT_NE(std::string(st.message()).find("refusing to write an invalid report: duration_s: "),
              std::string::npos)
        << st;
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/report.json"));
  ASSERT_TRUE(rec.WriteReport(dir, true, 10).ok());
  EXPECT_TRUE(report::LoadJson(dir).ok());
  std::filesystem::remove_all(dir);
}

TEST(Recorder, TimesBeforeTheStartAreRecordedAsZero) {
  RunRecorder rec(Info());
  rec.RecordPod({.name = "old", .address = "", .zone = "", .created_s = -2.5});
  rec.UpdatePod("old", PodChange::kReady, -1.0);
  rec.RecordEvent(-0.5, "scale", "before the start");
  const Report r = rec.Snapshot(1, true);
  EXPECT_EQ(r.pods[0].created_s, 0.0);
  EXPECT_EQ(*r.pods[0].ready_s, 0.0);
  EXPECT_EQ(r.events[0].t_s, 0.0);
  EXPECT_TRUE(report::Validate(r).ok()) << report::Validate(r);
}

TEST(Recorder, EnvironmentReachesReportJson) {
  RunRecorder rec(Info());
  rec.SetEnvironment("pod_network", "loopback");
  rec.SetEnvironment("pod_network", "namespace");  // a later call replaces the value
  rec.SetEnvironment("api_server", "in-process");
  const std::string dir = TempDir("environment");
  ASSERT_TRUE(rec.WriteReport(dir, true, 1).ok());
  auto loaded = report::LoadJson(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::map<std::string, std::string> want = {{"api_server", "in-process"},
                                                   {"pod_network", "namespace"}};
  EXPECT_EQ(loaded->environment, want);
  std::filesystem::remove_all(dir);
}

Report SmallReport() {
  Report r;
  r.scenario = "x";
  r.complete = true;
  StrategyReport s;
  s.name = "round-robin";
  s.ok = 990;
  s.failed = 10;
  s.imbalance = 1.1;
  s.pods_used = 5;
  s.latency_ms = {.p50 = 1, .p99 = 3, .p999 = 9};
  s.new_pod_first_rpc = ReactionStats{.count = 3, .never = 0, .p50 = 0.01, .max = 0.05};
  r.strategies.push_back(s);
  s.name = "clusterip";
  s.pods_used = 1;
  s.imbalance = 5;
  s.new_pod_first_rpc = ReactionStats{.count = 0, .never = 3, .p50 = 0, .max = 0};
  r.strategies.push_back(s);
  return r;
}

TEST(Check, PassFailAndSkip) {
  scenario::Expectation all;
  all.strategy = "*";
  all.max_failed = 10;
  all.max_failed_ratio = 0.02;
  scenario::Expectation rr;
  rr.strategy = "round-robin";
  rr.max_imbalance = 1.2;
  rr.max_reaction_s = 0.1;
  rr.min_pods_used = 5;
  rr.max_p99_ms = 5;
  rr.max_removal_reaction_s = 1;  // nothing to measure → skipped
  scenario::Expectation missing;
  missing.strategy = "least-request";
  missing.max_failed = 0;
  const auto results = EvaluateExpectations(SmallReport(), {all, rr, missing});
  EXPECT_TRUE(AllPassed(results));
  int skipped = 0;
  for (const auto& r : results) skipped += r.outcome == CheckOutcome::kSkipped;
  EXPECT_EQ(skipped, 2);

  // The same k8slb expectations applied to the ClusterIP numbers fail: checks can fail.
  scenario::Expectation as_clusterip = rr;
  as_clusterip.strategy = "clusterip";
  const auto bad = EvaluateExpectations(SmallReport(), {as_clusterip});
  EXPECT_FALSE(AllPassed(bad));
  int failed = 0;
  for (const auto& r : bad) failed += r.outcome == CheckOutcome::kFailed;
  EXPECT_EQ(failed, 3);  // imbalance, reaction (never), pods used

  Report incomplete = SmallReport();
  incomplete.complete = false;
  EXPECT_FALSE(AllPassed(EvaluateExpectations(incomplete, {all})));
}

TEST(TextReport, NaturalOrderAndTables) {
  EXPECT_TRUE(NaturalLess("echo-2", "echo-10"));
  EXPECT_FALSE(NaturalLess("echo-10", "echo-2"));
  EXPECT_TRUE(NaturalLess("echo-1", "echo-1a"));
  Report r = SmallReport();
  r.strategies[0].per_pod = {{"echo-10", 5}, {"echo-2", 7}};
  const std::string table = FormatPodTable(r);
  EXPECT_LT(table.find("echo-2"), table.find("echo-10"));
  const std::string cmp = FormatComparison(r);
  EXPECT_NE(cmp.find("never:3"), std::string::npos);
  // Large services: a summary per strategy instead of hundreds of rows.
  for (int i = 0; i < 100; ++i) r.strategies[0].per_pod["echo-" + std::to_string(i)] = i;
  const std::string big = FormatPodTable(r);
  EXPECT_NE(big.find("round-robin: 100 pods, busiest 99"), std::string::npos) << big;
  EXPECT_LT(std::count(big.begin(), big.end(), '\n'), 40);
}

}  // namespace
}  // namespace k8slb::sim
