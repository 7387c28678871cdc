// MetricsServer over real HTTP (libcurl, port 0): the exposition content type, one render per
// scrape, 404/405/413, keep-alive, HEAD, refused listen addresses; the process metrics; and
// ServeChannelMetrics' series agreeing with the RPCs a BalancedChannel sent to echo pods.
#include "k8slb/metrics_http.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <string>

#include "../grpc/test_pods.h"
#include "report/prometheus_text.h"

namespace k8slb::testing {
namespace {

struct HttpResult {
  long status = 0;
  std::string content_type;
  std::string body;
  double content_length = -1;
  long new_connections = -1;
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One request on `curl` (reused for keep-alive); method "GET", "HEAD" or "POST".
HttpResult Request(CURL* curl, const std::string& url, const std::string& method = "GET",
                   const std::string& extra_header = "") {
  HttpResult r;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  if (method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (method == "POST") curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "x=1");
  curl_slist* headers = nullptr;
  if (!extra_header.empty()) {
    headers = curl_slist_append(headers, extra_header.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  }
  CURLcode rc = curl_easy_perform(curl);
  EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc) << " for " << url;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  char* type = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr) r.content_type = type;
  curl_off_t length = -1;
  if (curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK) {
    r.content_length = static_cast<double>(length);
  }
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &r.new_connections);
  curl_slist_free_all(headers);
  return r;
}

struct Curl {
  CURL* handle = curl_easy_init();
  ~Curl() { curl_easy_cleanup(handle); }
};

double Value(const report::PromScrape& scrape, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  auto found = scrape.Find(name, labels);
  EXPECT_EQ(found.size(), 1u) << name;
  return found.empty() ? -1 : found.front()->value;
}

TEST(MetricsServerTest, ServesOneFreshRenderPerScrape) {
  std::atomic<int> renders{0};
  auto server = MetricsServer::Start({.listen = "127.0.0.1:0", .path = "/metrics"}, [&] {
    int n = ++renders;
    return "# HELP demo_total Renders.\n# TYPE demo_total counter\ndemo_total{who=\"a \\\"b\\\"\"} " +
           std::to_string(n) + "\n";
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string& address = (*server)->address();
  EXPECT_EQ(address.rfind("127.0.0.1:", 0), 0u) << address;
  EXPECT_NE(address, "127.0.0.1:0") << "the bound port, not the requested one";
  EXPECT_EQ((*server)->url(), "http://" + address + "/metrics");

  Curl curl;
  for (int i = 1; i <= 3; ++i) {
    HttpResult r = Request(curl.handle, (*server)->url());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    auto scrape = report::ParsePrometheusText(r.body);
    ASSERT_TRUE(scrape.ok()) << scrape.status() << "\n" << r.body;
    EXPECT_EQ(Value(*scrape, "demo_total", {{"who", "a \"b\""}}), i);
    EXPECT_EQ(scrape->types.at("demo_total"), "counter");
    // Keep-alive: the later requests reuse the first connection.
    if (i > 1) {
      EXPECT_EQ(r.new_connections, 0) << "request " << i << " opened a new connection";
    }
  }
  EXPECT_EQ((*server)->scrapes(), 3u);

  // A query string does not change the path.
  EXPECT_EQ(Request(curl.handle, (*server)->url() + "?name[]=x").status, 200);
  // HEAD: the GET's length, no body.
  HttpResult head = Request(curl.handle, (*server)->url(), "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_GT(head.content_length, 10);
  EXPECT_TRUE(head.body.empty());
  HttpResult other = Request(curl.handle, "http://" + address + "/other");
  EXPECT_EQ(other.status, 404);
  EXPECT_NE(other.body.find("/metrics"), std::string::npos) << other.body;
  EXPECT_EQ(Request(curl.handle, (*server)->url(), "POST").status, 405);
  // Bounded requests: a header beyond 8 KiB is refused, and the server keeps serving.
  EXPECT_EQ(Request(curl.handle, (*server)->url(), "GET", "X-Big: " + std::string(10000, 'a')).status, 413);
  EXPECT_EQ(Request(curl.handle, (*server)->url()).status, 200);
  EXPECT_EQ(renders.load(), 6) << "3 GETs, the query, the HEAD and the last GET render; 404/405/413 do not";
}

TEST(MetricsServerTest, CustomPathAndIpv6Loopback) {
  auto server = MetricsServer::Start({.listen = "[::1]:0", .path = "/stats/prometheus"}, [] { return "x 1\n"; });
  if (!server.ok() && server.status().code() == absl::StatusCode::kUnavailable) {
    GTEST_SKIP() << "no IPv6 loopback here: " << server.status();
  }
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->address().rfind("[::1]:", 0), 0u) << (*server)->address();
  Curl curl;
  EXPECT_EQ(Request(curl.handle, (*server)->url()).body, "x 1\n");
  EXPECT_EQ(Request(curl.handle, "http://" + (*server)->address() + "/metrics").status, 404);
}

TEST(MetricsServerTest, RefusesBadOptionsWithAMessageThatNamesThem) {
  auto render = [] { return std::string(); };
  struct Case {
    std::string listen, path;
    std::string message;
  } cases[] = {
      {"127.0.0.1", "/metrics", "has no :PORT"},
      {"127.0.0.1:70000", "/metrics", "not within 0..65535"},
      {"127.0.0.1:", "/metrics", "not within 0..65535"},
      {"localhost:0", "/metrics", "not a numeric IPv4 or IPv6 address"},
      {"127.0.0.1:0", "metrics", "must start with '/'"},
  };
  for (const Case& c : cases) {
    auto server = MetricsServer::Start({.listen = c.listen, .path = c.path}, render);
    ASSERT_FALSE(server.ok()) << c.listen;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << c.listen;
    EXPECT_NE(server.status().message().find(c.message), std::string::npos) << server.status();
  }
  EXPECT_FALSE(MetricsServer::Start({}, nullptr).ok());
  // The address in use: Unavailable, naming the address.
  auto first = MetricsServer::Start({.listen = "127.0.0.1:0"}, render);
  ASSERT_TRUE(first.ok());
  auto second = MetricsServer::Start({.listen = (*first)->address()}, render);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find((*first)->address()), std::string::npos) << second.status();
}

TEST(ProcessMetricsTest, ReportsThisProcess) {
  auto scrape = report::ParsePrometheusText(RenderProcessMetrics());
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  EXPECT_EQ(scrape->types.at("process_cpu_seconds_total"), "counter");
  EXPECT_GE(Value(*scrape, "process_cpu_seconds_total"), 0);
  EXPECT_GT(Value(*scrape, "process_resident_memory_bytes"), 1 << 20) << "a test binary holds more than 1 MiB";
  EXPECT_GT(Value(*scrape, "process_virtual_memory_bytes"), Value(*scrape, "process_resident_memory_bytes"));
  const double now = static_cast<double>(std::time(nullptr));
  const double start = Value(*scrape, "process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 24 * 3600) << "this test process started within the last day";
  EXPECT_GE(Value(*scrape, "process_open_fds"), 3) << "stdin, stdout, stderr";
  EXPECT_GT(Value(*scrape, "process_max_fds"), Value(*scrape, "process_open_fds"));
}

TEST(ServeChannelMetricsTest, SeriesAgreeWithTheRpcsSent) {
  std::vector<std::unique_ptr<echo::EchoServer>> pods;
  for (int i = 0; i < 3; ++i) pods.push_back(StartPod("echo-" + std::to_string(i), 41 + i));
  for (const auto& p : pods) ASSERT_NE(p, nullptr);
  auto source = std::make_shared<ManualEndpointSource>("default/echo:grpc");
  source->SetEndpoints(EndpointsOf(pods));
  DiscoveryStats d;
  d.synced = true;
  d.resource_version = "4711";
  d.last_sync_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  source->SetDiscovery(d);
  auto channel = BalancedChannel::Create(source, TestOptions(PickPolicy::kRoundRobin));
  ASSERT_TRUE(channel.ok()) << channel.status();
  ASSERT_TRUE((*channel)->WaitForEndpoints(std::chrono::milliseconds(10000)).ok());
  auto server = ServeChannelMetrics({.listen = "127.0.0.1:0"}, {*channel});
  ASSERT_TRUE(server.ok()) << server.status();

  EchoClient client(*channel);
  std::map<std::string, int> answered;
  for (int i = 0; i < 30; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    echo::EchoRequest req;
    echo::EchoResponse resp;
    grpc::Status s = client.With(ctx)->Echo(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ++answered[resp.pod_name()];
  }
  Curl curl;
  HttpResult r = Request(curl.handle, (*server)->url());
  ASSERT_EQ(r.status, 200);
  auto scrape = report::ParsePrometheusText(r.body);
  ASSERT_TRUE(scrape.ok()) << scrape.status() << "\n" << r.body;
  ASSERT_EQ(answered.size(), 3u);
  for (const auto& p : pods) {
    std::map<std::string, std::string> l = {{"channel", "default/echo:grpc"}, {"pod", p->pod_name()},
                                            {"address", p->address()}};
    EXPECT_EQ(Value(*scrape, "k8slb_endpoint_picks_total", l), answered[p->pod_name()]) << p->pod_name();
    EXPECT_EQ(Value(*scrape, "k8slb_endpoint_successes_total", l), answered[p->pod_name()]);
    EXPECT_EQ(Value(*scrape, "k8slb_endpoint_failures_total", l), 0);
    EXPECT_EQ(Value(*scrape, "k8slb_endpoint_in_flight", l), 0);
    EXPECT_EQ(Value(*scrape, "k8slb_endpoint_ejections_total", l), 0);
  }
  EXPECT_EQ(Value(*scrape, "k8slb_channel_endpoints", {{"channel", "default/echo:grpc"}}), 3);
  EXPECT_EQ(Value(*scrape, "k8slb_discovery_resource_version_info", {{"resource_version", "4711"}}), 1);
  EXPECT_GE(Value(*scrape, "k8slb_discovery_staleness_seconds"), 0);
  EXPECT_GT(Value(*scrape, "process_resident_memory_bytes"), 0) << "process metrics follow the channel's";
}

}  // namespace
}  // namespace k8slb::testing
