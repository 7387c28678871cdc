// The k8slb-dashboard binary: --help, --screenshot on the offscreen platform (the PNG has the
// requested size, is not blank, and shows exactly the expected series colours), the real window
// under Xvfb, and broken folders (a clear message on stderr, a non-zero exit, no PNG).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QColor>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QFileInfo>
#include <QImage>
#include <QProcess>
#include <QProcessEnvironment>
#include <QStandardPaths>
#include <map>
#include <set>

#include "fixtures.h"
#include "model/dashboard_model.h"

namespace k8slb::dashboard {
namespace {

namespace fs = std::filesystem;
using testing::EditFile;
using testing::TempDir;

struct ProcResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

ProcResult RunProgram(const QString& program, const QStringList& args, bool offscreen = true) {
  QProcess p;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  if (offscreen) {
    env.insert("QT_QPA_PLATFORM", "offscreen");
  } else {
    env.remove("QT_QPA_PLATFORM");
    env.remove("DISPLAY");
    env.remove("WAYLAND_DISPLAY");
  }
  p.setProcessEnvironment(env);
  p.start(program, args);
  ProcResult r;
  if (!p.waitForStarted(10000)) {
    r.err = "could not start " + program.toStdString();
    return r;
  }
  if (!p.waitForFinished(60000)) {
    p.kill();
    p.waitForFinished(5000);
    r.err = "timed out";
    return r;
  }
  r.exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
  r.out = p.readAllStandardOutput().toStdString();
  r.err = p.readAllStandardError().toStdString();
  return r;
}

ProcResult Dashboard(const QStringList& args) { return RunProgram(K8SLB_DASHBOARD_BIN, args); }

QString Str(const fs::path& p) { return QString::fromStdString(p.string()); }

// Pixels per exact RGB colour.
std::map<QRgb, int> Histogram(const QImage& image) {
  std::map<QRgb, int> h;
  const QImage img = image.convertToFormat(QImage::Format_RGB32);
  for (int y = 0; y < img.height(); ++y) {
    const auto* line = reinterpret_cast<const QRgb*>(img.constScanLine(y));
    for (int x = 0; x < img.width(); ++x) ++h[line[x] & 0xffffff];
  }
  return h;
}

// Indexes of the pod palette drawn as a real area (more pixels than a legend marker).
std::set<int> PodColoursShown(const std::map<QRgb, int>& h, int min_pixels = 400) {
  std::set<int> shown;
  for (int i = 0; i < kPodPaletteSize; ++i) {
    auto it = h.find(kPodPalette[i]);
    if (it != h.end() && it->second >= min_pixels) shown.insert(i);
  }
  return shown;
}

int Pixels(const std::map<QRgb, int>& h, uint32_t rgb) {
  auto it = h.find(rgb);
  return it == h.end() ? 0 : it->second;
}

void ExpectNotBlank(const QImage& image) {
  const auto h = Histogram(image);
  int most = 0;
  for (const auto& [c, n] : h) most = std::max(most, n);
  const int total = image.width() * image.height();
  EXPECT_GT(h.size(), 50u) << "too few colours: the image looks blank";
  EXPECT_LT(most, total * 8 / 10) << "one colour covers more than 80% of the image";
}

std::set<int> Range(int n) {
  std::set<int> s;
  for (int i = 0; i < n; ++i) s.insert(i);
  return s;
}

TEST(DashboardCli, Help) {
  const ProcResult r = Dashboard({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* opt : {"--follow", "--strategy", "--screenshot", "--size", "--top", "--merge", "--scrape",
                          "--scrape-interval", "--scrape-rounds", "--state-json"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt << " missing from --help:\n" << r.out;
  }
}

TEST(DashboardCli, BadOptionsExitNonZeroWithAReason) {
  TempDir dir;
  ProcResult r = Dashboard({Str(testing::BasicFixture()), "--screenshot", Str(dir.path() / "x.png"), "--size", "big"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--size big: expected WIDTHxHEIGHT"), std::string::npos) << r.err;
  r = Dashboard({"--top", "0", Str(testing::BasicFixture())});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--top: \"0\" is out of range; must be within [1, 20]"), std::string::npos) << r.err;
  r = Dashboard({"--merge", "x", Str(testing::BasicFixture())});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--merge: \"x\" is not an integer"), std::string::npos) << r.err;
  r = Dashboard({"--no-such-option"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("k8slb-dashboard: Unknown option 'no-such-option'"), std::string::npos) << r.err;
  r = Dashboard({"a", "b"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("at most one DIR"), std::string::npos) << r.err;
}

TEST(DashboardCli, BadScrapeFlagsExitTwoWithAReason) {
  const std::vector<std::pair<QStringList, std::string>> cases = {
      {{"--scrape", "127.0.0.1:9464/metrics"}, "--scrape 127.0.0.1:9464/metrics: expected http://HOST[:PORT]/PATH"},
      {{"--scrape", "https://a/metrics"}, "https is not supported"},
      {{"--scrape", "http://a:70000/metrics"}, "port \"70000\" is not in 1..65535"},
      {{"--scrape", "http://a/m,http://a/m"}, "--scrape http://a/m: given twice"},
      {{"--scrape", "http://a/m,"}, "--scrape : expected http://"},
      {{"--scrape", "http://a/m", "--scrape-interval", "0"}, "--scrape-interval: \"0\" is out of range"},
      {{"--scrape", "http://a/m", "--scrape-interval", "nan"}, "--scrape-interval"},
      {{"--scrape", "http://a/m", "--scrape-rounds", "0", "--screenshot", "x.png"}, "--scrape-rounds: \"0\" is out of range"},
      {{"--scrape", "http://a/m", "--scrape-rounds", "2"}, "--scrape-rounds needs --screenshot"},
      {{"--scrape-interval", "1"}, "--scrape-interval needs --scrape URL"},
      {{"--scrape", "http://a/m", "somedir"}, "either a report folder (DIR, --follow DIR) or --scrape URL, not both"},
      {{"--state-json", "x.json", "somedir"}, "--state-json needs --screenshot"},
  };
  for (const auto& [args, want] : cases) {
    const ProcResult r = Dashboard(args);
    EXPECT_EQ(r.exit_code, 2) << args.join(" ").toStdString() << ": " << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << args.join(" ").toStdString() << ": " << r.err;
  }
}

// A source that refuses connections: the screenshot still renders, the banner names the URL.
TEST(DashboardScrape, AnUnreachableSourceIsNamedInTheBanner) {
  TempDir dir;
  // A loopback port the kernel chose and nothing listens on any more.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  const QString url = QString("http://127.0.0.1:%1/metrics").arg(ntohs(addr.sin_port));
  const fs::path png = dir.path() / "down.png";
  const fs::path state = dir.path() / "down.json";
  const ProcResult r = Dashboard({"--scrape", url, "--scrape-interval", "0.1", "--scrape-rounds", "2", "--screenshot",
                                  Str(png), "--state-json", Str(state), "--size", "800x600"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + url.toStdString() + ": Connection refused (no good scrape yet)"), std::string::npos)
      << r.err;
  const QImage image(QString::fromStdString(png.string()));
  EXPECT_EQ(image.size(), QSize(800, 600));
  QFile f(QString::fromStdString(state.string()));
  ASSERT_TRUE(f.open(QIODevice::ReadOnly));
  const QJsonObject j = QJsonDocument::fromJson(f.readAll()).object();
  EXPECT_EQ(j["banner"].toString(), url + ": Connection refused (no good scrape yet)");
  EXPECT_TRUE(j["strategies"].toArray().isEmpty());
  EXPECT_NE(j["header"].toString().indexOf("0 of 1 answering"), -1) << j["header"].toString().toStdString();
}

TEST(DashboardCli, NoDisplayIsAOneLineReasonNotACrash) {
  const ProcResult r = RunProgram(K8SLB_DASHBOARD_BIN, {Str(testing::BasicFixture())}, /*offscreen=*/false);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("k8slb-dashboard: no display (DISPLAY is not set)"), std::string::npos) << r.err;
}

TEST(DashboardScreenshot, OneStrategyShowsOneColourPerPod) {
  TempDir dir;
  const fs::path png = dir.path() / "lr.png";
  const ProcResult r = Dashboard({Str(testing::BasicFixture()), "--strategy", "least-request", "--screenshot", Str(png),
                           "--size", "1000x700"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("platform offscreen"), std::string::npos) << r.out;
  QImage image(Str(png));
  ASSERT_FALSE(image.isNull()) << "no PNG written";
  EXPECT_EQ(image.width(), 1000);
  EXPECT_EQ(image.height(), 700);
  ExpectNotBlank(image);
  const auto h = Histogram(image);
  EXPECT_EQ(PodColoursShown(h), Range(5));  // echo-0..echo-4, no other pod colour
  EXPECT_LT(Pixels(h, kOthersColor), 400);  // nothing grouped at 5 pods (no "others" area)
  // The totals bars: one colour per strategy.
  EXPECT_GT(Pixels(h, kStrategyPalette[3]), 400);  // least-request
  EXPECT_GT(Pixels(h, kStrategyPalette[0]), 400);  // clusterip
}

TEST(DashboardScreenshot, ClusterIpUsesThreePods) {
  TempDir dir;
  const fs::path png = dir.path() / "ci.png";
  const ProcResult r = Dashboard({Str(testing::BasicFixture()), "--strategy", "clusterip", "--screenshot", Str(png),
                           "--size", "900x600"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  QImage image(Str(png));
  ASSERT_EQ(image.size(), QSize(900, 600));
  EXPECT_EQ(PodColoursShown(Histogram(image)), Range(3));
}

TEST(DashboardScreenshot, SixHundredPodsShowTopTenAndOthers) {
  TempDir dir;
  testing::WriteManyPodsReport(dir.path(), {.pods = 600, .buckets = 4, .ten_hot_pods = true});
  const fs::path png = dir.path() / "many.png";
  const ProcResult r = Dashboard({Str(dir.path()), "--strategy", "least-request", "--screenshot", Str(png), "--size",
                           "1200x800"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  QImage image(Str(png));
  ASSERT_EQ(image.size(), QSize(1200, 800));
  ExpectNotBlank(image);
  const auto h = Histogram(image);
  EXPECT_EQ(PodColoursShown(h), Range(10));
  EXPECT_GT(Pixels(h, kOthersColor), 400);  // the 590 other pods, summed
}

TEST(DashboardScreenshot, AllStrategiesByDefault) {
  TempDir dir;
  const fs::path png = dir.path() / "all.png";
  const ProcResult r = Dashboard({Str(testing::BasicFixture()), "--screenshot", Str(png), "--size", "1400x900"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  QImage image(Str(png));
  ASSERT_EQ(image.size(), QSize(1400, 900));
  EXPECT_EQ(PodColoursShown(Histogram(image)), Range(5));
}

// The real window on an X server: xvfb-run starts Xvfb, the dashboard uses the xcb platform.
TEST(DashboardScreenshot, RealWindowUnderXvfb) {
  const QString xvfb = QStandardPaths::findExecutable("xvfb-run");
  if (xvfb.isEmpty()) GTEST_SKIP() << "xvfb-run is not installed (apt-get install xvfb xauth); skipping the Xvfb test";
  TempDir dir;
  const fs::path png = dir.path() / "xvfb.png";
  const ProcResult r = RunProgram(xvfb, {"-a", "-s", "-screen 0 1280x1024x24", K8SLB_DASHBOARD_BIN,
                                  Str(testing::BasicFixture()), "--strategy", "least-request", "--screenshot",
                                  Str(png), "--size", "1000x700"},
                           /*offscreen=*/false);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("platform xcb"), std::string::npos) << r.out << r.err;
  QImage image(Str(png));
  ASSERT_EQ(image.size(), QSize(1000, 700));
  ExpectNotBlank(image);
  EXPECT_EQ(PodColoursShown(Histogram(image)), Range(5));
}

// --- broken folders: stderr names the file and the problem; exit 1; no PNG ---

struct BrokenCase {
  const char* name;
  std::function<void(const fs::path&)> breakit;
  const char* message;
};

// Test names show the case's name instead of its bytes.
void PrintTo(const BrokenCase& c, std::ostream* os) { *os << c.name; }

class BrokenScreenshot : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenScreenshot, ClearMessageNoCrash) {
  TempDir dir;
  testing::CopyBasicFixture(dir.path());
  GetParam().breakit(dir.path());
  const fs::path png = dir.path() / "out.png";
  const ProcResult r = Dashboard({Str(dir.path()), "--screenshot", Str(png), "--size", "800x600"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << "stderr: " << r.err;
  EXPECT_NE(r.err.find("k8slb-dashboard: cannot read the report folder "), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(png));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BrokenScreenshot,
    ::testing::Values(
        BrokenCase{"MissingReport", [](const fs::path& d) { fs::remove(d / "report.json"); },
                   "report.json: not found in "},
        BrokenCase{"InvalidJson",
                   [](const fs::path& d) { testing::WriteText(d / "report.json", "{\"format\": 1, \"scenario\": "); },
                   "report.json: invalid JSON: "},
        BrokenCase{"MissingField", [](const fs::path& d) { EditFile(d / "report.json", "\"seed\": 7,", ""); },
                   "report.json: seed: missing (a required field)"},
        // These three crashed the dashboard (segfault, bad_alloc) before the reader bounded them.
        BrokenCase{"HugeDuration",
                   [](const fs::path& d) { EditFile(d / "report.json", "\"duration_s\": 10.0", "\"duration_s\": 1e308"); },
                   "report.json: duration_s: must be between 0 and 1e+06 s, got 1e+308"},
        BrokenCase{"TinyBucket",
                   [](const fs::path& d) {
                     EditFile(d / "report.json", "\"timeline_bucket_s\": 1.0", "\"timeline_bucket_s\": 1e-300");
                   },
                   "report.json: timeline_bucket_s: must be between 0.001 and 3600 s, got 1e-300"},
        BrokenCase{"BillionSeconds",
                   [](const fs::path& d) { EditFile(d / "report.json", "\"duration_s\": 10.0", "\"duration_s\": 1e9"); },
                   "report.json: duration_s: must be between 0 and 1e+06 s, got 1e+09"},
        BrokenCase{"MissingCsv", [](const fs::path& d) { fs::remove(d / "timeline-least-request.csv"); },
                   "timeline-least-request.csv: not found"},
        BrokenCase{"CsvBadRow",
                   [](const fs::path& d) { EditFile(d / "timeline-clusterip.csv", "2.0,echo-0,50", "2.0,echo-0,-3"); },
                   "timeline-clusterip.csv:6: field \"ok\" is not a non-negative integer up to 2^53: \"-3\""}),
    [](const ::testing::TestParamInfo<BrokenCase>& info) { return std::string(info.param.name); });

TEST(DashboardScreenshot, UnknownStrategyListsTheKnownOnes) {
  TempDir dir;
  const ProcResult r = Dashboard({Str(testing::BasicFixture()), "--strategy", "nope", "--screenshot",
                           Str(dir.path() / "x.png")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--strategy nope: no such strategy"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("least-request, clusterip"), std::string::npos) << r.err;
}

TEST(DashboardScreenshot, PartialFolderWarnsButRenders) {
  TempDir dir;
  testing::CopyBasicFixture(dir.path());
  EditFile(dir.path() / "report.json", "\"complete\": true", "\"complete\": false");
  const fs::path png = dir.path() / "partial.png";
  const ProcResult r = Dashboard({Str(dir.path()), "--screenshot", Str(png), "--size", "800x600"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: report.json: the run is not complete"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(png));
}

}  // namespace
}  // namespace k8slb::dashboard
