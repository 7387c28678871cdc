// The model behind the dashboard's charts, against the hand-made fixture tests/gui/data/basic:
//   pods echo-0..echo-4 (zones a, b, a, b, c); echo-3/4 created at t=4 ("scale"), echo-1 deleted
//   at t=7 ("evict"); 10 buckets of 1 s.
//   least-request: 100 ok/s spread over the live pods (t<4: 34/33/33 on echo-0/1/2; 4<=t<7: 20 on
//     each of 5; t>=7: 25 on echo-0/2/3/4) and 2 failures without a pod "(none)" at t=7.
//     Totals 271, 192, 267, 135, 135. report.json says imbalance 1.01.
//   clusterip: 50/s pinned to echo-0; 50/s pinned to echo-1 until it fails 10 RPCs at t=7, then
//     40 and 50/s on echo-2. Totals 500, 350, 140, 0, 0; no "imbalance" field; an extra CSV column.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "fixtures.h"
#include "model/dashboard_model.h"
#include "report/folder.h"

namespace k8slb::dashboard {
namespace {

namespace fs = std::filesystem;
using testing::AppendText;
using testing::BasicFixture;
using testing::CopyBasicFixture;
using testing::EditFile;
using testing::ReplaceText;
using testing::TempDir;
using testing::WriteText;

using report::FolderReader;
using report::LoadFolder;
using report::ReadMode;

std::shared_ptr<const Report> LoadOrDie(const fs::path& dir) {
  auto r = LoadFolder(dir);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : nullptr;
}

TEST(ReportLoad, ReadsTheFixture) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->scenario, "gui-fixture");
  EXPECT_EQ(r->mode, "virtual");
  EXPECT_EQ(r->seed, 7u);
  EXPECT_TRUE(r->complete);
  EXPECT_DOUBLE_EQ(r->duration_s, 10.0);
  EXPECT_DOUBLE_EQ(r->timeline_bucket_s, 1.0);
  ASSERT_EQ(r->pods.size(), 5u);
  EXPECT_EQ(r->pods[1].name, "echo-1");
  EXPECT_EQ(r->pods[1].zone, "zone-b");
  EXPECT_EQ(r->pods[1].deleted_s, 7.0);
  EXPECT_FALSE(r->pods[0].deleted_s.has_value());
  ASSERT_EQ(r->strategies.size(), 2u);
  const StrategyReport* lr = r->FindStrategy("least-request");
  ASSERT_NE(lr, nullptr);
  EXPECT_EQ(lr->ok, 1000u);
  EXPECT_EQ(lr->failed, 2u);
  EXPECT_EQ(lr->per_pod.at("echo-3"), 135u);
  EXPECT_DOUBLE_EQ(lr->latency_ms.p99, 3.6);
  EXPECT_EQ(lr->timeline.row_count, 40u);  // 4*3 + 3*5 + 3*4 pod rows + one "(none)" row
  const StrategyReport* ci = r->FindStrategy("clusterip");
  ASSERT_NE(ci, nullptr);
  EXPECT_EQ(ci->per_pod_failed.at("echo-1"), 10u);
  EXPECT_DOUBLE_EQ(ci->latency_ms.p999, 3.9);
  EXPECT_FALSE(ci->imbalance.has_value());  // absent in the file
  EXPECT_EQ(ci->timeline.row_count, 21u);         // the extra "note" column is ignored
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front();
}

TEST(ReportLoad, EventsAreSortedByTime) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->events.size(), 2u);  // the file lists evict before scale
  EXPECT_EQ(r->events[0].kind, "scale");
  EXPECT_DOUBLE_EQ(r->events[0].t_s, 4.0);
  EXPECT_EQ(r->events[1].kind, "evict");
  EXPECT_EQ(r->events[1].detail, "evict echo-1");
}

