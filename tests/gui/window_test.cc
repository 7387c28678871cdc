// The real dashboard window on the offscreen platform: following a live run, the banner for a
// broken folder, the strategy selector and top-N grouping. Functional time bounds only (a few
// seconds for something that should take ~250 ms).
#include <gtest/gtest.h>

#include <QApplication>
#include <QElapsedTimer>
#include <QMouseEvent>
#include <QToolTip>
#include <functional>
#include <set>

#include "fixtures.h"
#include "main_window.h"
#include "report/folder.h"

namespace k8slb::dashboard {
namespace {

namespace fs = std::filesystem;
using testing::AppendText;
using testing::ReplaceText;
using testing::TempDir;
using testing::WriteText;

// Runs the event loop until `done` or `timeout_ms`; returns whether `done` became true.
bool WaitFor(const std::function<bool()>& done, int timeout_ms = 5000) {
  QElapsedTimer t;
  t.start();
  while (!done()) {
    if (t.elapsed() > timeout_ms) return false;
    QApplication::processEvents(QEventLoop::AllEvents, 20);
  }
  return true;
}

std::string LiveReport(bool complete, double duration, int pods) {
  std::string p;
  for (int i = 0; i < pods; ++i) {
    if (i > 0) p += ",";
    p += "{\"name\":\"p" + std::to_string(i) + "\",\"zone\":\"z\",\"created_s\":0}";
  }
  return std::string("{\"format\":1,\"scenario\":\"live\",\"mode\":\"live\",\"seed\":1,\"complete\":") +
         (complete ? "true" : "false") + ",\"duration_s\":" + std::to_string(duration) +
         ",\"timeline_bucket_s\":0.5,\"events\":[{\"t_s\":0.5,\"kind\":\"scale\",\"detail\":\"up\"}],\"pods\":[" + p +
         "],\"strategies\":[{\"name\":\"round-robin\",\"rpcs\":{\"ok\":0,\"failed\":0},\"per_pod\":{}," +
         "\"latency_ms\":{\"p50\":0,\"p99\":0,\"p999\":0},\"pods_used\":0}]}";
}

TEST(Window, FollowsALiveRun) {
  TempDir dir;
  const fs::path csv = dir.path() / "timeline-round-robin.csv";
  ReplaceText(dir.path() / "report.json", LiveReport(false, 1.0, 1));
  WriteText(csv, "t_s,pod,ok,failed,p50_ms,p99_ms\n0.0,p0,5,0,1,2\n0.5,p0,5,0,1,2\n");
  MainWindow w({});
  w.resize(900, 600);
  w.show();
  w.OpenFolder(QString::fromStdString(dir.path().string()), FollowMode::kFollow);
  ASSERT_TRUE(WaitFor([&] { return w.displayed_report() != nullptr; }));
  EXPECT_DOUBLE_EQ(w.displayed_report()->duration_s, 1.0);
  EXPECT_EQ(w.rate_series_counts(), std::vector<int>{1});
  EXPECT_TRUE(w.header_text().contains("live")) << w.header_text().toStdString();

  // The run goes on: a second pod appears and two buckets close.
  AppendText(csv, "1.0,p0,5,0,1,2\n1.0,p1,5,0,1,2\n1.5,p0,5,0,1,2\n1.5,p1,5,0,1,2\n");
  ReplaceText(dir.path() / "report.json", LiveReport(false, 2.0, 2));
  ASSERT_TRUE(WaitFor([&] {
    return w.displayed_report()->duration_s == 2.0 && w.rate_series_counts() == std::vector<int>{2};
  })) << "the window did not pick up appended rows";
  EXPECT_TRUE(w.banner_text().isEmpty()) << w.banner_text().toStdString();

  // A broken write: the banner says what is wrong, the last good data stays.
  ReplaceText(dir.path() / "report.json", "{\"format\": 1,");
  ASSERT_TRUE(WaitFor([&] { return w.banner_text().contains("report.json: invalid JSON"); }))
      << w.banner_text().toStdString();
  EXPECT_EQ(w.displayed_report()->scenario, "live");
  EXPECT_EQ(w.rate_series_counts(), std::vector<int>{2});

  ReplaceText(dir.path() / "report.json", LiveReport(true, 2.0, 2));
  ASSERT_TRUE(WaitFor([&] { return w.displayed_report()->complete && w.banner_text().isEmpty(); }))
      << w.banner_text().toStdString();
  ASSERT_TRUE(WaitFor([&] { return w.header_text().contains("finished"); }));
}

// A live run's provisional buckets (docs/report-format.md, "Provisional rows"): the header says
// up to when the timeline is final, the charts are shaded from there, and CSV rows that
// report.json does not count yet are not drawn, so header and charts show the same RPCs.
TEST(Window, ShadesProvisionalBucketsAndSaysWhereTheyStart) {
  TempDir dir;
  auto json = [](bool complete) {
    const std::string live = complete ? "" :
        ",\"timeline_final_rows\":2,\"timeline_final_s\":1.0,\"straggler_window_s\":0.08,"
        "\"provisional\":[{\"t_s\":1.0,\"pod\":\"p0\",\"ok\":5,\"failed\":1,\"p50_ms\":1,\"p99_ms\":2}]";
    return std::string("{\"format\":1,\"scenario\":\"live\",\"mode\":\"live\",\"seed\":1,\"complete\":") +
           (complete ? "true" : "false") +
           ",\"duration_s\":1.5,\"timeline_bucket_s\":0.5,\"events\":[],"
           "\"pods\":[{\"name\":\"p0\",\"zone\":\"z\",\"created_s\":0}],"
           "\"strategies\":[{\"name\":\"round-robin\",\"rpcs\":{\"ok\":15,\"failed\":1},\"per_pod\":{\"p0\":15},"
           "\"per_pod_failed\":{\"p0\":1},\"latency_ms\":{\"p50\":1,\"p99\":2,\"p999\":2},\"pods_used\":1" +
           live + "}]}";
  };
  ReplaceText(dir.path() / "report.json", json(false));
  // The third row comes from a newer write whose report.json is not there yet.
  WriteText(dir.path() / "timeline-round-robin.csv",
            "t_s,pod,ok,failed,p50_ms,p99_ms\n0,p0,5,0,1,2\n0.5,p0,5,0,1,2\n1,p0,7,1,1,2\n");
  MainWindow w({});
  w.resize(900, 600);
  w.show();
  w.OpenFolder(QString::fromStdString(dir.path().string()), FollowMode::kFollow);
  ASSERT_TRUE(WaitFor([&] { return w.displayed_report() != nullptr; }));
  EXPECT_TRUE(w.header_text().contains("timeline final to 1.0 s, provisional after (straggler window 0.08 s)"))
      << w.header_text().toStdString();
  const auto& timeline = w.displayed_report()->strategies[0].timeline;
  EXPECT_EQ(timeline.row_count, 3u) << "two final rows and the provisional one; not the uncounted CSV row";
  uint64_t ok = 0;
  timeline.ForEachRow([&](const report::TimelineRow& row) { ok += row.ok; });
  EXPECT_EQ(ok, 15u) << "the charts' rows add up to the header's count";
  ASSERT_NE(w.rate_view(0), nullptr);
  EXPECT_EQ(w.rate_view(0)->provisional_from(), std::optional<double>(1.0));

  ReplaceText(dir.path() / "report.json", json(true));
  ASSERT_TRUE(WaitFor([&] { return w.displayed_report()->complete && w.header_text().contains("finished"); }));
  EXPECT_FALSE(w.header_text().contains("provisional")) << w.header_text().toStdString();
  EXPECT_EQ(w.rate_view(0)->provisional_from(), std::nullopt);
}

// While a run keeps writing, the window redraws several times a second (the contract is at
// least twice a second; the bound here is looser so a loaded machine does not fail it).
TEST(Window, RedrawsRepeatedlyWhileARunIsWriting) {
  TempDir dir;
  const fs::path csv = dir.path() / "timeline-round-robin.csv";
  ReplaceText(dir.path() / "report.json", LiveReport(false, 0.5, 1));
  WriteText(csv, "t_s,pod,ok,failed,p50_ms,p99_ms\n0.0,p0,5,0,1,2\n");
  MainWindow w({});
  w.show();
  w.OpenFolder(QString::fromStdString(dir.path().string()), FollowMode::kFollow);
  ASSERT_TRUE(WaitFor([&] { return w.displayed_report() != nullptr; }));
  std::set<double> axis_ends_seen;  // the drawn time axis' end: changes only when charts are rebuilt
  QElapsedTimer t;
  t.start();
  int bucket = 1;
  while (t.elapsed() < 3000) {
    if (t.elapsed() > bucket * 100) {  // a new bucket every 100 ms
      AppendText(csv, std::to_string(bucket * 0.5) + ",p0," + std::to_string(bucket + 5) + ",0,1,2\n");
      ++bucket;
    }
    QApplication::processEvents(QEventLoop::AllEvents, 10);
    if (!w.time_ranges().empty()) axis_ends_seen.insert(w.time_ranges()[0].second);
  }
  RecordProperty("redraws_in_3s", static_cast<int>(axis_ends_seen.size()));
  EXPECT_GE(axis_ends_seen.size(), 3u) << "the charts were redrawn fewer than 3 times in 3 s of a live run";
  ASSERT_TRUE(WaitFor([&] { return w.displayed_report()->strategies[0].timeline.row_count == static_cast<size_t>(bucket); }));
}

TEST(Window, BrokenFolderShowsTheProblemInTheBanner) {
  TempDir dir;
  testing::CopyBasicFixture(dir.path());
  fs::remove(dir.path() / "timeline-clusterip.csv");
  MainWindow w({});
  w.OpenFolder(QString::fromStdString(dir.path().string()), FollowMode::kOnce);
  ASSERT_TRUE(WaitFor([&] { return w.banner_text().contains("timeline-clusterip.csv: not found"); }))
      << w.banner_text().toStdString();
  EXPECT_EQ(w.displayed_report(), nullptr);
  EXPECT_FALSE(w.RenderImage().isNull());  // still draws (empty charts), no crash
}

TEST(Window, NoFolderSaysHowToOpenOne) {
  MainWindow w({});
  EXPECT_TRUE(w.banner_text().contains("No report folder")) << w.banner_text().toStdString();
}

TEST(Window, StrategySelectorAndTopN) {
  auto report = report::LoadFolder(testing::BasicFixture());
  ASSERT_TRUE(report.ok()) << report.status();
  MainWindow w({});
  w.SetReport(*report);
  EXPECT_EQ(w.rate_series_counts(), (std::vector<int>{5, 3}));  // all strategies side by side
  EXPECT_EQ(w.strategy_names(), (QStringList{"least-request", "clusterip"}));
  ASSERT_TRUE(w.SelectStrategy("clusterip"));
  EXPECT_EQ(w.rate_series_counts(), std::vector<int>{3});
  EXPECT_TRUE(w.rate_chart_titles()[0].startsWith("clusterip")) << w.rate_chart_titles()[0].toStdString();
  EXPECT_FALSE(w.SelectStrategy("no-such"));
  EXPECT_EQ(w.rate_series_counts(), std::vector<int>{3});
  ASSERT_TRUE(w.SelectStrategy("all"));
  EXPECT_EQ(w.rate_series_counts(), (std::vector<int>{5, 3}));

  TempDir many;
  testing::WriteManyPodsReport(many.path(), {.pods = 600, .buckets = 3});
  auto big = report::LoadFolder(many.path());
  ASSERT_TRUE(big.ok()) << big.status();
  w.SetReport(*big);
  EXPECT_EQ(w.rate_series_counts(), (std::vector<int>{11, 11}));  // top 10 + others
  EXPECT_TRUE(w.rate_chart_titles()[0].contains("top 10 of 600 pods")) << w.rate_chart_titles()[0].toStdString();
}

TEST(Window, ZoomIsSharedByEveryTimeAxisAndSurvivesUpdates) {
  auto report = report::LoadFolder(testing::BasicFixture());
  ASSERT_TRUE(report.ok()) << report.status();
  MainWindow w({});
  w.resize(1000, 700);
  w.show();
  w.SetReport(*report);
  ASSERT_TRUE(WaitFor([&] { return w.rate_chart(0) != nullptr && w.rate_chart(0)->plotArea().width() > 10; }));
  auto ranges = w.time_ranges();
  ASSERT_EQ(ranges.size(), 3u);  // two rate charts and the latency chart
  for (const auto& [lo, hi] : ranges) {
    EXPECT_DOUBLE_EQ(lo, 0.0);
    EXPECT_DOUBLE_EQ(hi, 10.0);
  }
  // What the rubber band does: zoom the first chart into the left half of its plot area.
  QChart* c = w.rate_chart(0);
  QRectF half = c->plotArea();
  half.setWidth(half.width() / 2);
  c->zoomIn(half);
  ranges = w.time_ranges();
  for (const auto& [lo, hi] : ranges) {
    EXPECT_NEAR(lo, 0.0, 1e-6);
    EXPECT_NEAR(hi, 5.0, 1e-6);
  }
  w.SetReport(*report);  // a live update rebuilds the charts
  for (const auto& [lo, hi] : w.time_ranges()) EXPECT_NEAR(hi, 5.0, 1e-6);
  // Export saves the current (zoomed) view at the window's size.
  TempDir out;
  const fs::path png = out.path() / "view.png";
  ASSERT_TRUE(w.ExportPng(QString::fromStdString(png.string())));
  QImage saved(QString::fromStdString(png.string()));
  EXPECT_EQ(saved.size(), w.size());
  EXPECT_EQ(saved.convertToFormat(QImage::Format_RGB32), w.RenderImage().convertToFormat(QImage::Format_RGB32));

  w.ResetZoom();
  for (const auto& [lo, hi] : w.time_ranges()) {
    EXPECT_DOUBLE_EQ(lo, 0.0);
    EXPECT_DOUBLE_EQ(hi, 10.0);
  }
}

// Moves the mouse to `chart_point` (chart coordinates of `series`) in `view`.
void HoverAt(QChartView* view, const QPointF& chart_point, QAbstractSeries* series) {
  const QPointF scene = view->chart()->mapToScene(view->chart()->mapToPosition(chart_point, series));
  const QPoint local = view->mapFromScene(scene);
  const QPointF global = view->viewport()->mapToGlobal(local);
  QMouseEvent move(QEvent::MouseMove, QPointF(local), global, Qt::NoButton, Qt::NoButton, Qt::NoModifier);
  QApplication::sendEvent(view->viewport(), &move);
}

TEST(Window, HoverShowsPodZoneCountAndShare) {
  auto report = report::LoadFolder(testing::BasicFixture());
  ASSERT_TRUE(report.ok()) << report.status();
  MainWindow w({.strategy = "least-request", .top_n = 10});
  w.resize(1000, 700);
  w.show();
  w.SetReport(*report);
  DashboardChartView* view = w.rate_view(0);
  ASSERT_NE(view, nullptr);
  ASSERT_TRUE(WaitFor([&] { return view->chart()->plotArea().width() > 10; }));
  const auto series = view->chart()->series();
  ASSERT_EQ(series.size(), 5);
  // Bucket 1 (t 1-2 s): echo-0 serves 34 of 100 from 0 to 34 req/s; hover its middle.
  HoverAt(view, QPointF(1.5, 17), series[0]);
  ASSERT_TRUE(WaitFor([] { return QToolTip::isVisible(); }, 2000)) << "no tooltip";
  const QString tip = QToolTip::text();
  EXPECT_TRUE(tip.contains("echo-0")) << tip.toStdString();
  EXPECT_TRUE(tip.contains("zone zone-a")) << tip.toStdString();
  EXPECT_TRUE(tip.contains("34 requests")) << tip.toStdString();
  EXPECT_TRUE(tip.contains("34.0 % of the bucket")) << tip.toStdString();
  EXPECT_TRUE(tip.contains("whole run: 271 requests, 27.1 %")) << tip.toStdString();

  // On an event marker (t=4, "scale"): the event's detail.
  QToolTip::hideText();
  HoverAt(view, QPointF(4.0, 90), series[4]);
  ASSERT_TRUE(WaitFor([] { return QToolTip::text().contains("scale echo 3 -> 5 replicas"); }, 2000))
      << QToolTip::text().toStdString();

  // A pod tick at the bottom of the plot: echo-1 deleted at 7 s.
  QToolTip::hideText();
  HoverAt(view, QPointF(7.0, 1), series[0]);
  ASSERT_TRUE(WaitFor([] { return QToolTip::text().contains("echo-1 (zone zone-b) was deleted"); }, 2000))
      << QToolTip::text().toStdString();

  // A totals bar: clusterip (the second set) on echo-0, 500 of 990.
  QToolTip::hideText();
  QChartView* totals = w.totals_view();
  ASSERT_EQ(totals->chart()->series().size(), 1);
  HoverAt(totals, QPointF(0.12, 250), totals->chart()->series()[0]);
  ASSERT_TRUE(WaitFor([] { return QToolTip::text().contains("clusterip: 500 requests"); }, 2000))
      << QToolTip::text().toStdString();
  EXPECT_TRUE(QToolTip::text().contains("50.5 % of the strategy's total")) << QToolTip::text().toStdString();
  EXPECT_TRUE(QToolTip::text().contains("echo-0  (zone zone-a)")) << QToolTip::text().toStdString();
}

}  // namespace
}  // namespace k8slb::dashboard

int main(int argc, char** argv) {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setStyle("Fusion");
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
