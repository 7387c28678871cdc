// MainWindow: the dashboard's one window. Per-pod request rate over time (stacked areas, the top
// pods plus "others", one chart per shown strategy), per-pod totals with strategies side by side
// and their imbalance, latency p50/p99 and failures over time, scenario events as markers on
// every time axis; a strategy selector, a top-N selector, time zoom (rubber band, reset), PNG
// export, and a banner that names the file and problem when the folder is broken or partial.
//
// A widget: create and use it on the UI thread only. Reports arrive as immutable snapshots
// (from a ReportFollower on a worker thread, or SetReport() directly for --screenshot).
#ifndef K8SLB_GUI_APP_MAIN_WINDOW_H_
#define K8SLB_GUI_APP_MAIN_WINDOW_H_

#include <QMainWindow>
#include <QPointer>
#include <QString>
#include <QThread>
#include <optional>
#include <utility>
#include <vector>

#include "chart_view.h"
#include "model/dashboard_model.h"
#include "report/scrape.h"
#include "report_follower.h"

class QComboBox;
class QGridLayout;
class QLabel;
class QSpinBox;
class QTimer;

namespace k8slb::dashboard {

inline constexpr char kAllStrategies[] = "all";

struct WindowOptions {
  QString strategy = kAllStrategies;  // a strategy name or "all"
  int top_n = 10;
  int merge = 1;  // drawn bucket = this many CSV buckets
};

// The bucket merge factors the toolbar offers.
inline constexpr int kMergeChoices[] = {1, 2, 5, 10, 25};

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(WindowOptions options, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Starts reading `dir` on a worker thread (once, or following a live run).
  void OpenFolder(const QString& dir, FollowMode mode);
  // Starts scraping the view's /metrics URLs on a worker thread (report/scrape.h), live.
  void OpenScrape(report::ScrapeView view);
  // The window shows scrapes (set by OpenScrape, or for SetReport by --screenshot --scrape).
  void SetScraping(bool scraping) { scraping_ = scraping; }
  // Shows a snapshot now (the UI thread's own load, as --screenshot does).
  void SetReport(ReportPtr report);
  // Shows `message` in the banner (errors red, notes yellow); empty hides it.
  void ShowBanner(const QString& message, bool error);
  QString banner_text() const;

  // "all" or a strategy of the current report; false (and no change) for an unknown name.
  bool SelectStrategy(const QString& name);
  QStringList strategy_names() const;

  // Shows the whole run again on every time axis.
  void ResetZoom();

  // Renders the whole window as it is now (what "Export PNG…" saves).
  QImage RenderImage();
  bool ExportPng(const QString& file);

  // What is on screen, for tests: the snapshot drawn, series per rate chart, chart titles.
  ReportPtr displayed_report() const { return report_; }
  std::vector<int> rate_series_counts() const;
  std::vector<QString> rate_chart_titles() const;
  // The range of every time axis (rate charts, then latency): zoom is shared.
  std::vector<std::pair<double, double>> time_ranges() const;
  QChart* rate_chart(size_t i) const;
  DashboardChartView* rate_view(size_t i) const { return i < rate_views_.size() ? rate_views_[i] : nullptr; }
  QChartView* totals_view() const { return totals_view_; }
  QString header_text() const;

 private slots:
  void OnReportChanged(k8slb::dashboard::ReportPtr report);
  void OnReadFailed(const QString& message);
  void OnReadRecovered();
  void OnOpen();
  void OnExport();
  void OnTimeRangeChanged(qreal min, qreal max);

 private:
  void Rebuild();
  void BuildRateCharts(const std::vector<std::string>& strategies);
  void BuildTotalsChart();
  void BuildLatencyChart(const std::vector<std::string>& strategies);
  void ConnectTimeAxis(QChart* chart);
  void UpdateBanner();
  void UpdateMergeLabels();
  void StopReader();
  std::vector<QChart*> time_charts() const;  // the charts with a time axis

  WindowOptions options_;
  ReportPtr report_;
  QString read_error_;   // from the reader; the last good snapshot stays on screen
  QString folder_;
  FollowMode follow_mode_ = FollowMode::kOnce;
  std::optional<std::pair<double, double>> zoom_;  // the time range when zoomed in
  bool syncing_zoom_ = false;

  QThread reader_thread_;
  QPointer<QObject> follower_;  // the ReportFollower or ScrapeFollower whose snapshots are shown
  bool scraping_ = false;
  QTimer* rebuild_timer_ = nullptr;  // coalesces snapshots to at most one rebuild per 200 ms

  QLabel* banner_ = nullptr;
  QLabel* header_ = nullptr;
  QComboBox* strategy_box_ = nullptr;
  QSpinBox* top_n_box_ = nullptr;
  QComboBox* merge_box_ = nullptr;
  QWidget* rates_panel_ = nullptr;
  QGridLayout* rates_grid_ = nullptr;
  std::vector<DashboardChartView*> rate_views_;
  QChartView* totals_view_ = nullptr;
  DashboardChartView* latency_view_ = nullptr;
};

}  // namespace k8slb::dashboard

#endif  // K8SLB_GUI_APP_MAIN_WINDOW_H_