TEST(RateChart, OneSeriesPerPodInCreationOrder) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  auto chart = BuildRateChart(*r, "least-request", 10);
  ASSERT_TRUE(chart.ok()) << chart.status();
  ASSERT_EQ(chart->series.size(), 5u);
  EXPECT_EQ(chart->total_pods, 5);
  const int64_t totals[] = {271, 192, 267, 135, 135};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(chart->series[i].label, "echo-" + std::to_string(i));
    EXPECT_EQ(chart->series[i].total, totals[i]);
    EXPECT_EQ(chart->series[i].color, kPodPalette[i]);
    EXPECT_FALSE(chart->series[i].is_others);
  }
  EXPECT_EQ(chart->series[4].zone, "zone-c");
  ASSERT_EQ(chart->bucket_t.size(), 10u);
  EXPECT_EQ(chart->series[0].ok[0], 34);
  EXPECT_EQ(chart->series[3].ok[0], 0);   // echo-3 does not exist yet
  EXPECT_EQ(chart->series[3].ok[4], 20);
  EXPECT_EQ(chart->series[1].ok[7], 0);   // echo-1 evicted
  EXPECT_DOUBLE_EQ(chart->Rate(2, 9), 25.0);
  for (int64_t t : chart->bucket_total) EXPECT_EQ(t, 100);  // "(none)" is not a pod
  EXPECT_EQ(chart->total, 1000);
}

TEST(RateChart, MergedBucketsAddUp) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  auto chart = BuildRateChart(*r, "least-request", 10, 2);
  ASSERT_TRUE(chart.ok());
  EXPECT_DOUBLE_EQ(chart->bucket_s, 2.0);
  ASSERT_EQ(chart->bucket_t.size(), 5u);
  EXPECT_DOUBLE_EQ(chart->bucket_t[4], 8.0);
  EXPECT_EQ(chart->series[0].ok[0], 68);        // 34 + 34
  EXPECT_DOUBLE_EQ(chart->Rate(0, 0), 34.0);    // still per second
  EXPECT_EQ(chart->series[0].ok[2], 20 + 20);   // t 4..6
  EXPECT_EQ(chart->series[1].ok[3], 20 + 0);    // t 6..8: echo-1 evicted at 7
  EXPECT_EQ(chart->total, 1000);
  auto three = BuildRateChart(*r, "least-request", 10, 3);  // 10 s in 3 s buckets: 4, the last partial
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->bucket_t.size(), 4u);
  EXPECT_EQ(three->series[0].ok[3], 25);        // t 9 only
  auto lat = BuildLatencySeries(*r, "clusterip", 2);
  ASSERT_TRUE(lat.ok());
  EXPECT_DOUBLE_EQ(lat->bucket_s, 2.0);
  EXPECT_EQ(lat->failed[3], 10);                // t 7 falls in 6..8
}

TEST(RateChart, UnknownStrategyIsAnError) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  auto chart = BuildRateChart(*r, "no-such", 10);
  ASSERT_FALSE(chart.ok());
  EXPECT_NE(chart.status().message().find("no-such"), absl::string_view::npos);
}

TEST(RateChart, TopNGroupsTheRestIntoOthers) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  auto chart = BuildRateChart(*r, "least-request", 3);
  ASSERT_TRUE(chart.ok());
  ASSERT_EQ(chart->series.size(), 4u);
  // The three busiest (echo-0 271, echo-2 267, echo-1 192), stacked in creation order.
  EXPECT_EQ(chart->series[0].label, "echo-0");
  EXPECT_EQ(chart->series[1].label, "echo-1");
  EXPECT_EQ(chart->series[2].label, "echo-2");
  const PodSeries& others = chart->series[3];
  EXPECT_TRUE(others.is_others);
  EXPECT_EQ(others.label, "others (2 pods)");
  EXPECT_EQ(others.pods, (std::vector<std::string>{"echo-3", "echo-4"}));
  EXPECT_EQ(others.total, 270);
  EXPECT_EQ(others.color, kOthersColor);
  EXPECT_EQ(others.ok[5], 40);
  // A tie (echo-3 and echo-4 both 135) is broken by name.
  auto four = BuildRateChart(*r, "least-request", 4);
  ASSERT_TRUE(four.ok());
  ASSERT_EQ(four->series.size(), 5u);
  EXPECT_EQ(four->series[3].label, "echo-3");
  EXPECT_EQ(four->series[4].label, "others (1 pod)");
}

