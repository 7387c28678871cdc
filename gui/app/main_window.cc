#include "main_window.h"

#include <QAreaSeries>
#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QComboBox>
#include <QCursor>
#include <QFileDialog>
#include <QGridLayout>
#include <QLabel>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QSpinBox>
#include <QSplitter>
#include <QStatusBar>
#include <QTimer>
#include <QToolBar>
#include <QToolTip>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <cmath>
#include <memory>

#include "scrape_follower.h"

namespace k8slb::dashboard {
namespace {

QString Q(const std::string& s) { return QString::fromStdString(s); }

QString Percent(int64_t part, int64_t whole) {
  if (whole <= 0) return "0.0 %";
  return QString("%1 %").arg(100.0 * static_cast<double>(part) / static_cast<double>(whole), 0, 'f', 1);
}

QString ImbalanceText(const ImbalanceFigure& f) { return Q(FormatImbalance(f)); }

QFont SmallFont(const QWidget* w, double scale = 0.85) {
  QFont f = w->font();
  f.setPointSizeF(std::max(6.0, f.pointSizeF() * scale));
  return f;
}

// A chart with the dashboard's common look: white background, no animation, compact margins.
QChart* NewChart(const QString& title, const QWidget* owner) {
  auto* chart = new QChart();
  chart->setTitle(title);
  QFont tf = owner->font();
  tf.setBold(true);
  chart->setTitleFont(tf);
  chart->setAnimationOptions(QChart::NoAnimation);
  chart->setBackgroundBrush(Qt::white);
  chart->setMargins(QMargins(2, 2, 2, 2));
  chart->setBackgroundRoundness(0);
  chart->legend()->setFont(SmallFont(owner));
  return chart;
}

// Shows [min, max] on a time axis with round ticks (0, 5, 10, ... or 0.2, 0.4, ... when zoomed
// in) instead of splitting the range into equal, odd-valued parts.
void SetTimeRange(QValueAxis* x, double min, double max) {
  const double step = NiceTickStep(max - min);
  x->setTickType(QValueAxis::TicksDynamic);
  x->setTickAnchor(0);
  x->setTickInterval(step);
  x->setLabelFormat(step < 0.1 ? "%.2f" : step < 1 ? "%.1f" : "%.0f");
  x->setRange(min, max);
}

QValueAxis* NewTimeAxis(double duration_s, const QWidget* owner) {
  auto* x = new QValueAxis();
  x->setTitleText("time (s)");
  x->setLabelsFont(SmallFont(owner));
  x->setTitleFont(SmallFont(owner));
  SetTimeRange(x, 0, std::max(duration_s, 1e-3));
  return x;
}

std::vector<QValueAxis*> TimeAxes(const std::vector<QChart*>& charts) {
  std::vector<QValueAxis*> out;
  for (QChart* c : charts) {
    for (QAbstractAxis* a : c->axes(Qt::Horizontal)) {
      if (auto* v = qobject_cast<QValueAxis*>(a)) out.push_back(v);
    }
  }
  return out;
}

}  // namespace

MainWindow::MainWindow(WindowOptions options, QWidget* parent) : QMainWindow(parent), options_(std::move(options)) {
  qRegisterMetaType<ReportPtr>("k8slb::dashboard::ReportPtr");
  setWindowTitle("k8slb dashboard");

  QToolBar* bar = addToolBar("Dashboard");
  bar->setMovable(false);
  bar->addAction("Open…", this, &MainWindow::OnOpen);
  bar->addSeparator();
  bar->addWidget(new QLabel(" Strategy: "));
  strategy_box_ = new QComboBox();
  strategy_box_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  strategy_box_->addItem("All strategies", QString(kAllStrategies));
  bar->addWidget(strategy_box_);
  bar->addWidget(new QLabel("  Top pods: "));
  top_n_box_ = new QSpinBox();
  top_n_box_->setRange(1, kMaxShownPods);
  top_n_box_->setValue(std::clamp(options_.top_n, 1, kMaxShownPods));
  top_n_box_->setToolTip("Pods shown one by one; the rest are summed into \"others\"");
  bar->addWidget(top_n_box_);
  bar->addWidget(new QLabel("  Bucket: "));
  merge_box_ = new QComboBox();
  merge_box_->setToolTip("Draw wider time buckets (a multiple of the report's) for a smoother view");
  for (int m : kMergeChoices) merge_box_->addItem(QString("×%1").arg(m), m);
  if (merge_box_->findData(options_.merge) < 0) merge_box_->addItem(QString("×%1").arg(options_.merge), options_.merge);
  merge_box_->setCurrentIndex(merge_box_->findData(options_.merge));
  bar->addWidget(merge_box_);
  bar->addSeparator();
  bar->addAction("Reset zoom", this, &MainWindow::ResetZoom);
  bar->addAction("Export PNG…", this, &MainWindow::OnExport);

  auto* central = new QWidget();
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->setSpacing(4);
  banner_ = new QLabel();
  banner_->setWordWrap(true);
  banner_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  banner_->setVisible(false);
  layout->addWidget(banner_);
  header_ = new QLabel();
  header_->setWordWrap(true);
  header_->setTextFormat(Qt::RichText);
  layout->addWidget(header_);

  auto* vsplit = new QSplitter(Qt::Vertical);
  rates_panel_ = new QWidget();
  rates_grid_ = new QGridLayout(rates_panel_);
  rates_grid_->setContentsMargins(0, 0, 0, 0);
  rates_grid_->setSpacing(2);
  vsplit->addWidget(rates_panel_);
  auto* hsplit = new QSplitter(Qt::Horizontal);
  totals_view_ = new QChartView();
  totals_view_->setRenderHint(QPainter::Antialiasing, true);
  totals_view_->setMinimumSize(120, 80);
  latency_view_ = new DashboardChartView();
  latency_view_->setMinimumSize(120, 80);
  hsplit->addWidget(totals_view_);
  hsplit->addWidget(latency_view_);
  hsplit->setStretchFactor(0, 1);
  hsplit->setStretchFactor(1, 1);
  vsplit->addWidget(hsplit);
  vsplit->setStretchFactor(0, 3);
  vsplit->setStretchFactor(1, 2);
  layout->addWidget(vsplit, 1);
  setCentralWidget(central);
  statusBar()->showMessage("Drag on a time chart to zoom; right click zooms out; hover for details.");

  rebuild_timer_ = new QTimer(this);
  rebuild_timer_->setSingleShot(true);
  rebuild_timer_->setInterval(200);
  connect(rebuild_timer_, &QTimer::timeout, this, &MainWindow::Rebuild);

  connect(strategy_box_, &QComboBox::currentIndexChanged, this, [this](int index) {
    if (index < 0) return;
    options_.strategy = strategy_box_->itemData(index).toString();
    zoom_.reset();
    Rebuild();
  });
  connect(top_n_box_, &QSpinBox::valueChanged, this, [this](int v) {
    options_.top_n = v;
    Rebuild();
  });
  connect(merge_box_, &QComboBox::currentIndexChanged, this, [this](int index) {
    if (index < 0) return;
    options_.merge = merge_box_->itemData(index).toInt();
    Rebuild();
  });
  Rebuild();
}

MainWindow::~MainWindow() {
  StopReader();
  reader_thread_.quit();
  reader_thread_.wait();
}

void MainWindow::StopReader() {
  if (follower_ == nullptr) return;
  disconnect(follower_, nullptr, this, nullptr);
  follower_->deleteLater();  // runs on the reader thread (or when it finishes)
  follower_ = nullptr;
}

void MainWindow::OpenFolder(const QString& dir, FollowMode mode) {
  StopReader();
  folder_ = dir;
  follow_mode_ = mode;
  scraping_ = false;
  read_error_.clear();
  report_.reset();
  zoom_.reset();
  auto* follower = new ReportFollower(dir, mode);
  follower->moveToThread(&reader_thread_);
  connect(follower, &ReportFollower::reportChanged, this, &MainWindow::OnReportChanged);
  connect(follower, &ReportFollower::readFailed, this, &MainWindow::OnReadFailed);
  connect(follower, &ReportFollower::readRecovered, this, &MainWindow::OnReadRecovered);
  follower_ = follower;
  if (!reader_thread_.isRunning()) reader_thread_.start();
  QMetaObject::invokeMethod(follower, &ReportFollower::start, Qt::QueuedConnection);
  Rebuild();
}

void MainWindow::OpenScrape(report::ScrapeView view) {
  StopReader();
  QStringList urls;
  for (const auto& h : view.health()) urls << Q(h.url);
  folder_ = urls.join(", ");
  follow_mode_ = FollowMode::kFollow;
  scraping_ = true;
  read_error_.clear();
  report_.reset();
  zoom_.reset();
  auto* follower = new ScrapeFollower(std::move(view));
  follower->moveToThread(&reader_thread_);
  connect(follower, &ScrapeFollower::reportChanged, this, &MainWindow::OnReportChanged);
  follower_ = follower;
  if (!reader_thread_.isRunning()) reader_thread_.start();
  QMetaObject::invokeMethod(follower, &ScrapeFollower::start, Qt::QueuedConnection);
  Rebuild();
}

void MainWindow::OnReportChanged(ReportPtr report) {
  if (sender() != follower_) return;  // a snapshot from a folder closed since
  const bool first = report_ == nullptr;
  report_ = std::move(report);
  if (first) {
    Rebuild();
  } else if (!rebuild_timer_->isActive()) {
    rebuild_timer_->start();
  }
}

void MainWindow::OnReadFailed(const QString& message) {
  if (sender() != follower_) return;
  read_error_ = message;
  UpdateBanner();
}

void MainWindow::OnReadRecovered() {
  if (sender() != follower_) return;
  read_error_.clear();
  UpdateBanner();
}

void MainWindow::SetReport(ReportPtr report) {
  report_ = std::move(report);
  Rebuild();
}

QStringList MainWindow::strategy_names() const {
  QStringList out;
  if (report_ == nullptr) return out;
  for (const auto& s : report_->strategies) out << Q(s.name);
  return out;
}

bool MainWindow::SelectStrategy(const QString& name) {
  if (name != kAllStrategies && !strategy_names().contains(name)) return false;
  options_.strategy = name;
  zoom_.reset();
  Rebuild();
  return true;
}

void MainWindow::ShowBanner(const QString& message, bool error) {
  banner_->setVisible(!message.isEmpty());
  banner_->setText(message);
  banner_->setStyleSheet(error ? "QLabel { background: #fde2e1; color: #7a0c0c; border: 1px solid #e0a0a0; padding: 6px; }"
                               : "QLabel { background: #fff4d6; color: #5c4300; border: 1px solid #e6cf8f; padding: 6px; }");
}

QString MainWindow::banner_text() const { return banner_->isHidden() ? QString() : banner_->text(); }

QString MainWindow::header_text() const { return header_->text(); }

void MainWindow::UpdateBanner() {
  QStringList errors, notes;
  if (!read_error_.isEmpty()) {
    QString msg = QString("Cannot read the report folder %1: %2").arg(folder_, read_error_);
    if (report_ != nullptr) msg += " (showing the last good read)";
    if (follow_mode_ == FollowMode::kFollow) msg += " — still watching the folder";
    errors << msg;
  }
  if (report_ != nullptr) {
    if (options_.strategy != kAllStrategies && !strategy_names().contains(options_.strategy)) {
      errors << QString("No strategy \"%1\" in this report; it has: %2. Showing all.")
                    .arg(options_.strategy, strategy_names().join(", "));
    }
    // A scrape's warnings are its failing sources (URL and problem): errors, not notes.
    for (const auto& w : report_->warnings) (scraping_ ? errors : notes) << Q(w);
  } else if (scraping_) {
    notes << QString("Scraping %1 …").arg(folder_);
  } else if (folder_.isEmpty()) {
    notes << "No report folder open: use Open… or start as  k8slb-dashboard DIR  (DIR written by k8slb-sim run).";
  } else if (read_error_.isEmpty()) {
    notes << QString("Reading %1 …").arg(folder_);
  }
  if (!errors.isEmpty()) {
    ShowBanner((errors + notes).join("\n"), true);
  } else {
    ShowBanner(notes.join("\n"), false);
  }
}

void MainWindow::Rebuild() {
  syncing_zoom_ = true;
  // Keep the strategy selector in step with the report (a live run may add strategies).
  {
    QSignalBlocker block(strategy_box_);
    const QStringList names = strategy_names();
    QStringList have;
    for (int i = 1; i < strategy_box_->count(); ++i) have << strategy_box_->itemText(i);
    if (have != names) {
      while (strategy_box_->count() > 1) strategy_box_->removeItem(1);
      for (const QString& n : names) strategy_box_->addItem(n, n);
    }
    const int idx = strategy_box_->findData(options_.strategy);
    strategy_box_->setCurrentIndex(idx >= 0 ? idx : 0);
  }
  std::vector<std::string> shown;
  if (report_ != nullptr) {
    const StrategyReport* one = options_.strategy == kAllStrategies ? nullptr
                                                                    : report_->FindStrategy(options_.strategy.toStdString());
    if (one != nullptr) {
      shown.push_back(one->name);
    } else {
      for (const auto& s : report_->strategies) shown.push_back(s.name);
    }
  }

  if (report_ == nullptr) {
    header_->setText(folder_.isEmpty() ? QString() : QString("<b>%1</b>").arg(folder_.toHtmlEscaped()));
  } else {
    QString text = QString("<b>%1</b>").arg(Q(Describe(*report_)).toHtmlEscaped());
    if (scraping_) {
      text = QString("<b>%1</b> · %2 pods · %3 s").arg(Q(report_->scenario).toHtmlEscaped()).arg(report_->pods.size())
                 .arg(report_->duration_s, 0, 'f', 1);
      text += "  <span style='color:#c62828'>● live</span>";
      if (auto it = report_->environment.find("sources"); it != report_->environment.end()) {
        text += QString(" · sources: %1").arg(Q(it->second).toHtmlEscaped());
      }
    } else if (follow_mode_ == FollowMode::kFollow) {
      text += report_->complete ? "  <span style='color:#2e7d32'>● finished</span>"
                                : "  <span style='color:#c62828'>● live</span>";
    }
    QStringList parts;
    for (const auto& s : report_->strategies) {
      const auto imb = Imbalance(*report_, s);
      if (scraping_) {
        // /metrics has counts and gauges, no latency distribution: say what it has.
        auto env = [&](const char* key) {
          auto it = report_->environment.find(s.name + ": " + key);
          return it == report_->environment.end() ? QString("?") : Q(it->second).toHtmlEscaped();
        };
        parts << QString("<span style='color:#%1'><b>%2</b></span> %3 ok, %4 failed, in flight %5, ejected %6, "
                         "imbalance %7<br>discovery: %8")
                     .arg(QString::number(StrategyColor(*report_, s.name), 16).rightJustified(6, '0'),
                          Q(s.name).toHtmlEscaped())
                     .arg(s.ok)
                     .arg(s.failed)
                     .arg(env("in flight"), env("ejected"), ImbalanceText(imb), env("discovery"));
        continue;
      }
      parts << QString("<span style='color:#%1'><b>%2</b></span> %3 ok, %4 failed, p50 %5 ms, p99 %6 ms, imbalance %7")
                   .arg(QString::number(StrategyColor(*report_, s.name), 16).rightJustified(6, '0'), Q(s.name).toHtmlEscaped())
                   .arg(s.ok)
                   .arg(s.failed)
                   .arg(s.latency_ms.p50, 0, 'f', 2)
                   .arg(s.latency_ms.p99, 0, 'f', 2)
                   .arg(ImbalanceText(imb));
    }
    // A live run: say how far the timeline is final (the shaded rest is provisional).
    std::optional<double> final_s, window_s;
    for (const auto& s : report_->strategies) {
      if (s.timeline.provisional_from_s) {
        final_s = std::min(final_s.value_or(*s.timeline.provisional_from_s), *s.timeline.provisional_from_s);
      }
      if (s.straggler_window_s) window_s = std::max(window_s.value_or(0.0), *s.straggler_window_s);
    }
    if (final_s) {
      text += QString("  <span style='color:#5a1e1e'>timeline final to %1 s, provisional after (straggler window %2 s)</span>")
                  .arg(*final_s, 0, 'f', 1)
                  .arg(window_s.value_or(0), 0, 'f', 2);
    }
    header_->setText(text + "<br>" + parts.join(" &nbsp;·&nbsp; "));
    setWindowTitle(QString("k8slb dashboard — %1").arg(Q(report_->scenario)));
  }
  UpdateMergeLabels();
  BuildRateCharts(shown);
  BuildTotalsChart();
  BuildLatencyChart(shown);
  if (zoom_) {
    for (QValueAxis* a : TimeAxes(time_charts())) SetTimeRange(a, zoom_->first, zoom_->second);
  }
  syncing_zoom_ = false;
  UpdateBanner();
}

// "×5 (1 s)": the merge factor with the bucket width it gives for the current report.
void MainWindow::UpdateMergeLabels() {
  QSignalBlocker block(merge_box_);
  for (int i = 0; i < merge_box_->count(); ++i) {
    const int m = merge_box_->itemData(i).toInt();
    merge_box_->setItemText(i, report_ ? QString("×%1 (%2 s)").arg(m).arg(DisplayBucket(*report_, m), 0, 'g', 3)
                                       : QString("×%1").arg(m));
  }
}

void MainWindow::ConnectTimeAxis(QChart* chart) {
  for (QAbstractAxis* a : chart->axes(Qt::Horizontal)) {
    if (auto* v = qobject_cast<QValueAxis*>(a)) connect(v, &QValueAxis::rangeChanged, this, &MainWindow::OnTimeRangeChanged);
  }
}

void MainWindow::OnTimeRangeChanged(qreal min, qreal max) {
  if (syncing_zoom_ || report_ == nullptr) return;
  syncing_zoom_ = true;
  const double full = std::max(report_->duration_s, 1e-3);
  if (min <= 1e-9 && std::abs(max - full) <= 1e-6 * std::max(1.0, full)) {
    zoom_.reset();
  } else {
    zoom_ = std::make_pair(static_cast<double>(min), static_cast<double>(max));
  }
  // Every time axis, the zoomed one included (for its tick step), shows the same range.
  for (QValueAxis* a : TimeAxes(time_charts())) SetTimeRange(a, min, max);
  syncing_zoom_ = false;
}

void MainWindow::ResetZoom() {
  zoom_.reset();
  for (DashboardChartView* v : rate_views_) v->chart()->zoomReset();
  latency_view_->chart()->zoomReset();
  Rebuild();
}

void MainWindow::BuildRateCharts(const std::vector<std::string>& strategies) {
  const size_t want = std::max<size_t>(1, strategies.size());
  while (rate_views_.size() > want) {
    delete rate_views_.back();
    rate_views_.pop_back();
  }
  while (rate_views_.size() < want) {
    auto* v = new DashboardChartView();
    v->setMinimumSize(120, 80);
    rate_views_.push_back(v);
  }
  const int columns = want <= 1 ? 1 : 2;
  for (size_t i = 0; i < rate_views_.size(); ++i) {
    rates_grid_->addWidget(rate_views_[i], static_cast<int>(i) / columns, static_cast<int>(i) % columns);
  }
  const auto markers = report_ ? BuildEventMarkers(*report_, report_->duration_s / 12.0) : std::vector<EventMarker>{};

  for (size_t i = 0; i < rate_views_.size(); ++i) {
    DashboardChartView* view = rate_views_[i];
    if (i >= strategies.size()) {
      view->ReplaceChart(NewChart("Requests per pod over time", this));
      view->SetEventMarkers({});
      view->SetPodMarkers({});
      view->SetProvisionalFrom(std::nullopt);
      continue;
    }
    auto built = BuildRateChart(*report_, strategies[i], options_.top_n, options_.merge);
    if (!built.ok()) {
      view->ReplaceChart(NewChart(Q(std::string(built.status().message())), this));
      continue;
    }
    auto data = std::make_shared<const RateChart>(*std::move(built));
    QString subtitle = data->total_pods > static_cast<int>(data->series.size())
                           ? QString("top %1 of %2 pods + others").arg(data->series.size() - 1).arg(data->total_pods)
                           : QString("%1 pods").arg(data->total_pods);
    if (data->total == 0) subtitle = "no requests yet";
    QChart* chart = NewChart(QString("%1 — requests/s per pod (%2)").arg(Q(strategies[i]), subtitle), this);
    chart->legend()->setAlignment(Qt::AlignRight);
    QValueAxis* x = NewTimeAxis(report_->duration_s, this);
    auto* y = new QValueAxis();
    y->setTitleText("requests/s");
    y->setLabelFormat("%.0f");
    y->setLabelsFont(SmallFont(this));
    y->setTitleFont(SmallFont(this));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);

    const size_t buckets = data->bucket_t.size();
    std::vector<double> stacked(buckets, 0.0);
    double ymax = 0;
    QLineSeries* lower = nullptr;
    for (size_t s = 0; s < data->series.size(); ++s) {
      auto* upper = new QLineSeries(chart);
      QList<QPointF> points;
      points.reserve(static_cast<qsizetype>(2 * buckets));
      for (size_t b = 0; b < buckets; ++b) {
        stacked[b] += data->Rate(s, b);
        ymax = std::max(ymax, stacked[b]);
        // Steps: a bucket's rate holds for its whole width.
        points << QPointF(data->bucket_t[b], stacked[b]) << QPointF(data->bucket_t[b] + data->bucket_s, stacked[b]);
      }
      upper->replace(points);
      auto* area = new QAreaSeries(upper, lower);
      area->setName(Q(data->series[s].label));
      const QColor color = QColor::fromRgb(data->series[s].color);
      area->setBrush(color);
      area->setPen(Qt::NoPen);  // a zero-height pod must not draw a line in its colour
      chart->addSeries(area);
      area->attachAxis(x);
      area->attachAxis(y);
      connect(area, &QAreaSeries::hovered, view, [data, s, view](const QPointF& p, bool state) {
        if (!state) {
          QToolTip::hideText();
          return;
        }
        const auto b = static_cast<size_t>(std::clamp(std::floor(p.x() / data->bucket_s), 0.0,
                                                      static_cast<double>(data->bucket_t.size() - 1)));
        const PodSeries& ps = data->series[s];
        QString head = Q(ps.label);
        if (!ps.zone.empty()) head += QString("  (zone %1)").arg(Q(ps.zone));
        const QString text = QString("%1\n%2: t %3–%4 s\n%5 requests (%6 req/s), %7 of the bucket\nwhole run: %8 requests, %9")
                                 .arg(head, Q(data->strategy))
                                 .arg(data->bucket_t[b], 0, 'f', 1)
                                 .arg(data->bucket_t[b] + data->bucket_s, 0, 'f', 1)
                                 .arg(ps.ok[b])
                                 .arg(data->Rate(s, b), 0, 'f', 1)
                                 .arg(Percent(ps.ok[b], data->bucket_total[b]))
                                 .arg(ps.total)
                                 .arg(Percent(ps.total, data->total));
        QToolTip::showText(QCursor::pos(), text, view);
      });
      lower = upper;
    }
    // Headroom above the data for the event labels.
    y->setRange(0, ymax > 0 ? ymax * 1.25 : 1.0);
    y->applyNiceNumbers();
    view->ReplaceChart(chart);
    view->SetEventMarkers(markers);
    view->SetPodMarkers(BuildPodMarkers(*report_));
    const StrategyReport* sr = report_->FindStrategy(strategies[i]);
    view->SetProvisionalFrom(sr != nullptr ? sr->timeline.provisional_from_s : std::nullopt);
    ConnectTimeAxis(chart);
  }
}

