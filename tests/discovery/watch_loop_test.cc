// Protocol tests of the watch loop: each test breaks if the rule
// it names is broken. They run against ScriptedServer/SliceApiModel over plain HTTP on loopback
// with shortened timings (backoff in tens of ms, stall timeouts under a second).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "discovery/watch_support.h"
#include "k8slb/discovery.h"
#include "scripted_server.h"

namespace k8slb {
namespace {

using std::chrono::milliseconds;
using testing::Ep;
using testing::HttpRequest;
using testing::ResponseWriter;
using testing::ScriptedServer;
using testing::SliceApiModel;

struct LogCapture {
  std::mutex mu;
  std::vector<std::string> lines;
  LogSink Sink() {
    return [this](LogLevel level, const std::string& m) {
      std::lock_guard<std::mutex> lock(mu);
      lines.push_back(m);
    };
  }
  std::vector<std::string> Lines() {
    std::lock_guard<std::mutex> lock(mu);
    return lines;
  }
};

template <typename Pred>
bool WaitUntil(Pred pred, milliseconds timeout = milliseconds(5000)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return pred();
}

double MsBetween(const HttpRequest& a, const HttpRequest& b) {
  return static_cast<double>(b.received_nanos - a.received_nanos) / 1e6;
}

std::vector<std::string> Addresses(const ServiceWatcher& w) {
  std::vector<std::string> out;
  // Hold the snapshot: a range-for over Current()->endpoints() would let the watcher free it
  // mid-loop (the temporary shared_ptr dies before the loop body runs).
  const std::shared_ptr<const EndpointSet> set = w.Current();
  for (const auto& e : set->endpoints()) out.push_back(e.address);
  return out;
}

DiscoveryOptions TestOptions(const std::string& url, LogCapture* logs = nullptr) {
  DiscoveryOptions o;
  o.config.server = url;
  o.config.allow_plain_http = true;
  o.config.allow_credentials_over_plain_http = true;  // loopback test server
  o.config.token = "tok-secret-literal";
  o.target = *ParseTarget("kubernetes:///web:http");
  o.backoff_initial = milliseconds(20);
  o.backoff_max = milliseconds(300);
  o.backoff_reset_after = milliseconds(5000);
  o.stall_timeout = milliseconds(3000);
  o.connect_timeout = milliseconds(1000);
  o.random = MakeSeededRandom(7);
  if (logs != nullptr) o.log = logs->Sink();
  return o;
}

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return absl::StrCat("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                      "\"Failure\",\"message\":\"",
                      message, "\",\"reason\":\"", reason, "\",\"code\":", code, "}");
}

std::vector<HttpRequest> Lists(const std::vector<HttpRequest>& reqs) {
  std::vector<HttpRequest> out;
  for (const auto& r : reqs) {
    if (!r.IsWatch()) out.push_back(r);
  }
  return out;
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    std::string templ = (std::filesystem::temp_directory_path() / "k8slb-tok-XXXXXX").string();
    int fd = mkstemp(templ.data());
    close(fd);
    path_ = templ;
    Write(content);
  }
  ~TempFile() { std::filesystem::remove(path_); }
  void Write(const std::string& content) const {
    std::string tmp = path_ + ".new";
    std::ofstream(tmp) << content;
    std::filesystem::rename(tmp, path_);  // atomic, as kubelet's symlink swap
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(WatchLoop, ListsThenWatchesWithClientGoParameters) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1"), Ep("10.0.0.2", false)});
  api.Upsert("web-b", {Ep("10.0.0.3")});
  std::atomic<int> callbacks{0};
  auto w = StartServiceWatcher(TestOptions(api.url()), [&](const auto&) { ++callbacks; });
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(5000)).ok());
  EXPECT_EQ(Addresses(**w), (std::vector<std::string>{"10.0.0.1", "10.0.0.3"}));
  ASSERT_TRUE(api.server().WaitForRequests(2, milliseconds(5000)));
  auto reqs = api.server().requests();
  const HttpRequest& list = reqs[0];
  EXPECT_EQ(list.path, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices");
  EXPECT_EQ(list.Query("labelSelector"), "kubernetes.io/service-name=web");
  EXPECT_EQ(list.Query("resourceVersion"), "0");  // client-go's first list
  EXPECT_EQ(list.Query("limit"), "500");
  EXPECT_FALSE(list.IsWatch());
  EXPECT_EQ(list.Authorization(), "Bearer tok-secret-literal");
  const HttpRequest& watch = reqs[1];
  EXPECT_TRUE(watch.IsWatch());
  EXPECT_EQ(watch.Query("resourceVersion"), "102");
  EXPECT_EQ(watch.Query("allowWatchBookmarks"), "true");
  EXPECT_EQ(watch.Query("labelSelector"), "kubernetes.io/service-name=web");
  const int timeout = std::stoi(watch.Query("timeoutSeconds"));
  EXPECT_GE(timeout, 300);
  EXPECT_LT(timeout, 600);
  // Changes flow through the watch: add, modify (drop an endpoint), delete a slice.
  api.Upsert("web-c", {Ep("10.0.0.4")});
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w).size() == 3; }));
  api.Upsert("web-a", {Ep("10.0.0.2", false)});
  api.Delete("web-b");
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w) == std::vector<std::string>{"10.0.0.4"}; }));
  DiscoveryStats s = (*w)->stats();
  EXPECT_TRUE(s.synced);
  EXPECT_EQ(s.events_applied, 3u);
  EXPECT_EQ(s.resource_version, "105");
  EXPECT_EQ(s.relists, 0u);
  EXPECT_EQ(s.endpoints, 1u);
  EXPECT_GT(s.last_sync_unix_ms, 0);
  EXPECT_TRUE(s.last_error.empty());
  EXPECT_GE(callbacks.load(), 4);
}