TEST(RateChart, SixHundredPodsShowTopTenPlusOthers) {
  TempDir dir;
  testing::WriteManyPodsReport(dir.path(), {.pods = 600, .buckets = 4});
  auto r = LoadOrDie(dir.path());
  ASSERT_NE(r, nullptr);
  auto chart = BuildRateChart(*r, "least-request", 10);
  ASSERT_TRUE(chart.ok());
  ASSERT_EQ(chart->series.size(), 11u);
  EXPECT_EQ(chart->total_pods, 600);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(chart->series[static_cast<size_t>(i)].label, testing::PodName(590 + i));
    EXPECT_EQ(chart->series[static_cast<size_t>(i)].total, 4 * (591 + i));
  }
  const PodSeries& others = chart->series[10];
  EXPECT_EQ(others.label, "others (590 pods)");
  EXPECT_EQ(others.pods.size(), 590u);
  // Pods 0..589 serve 1..590 per bucket: 590*591/2 per bucket.
  EXPECT_EQ(others.ok[0], 590 * 591 / 2);
  int64_t sum = 0;
  for (const auto& s : chart->series) sum += s.total;
  EXPECT_EQ(sum, chart->total);
  EXPECT_EQ(chart->total, 4 * 600 * 601 / 2);

  const TotalsChart totals = BuildTotalsChart(*r, 10);
  ASSERT_EQ(totals.categories.size(), 11u);
  EXPECT_EQ(totals.categories[10], "others: mean of 590 pods");
  EXPECT_EQ(totals.others_pods, 590u);
  EXPECT_EQ(totals.categories[0], testing::PodName(590));
  ASSERT_EQ(totals.strategies.size(), 2u);
  EXPECT_EQ(totals.counts[1][0], 20);             // round-robin: 5 per bucket
  EXPECT_EQ(totals.counts[1][10], 20);  // the mean per hidden pod
  EXPECT_EQ(totals.others_total[1], 590 * 20);
  EXPECT_EQ(totals.counts[0][10], 4 * 591 / 2);
  EXPECT_EQ(totals.others_total[0], 4 * 590 * 591 / 2);
  // Everyone alive the whole run: least-request max/mean = 600 / 300.5.
  ASSERT_TRUE(totals.imbalance[0].value.has_value());
  EXPECT_EQ(totals.imbalance[0].basis, ImbalanceBasis::kWholeRun);
  EXPECT_NEAR(*totals.imbalance[0].value, 600.0 / 300.5, 1e-9);
  EXPECT_NEAR(*totals.imbalance[1].value, 1.0, 1e-12);
}

TEST(TotalsChart, StrategiesSideBySideWithImbalance) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  const TotalsChart t = BuildTotalsChart(*r, 10);
  EXPECT_EQ(t.categories, (std::vector<std::string>{"echo-0", "echo-1", "echo-2", "echo-3", "echo-4"}));
  EXPECT_EQ(t.zones[2], "zone-a");
  EXPECT_EQ(t.strategies, (std::vector<std::string>{"least-request", "clusterip"}));
  EXPECT_EQ(t.counts[0], (std::vector<int64_t>{271, 192, 267, 135, 135}));
  EXPECT_EQ(t.counts[1], (std::vector<int64_t>{500, 350, 140, 0, 0}));  // starved pods stay visible
  EXPECT_EQ(t.strategy_totals[1], 990);
  ASSERT_TRUE(t.imbalance[0].value.has_value());
  EXPECT_DOUBLE_EQ(*t.imbalance[0].value, 1.01);  // as the sim wrote it
  EXPECT_EQ(t.imbalance[0].basis, ImbalanceBasis::kReported);
  EXPECT_EQ(FormatImbalance(t.imbalance[0]), "1.01");
  // clusterip has no field: computed over echo-0 and echo-2 (alive the whole run): 500 / 320.
  ASSERT_TRUE(t.imbalance[1].value.has_value());
  EXPECT_DOUBLE_EQ(*t.imbalance[1].value, 500.0 / 320.0);
  EXPECT_EQ(t.imbalance[1].basis, ImbalanceBasis::kWholeRun);
  EXPECT_NE(t.colors[0], t.colors[1]);
  // Top 2 by largest share in any strategy: echo-0 (50.5% clusterip), echo-1 (35.4%).
  const TotalsChart top2 = BuildTotalsChart(*r, 2);
  EXPECT_EQ(top2.categories, (std::vector<std::string>{"echo-0", "echo-1", "others: mean of 3 pods"}));
  EXPECT_EQ(top2.others_total[0], 267 + 135 + 135);
  EXPECT_EQ(top2.counts[0][2], 179);  // (267 + 135 + 135) / 3
  EXPECT_EQ(top2.counts[1][2], 47);   // (140 + 0 + 0) / 3, rounded
}