void MainWindow::BuildTotalsChart() {
  if (report_ == nullptr) {
    QChart* old = totals_view_->chart();
    totals_view_->setChart(NewChart("Requests per pod, whole run", this));
    if (old != nullptr) old->deleteLater();
    return;
  }
  auto data = std::make_shared<const TotalsChart>(dashboard::BuildTotalsChart(*report_, options_.top_n));
  QChart* chart = NewChart("Requests per pod, whole run (legend: imbalance = max/mean per pod)", this);
  chart->legend()->setAlignment(Qt::AlignBottom);
  auto* series = new QBarSeries();
  int64_t max_count = 0;
  for (size_t si = 0; si < data->strategies.size(); ++si) {
    const ImbalanceFigure& imb = data->imbalance[si];
    auto* set = new QBarSet(QString("%1 %2").arg(Q(data->strategies[si]),
                                                 imb.value ? QString::number(*imb.value, 'f', 2) : QString("n/a")));
    const QColor color = QColor::fromRgb(data->colors[si]);
    set->setColor(color);
    set->setBorderColor(color);
    for (int64_t n : data->counts[si]) {
      *set << static_cast<qreal>(n);
      max_count = std::max(max_count, n);
    }
    connect(set, &QBarSet::hovered, totals_view_, [data, si, view = totals_view_](bool status, int index) {
      if (!status || index < 0 || static_cast<size_t>(index) >= data->categories.size()) {
        QToolTip::hideText();
        return;
      }
      const auto ci = static_cast<size_t>(index);
      QString head = Q(data->categories[ci]);
      if (!data->zones[ci].empty()) head += QString("  (zone %1)").arg(Q(data->zones[ci]));
      const int64_t n = data->counts[si][ci];
      const bool others = data->others_pods > 0 && ci + 1 == data->categories.size();
      const QString text =
          others ? QString("%1\n%2: %3 requests in all, %4 per pod on average; %5 of the strategy's total")
                       .arg(head, Q(data->strategies[si]))
                       .arg(data->others_total[si])
                       .arg(n)
                       .arg(Percent(data->others_total[si], data->strategy_totals[si]))
                 : QString("%1\n%2: %3 requests, %4 of the strategy's total")
                       .arg(head, Q(data->strategies[si]))
                       .arg(n)
                       .arg(Percent(n, data->strategy_totals[si]));
      QToolTip::showText(QCursor::pos(), text, view);
    });
    series->append(set);
  }
  chart->addSeries(series);
  auto* x = new QBarCategoryAxis();
  QStringList cats;
  for (const auto& c : data->categories) cats << Q(c);
  x->append(cats);
  x->setLabelsFont(SmallFont(this, 0.8));
  if (cats.size() > 6) x->setLabelsAngle(-60);
  auto* y = new QValueAxis();
  y->setTitleText("requests");
  y->setLabelFormat("%.0f");
  y->setLabelsFont(SmallFont(this));
  y->setTitleFont(SmallFont(this));
  y->setRange(0, max_count > 0 ? static_cast<double>(max_count) * 1.05 : 1.0);
  y->applyNiceNumbers();
  chart->addAxis(x, Qt::AlignBottom);
  chart->addAxis(y, Qt::AlignLeft);
  series->attachAxis(x);
  series->attachAxis(y);
  QChart* old = totals_view_->chart();
  totals_view_->setChart(chart);
  if (old != nullptr && old != chart) old->deleteLater();
}