TEST(WatchLoop, NormalEndResumesFromLastResourceVersionWithoutRelist) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  auto w = StartServiceWatcher(TestOptions(api.url()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(5000)).ok());
  const uint64_t rv = api.Upsert("web-a", {Ep("10.0.0.1"), Ep("10.0.0.9")});
  ASSERT_TRUE(WaitUntil([&] { return (*w)->stats().events_applied == 1; }));
  api.EndWatches();  // the server's timeoutSeconds elapsed: clean end of the stream
  ASSERT_TRUE(api.server().WaitForRequests(3, milliseconds(5000)));
  auto reqs = api.server().requests();
  EXPECT_FALSE(reqs[0].IsWatch());
  EXPECT_TRUE(reqs[1].IsWatch());
  EXPECT_TRUE(reqs[2].IsWatch()) << "a normal end must re-watch, not relist";
  EXPECT_EQ(reqs[2].Query("resourceVersion"), std::to_string(rv));
  EXPECT_EQ(Lists(reqs).size(), 1u);
  EXPECT_EQ((*w)->stats().relists, 0u);
}

// 410 in both forms: relist from a consistent read and reconcile (a deletion missed while the
// watch was broken disappears).
void ExpectRelistOn410(bool as_error_event) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  api.Upsert("web-b", {Ep("10.0.0.2")});
  std::atomic<int> watches{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch() || watches++ > 0) return false;
    api.Delete("web-b");  // happens while this client is not watching
    std::string status = StatusBody(410, "Expired", "too old resource version: 102 (103)");
    if (as_error_event) {
      w.StartStream(200);
      w.Chunk(absl::StrCat("{\"type\":\"ERROR\",\"object\":", status, "}\n"));
      w.SleepFor(milliseconds(3000));  // the client must not wait for the close
      w.EndStream();
    } else {
      w.Send(410, status);
    }
    return true;
  });
  auto w = StartServiceWatcher(TestOptions(api.url()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(WaitUntil([&] { return Lists(api.server().requests()).size() >= 2; },
                        milliseconds(2500)));
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w) == std::vector<std::string>{"10.0.0.1"}; }));
  auto lists = Lists(api.server().requests());
  EXPECT_EQ(lists[0].Query("resourceVersion"), "0");
  EXPECT_FALSE(lists[1].HasQuery("resourceVersion")) << "relist after 410 must be consistent";
  EXPECT_EQ((*w)->stats().relists, 1u);
  // And the watch continues from the relist's resourceVersion.
  ASSERT_TRUE(api.server().WaitForRequests(4, milliseconds(5000)));
  EXPECT_EQ(api.server().requests()[3].Query("resourceVersion"), "103");
}

TEST(WatchLoop, ErrorEvent410RelistsAndReconciles) { ExpectRelistOn410(true); }
TEST(WatchLoop, Http410RelistsAndReconciles) { ExpectRelistOn410(false); }

TEST(WatchLoop, Repeated410DoesNotSpin) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch()) return false;
    w.Send(410, StatusBody(410, "Expired", "too old resource version"));
    return true;
  });
  auto opts = TestOptions(api.url());
  opts.backoff_initial = milliseconds(50);
  opts.backoff_max = milliseconds(200);
  auto w = StartServiceWatcher(opts);
  ASSERT_TRUE(w.ok());
  std::this_thread::sleep_for(milliseconds(800));
  const size_t lists = Lists(api.server().requests()).size();
  EXPECT_GE(lists, 3u);
  EXPECT_LE(lists, 15u) << "relists after repeated 410s must back off";
  EXPECT_EQ(Addresses(**w), std::vector<std::string>{"10.0.0.1"});
}