TEST(Imbalance, ComputedOverPodsAliveTheWholeRun) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  const auto v = ComputeImbalance(*r, *r->FindStrategy("least-request"));
  ASSERT_TRUE(v.value.has_value());
  EXPECT_DOUBLE_EQ(*v.value, 271.0 / 269.0);
  EXPECT_EQ(v.basis, ImbalanceBasis::kWholeRun);
}

TEST(Imbalance, FallsBackWhenNoPodLivedThroughTheRun) {
  Report r;
  auto pod = [](std::string name, double created, std::optional<double> deleted) {
    report::Pod p;
    p.name = std::move(name);
    p.created_s = created;
    p.deleted_s = deleted;
    return p;
  };
  r.pods = {pod("old", 0, 5.0), pod("new-a", 5.0, std::nullopt), pod("new-b", 5.0, std::nullopt)};
  StrategyReport s;
  s.per_pod = {{"old", 100}, {"new-a", 30}, {"new-b", 10}};
  auto v = ComputeImbalance(r, s);
  ASSERT_TRUE(v.value.has_value());
  EXPECT_DOUBLE_EQ(*v.value, 30.0 / 20.0);
  EXPECT_EQ(v.basis, ImbalanceBasis::kAliveAtEnd);
  EXPECT_EQ(FormatImbalance(v), "1.50 (pods alive at the end)");
  // Pinned to a pod that was deleted: the new pods got nothing, so measure over all pods.
  s.per_pod = {{"old", 90}};
  v = ComputeImbalance(r, s);
  ASSERT_TRUE(v.value.has_value());
  EXPECT_DOUBLE_EQ(*v.value, 3.0);
  EXPECT_EQ(v.basis, ImbalanceBasis::kAllPods);
  s.per_pod = {};
  v = ComputeImbalance(r, s);
  EXPECT_FALSE(v.value.has_value());
  EXPECT_EQ(FormatImbalance(v), "n/a");
  // A null "imbalance" from the sim means "nothing to measure by its rule": computed instead.
  s.per_pod = {{"new-a", 10}, {"new-b", 10}};
  s.imbalance = std::nullopt;
  EXPECT_EQ(Imbalance(r, s).basis, ImbalanceBasis::kAliveAtEnd);
  s.imbalance = 1.25;
  EXPECT_EQ(Imbalance(r, s).basis, ImbalanceBasis::kReported);
}

TEST(Ticks, NiceSteps) {
  EXPECT_DOUBLE_EQ(NiceTickStep(25.0), 5.0);
  EXPECT_DOUBLE_EQ(NiceTickStep(10.0), 2.0);
  EXPECT_DOUBLE_EQ(NiceTickStep(600.0), 100.0);
  EXPECT_DOUBLE_EQ(NiceTickStep(1.0), 0.2);
  EXPECT_DOUBLE_EQ(NiceTickStep(0.0), 1.0);
}

