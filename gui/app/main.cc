// k8slb-dashboard: shows where requests went, per pod and over time, for each strategy of a
// k8slb-sim report folder (recorded or live). See docs/dashboard.md.
#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QImage>
#include <QRegularExpression>
#include <QWindow>
#include <cstdio>
#include <cstdlib>

#include "input/numeric_flag.h"
#include "k8slb/version.h"
#include "main_window.h"
#include "report/folder.h"

namespace {

using k8slb::dashboard::FollowMode;
using k8slb::dashboard::MainWindow;

int Fail(const QString& message, int code = 2) {
  std::fprintf(stderr, "k8slb-dashboard: %s\n", message.toLocal8Bit().constData());
  return code;
}

// --screenshot: load synchronously, lay the window out at the requested size, render it, exit.
int Screenshot(MainWindow& window, const QString& dir, bool follow, const QString& strategy, const QSize& size,
               const QString& file) {
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
  if (!strategy.isEmpty() && !window.SelectStrategy(strategy)) {
    return Fail(QString("--strategy %1: no such strategy in %2 (it has: %3, or \"all\")")
                    .arg(strategy, dir, window.strategy_names().join(", ")));
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
  std::printf("wrote %s (%dx%d, platform %s)\n", file.toLocal8Bit().constData(), image.width(), image.height(),
              QApplication::platformName().toLocal8Bit().constData());
  return 0;
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
  parser.addOptions({help, version, follow, strategy, top, merge, screenshot, size});
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
  if (parser.isSet(screenshot) && dir.isEmpty()) return Fail("--screenshot needs a report folder (DIR or --follow DIR)");

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

  if (parser.isSet(screenshot)) {
    return Screenshot(window, dir, parser.isSet(follow), parser.value(strategy), window_size, parser.value(screenshot));
  }
  if (!dir.isEmpty()) window.OpenFolder(dir, parser.isSet(follow) ? FollowMode::kFollow : FollowMode::kOnce);
  window.resize(window_size);
  window.show();
  return QApplication::exec();
}