void MainWindow::BuildLatencyChart(const std::vector<std::string>& strategies) {
  if (report_ == nullptr || strategies.empty()) {
    latency_view_->ReplaceChart(NewChart("Latency and failures over time", this));
    latency_view_->SetEventMarkers({});
    latency_view_->SetProvisionalFrom(std::nullopt);
    return;
  }
  QChart* chart = NewChart("Latency p50 (dashed) / p99 (solid), failures (dotted, right axis)", this);
  chart->legend()->setAlignment(Qt::AlignBottom);
  QValueAxis* x = NewTimeAxis(report_->duration_s, this);
  auto* y = new QValueAxis();
  y->setTitleText("latency (ms)");
  y->setLabelsFont(SmallFont(this));
  y->setTitleFont(SmallFont(this));
  auto* yf = new QValueAxis();
  yf->setTitleText("failed / bucket");
  yf->setLabelFormat("%.0f");
  yf->setLabelsFont(SmallFont(this));
  yf->setTitleFont(SmallFont(this));
  chart->addAxis(x, Qt::AlignBottom);
  chart->addAxis(y, Qt::AlignLeft);
  chart->addAxis(yf, Qt::AlignRight);
  double lat_max = 0;
  int64_t fail_max = 0;
  for (const auto& name : strategies) {
    auto built = BuildLatencySeries(*report_, name, options_.merge);
    if (!built.ok()) continue;
    const LatencySeries& ls = *built;
    const QColor color = QColor::fromRgb(ls.color);
    auto* p50 = new QLineSeries();
    auto* p99 = new QLineSeries();
    auto* failed = new QLineSeries();
    QList<QPointF> a, b, f;
    const double bucket = ls.bucket_s;
    for (size_t i = 0; i < ls.bucket_t.size(); ++i) {
      const double mid = ls.bucket_t[i] + bucket / 2;
      if (std::isfinite(ls.p50_ms[i])) {
        a << QPointF(mid, ls.p50_ms[i]);
        lat_max = std::max(lat_max, ls.p50_ms[i]);
      }
      if (std::isfinite(ls.p99_ms[i])) {
        b << QPointF(mid, ls.p99_ms[i]);
        lat_max = std::max(lat_max, ls.p99_ms[i]);
      }
      f << QPointF(ls.bucket_t[i], static_cast<double>(ls.failed[i]))
        << QPointF(ls.bucket_t[i] + bucket, static_cast<double>(ls.failed[i]));
      fail_max = std::max(fail_max, ls.failed[i]);
    }
    p50->replace(a);
    p99->replace(b);
    failed->replace(f);
    p50->setName(QString("%1 p50").arg(Q(name)));
    p99->setName(QString("%1 (%2 failed)").arg(Q(name)).arg(ls.total_failed));
    failed->setName(QString("%1 failed").arg(Q(name)));
    QPen pen50(color, 1.5, Qt::DashLine);
    QPen pen99(color, 2.0, Qt::SolidLine);
    QPen penf(color, 2.0, Qt::DotLine);
    p50->setPen(pen50);
    p99->setPen(pen99);
    failed->setPen(penf);
    for (QLineSeries* s : {p50, p99}) {
      chart->addSeries(s);
      s->attachAxis(x);
      s->attachAxis(y);
    }
    chart->addSeries(failed);
    failed->attachAxis(x);
    failed->attachAxis(yf);
    // One legend entry per strategy (its p99 line); the title explains the line styles.
    for (QLineSeries* s : {p50, failed}) {
      for (QLegendMarker* m : chart->legend()->markers(s)) m->setVisible(false);
    }
  }
  y->setRange(0, lat_max > 0 ? lat_max * 1.3 : 1.0);
  y->applyNiceNumbers();
  // At least 0..4 so the integer labels stay distinct.
  yf->setRange(0, std::max(4.0, static_cast<double>(fail_max) * 1.3));
  yf->applyNiceNumbers();
  latency_view_->ReplaceChart(chart);
  latency_view_->SetEventMarkers(BuildEventMarkers(*report_, report_->duration_s / 12.0));
  // Shaded from the earliest provisional bucket of the strategies drawn.
  std::optional<double> provisional;
  for (const std::string& name : strategies) {
    const StrategyReport* sr = report_->FindStrategy(name);
    if (sr == nullptr || !sr->timeline.provisional_from_s) continue;
    provisional = std::min(provisional.value_or(*sr->timeline.provisional_from_s), *sr->timeline.provisional_from_s);
  }
  latency_view_->SetProvisionalFrom(provisional);
  ConnectTimeAxis(chart);
}