TEST(LatencySeries, FailuresAndPercentilesPerBucket) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  auto ci = BuildLatencySeries(*r, "clusterip");
  ASSERT_TRUE(ci.ok());
  ASSERT_EQ(ci->failed.size(), 10u);
  EXPECT_EQ(ci->failed[7], 10);
  EXPECT_EQ(ci->total_failed, 10);
  EXPECT_EQ(std::accumulate(ci->failed.begin(), ci->failed.end(), int64_t{0}), 10);
  // Bucket 0: echo-0 p50 1.00 (50 ok), echo-1 p50 1.10 (50 ok) → weighted median 1.00;
  // p99 is the larger pod p99, 3.20.
  EXPECT_DOUBLE_EQ(ci->p50_ms[0], 1.00);
  EXPECT_DOUBLE_EQ(ci->p99_ms[0], 3.20);
  auto lr = BuildLatencySeries(*r, "least-request");
  ASSERT_TRUE(lr.ok());
  EXPECT_EQ(lr->failed[7], 2);  // the "(none)" row counts as failures
  EXPECT_EQ(lr->ok[7], 100);
  // Bucket 9: echo-0/2/3/4, 25 each, p50 1.09 1.29 1.39 1.49 → median at the 2nd: 1.29.
  EXPECT_DOUBLE_EQ(lr->p50_ms[9], 1.29);
  EXPECT_DOUBLE_EQ(lr->p99_ms[9], 3.80);
}

TEST(EventMarkers, LabelsOfCloseEventsUseSeparateLanes) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  auto wide = BuildEventMarkers(*r, 5.0);
  ASSERT_EQ(wide.size(), 2u);
  EXPECT_EQ(wide[0].label, "scale");
  EXPECT_DOUBLE_EQ(wide[0].t_s, 4.0);
  EXPECT_EQ(wide[0].lane, 0);
  EXPECT_EQ(wide[1].label, "evict");
  EXPECT_EQ(wide[1].detail, "evict echo-1");
  EXPECT_EQ(wide[1].lane, 1);  // 3 s after "scale", closer than 5 s
  auto narrow = BuildEventMarkers(*r, 2.0);
  EXPECT_EQ(narrow[1].lane, 0);
  Report many;
  for (int i = 0; i < 6; ++i) many.events.push_back({.t_s = 0.1 * i, .kind = "k", .detail = ""});
  auto lanes = BuildEventMarkers(many, 10.0, 3);
  for (const auto& m : lanes) {
    EXPECT_GE(m.lane, 0);
    EXPECT_LT(m.lane, 3);
  }
  EXPECT_EQ(lanes[3].lane, 0);  // lanes are reused, oldest first
}

TEST(PodMarkers, ReadyAndDeletedInTimeOrder) {
  auto r = LoadOrDie(BasicFixture());
  ASSERT_NE(r, nullptr);
  const auto m = BuildPodMarkers(*r);
  ASSERT_EQ(m.size(), 6u);
  for (int i = 0; i < 3; ++i) {  // the first pods became ready at 0.5 s
    EXPECT_DOUBLE_EQ(m[static_cast<size_t>(i)].t_s, 0.5);
    EXPECT_EQ(m[static_cast<size_t>(i)].kind, PodMarkerKind::kReady);
  }
  EXPECT_EQ(m[3].pod, "echo-3");
  EXPECT_DOUBLE_EQ(m[3].t_s, 4.5);
  EXPECT_EQ(m[4].pod, "echo-4");
  EXPECT_EQ(m[4].zone, "zone-c");
  EXPECT_EQ(m[5].pod, "echo-1");
  EXPECT_EQ(m[5].kind, PodMarkerKind::kDeleted);
  EXPECT_DOUBLE_EQ(m[5].t_s, 7.0);
  // Pods ready from the start are the initial state, not a change.
  Report start;
  report::Pod p;
  p.name = "a";
  p.ready_s = 0.0;
  start.pods.push_back(p);
  EXPECT_TRUE(BuildPodMarkers(start).empty());
}

// --- broken and partial folders: every problem is one message naming the file ---

class BrokenFolder : public ::testing::Test {
 protected:
  void SetUp() override { CopyBasicFixture(dir_.path()); }
  std::string LoadError() {
    auto r = LoadFolder(dir_.path());
    if (r.ok()) return "(loaded fine)";
    return std::string(r.status().message());
  }
  fs::path file(const std::string& name) const { return dir_.path() / name; }
  TempDir dir_;
};