TEST(WatchLoop, BookmarksAdvanceTheResourceVersion) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  std::atomic<int> watches{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch() || watches++ > 0) return false;
    w.StartStream(200);
    w.Chunk(
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"EndpointSlice\",\"apiVersion\":"
        "\"discovery.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"555\"}}}\n");
    w.EndStream();
    return true;
  });
  auto w = StartServiceWatcher(TestOptions(api.url()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(api.server().WaitForRequests(3, milliseconds(5000)));
  auto reqs = api.server().requests();
  ASSERT_TRUE(reqs[2].IsWatch());
  EXPECT_EQ(reqs[2].Query("resourceVersion"), "555");
  EXPECT_EQ((*w)->stats().bookmarks, 1u);
  EXPECT_EQ(Addresses(**w), std::vector<std::string>{"10.0.0.1"});  // a bookmark changes nothing
}

TEST(WatchLoop, TooManyRequestsHonoursRetryAfter) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  std::atomic<int> watches{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch() || watches++ > 0) return false;
    // As max-in-flight/APF answer: plain text with a Retry-After header.
    w.Send(429, "Too many requests, please try again later.\n", "text/plain; charset=utf-8",
           {{"Retry-After", "1"}});
    return true;
  });
  auto w = StartServiceWatcher(TestOptions(api.url()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(api.server().WaitForRequests(3, milliseconds(5000)));
  auto reqs = api.server().requests();
  EXPECT_GE(MsBetween(reqs[1], reqs[2]), 950.0) << "Retry-After: 1 must delay the retry ~1 s";
  EXPECT_TRUE(reqs[2].IsWatch());
  EXPECT_EQ(reqs[2].Query("resourceVersion"), reqs[1].Query("resourceVersion"));
}

TEST(WatchLoop, ServerErrorStormBacksOffExponentiallyThenRecovers) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  std::atomic<int> lists{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (req.IsWatch() || lists++ >= 6) return false;
    w.Send(500, StatusBody(500, "InternalError", "etcdserver: leader changed"));
    return true;
  });
  LogCapture logs;
  auto opts = TestOptions(api.url(), &logs);
  opts.backoff_max = milliseconds(2000);
  auto w = StartServiceWatcher(opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(8000)).ok());
  auto reqs = Lists(api.server().requests());
  ASSERT_EQ(reqs.size(), 7u);
  // Gaps follow 20 ms · 2^i within the [0.5, 1] jitter (plus scheduling slack).
  for (size_t i = 0; i + 1 < reqs.size(); ++i) {
    const double gap = MsBetween(reqs[i], reqs[i + 1]);
    const double step = 20.0 * (1 << i);
    EXPECT_GE(gap, 0.5 * step - 2) << "gap " << i;
    EXPECT_LE(gap, step + 400) << "gap " << i;  // slack: a shared, loaded box
  }
  EXPECT_EQ(Addresses(**w), std::vector<std::string>{"10.0.0.1"});
  EXPECT_TRUE((*w)->stats().last_error.empty());
  EXPECT_GE((*w)->stats().errors, 6u);
  bool logged = false;
  for (const auto& l : logs.Lines()) logged |= l.find("etcdserver: leader changed") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST(WatchLoop, StalledStreamIsDroppedAndResumed) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  std::atomic<int> watches{0};
  std::atomic<bool> saw_client_leave{false};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch() || watches++ > 0) return false;
    w.StartStream(200);
    if (!w.SleepFor(milliseconds(10000))) saw_client_leave = w.client_gone();
    return true;
  });
  auto opts = TestOptions(api.url());
  opts.stall_timeout = milliseconds(300);
  auto w = StartServiceWatcher(opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(api.server().WaitForRequests(3, milliseconds(5000)));
  auto reqs = api.server().requests();
  ASSERT_TRUE(reqs[2].IsWatch()) << "a stall resumes the watch; it does not relist";
  EXPECT_EQ(reqs[2].Query("resourceVersion"), reqs[1].Query("resourceVersion"));
  const double gap = MsBetween(reqs[1], reqs[2]);
  EXPECT_GE(gap, 280.0);
  EXPECT_LE(gap, 2500.0);
  EXPECT_TRUE(WaitUntil([&] { return saw_client_leave.load(); }));
  EXPECT_NE((*w)->stats().last_error.find("no bytes for 300 ms"), std::string::npos)
      << (*w)->stats().last_error;
}