QImage MainWindow::RenderImage() { return grab().toImage(); }

std::vector<int> MainWindow::rate_series_counts() const {
  std::vector<int> out;
  for (const DashboardChartView* v : rate_views_) out.push_back(static_cast<int>(v->chart()->series().size()));
  return out;
}

std::vector<QChart*> MainWindow::time_charts() const {
  std::vector<QChart*> charts;
  for (const DashboardChartView* v : rate_views_) charts.push_back(v->chart());
  charts.push_back(latency_view_->chart());
  return charts;
}

std::vector<std::pair<double, double>> MainWindow::time_ranges() const {
  std::vector<std::pair<double, double>> out;
  for (QValueAxis* a : TimeAxes(time_charts())) out.emplace_back(a->min(), a->max());
  return out;
}

QChart* MainWindow::rate_chart(size_t i) const { return i < rate_views_.size() ? rate_views_[i]->chart() : nullptr; }

std::vector<QString> MainWindow::rate_chart_titles() const {
  std::vector<QString> out;
  for (const DashboardChartView* v : rate_views_) out.push_back(v->chart()->title());
  return out;
}

void MainWindow::OnExport() {
  const QString file =
      QFileDialog::getSaveFileName(this, "Export the current view as PNG", "k8slb-dashboard.png", "PNG images (*.png)");
  if (file.isEmpty()) return;
  if (ExportPng(file)) {
    statusBar()->showMessage(QString("Saved %1").arg(file), 5000);
  } else {
    ShowBanner(QString("Could not write %1").arg(file), true);
  }
}

bool MainWindow::ExportPng(const QString& file) { return RenderImage().save(file, "PNG"); }

void MainWindow::OnOpen() {
  const QString dir = QFileDialog::getExistingDirectory(this, "Open a k8slb-sim report folder", folder_);
  if (!dir.isEmpty()) OpenFolder(dir, FollowMode::kOnce);
}

}  // namespace k8slb::dashboard
