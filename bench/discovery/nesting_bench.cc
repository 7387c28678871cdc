// Mode "nesting": the client's memory when the API server sends one JSON value made of `bytes`
// '[' characters, as a watch event line (default) or as a list page (--list); with --flat, a
// value of the same size that is wide instead of deep ("[[],[],...]": valid JSON, the DOM's
// worst case per byte). The server runs in
// a forked child so the figures are the client's alone: resident set before, the peak (VmHWM)
// and what stays resident after the error was reported.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench_util.h"
#include "k8slb/discovery.h"
#include "scripted_server.h"

namespace k8slb::bench {
namespace {

using testing::HttpRequest;
using testing::ResponseWriter;
using testing::ScriptedServer;

void ServeHostile(size_t bytes, bool list_page, bool flat, const HttpRequest& req, ResponseWriter& w) {
  std::string chunk;
  if (flat) {
    while (chunk.size() < 64 * 1024) chunk += "[],";
  } else {
    chunk.assign(64 * 1024, '[');
  }
  auto send_brackets = [&] {
    if (flat) w.Chunk("[");
    size_t sent = 0;
    while (sent + chunk.size() < bytes && !w.client_gone()) {
      w.Chunk(chunk);
      sent += chunk.size();
    }
    if (flat) w.Chunk("[]]");
  };
  if (list_page && !req.IsWatch()) {
    w.StartStream(200);
    send_brackets();
    w.EndStream();
    return;
  }
  if (!req.IsWatch()) {
    w.Send(200, R"({"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"100"},"items":[]})");
    return;
  }
  w.StartStream(200);
  send_brackets();
  w.Chunk("\n");
  w.SleepFor(std::chrono::milliseconds(600'000));
}

}  // namespace

int RunNesting(size_t bytes, bool list_page, bool flat) {
  auto server = ForkedServer::Start([&](const ForkedServer::Child& child) {
    ScriptedServer http(
        [&](const HttpRequest& req, ResponseWriter& w) { ServeHostile(bytes, list_page, flat, req, w); });
    child.Ready(http.port());
    child.Wait();
    http.Stop();
  });
  if (server == nullptr) return 1;
  const int port = server->port();
  const long rss_before = ProcStatusKb("VmRSS");
  DiscoveryOptions o;
  o.config.server = absl::StrCat("http://127.0.0.1:", port);
  o.config.allow_plain_http = true;
  o.target = *ParseTarget("kubernetes:///web:http");
  o.backoff_initial = std::chrono::milliseconds(60'000);  // one attempt within the measurement
  o.backoff_max = std::chrono::milliseconds(60'000);
  std::string first_error;
  o.log = [&](LogLevel level, const std::string& m) {
    if (level >= LogLevel::kWarning && first_error.empty()) first_error = m;
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto w = StartServiceWatcher(o);
  if (!w.ok()) return 1;
  while ((*w)->stats().errors == 0 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(300)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const long rss_peak = ProcStatusKb("VmHWM");
  const long rss_after = ProcStatusKb("VmRSS");
  const std::string error = (*w)->stats().last_error;
  (*w)->Stop();
  server->Finish();
  const char* what = list_page ? (flat ? "flat list page" : "list page") : (flat ? "flat watch line" : "watch line");
  std::printf("nesting: a %s of %zu bytes: client RSS %.1f MiB before, peak %.1f MiB, %.1f MiB after; error after %.0f ms: %.160s\n",
              what, bytes, rss_before / 1024.0, rss_peak / 1024.0, rss_after / 1024.0, ms, error.c_str());
  std::printf("json: {\"bench\":\"nesting\",\"flat\":%s,\"input\":\"%s\",\"bytes\":%zu,\"rss_before_mib\":%.1f,\"rss_peak_mib\":%.1f,\"rss_after_mib\":%.1f,\"ms\":%.0f,\"load\":\"%s\"}\n",
              flat ? "true" : "false", list_page ? "list" : "watch", bytes, rss_before / 1024.0, rss_peak / 1024.0, rss_after / 1024.0, ms,
              LoadAverage().c_str());
  return error.empty() ? 1 : 0;
}

}  // namespace k8slb::bench