TEST(WatchLoop, MalformedEventIsSkippedAndTheWatchContinues) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  std::atomic<int> watches{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch() || watches++ > 0) return false;
    w.StartStream(200);
    w.Chunk("{\"type\":\"ADDED\",\"object\":{\"metadata\":\n");  // truncated garbage
    w.Chunk(absl::StrCat("{\"type\":\"ADDED\",\"object\":",
                         testing::SliceJson("web-z", "web", 150, {Ep("10.0.0.26")}), "}\n"));
    w.SleepFor(milliseconds(10000));
    return true;
  });
  LogCapture logs;
  auto w = StartServiceWatcher(TestOptions(api.url(), &logs));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w).size() == 2; }));
  EXPECT_EQ(Addresses(**w), (std::vector<std::string>{"10.0.0.1", "10.0.0.26"}));
  DiscoveryStats s = (*w)->stats();
  EXPECT_EQ(s.events_applied, 1u);
  EXPECT_EQ(s.resource_version, "150");
  EXPECT_GE(s.errors, 1u);
  EXPECT_EQ(api.server().request_count(), 2u) << "the same watch goes on";
  bool logged = false;
  for (const auto& l : logs.Lines()) logged |= l.find("skipped a malformed event") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST(WatchLoop, TokenFileIsRereadOnlyAfterThePeriod) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  // Every watch ends after a bookmark, so the client keeps sending requests.
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch()) return false;
    w.StartStream(200);
    w.Chunk(absl::StrCat(
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"",
        api.resource_version(), "\"}}}\n"));
    w.SleepFor(milliseconds(20));
    w.EndStream();
    return true;
  });
  TempFile token("tok-rotation-1");
  auto clock = std::make_shared<ManualClock>(1'000'000'000);
  auto opts = TestOptions(api.url());
  opts.config.token.clear();
  opts.config.token_file = token.path();
  opts.config.token_reload_seconds = 60;
  opts.clock = clock;
  auto w = StartServiceWatcher(opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(api.server().WaitForRequests(3, milliseconds(5000)));
  token.Write("tok-rotation-2");
  const size_t before = api.server().request_count();
  ASSERT_TRUE(api.server().WaitForRequests(before + 5, milliseconds(5000)));
  for (const auto& r : api.server().requests()) {
    EXPECT_EQ(r.Authorization(), "Bearer tok-rotation-1") << "re-read before the period passed";
  }
  clock->AdvanceNanos(60'000'000'000);
  ASSERT_TRUE(WaitUntil([&] {
    return api.server().requests().back().Authorization() == "Bearer tok-rotation-2";
  }));
}

TEST(WatchLoop, UnauthorizedRereadsTheTokenAtOnce) {
  TempFile token("tok-old-1234");
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (req.Authorization() == "Bearer tok-new-5678") return false;
    token.Write("tok-new-5678");  // rotated just now; the client must pick it up on 401
    w.Send(401, StatusBody(401, "Unauthorized", "Unauthorized"));
    return true;
  });
  auto opts = TestOptions(api.url());
  opts.config.token.clear();
  opts.config.token_file = token.path();
  opts.config.token_reload_seconds = 3600;
  opts.backoff_initial = milliseconds(3000);  // a retry only after backoff would be too late
  opts.backoff_max = milliseconds(3000);
  auto w = StartServiceWatcher(opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(2000)).ok());
  auto reqs = api.server().requests();
  ASSERT_GE(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].Authorization(), "Bearer tok-old-1234");
  EXPECT_EQ(reqs[1].Authorization(), "Bearer tok-new-5678");
  EXPECT_LT(MsBetween(reqs[0], reqs[1]), 1000.0);
}