TEST_F(BrokenFolder, MissingReportJson) {
  fs::remove(file("report.json"));
  EXPECT_EQ(LoadError().rfind("report.json: not found in ", 0), 0u) << LoadError();
}

TEST_F(BrokenFolder, NotADirectory) {
  auto r = LoadFolder(dir_.path() / "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a directory"), absl::string_view::npos);
}

TEST_F(BrokenFolder, InvalidJsonNamesTheLine) {
  EditFile(file("report.json"), "\"mode\": \"virtual\",", "\"mode\": virtual,");
  const std::string e = LoadError();
  EXPECT_EQ(e.rfind("report.json: invalid JSON: ", 0), 0u) << e;
  EXPECT_NE(e.find("line 5, column 11"), std::string::npos) << e;
}

TEST_F(BrokenFolder, MissingRequiredField) {
  EditFile(file("report.json"), "\"name\": \"clusterip\",", "");
  EXPECT_EQ(LoadError(), "report.json: strategies[1].name: missing (a required field)");
}

TEST_F(BrokenFolder, MissingNestedField) {
  EditFile(file("report.json"), "\"p99\": 3.3,", "");
  EXPECT_EQ(LoadError(), "report.json: strategies[1].latency_ms.p99: missing (a required field)");
}

TEST_F(BrokenFolder, WrongType) {
  EditFile(file("report.json"), "\"ok\": 990", "\"ok\": \"many\"");
  EXPECT_EQ(LoadError(), "report.json: strategies[1].rpcs.ok: expected a non-negative integer, got \"many\"");
  EditFile(file("report.json"), "\"events\": [", "\"events\": 3, \"x\": [");
  EXPECT_EQ(LoadError(), "report.json: events: expected an array, got 3");
}

TEST_F(BrokenFolder, NullP999IsAnError) {
  // One rule for writer and readers: the simulator always writes p999, so a reader requires it.
  EditFile(file("report.json"), "\"p999\": 3.9", "\"p999\": null");
  EXPECT_EQ(LoadError(), "report.json: strategies[1].latency_ms.p999: expected a number, got null");
}

// Corrupt numbers that used to crash the dashboard (a segfault or std::bad_alloc when the charts
// sized their series by duration / bucket): now one message naming the field.
TEST_F(BrokenFolder, HugeDurationNamesTheField) {
  EditFile(file("report.json"), "\"duration_s\": 10.0", "\"duration_s\": 1e308");
  EXPECT_EQ(LoadError(), "report.json: duration_s: must be between 0 and 1e+06 s, got 1e+308");
}

TEST_F(BrokenFolder, TinyBucketNamesTheField) {
  EditFile(file("report.json"), "\"timeline_bucket_s\": 1.0", "\"timeline_bucket_s\": 1e-300");
  EXPECT_EQ(LoadError(), "report.json: timeline_bucket_s: must be between 0.001 and 3600 s, got 1e-300");
}

TEST_F(BrokenFolder, BillionSecondsNamesTheField) {
  EditFile(file("report.json"), "\"duration_s\": 10.0", "\"duration_s\": 1e9");
  EXPECT_EQ(LoadError(), "report.json: duration_s: must be between 0 and 1e+06 s, got 1e+09");
}

TEST_F(BrokenFolder, TooManyBucketsNamesBothFields) {
  EditFile(file("report.json"), "\"duration_s\": 10.0", "\"duration_s\": 500000");
  EXPECT_EQ(LoadError(),
            "report.json: duration_s: 500000 s in buckets of 1 s (timeline_bucket_s) is 5e+05 buckets, "
            "more than the limit of 100000");
}

