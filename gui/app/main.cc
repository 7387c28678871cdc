// k8slb-dashboard: shows where requests went, per pod and over time, for each strategy of a
// k8slb-sim report folder (recorded or live), or live from the /metrics of running clients
// (--scrape). See docs/dashboard.md.
#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QImage>
#include <QRegularExpression>
#include <QWindow>
#include <QEventLoop>
#include <QTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "input/numeric_flag.h"
#include "k8slb/version.h"
#include "main_window.h"
#include "report/folder.h"
#include "report/scrape.h"
#include "scrape_follower.h"

namespace {

using k8slb::dashboard::FollowMode;
using k8slb::dashboard::MainWindow;

int Fail(const QString& message, int code = 2) {
  std::fprintf(stderr, "k8slb-dashboard: %s\n", message.toLocal8Bit().constData());
  return code;
}

// --state-json: what the window drew, for scripts and tests: per strategy the per-pod totals and
// the number of rate series, the header and the banner.
bool WriteState(const MainWindow& window, const QString& file) {
  QJsonObject root;
  const auto report = window.displayed_report();
  QJsonArray strategies;
  const std::vector<int> series = window.rate_series_counts();
  const std::vector<QString> titles = window.rate_chart_titles();
  if (report != nullptr) {
    for (const auto& s : report->strategies) {
      QJsonObject o;
      o["name"] = QString::fromStdString(s.name);
      o["ok"] = static_cast<double>(s.ok);
      o["failed"] = static_cast<double>(s.failed);
      QJsonObject per_pod;
      for (const auto& [pod, n] : s.per_pod) per_pod[QString::fromStdString(pod)] = static_cast<double>(n);
      o["per_pod"] = per_pod;
      uint64_t rows_ok = 0;
      s.timeline.ForEachRow([&](const k8slb::report::TimelineRow& r) { rows_ok += r.ok; });
      o["timeline_ok"] = static_cast<double>(rows_ok);
      strategies.append(o);
    }
    root["duration_s"] = report->duration_s;
    root["pods"] = static_cast<int>(report->pods.size());
  }
  root["strategies"] = strategies;
  QJsonArray counts;
  for (size_t i = 0; i < series.size(); ++i) {
    QJsonObject c;
    c["title"] = i < titles.size() ? titles[i] : QString();
    c["series"] = series[i];
    counts.append(c);
  }
  root["rate_charts"] = counts;
  root["header"] = window.header_text();
  root["banner"] = window.banner_text();
  QFile out(file);
  if (!out.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
  return out.write(QJsonDocument(root).toJson()) > 0;
}

// Lays the window out at the requested size, renders it to `file`, exits.
int RenderScreenshot(MainWindow& window, const QString& source, const QString& strategy, const QSize& size,
                     const QString& file, const QString& state_file) {
  if (!strategy.isEmpty() && !window.SelectStrategy(strategy)) {
    return Fail(QString("--strategy %1: no such strategy in %2 (it has: %3, or \"all\")")
                    .arg(strategy, source, window.strategy_names().join(", ")));
  }
  window.resize(size);
  window.show();
  // Wait (bounded) until the platform has mapped the window, so a real display (Xvfb) draws it.
  QElapsedTimer waited;
  waited.start();
  while (waited.elapsed() < 3000 &&
         (window.windowHandle() == nullptr || !window.windowHandle()->isExposed() || window.size() != size)) {
    QApplication::processEvents(QEventLoop::AllEvents, 50);
    if (window.size() != size) window.resize(size);
  }
  QApplication::processEvents();
  if (window.size() != size) {
    return Fail(QString("--size %1x%2: the window cannot be that size (it is %3x%4; the minimum is %5x%6)")
                    .arg(size.width()).arg(size.height())
                    .arg(window.width()).arg(window.height())
                    .arg(window.minimumSizeHint().width()).arg(window.minimumSizeHint().height()));
  }
  QImage image = window.RenderImage();
  if (image.size() != size) image = image.scaled(size, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
  if (!image.save(file, "PNG")) return Fail(QString("--screenshot %1: cannot write the file").arg(file), 1);
  if (!state_file.isEmpty() && !WriteState(window, state_file)) {
    return Fail(QString("--state-json %1: cannot write the file").arg(state_file), 1);
  }
  std::printf("wrote %s (%dx%d, platform %s)\n", file.toLocal8Bit().constData(), image.width(), image.height(),
              QApplication::platformName().toLocal8Bit().constData());
  return 0;
}

// --screenshot of a report folder: load synchronously.
int Screenshot(MainWindow& window, const QString& dir, bool follow, const QString& strategy, const QSize& size,
               const QString& file, const QString& state_file) {
  k8slb::report::FolderReader reader(
      dir.toStdString(), follow ? k8slb::report::ReadMode::kFollow : k8slb::report::ReadMode::kRecorded);
  auto polled = reader.Poll();
  if (!polled.ok()) {
    return Fail(QString("cannot read the report folder %1: %2").arg(dir, QString::fromStdString(std::string(polled.status().message()))),
                1);
  }
  for (const auto& w : reader.snapshot()->warnings) {
    std::fprintf(stderr, "k8slb-dashboard: warning: %s\n", w.c_str());
  }
  window.SetReport(reader.snapshot());
  return RenderScreenshot(window, dir, strategy, size, file, state_file);
}

// --screenshot --scrape: scrape `rounds` times on this thread, then draw the last snapshot.
int ScrapeScreenshot(MainWindow& window, k8slb::report::ScrapeView view, int rounds, const QString& strategy,
                     const QSize& size, const QString& file, const QString& state_file) {
  const double interval_s = view.interval_s();
  QStringList urls;
  for (const auto& h : view.health()) urls << QString::fromStdString(h.url);
  k8slb::dashboard::ScrapeFollower follower(std::move(view));
  k8slb::dashboard::ReportPtr last;
  QEventLoop loop;
  QObject::connect(&follower, &k8slb::dashboard::ScrapeFollower::reportChanged, &loop,
                   [&](k8slb::dashboard::ReportPtr r) { last = std::move(r); });
  QObject::connect(&follower, &k8slb::dashboard::ScrapeFollower::roundFinished, &loop, [&](int n) {
    if (n >= rounds) loop.quit();
  });
  // Bounded: every round ends within max(2 s, interval) per request timeout plus the interval.
  QTimer::singleShot(static_cast<int>(std::min(86400.0, rounds * (2 * interval_s + 2) + 30) * 1000), &loop,
                     &QEventLoop::quit);
  follower.start();
  loop.exec();
  if (last == nullptr || follower.rounds() < rounds) {
    return Fail(QString("--scrape %1: %2 of %3 rounds finished in time").arg(urls.join(",")).arg(follower.rounds()).arg(rounds),
                1);
  }
  for (const auto& w : last->warnings) std::fprintf(stderr, "k8slb-dashboard: warning: %s\n", w.c_str());
  window.SetScraping(true);
  window.SetReport(last);
  return RenderScreenshot(window, urls.join(","), strategy, size, file, state_file);
}

}  // namespace

int main(int argc, char** argv) {
  // Parse before QApplication exists: bad input and --help must work without a display, and the
  // platform (offscreen for --screenshot) has to be chosen before the application starts.
  QCommandLineParser parser;
  parser.setApplicationDescription(
      "Per-pod request distribution of a k8slb-sim report folder (report.json + timeline CSVs):\n"
      "rates over time with scenario events, per-pod totals and imbalance per strategy,\n"
      "latency and failures. See docs/dashboard.md.");
  const QCommandLineOption help({"h", "help"}, "Show this help and exit.");
  const QCommandLineOption version("version", "Show the version and exit.");
  const QCommandLineOption follow("follow", "Follow a live run in DIR: reload what changes, at least twice a second.", "DIR");
  const QCommandLineOption strategy("strategy", "Show one strategy (default: all, side by side).", "NAME");
  const QCommandLineOption top("top", "Pods shown one by one per chart (1-20, default 10); the rest are \"others\".", "N",
                               "10");
  const QCommandLineOption merge("merge", "Draw time buckets N times wider than the report's (default 1).", "N", "1");
  const QCommandLineOption screenshot("screenshot", "Render the window to FILE.png and exit (no display needed).",
                                      "FILE.png");
  const QCommandLineOption size("size", "Window size, also of the --screenshot image (default 1400x900).", "WxH",
                                "1400x900");
  const QCommandLineOption scrape(
      "scrape",
      "Scrape the Prometheus /metrics of running k8slb clients (k8slb-client --metrics-listen, or any\n"
      "service serving ServeChannelMetrics) and draw them live: URLs http://HOST:PORT/PATH, comma-\n"
      "separated; several are summed per pod (the replicas of one deployment).",
      "URL[,URL...]");
  const QCommandLineOption scrape_interval("scrape-interval",
                                           "Seconds between scrapes, also the chart's bucket (0.05-3600, default 1).",
                                           "S", "1");
  const QCommandLineOption scrape_rounds("scrape-rounds",
                                         "With --screenshot and --scrape: scrape N times, then draw (1-10000, default 3).",
                                         "N", "3");
  const QCommandLineOption state_json("state-json",
                                      "With --screenshot: also write what was drawn (per-pod totals, series, header, "
                                      "banner) as JSON to FILE.",
                                      "FILE");
  parser.addOptions({help, version, follow, strategy, top, merge, screenshot, size, scrape, scrape_interval, scrape_rounds,
                     state_json});
  parser.addPositionalArgument("DIR", "A report folder written by k8slb-sim run --out DIR.", "[DIR]");
  QStringList args;
  for (int i = 0; i < argc; ++i) args << QString::fromLocal8Bit(argv[i]);
  if (!parser.parse(args)) return Fail(parser.errorText());
  if (parser.isSet(help)) {
    std::printf("%s", parser.helpText().replace("<executable_name>", "k8slb-dashboard").toLocal8Bit().constData());
    return 0;
  }
  if (parser.isSet(version)) {
    std::printf("k8slb-dashboard %s\n", k8slb::kVersion);
    return 0;
  }

  const QStringList positional = parser.positionalArguments();
  if (positional.size() > 1) return Fail("at most one DIR may be given");
  if (!positional.isEmpty() && parser.isSet(follow)) return Fail("give the folder either as DIR or as --follow DIR, not both");
  const QString dir = parser.isSet(follow) ? parser.value(follow) : positional.value(0);
  // Numbers go through the same validation as every k8slb binary (input/numeric_flag.h).
  auto int_flag = [&](const char* name, const QString& text, int64_t lo, int64_t hi) {
    return k8slb::input::ParseIntFlag(name, text.toStdString(), lo, hi);
  };
  const auto top_n = int_flag("--top", parser.value(top), 1, k8slb::dashboard::kMaxShownPods);
  if (!top_n.ok()) return Fail(QString::fromStdString(std::string(top_n.status().message())));
  const auto merge_n = int_flag("--merge", parser.value(merge), 1, 1000);
  if (!merge_n.ok()) return Fail(QString::fromStdString(std::string(merge_n.status().message())));
  const auto m = QRegularExpression("^(\\d+)x(\\d+)$").match(parser.value(size));
  if (!m.hasMatch()) return Fail(QString("--size %1: expected WIDTHxHEIGHT, e.g. 1400x900").arg(parser.value(size)));
  // A screenshot allocates width × height pixels: 16384 × 16384 is already 1 GiB.
  const auto width = int_flag("--size width", m.captured(1), 16, 16384);
  if (!width.ok()) return Fail(QString::fromStdString(std::string(width.status().message())));
  const auto height = int_flag("--size height", m.captured(2), 16, 16384);
  if (!height.ok()) return Fail(QString::fromStdString(std::string(height.status().message())));
  const QSize window_size(static_cast<int>(*width), static_cast<int>(*height));
  std::optional<k8slb::report::ScrapeView> scrape_view;
  int rounds = 3;
  if (parser.isSet(scrape)) {
    if (!dir.isEmpty()) return Fail("give either a report folder (DIR, --follow DIR) or --scrape URL, not both");
    const auto interval = k8slb::input::ParseDoubleFlag("--scrape-interval", parser.value(scrape_interval).toStdString(),
                                                        k8slb::report::kMinScrapeIntervalS,
                                                        k8slb::report::kMaxScrapeIntervalS);
    if (!interval.ok()) return Fail(QString::fromStdString(std::string(interval.status().message())));
    const auto n = int_flag("--scrape-rounds", parser.value(scrape_rounds), 1, 10000);
    if (!n.ok()) return Fail(QString::fromStdString(std::string(n.status().message())));
    rounds = static_cast<int>(*n);
    std::vector<std::string> urls;
    for (const QString& u : parser.value(scrape).split(',')) urls.push_back(u.trimmed().toStdString());
    auto view = k8slb::report::ScrapeView::Create(std::move(urls), *interval);
    if (!view.ok()) return Fail(QString::fromStdString(std::string(view.status().message())));
    scrape_view.emplace(*std::move(view));
  } else {
    for (const auto* o : {&scrape_interval, &scrape_rounds}) {
      if (parser.isSet(*o)) return Fail(QString("--%1 needs --scrape URL").arg(o->names().front()));
    }
  }
  if (parser.isSet(scrape_rounds) && !parser.isSet(screenshot)) return Fail("--scrape-rounds needs --screenshot");
  if (parser.isSet(state_json) && !parser.isSet(screenshot)) return Fail("--state-json needs --screenshot");
  if (parser.isSet(screenshot) && dir.isEmpty() && !scrape_view) {
    return Fail("--screenshot needs a report folder (DIR or --follow DIR) or --scrape URL");
  }

  const bool no_display = qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM") && qEnvironmentVariableIsEmpty("DISPLAY") &&
                          qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY");
  if (no_display) {
    // A screenshot needs no display; with one (xvfb-run sets DISPLAY) the real window is drawn.
    if (!parser.isSet(screenshot)) {
      return Fail("no display (DISPLAY is not set): run it in a desktop session, under xvfb-run, or with "
                  "--screenshot FILE.png");
    }
    qputenv("QT_QPA_PLATFORM", "offscreen");
  }
  QApplication app(argc, argv);
  QApplication::setApplicationName("k8slb-dashboard");
  QApplication::setStyle("Fusion");  // the same look on every platform, offscreen included

  k8slb::dashboard::WindowOptions options;
  options.top_n = static_cast<int>(*top_n);
  options.merge = static_cast<int>(*merge_n);
  if (parser.isSet(strategy)) options.strategy = parser.value(strategy);
  MainWindow window(options);

  if (parser.isSet(screenshot) && scrape_view) {
    return ScrapeScreenshot(window, *std::move(scrape_view), rounds, parser.value(strategy), window_size,
                            parser.value(screenshot), parser.value(state_json));
  }
  if (parser.isSet(screenshot)) {
    return Screenshot(window, dir, parser.isSet(follow), parser.value(strategy), window_size, parser.value(screenshot),
                      parser.value(state_json));
  }
  if (scrape_view) {
    window.OpenScrape(*std::move(scrape_view));
  } else if (!dir.isEmpty()) {
    window.OpenFolder(dir, parser.isSet(follow) ? FollowMode::kFollow : FollowMode::kOnce);
  }
  window.resize(window_size);
  window.show();
  return QApplication::exec();
}