TEST(WatchLoop, PersistentUnauthorizedGivesExactErrorAndNeverLeaksTheToken) {
  TempFile token("tok-secret-abcdef");
  ScriptedServer server([](const HttpRequest&, ResponseWriter& w) {
    w.Send(401, StatusBody(401, "Unauthorized", "Unauthorized"));
  });
  LogCapture logs;
  auto opts = TestOptions(server.url(), &logs);
  opts.config.token.clear();
  opts.config.token_file = token.path();
  opts.auth_retry = milliseconds(1000);
  auto w = StartServiceWatcher(opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(server.WaitForRequests(3, milliseconds(5000)));
  ASSERT_TRUE(WaitUntil([&] { return !(*w)->stats().last_error.empty(); }));
  const std::string expected =
      discovery::UnauthorizedMessage("list", "default", token.path(), true);
  EXPECT_EQ((*w)->stats().last_error, expected);
  EXPECT_EQ(expected.rfind("401 Unauthorized: the API server refused to list endpointslices in "
                           "namespace \"default\": the bearer token from ",
                           0),
            0u);
  auto reqs = server.requests();
  EXPECT_LT(MsBetween(reqs[0], reqs[1]), 700.0);         // at once, after re-reading
  EXPECT_GE(MsBetween(reqs[1], reqs[2]), 1000 - 2);  // then slowly (auth_retry)
  auto status = (*w)->WaitForSync(milliseconds(10));
  EXPECT_NE(std::string(status.message()).find("401 Unauthorized"), std::string::npos);
  for (const auto& l : logs.Lines()) EXPECT_EQ(l.find("tok-secret"), std::string::npos) << l;
  EXPECT_EQ(std::string(status.message()).find("tok-secret"), std::string::npos);
}

TEST(WatchLoop, ForbiddenNamesThePermissionAndTheRoleAndRetriesSlowly) {
  const std::string server_message =
      "endpointslices.discovery.k8s.io is forbidden: User \\\"system:serviceaccount:default:"
      "probe\\\" cannot list resource \\\"endpointslices\\\" in API group \\\"discovery.k8s.io\\\" "
      "in the namespace \\\"default\\\"";
  ScriptedServer server([&](const HttpRequest&, ResponseWriter& w) {
    w.Send(403, StatusBody(403, "Forbidden", server_message));
  });
  auto opts = TestOptions(server.url());
  opts.auth_retry = milliseconds(400);
  auto w = StartServiceWatcher(opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(server.WaitForRequests(2, milliseconds(5000)));
  const std::string unescaped =
      "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:default:probe\" "
      "cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\" in the "
      "namespace \"default\"";
  EXPECT_EQ((*w)->stats().last_error, discovery::ForbiddenMessage("list", "default", unescaped));
  EXPECT_NE((*w)->stats().last_error.find("verbs: [list, watch]"), std::string::npos);
  auto reqs = server.requests();
  EXPECT_GE(MsBetween(reqs[0], reqs[1]), 390.0) << "403 retries slowly (auth_retry)";
}

TEST(WatchLoop, ResourceVersionTooLargeAfterServerRestartRelists) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  api.Upsert("web-b", {Ep("10.0.0.2")});
  auto w = StartServiceWatcher(TestOptions(api.url()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(5000)).ok());
  ASSERT_TRUE(api.server().WaitForRequests(2, milliseconds(5000)));
  // The API server comes back with a fresh store: its resourceVersions start lower than ours.
  api.ResetResourceVersion(5);
  api.Delete("web-b");
  ASSERT_TRUE(WaitUntil([&] { return Lists(api.server().requests()).size() >= 2; }));
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w) == std::vector<std::string>{"10.0.0.1"}; }));
  auto lists = Lists(api.server().requests());
  EXPECT_FALSE(lists[1].HasQuery("resourceVersion"));
  api.Upsert("web-c", {Ep("10.0.0.3")});
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w).size() == 2; }));
  EXPECT_EQ((*w)->stats().resource_version, "7");
}

TEST(WatchLoop, VeryShortEmptyWatchRelistsAfterBackoff) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  std::atomic<int> watches{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch() || watches++ > 0) return false;
    w.StartStream(200);
    w.EndStream();
    return true;
  });
  auto w = StartServiceWatcher(TestOptions(api.url()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(api.server().WaitForRequests(3, milliseconds(5000)));
  auto reqs = api.server().requests();
  EXPECT_FALSE(reqs[2].IsWatch());
  EXPECT_FALSE(reqs[2].HasQuery("resourceVersion"));
}

TEST(WatchLoop, FailStaticDuringAnOutage) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1"), Ep("10.0.0.2")});
  api.Upsert("web-b", {Ep("10.0.0.3")});
  auto opts = TestOptions(api.url());
  opts.stall_timeout = milliseconds(150);
  auto w = StartServiceWatcher(opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(5000)).ok());
  const auto before = Addresses(**w);
  ASSERT_EQ(before.size(), 3u);
  // Outage: every request fails in a different way (abort, 500, 503, stall, empty list, bad JSON).
  std::atomic<int> n{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    switch (n++ % 6) {
      case 0: w.Abort(); break;
      case 1: w.Send(500, StatusBody(500, "InternalError", "boom")); break;
      case 2: w.Send(503, "upstream unavailable", "text/plain"); break;
      case 3: w.StartStream(200); w.SleepFor(milliseconds(1000)); break;
      case 4: w.Send(200, "{\"kind\":\"EndpointSliceList\",\"metadata\":{},\"items\":[]}"); break;
      default: w.Send(200, "{not json"); break;
    }
    return true;
  });
  api.EndWatches();
  const auto end = std::chrono::steady_clock::now() + milliseconds(2000);
  size_t samples = 0;
  while (std::chrono::steady_clock::now() < end) {
    ASSERT_EQ(Addresses(**w), before) << "an outage must never change the published set";
    ++samples;
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_GT(samples, 20u);
  EXPECT_GE(n.load(), 6);
  EXPECT_FALSE((*w)->stats().last_error.empty());
  // Recovery: the faults stop and a change made during the outage shows up.
  api.Delete("web-b");
  api.SetFault(nullptr);
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w).size() == 2; }, milliseconds(5000)));
}