TEST_F(BrokenFolder, FarEventOrRowNamesItsPlace) {
  // A report's duration covers its events and timeline rows, so they are bounded too.
  EditFile(file("report.json"), "\"t_s\": 7.0", "\"t_s\": 1e308");
  EXPECT_EQ(LoadError(), "report.json: events[0].t_s: 1e+308 s is beyond the report's time limit of 100000 s");
  CopyBasicFixture(dir_.path());
  AppendText(file("timeline-clusterip.csv"), "1e300,echo-0,1,0,1.0,2.0,x\n");
  EXPECT_EQ(LoadError(),
            "timeline-clusterip.csv:23: t_s 1e+300 s is beyond the report's time limit of 100000 s");
}

TEST_F(BrokenFolder, MissingCsv) {
  fs::remove(file("timeline-clusterip.csv"));
  EXPECT_EQ(LoadError(), "timeline-clusterip.csv: not found (named by report.json strategies[1].timeline_csv)");
}

TEST_F(BrokenFolder, CsvBadRow) {
  EditFile(file("timeline-least-request.csv"), "1.0,echo-1,33,0", "1.0,echo-1,abc,0");
  EXPECT_EQ(LoadError(), "timeline-least-request.csv:6: field \"ok\" is not a non-negative integer up to 2^53: \"abc\"");
}

TEST_F(BrokenFolder, CsvWrongFieldCount) {
  EditFile(file("timeline-least-request.csv"), "1.0,echo-1,33,0,", "1.0,echo-1,33,");
  EXPECT_EQ(LoadError().rfind("timeline-least-request.csv:6: expected 6 comma-separated fields, found 5", 0), 0u)
      << LoadError();
}

TEST_F(BrokenFolder, CsvBadHeader) {
  EditFile(file("timeline-clusterip.csv"), "failed,", "fails,");
  EXPECT_EQ(LoadError().rfind("timeline-clusterip.csv:1: header lacks column \"failed\"", 0), 0u) << LoadError();
}

TEST_F(BrokenFolder, CsvOutOfOrder) {
  AppendText(file("timeline-clusterip.csv"), "3.0,echo-0,1,0,1.0,2.0,x\n");
  EXPECT_EQ(LoadError().rfind("timeline-clusterip.csv:23: t_s 3.0 goes back in time", 0), 0u) << LoadError();
}

TEST_F(BrokenFolder, EmptyCsv) {
  WriteText(file("timeline-clusterip.csv"), "");
  EXPECT_EQ(LoadError(), "timeline-clusterip.csv: empty file (no header line)");
}

TEST_F(BrokenFolder, CsvWithByteOrderMarkAndCrLfIsFine) {
  std::string text = testing::ReadText(file("timeline-clusterip.csv"));
  std::string crlf = "\xEF\xBB\xBF";
  for (char c : text) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  WriteText(file("timeline-clusterip.csv"), crlf);
  auto r = LoadFolder(dir_.path());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->FindStrategy("clusterip")->timeline.row_count, 21u);
  EXPECT_TRUE((*r)->warnings.empty());
}

TEST_F(BrokenFolder, TimelineDisagreeingWithTotalsIsAWarning) {
  EditFile(file("report.json"), "\"echo-2\": 140", "\"echo-2\": 141");
  auto r = LoadFolder(dir_.path());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->warnings.size(), 1u);
  EXPECT_EQ((*r)->warnings[0],
            "timeline-clusterip.csv: pod echo-2 has 140 ok RPCs in the timeline but 141 in report.json per_pod "
            "(strategy clusterip)");
}

TEST_F(BrokenFolder, PartialFolderLoadsWithWarnings) {
  EditFile(file("report.json"), "\"complete\": true", "\"complete\": false");
  fs::remove(file("timeline-clusterip.csv"));
  auto r = LoadFolder(dir_.path());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->warnings.size(), 2u);
  EXPECT_EQ((*r)->warnings[0], "timeline-clusterip.csv: not written yet");
  EXPECT_EQ((*r)->warnings[1].rfind("report.json: the run is not complete", 0), 0u);
  EXPECT_EQ((*r)->FindStrategy("least-request")->timeline.row_count, 40u);
}

// --- following a live run ---