TEST(WatchLoop, StopReturnsQuicklyMidTransferAndDuringBackoff) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  auto w = StartServiceWatcher(TestOptions(api.url()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(5000)).ok());
  ASSERT_TRUE(api.server().WaitForRequests(2, milliseconds(5000)));  // watch open, idle
  auto t0 = std::chrono::steady_clock::now();
  (*w)->Stop();
  auto stop_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  EXPECT_LT(stop_ms.count(), 250.0);  // the contract is ~100 ms; generous for a loaded box

  ScriptedServer failing([](const HttpRequest&, ResponseWriter& w) { w.Send(500, "x"); });
  auto opts = TestOptions(failing.url());
  opts.backoff_initial = milliseconds(10000);
  opts.backoff_max = milliseconds(10000);
  auto w2 = StartServiceWatcher(opts);
  ASSERT_TRUE(failing.WaitForRequests(1, milliseconds(5000)));
  std::this_thread::sleep_for(milliseconds(50));
  t0 = std::chrono::steady_clock::now();
  w2->reset();
  stop_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
  EXPECT_LT(stop_ms.count(), 250.0);
}

TEST(StartServiceWatcher, RefusesPlainHttpUnlessAllowedAndBadOptions) {
  DiscoveryOptions o;
  o.config.server = "http://127.0.0.1:1";
  o.target = *ParseTarget("kubernetes:///web");
  auto w = StartServiceWatcher(o);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(std::string(w.status().message()).find("allow_plain_http"), std::string::npos);
  o.config.server = "ftp://x";
  EXPECT_FALSE(StartServiceWatcher(o).ok());
  o.config.server = "https://127.0.0.1:1";
  o.config.ca_file = "/nonexistent/ca.crt";
  auto ca = StartServiceWatcher(o);
  ASSERT_FALSE(ca.ok());
  EXPECT_NE(std::string(ca.status().message()).find("/nonexistent/ca.crt"), std::string::npos);
  o.config.ca_file.clear();
  o.target.service.clear();
  EXPECT_FALSE(StartServiceWatcher(o).ok());
}

}  // namespace
}  // namespace k8slb

namespace k8slb {
namespace {

// Nesting is limited before anything is allocated for it: a line of '[' fails with an error
// that says so, costs no more than its own bytes, and the stream goes on with the next line.
TEST(WatchLoopHostile, DeeplyNestedLineIsRejectedAndTheWatchGoesOn) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  std::atomic<int> watches{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch() || watches++ > 0) return false;
    w.StartStream(200);
    const std::string brackets(64 * 1024, '[');
    for (int i = 0; i < 32; ++i) w.Chunk(brackets);  // 2 MiB
    w.Chunk("\n");
    w.Chunk(absl::StrCat("{\"type\":\"ADDED\",\"object\":",
                         testing::SliceJson("web-z", "web", 150, {Ep("10.0.0.26")}), "}\n"));
    w.SleepFor(milliseconds(10000));
    return true;
  });
  LogCapture logs;
  auto w = StartServiceWatcher(TestOptions(api.url(), &logs));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w).size() == 2; }, milliseconds(10000)));
  bool said_why = false;
  for (const auto& l : logs.Lines()) said_why |= l.find("nested deeper than 512 levels") != std::string::npos;
  EXPECT_TRUE(said_why);
  EXPECT_EQ(api.server().request_count(), 2u) << "the same watch goes on";
}