std::string MiniReport(bool complete, double duration) {
  return std::string("{\"format\":1,\"scenario\":\"live\",\"mode\":\"live\",\"seed\":1,\"complete\":") +
         (complete ? "true" : "false") + ",\"duration_s\":" + std::to_string(duration) +
         ",\"timeline_bucket_s\":0.5,\"events\":[],\"pods\":[{\"name\":\"a\",\"zone\":\"z\",\"created_s\":0}]," +
         "\"strategies\":[{\"name\":\"round-robin\",\"rpcs\":{\"ok\":0,\"failed\":0},\"per_pod\":{}," +
         "\"latency_ms\":{\"p50\":0,\"p99\":0,\"p999\":0},\"pods_used\":0}]}";
}

TEST(ReportFollow, ReadsOnlyCompleteRowsAndThenWhatIsAppended) {
  TempDir dir;
  const fs::path csv = dir.path() / "timeline-round-robin.csv";
  ReplaceText(dir.path() / "report.json", MiniReport(false, 1.0));
  WriteText(csv, "t_s,pod,ok,failed,p50_ms,p99_ms\n0.0,a,5,0,1,2\n0.5,a,6,0,1,2\n1.0,a,7");  // half a row
  FolderReader reader(dir.path(), ReadMode::kFollow);
  auto changed = reader.Poll();
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(reader.snapshot()->strategies[0].timeline.row_count, 2u);
  EXPECT_TRUE(reader.snapshot()->warnings.empty());  // incomplete is normal when following
  changed = reader.Poll();
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
  AppendText(csv, ",0,1,2\n1.5,a,8,0,1,2\n");
  changed = reader.Poll();
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  auto snap = reader.snapshot();
  ASSERT_EQ(snap->strategies[0].timeline.row_count, 4u);
  auto chart = BuildRateChart(*snap, "round-robin", 10);
  ASSERT_TRUE(chart.ok());
  EXPECT_EQ(chart->series[0].ok, (std::vector<int64_t>{5, 6, 7, 8}));
  EXPECT_DOUBLE_EQ(snap->duration_s, 2.0);
  ReplaceText(dir.path() / "report.json", MiniReport(true, 2.0));
  changed = reader.Poll();
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_TRUE(reader.snapshot()->complete);
}

TEST(ReportFollow, AnErrorKeepsTheLastGoodSnapshot) {
  TempDir dir;
  ReplaceText(dir.path() / "report.json", MiniReport(false, 1.0));
  WriteText(dir.path() / "timeline-round-robin.csv", "t_s,pod,ok,failed,p50_ms,p99_ms\n0.0,a,5,0,1,2\n");
  FolderReader reader(dir.path(), ReadMode::kFollow);
  ASSERT_TRUE(reader.Poll().ok());
  ReplaceText(dir.path() / "report.json", "{\"format\": 1, \"scenario\": ");
  auto bad = reader.Poll();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(std::string(bad.status().message()).rfind("report.json: invalid JSON", 0), 0u);
  ASSERT_NE(reader.snapshot(), nullptr);
  EXPECT_EQ(reader.snapshot()->scenario, "live");
  ReplaceText(dir.path() / "report.json", MiniReport(false, 1.5));
  auto good = reader.Poll();
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(*good);
}

TEST(ReportFollow, ARewrittenCsvStartsOver) {
  TempDir dir;
  const fs::path csv = dir.path() / "timeline-round-robin.csv";
  ReplaceText(dir.path() / "report.json", MiniReport(false, 1.0));
  WriteText(csv, "t_s,pod,ok,failed,p50_ms,p99_ms\n0.0,a,5,0,1,2\n0.5,a,6,0,1,2\n");
  FolderReader reader(dir.path(), ReadMode::kFollow);
  ASSERT_TRUE(reader.Poll().ok());
  WriteText(csv, "t_s,pod,ok,failed,p50_ms,p99_ms\n0.0,a,9,0,1,2\n");  // a new run, shorter
  ASSERT_TRUE(reader.Poll().ok());
  auto chart = BuildRateChart(*reader.snapshot(), "round-robin", 10);
  ASSERT_TRUE(chart.ok());
  EXPECT_EQ(chart->total, 9);
}

}  // namespace
}  // namespace k8slb::dashboard