// A watch answered 400 (here: the resourceVersion of an event is not one the server accepts)
// would be refused again from the same resourceVersion: the loop relists instead of retrying the
// same watch forever.
TEST(WatchLoopHostile, WatchRefusedAsBadRequestRelistsInsteadOfRetryingForever) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  std::atomic<int> watches{0};
  // The model writes numeric resourceVersions; this event's is not one.
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch()) return false;
    if (req.Query("resourceVersion") == "not-a-number") {
      w.Send(400, StatusBody(400, "BadRequest", "invalid resource version: not-a-number"));
      return true;
    }
    if (watches++ > 0) return false;
    std::string slice = testing::SliceJson("web-a", "web", 777, {Ep("10.0.0.1")});
    const std::string rv = "\"resourceVersion\":\"777\"";
    slice.replace(slice.find(rv), rv.size(), "\"resourceVersion\":\"not-a-number\"");
    w.StartStream(200);
    w.Chunk(absl::StrCat("{\"type\":\"MODIFIED\",\"object\":", slice, "}\n"));
    w.EndStream();
    return true;
  });
  auto w = StartServiceWatcher(TestOptions(api.url()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(WaitUntil([&] { return Lists(api.server().requests()).size() >= 2; }));
  auto lists = Lists(api.server().requests());
  EXPECT_FALSE(lists[1].HasQuery("resourceVersion")) << "the relist is a consistent read";
  api.Upsert("web-b", {Ep("10.0.0.2")});
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w).size() == 2; }));
  EXPECT_NE((*w)->stats().resource_version, "not-a-number");
}

bool ContainsTokenFragment(const std::string& text, const std::string& token, size_t min_len) {
  for (size_t n = min_len; n <= token.size(); ++n) {
    if (text.find(token.substr(0, n)) != std::string::npos) return true;
  }
  return false;
}

// Error bodies and bad lines are cut for messages only after the token is redacted from the
// whole text: a server that echoes the token right before the cut leaves nothing of it.
TEST(WatchLoopHostile, EchoedTokenNearTheCutLeavesNoFragmentInLogs) {
  const std::string token = "tok-secret-literal";
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  std::atomic<int> watches{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch()) return false;
    const int n = watches++;
    if (n == 0) {  // a plain-text error body, token at offset 190 (messages keep 200 bytes)
      w.Send(500, std::string(190, 'x') + token + " trailing text", "text/plain");
      return true;
    }
    if (n == 1) {  // a malformed line, token at offset 90 (quotes keep 96 bytes)
      w.StartStream(200);
      w.Chunk(std::string(90, 'y') + token + "{not json\n");
      w.SleepFor(milliseconds(200));
      w.EndStream();
      return true;
    }
    return false;
  });
  LogCapture logs;
  auto w = StartServiceWatcher(TestOptions(api.url(), &logs));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(WaitUntil([&] { return watches.load() >= 3; }));
  bool saw_body = false, saw_line = false;
  for (const auto& l : logs.Lines()) {
    EXPECT_FALSE(ContainsTokenFragment(l, token, 5)) << l;
    saw_body |= l.find("HTTP 500: xxxx") != std::string::npos;
    saw_line |= l.find("not valid JSON") != std::string::npos;
  }
  EXPECT_TRUE(saw_body);
  EXPECT_TRUE(saw_line);
}

// A list page that trickles in (one byte every 20 ms: never a stall) is abandoned at
// list_timeout and retried, instead of holding discovery for as long as the server likes.
TEST(WatchLoopHostile, TricklingListIsAbandonedAtItsDeadlineAndRetried) {
  std::atomic<int> lists{0};
  ScriptedServer server([&](const HttpRequest& req, ResponseWriter& w) {
    ++lists;
    w.StartStream(200);
    while (w.Chunk(" ") && w.SleepFor(milliseconds(20))) {
    }
  });
  auto opts = TestOptions(server.url());
  opts.list_timeout = milliseconds(300);
  auto w = StartServiceWatcher(opts);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(WaitUntil([&] { return lists.load() >= 2; }));
  ASSERT_TRUE(WaitUntil([&] { return !(*w)->stats().last_error.empty(); }));
  EXPECT_NE((*w)->stats().last_error.find("did not arrive within 300 ms (list_timeout"),
            std::string::npos)
      << (*w)->stats().last_error;
  EXPECT_GE((*w)->stats().list_requests, 2u);
}

// A DELETED event needs only the slice's name: an object that does not parse as an
// EndpointSlice otherwise still removes it, instead of leaving its endpoints until a relist.
TEST(WatchLoopHostile, DeletedEventWithAnInvalidObjectStillRemovesTheSlice) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  api.Upsert("web-b", {Ep("10.0.0.2")});
  std::atomic<int> watches{0};
  api.SetFault([&](const HttpRequest& req, ResponseWriter& w) {
    if (!req.IsWatch() || watches++ > 0) return false;
    w.StartStream(200);
    w.Chunk(
        "{\"type\":\"DELETED\",\"object\":{\"kind\":\"EndpointSlice\",\"apiVersion\":"
        "\"discovery.k8s.io/v1\",\"metadata\":{\"name\":\"web-b\",\"namespace\":\"default\","
        "\"resourceVersion\":\"150\"},\"addressType\":\"Carrier-Pigeon\"}}\n");
    w.SleepFor(milliseconds(10000));
    return true;
  });
  LogCapture logs;
  auto w = StartServiceWatcher(TestOptions(api.url(), &logs));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w) == std::vector<std::string>{"10.0.0.1"}; }));
  EXPECT_EQ((*w)->stats().resource_version, "150");
  bool logged = false;
  for (const auto& l : logs.Lines()) {
    logged |= l.find("DELETED event for default/web-b carries an invalid object") != std::string::npos;
  }
  EXPECT_TRUE(logged);
}

// After an outage that cut the watch, the client resumes from its resourceVersion: one watch
// request, no relist, so a thousand clients coming back do not all list at once.
TEST(WatchLoopHostile, AfterAnOutageTheWatchResumesWithoutARelist) {
  SliceApiModel api({});
  api.Upsert("web-a", {Ep("10.0.0.1")});
  auto w = StartServiceWatcher(TestOptions(api.url()));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WaitForSync(milliseconds(5000)).ok());
  // An event first: a watch that ends within a second without any is taken for a server that
  // lost our resourceVersion (a relist, as client-go does); this one has lived.
  const std::string rv = std::to_string(api.Upsert("web-a", {Ep("10.0.0.1"), Ep("10.0.0.3")}));
  ASSERT_TRUE(WaitUntil([&] { return (*w)->stats().resource_version == rv; }));
  const size_t requests_before = api.server().request_count();
  std::atomic<int> failed{0};
  api.SetFault([&](const HttpRequest&, ResponseWriter& w) {
    if (failed.load() >= 5) return false;
    ++failed;
    w.Send(500, StatusBody(500, "InternalError", "etcdserver: request timed out"));
    return true;
  });
  api.EndWatches();
  ASSERT_TRUE(WaitUntil([&] { return failed.load() >= 5; }));
  api.Upsert("web-b", {Ep("10.0.0.2")});
  ASSERT_TRUE(WaitUntil([&] { return Addresses(**w).size() == 3; }));
  EXPECT_EQ(Lists(api.server().requests()).size(), 1u) << "recovery must not relist";
  const auto reqs = api.server().requests();
  for (size_t i = requests_before; i < reqs.size(); ++i) {
    EXPECT_TRUE(reqs[i].IsWatch());
    EXPECT_EQ(reqs[i].Query("resourceVersion"), rv) << "request " << i;
  }
}

TEST(StartServiceWatcher, RefusesATokenOverPlainHttpUnlessAllowed) {
  DiscoveryOptions o;
  o.config.server = "http://127.0.0.1:1";
  o.config.allow_plain_http = true;
  o.config.token = "tok-not-for-cleartext";
  o.target = *ParseTarget("kubernetes:///web");
  auto w = StartServiceWatcher(o);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(std::string(w.status().message())
                .find("refusing to send the bearer token over plain http to http://127.0.0.1:1"),
            std::string::npos)
      << w.status();
  EXPECT_EQ(std::string(w.status().message()).find("tok-not"), std::string::npos);
  o.config.allow_credentials_over_plain_http = true;
  EXPECT_TRUE(StartServiceWatcher(o).ok());
}

TEST(StartServiceWatcher, RefusesTlsFilesThatHoldNoCertificateOrKey) {
  char templ[] = "/tmp/k8slb-ca-XXXXXX";
  const int fd = mkstemp(templ);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(templ) << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n";
  DiscoveryOptions o;
  o.config.server = "https://127.0.0.1:1";
  o.config.ca_file = templ;
  o.target = *ParseTarget("kubernetes:///web");
  auto w = StartServiceWatcher(o);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(std::string(w.status().message())
                .find(absl::StrCat("CA certificate file ", templ, " holds no PEM certificate")),
            std::string::npos)
      << w.status();
  o.config.ca_file.clear();
  o.config.client_key_data = "not a key";
  o.config.client_cert_data = "";
  w = StartServiceWatcher(o);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(std::string(w.status().message()).find("client key data holds no PEM private key"),
            std::string::npos)
      << w.status();
  std::remove(templ);
}

}  // namespace
}  // namespace k8slb
