// ScrapeView: Prometheus scrapes of k8slb channels turned into the report the dashboard draws —
// counter increases per interval, resets, sums over sources, a source going away, and hostile
// text (refused with a clear error, last good data kept, memory bounded).
#include "report/scrape.h"

#include "report/prometheus_text.h"

#include <cmath>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace k8slb::report {
namespace {

std::string Message(const absl::Status& st) { return std::string(st.message()); }

// The text a k8slb channel serves (lib/src/grpc/metrics.cc's families) for `pods`:
// pod -> {successes, failures}.
std::string Metrics(const std::map<std::string, std::pair<int, int>>& pods, int no_endpoint = 0,
                    const std::string& channel = "echo", std::map<std::string, int> ejections = {},
                    std::map<std::string, int> in_flight = {}) {
  std::string out = "# TYPE k8slb_endpoint_successes_total counter\n";
  for (const auto& [pod, c] : pods) {
    const std::string l = absl::StrCat("{channel=\"", channel, "\",address=\"10.0.0.", pod.size(), ":50051\",pod=\"", pod,
                                       "\",zone=\"z1\"}");
    absl::StrAppend(&out, "k8slb_endpoint_picks_total", l, " ", c.first + c.second + in_flight[pod], "\n");
    absl::StrAppend(&out, "k8slb_endpoint_successes_total", l, " ", c.first, "\n");
    absl::StrAppend(&out, "k8slb_endpoint_failures_total", l, " ", c.second, "\n");
    absl::StrAppend(&out, "k8slb_endpoint_ejections_total", l, " ", ejections[pod], "\n");
    absl::StrAppend(&out, "k8slb_endpoint_in_flight", l, " ", in_flight[pod], "\n");
    absl::StrAppend(&out, "k8slb_endpoint_ejected", l, " ", ejections[pod] > 0 ? 1 : 0, "\n");
  }
  absl::StrAppend(&out, "k8slb_channel_no_endpoint_failures_total{channel=\"", channel, "\"} ", no_endpoint, "\n");
  absl::StrAppend(&out, "k8slb_discovery_synced{channel=\"", channel, "\"} 1\n");
  absl::StrAppend(&out, "k8slb_discovery_staleness_seconds{channel=\"", channel, "\"} 0.25\n");
  absl::StrAppend(&out, "k8slb_discovery_resource_version_info{channel=\"", channel, "\",resource_version=\"812\"} 1\n");
  absl::StrAppend(&out, "process_cpu_seconds_total 1.5\n");
  return out;
}

ScrapeView View(std::vector<std::string> urls, double interval = 1) {
  auto v = ScrapeView::Create(std::move(urls), interval);
  EXPECT_TRUE(v.ok()) << v.status();
  return *std::move(v);
}

// (bucket start, pod) -> {ok, failed} of one strategy's timeline.
std::map<std::pair<double, std::string>, std::pair<uint64_t, uint64_t>> Rows(const StrategyReport& s) {
  std::map<std::pair<double, std::string>, std::pair<uint64_t, uint64_t>> out;
  s.timeline.ForEachRow([&](const TimelineRow& r) {
    auto& v = out[{r.t_s, s.timeline.pod_names.at(r.pod)}];
    v.first += r.ok;
    v.second += r.failed;
  });
  return out;
}

// The rule the dashboard's header relies on: totals == the sum of the timeline's rows.
void ExpectTotalsMatchRows(const Report& r) {
  for (const auto& s : r.strategies) {
    uint64_t ok = 0, failed = 0;
    std::map<std::string, uint64_t> per_pod;
    s.timeline.ForEachRow([&](const TimelineRow& row) {
      ok += row.ok;
      failed += row.failed;
      if (row.ok > 0) per_pod[s.timeline.pod_names.at(row.pod)] += row.ok;
    });
    EXPECT_EQ(ok, s.ok) << s.name;
    EXPECT_EQ(failed, s.failed) << s.name;
    std::map<std::string, uint64_t> nonzero;
    for (const auto& [p, n] : s.per_pod) {
      if (n > 0) nonzero[p] = n;
    }
    EXPECT_EQ(per_pod, nonzero) << s.name;
  }
}

TEST(ScrapeView, CountsIncreasesPerIntervalAndPerPod) {
  ScrapeView v = View({"http://127.0.0.1:9464/metrics"});
  // Scrapes at 1, 2, 3 s (a little late or early): each increase is in the bucket it measured.
  ASSERT_TRUE(v.Add(0, 1.05, Metrics({{"a", {10, 0}}, {"b", {5, 1}}})).ok());
  ASSERT_TRUE(v.Add(0, 1.96, Metrics({{"a", {25, 0}}, {"b", {9, 3}}}, 2)).ok());
  ASSERT_TRUE(v.Add(0, 3.2, Metrics({{"a", {25, 0}}, {"b", {19, 3}}}, 2)).ok());
  auto r = v.Snapshot(3.5);
  ASSERT_EQ(r->strategies.size(), 1u);
  const StrategyReport& s = r->strategies[0];
  EXPECT_EQ(s.name, "echo");
  EXPECT_EQ(s.ok, 44u);
  EXPECT_EQ(s.failed, 5u);  // 3 on b, 2 with no endpoint
  EXPECT_EQ(s.per_pod.at("a"), 25u);
  EXPECT_EQ(s.per_pod.at("b"), 19u);
  EXPECT_EQ(s.per_pod_failed.at(std::string(kNoPod)), 2u);
  auto rows = Rows(s);
  // The first scrape counts from zero: what the source counted before is in the first bucket.
  EXPECT_EQ((rows[{0.0, "a"}]), std::make_pair(uint64_t{10}, uint64_t{0}));
  EXPECT_EQ((rows[{1.0, "a"}]), std::make_pair(uint64_t{15}, uint64_t{0}));
  EXPECT_EQ((rows.count({2.0, "a"})), 0u) << "no increase, no row";
  EXPECT_EQ((rows[{1.0, "b"}]), std::make_pair(uint64_t{4}, uint64_t{2}));
  EXPECT_EQ((rows[{2.0, "b"}]), std::make_pair(uint64_t{10}, uint64_t{0}));
  EXPECT_EQ((rows[{1.0, std::string(kNoPod)}]), std::make_pair(uint64_t{0}, uint64_t{2}));
  EXPECT_DOUBLE_EQ(r->timeline_bucket_s, 1);
  EXPECT_GE(r->duration_s, 3.0) << "covers the newest bucket";
  EXPECT_EQ(r->mode, "live");
  EXPECT_TRUE(Validate(*r).ok()) << Validate(*r);
  ExpectTotalsMatchRows(*r);
  EXPECT_EQ(r->environment.at("echo: discovery").rfind("synced, resourceVersion 812, last event 0.2 s ago", 0), 0u)
      << r->environment.at("echo: discovery");
  EXPECT_EQ(r->environment.at("sources"), "1 of 1 answering, every 1 s");
  ASSERT_EQ(r->pods.size(), 2u);
  EXPECT_EQ(r->pods[0].zone, "z1");
  EXPECT_FALSE(r->pods[0].deleted_s.has_value());
}

TEST(ScrapeView, ACounterThatGoesDownWasResetAndItsNewValueIsTheIncrease) {
  ScrapeView v = View({"http://127.0.0.1:9464/metrics"});
  ASSERT_TRUE(v.Add(0, 1, Metrics({{"a", {100, 4}}})).ok());
  ASSERT_TRUE(v.Add(0, 2, Metrics({{"a", {7, 1}}})).ok());  // the client restarted
  ASSERT_TRUE(v.Add(0, 3, Metrics({{"a", {12, 1}}})).ok());
  auto r = v.Snapshot(3);
  const StrategyReport& s = r->strategies[0];
  EXPECT_EQ(s.ok, 112u);
  EXPECT_EQ(s.failed, 5u);
  auto rows = Rows(s);
  EXPECT_EQ((rows[{1.0, "a"}]), std::make_pair(uint64_t{7}, uint64_t{1}));
  EXPECT_EQ((rows[{2.0, "a"}]), std::make_pair(uint64_t{5}, uint64_t{0}));
  ExpectTotalsMatchRows(*r);
}

TEST(ScrapeView, SumsSourcesPerPodAndShowsEachSourcesHealth) {
  ScrapeView v = View({"http://127.0.0.1:1/metrics", "http://127.0.0.1:2/metrics"});
  ASSERT_TRUE(v.Add(0, 1, Metrics({{"a", {1, 0}}, {"b", {2, 0}}})).ok());
  ASSERT_TRUE(v.Add(1, 1, Metrics({{"a", {10, 0}}, {"c", {20, 0}}})).ok());
  ASSERT_TRUE(v.Add(0, 2, Metrics({{"a", {3, 0}}, {"b", {2, 0}}})).ok());
  ASSERT_TRUE(v.Add(1, 2, Metrics({{"a", {15, 0}}, {"c", {20, 0}}})).ok());
  auto r = v.Snapshot(2.5);
  ASSERT_EQ(r->strategies.size(), 1u);
  const StrategyReport& s = r->strategies[0];
  EXPECT_EQ(s.per_pod.at("a"), 15u + 3u);
  EXPECT_EQ(s.per_pod.at("b"), 2u);
  EXPECT_EQ(s.per_pod.at("c"), 20u);
  EXPECT_EQ((Rows(s)[{1.0, "a"}].first), 2u + 5u) << "increases of both sources in one row";
  ExpectTotalsMatchRows(*r);
  EXPECT_EQ(r->pods.size(), 3u);
  EXPECT_EQ(r->scenario, "scrape of 2 sources");
  EXPECT_TRUE(r->warnings.empty());
  EXPECT_EQ(r->environment.at("sources"), "2 of 2 answering, every 1 s");
}

TEST(ScrapeView, ASourceGoingAwayKeepsItsLastGoodDataAndIsNamed) {
  ScrapeView v = View({"http://127.0.0.1:1/metrics", "http://127.0.0.1:2/metrics"});
  ASSERT_TRUE(v.Add(0, 0, Metrics({{"a", {4, 0}}})).ok());
  ASSERT_TRUE(v.Add(1, 0, Metrics({{"a", {6, 0}}})).ok());
  absl::Status st = v.Add(1, 1, absl::UnavailableError("connection refused"));
  EXPECT_EQ(Message(st), "http://127.0.0.1:2/metrics: connection refused");
  ASSERT_TRUE(v.Add(0, 1, Metrics({{"a", {5, 0}}})).ok());
  auto r = v.Snapshot(1.5);
  EXPECT_EQ(r->strategies[0].per_pod.at("a"), 11u);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0], "http://127.0.0.1:2/metrics: connection refused (showing its last good scrape)");
  EXPECT_EQ(r->environment.at("sources"), "1 of 2 answering, every 1 s");
  EXPECT_FALSE(v.health()[1].ok);
  EXPECT_EQ(v.health()[1].failures, 1u);
  EXPECT_DOUBLE_EQ(v.health()[1].last_ok_s, 0);
  // It comes back: its counters continue from its last good scrape (no double count).
  ASSERT_TRUE(v.Add(1, 2, Metrics({{"a", {9, 0}}})).ok());
  r = v.Snapshot(2.5);
  EXPECT_EQ(r->strategies[0].per_pod.at("a"), 14u);
  EXPECT_TRUE(r->warnings.empty());
  ExpectTotalsMatchRows(*r);
}

TEST(ScrapeView, AnEndpointThatLeavesTheSetIsADeletedPodAndEjectionsAreEvents) {
  ScrapeView v = View({"http://127.0.0.1:1/metrics"});
  ASSERT_TRUE(v.Add(0, 0, Metrics({{"a", {1, 0}}, {"b", {1, 0}}})).ok());
  ASSERT_TRUE(v.Add(0, 1, Metrics({{"a", {2, 0}}, {"b", {1, 5}}}, 0, "echo", {{"b", 1}}, {{"a", 3}})).ok());
  ASSERT_TRUE(v.Add(0, 2, Metrics({{"a", {3, 0}}})).ok());
  auto r = v.Snapshot(2.5);
  const Pod* b = r->FindPod("b");
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->deleted_s.has_value());
  EXPECT_DOUBLE_EQ(*b->deleted_s, 1);
  EXPECT_FALSE(r->FindPod("a")->deleted_s.has_value());
  EXPECT_DOUBLE_EQ(r->FindPod("a")->created_s, 0) << "in the first scrape: there before the view started";
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_EQ(r->events[0].kind, "ejection");
  EXPECT_DOUBLE_EQ(r->events[0].t_s, 1);
  EXPECT_NE(r->events[0].detail.find("b ejected"), std::string::npos) << r->events[0].detail;
  EXPECT_EQ(r->environment.at("echo: in flight"), "0") << "gauges of the newest scrape";
  EXPECT_TRUE(Validate(*r).ok()) << Validate(*r);
}

TEST(ScrapeView, JitteredScrapesFillOneBucketEach) {
  ScrapeView v = View({"http://127.0.0.1:1/metrics"}, 0.5);
  // Scrapes every 0.5 s, each up to 0.2 s early or late; 10 more RPCs each time.
  const double jitter[] = {0, 0.2, -0.2, 0.15, -0.1, 0.2, -0.2, 0};
  for (int k = 0; k < 8; ++k) ASSERT_TRUE(v.Add(0, 0.5 * k + jitter[k], Metrics({{"a", {10 * k, 0}}})).ok());
  auto rows = Rows(v.Snapshot(4)->strategies[0]);
  for (int b = 0; b < 7; ++b) EXPECT_EQ((rows[{0.5 * b, "a"}].first), 10u) << "bucket " << b;
}

TEST(ScrapeView, OneStrategyPerChannel) {
  ScrapeView v = View({"http://127.0.0.1:1/metrics"});
  ASSERT_TRUE(v.Add(0, 0, Metrics({{"a", {1, 0}}}, 0, "alpha") + Metrics({{"b", {2, 0}}}, 0, "beta")).ok());
  auto r = v.Snapshot(1);
  ASSERT_EQ(r->strategies.size(), 2u);
  EXPECT_EQ(r->strategies[0].name, "alpha");
  EXPECT_EQ(r->strategies[1].name, "beta");
  EXPECT_EQ(r->strategies[1].per_pod.at("b"), 2u);
}

// Hostile or broken text: refused with a message naming the problem, nothing already known lost.
TEST(ScrapeView, RefusesHostileTextAndKeepsTheLastGoodData) {
  ScrapeView v = View({"http://127.0.0.1:1/metrics"});
  ASSERT_TRUE(v.Add(0, 0, Metrics({{"a", {4, 0}}})).ok());
  const std::string l = "{channel=\"echo\",address=\"x:1\",pod=\"a\"}";
  const std::map<std::string, std::string> cases = {
      {"k8slb_endpoint_successes_total" + l + " NaN\n", "counter value nan is not a whole number"},
      {"k8slb_endpoint_successes_total" + l + " +Inf\n", "counter value inf is not a whole number"},
      {"k8slb_endpoint_successes_total" + l + " -3\n", "counter value -3 is not a whole number"},
      {"k8slb_endpoint_successes_total" + l + " 2.5\n", "counter value 2.5 is not a whole number"},
      {"k8slb_endpoint_successes_total" + l + " 1e300\n", "not a whole number in [0, 2^53]"},
      {"k8slb_endpoint_successes_total" + l + " 1\nk8slb_endpoint_successes_total" + l + " 2\n",
       "duplicate series k8slb_endpoint_successes_total"},
      {"k8slb_endpoint_in_flight" + l + " NaN\nk8slb_endpoint_successes_total" + l + " 1\n",
       "k8slb_endpoint_in_flight: value nan is not finite"},
      {"k8slb_endpoint_successes_total{pod=\"a\" 1\n", "metrics line 1:"},
      {"<html>not metrics</html>\n", "metrics line 1: bad metric name"},
      {"process_cpu_seconds_total 1\n", "not a k8slb channel's /metrics"},
      {"k8slb_endpoint_successes_total{channel=\"echo\"} 1\n", "neither pod nor address"},
      {"k8slb_endpoint_successes_total" + l + " " + std::string(1'000'000, '9') + "\n", "bad value \"999"},
      {std::string(kMaxPrometheusTextBytes + 1, '#'), "exceeds the limit"},
  };
  double t = 1;
  for (const auto& [text, want] : cases) {
    absl::Status st = v.Add(0, t, text);
    EXPECT_FALSE(st.ok()) << text.substr(0, 80);
    EXPECT_NE(Message(st).find(want), std::string::npos) << Message(st).substr(0, 300) << "\nwanted: " << want;
    EXPECT_LT(Message(st).size(), 400u) << "the message never quotes much of the input";
    EXPECT_EQ(Message(st).rfind("http://127.0.0.1:1/metrics: ", 0), 0u) << "names the URL";
    auto r = v.Snapshot(t);
    EXPECT_EQ(r->strategies[0].per_pod.at("a"), 4u) << "nothing already known is lost";
    ASSERT_EQ(r->warnings.size(), 1u);
    EXPECT_NE(r->warnings[0].find("(showing its last good scrape)"), std::string::npos);
    t += 1;
  }
  // A good scrape after all that continues from the last good counters.
  ASSERT_TRUE(v.Add(0, t, Metrics({{"a", {6, 0}}})).ok());
  EXPECT_EQ(v.Snapshot(t)->strategies[0].per_pod.at("a"), 6u);
}

TEST(ScrapeView, BoundsTheSeriesOfOneScrape) {
  ScrapeView v = View({"http://127.0.0.1:1/metrics"});
  std::string text;
  for (size_t i = 0; i <= kMaxScrapeSeries; ++i) {
    absl::StrAppend(&text, "k8slb_endpoint_successes_total{channel=\"c\",pod=\"p", i, "\"} 1\n");
  }
  absl::Status st = v.Add(0, 0, text);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_NE(Message(st).find("more than 10000 per-endpoint series"), std::string::npos) << st;
  EXPECT_TRUE(v.Snapshot(0)->strategies.empty());
}

TEST(ScrapeView, RefusesBadUrlsAndIntervals) {
  const std::map<std::string, std::string> bad = {
      {"127.0.0.1:9464/metrics", "expected http://HOST[:PORT]/PATH"},
      {"https://x/metrics", "https is not supported"},
      {"http:///metrics", "no host"},
      {"http://user:pw@x/metrics", "credentials"},
      {"http://x:0/metrics", "port \"0\" is not in 1..65535"},
      {"http://x:99999/metrics", "is not in 1..65535"},
      {"http://x:abc/metrics", "port \"abc\""},
      {"http://x/me trics", "space or control character"},
      {"http://[::1/metrics", "unterminated [IPv6] host"},
  };
  for (const auto& [url, want] : bad) {
    absl::Status st = CheckScrapeUrl(url);
    EXPECT_NE(Message(st).find(want), std::string::npos) << url << ": " << st;
    EXPECT_EQ(Message(st).rfind("--scrape " + url, 0), 0u) << st;
  }
  EXPECT_TRUE(CheckScrapeUrl("http://127.0.0.1:9464/metrics").ok());
  EXPECT_TRUE(CheckScrapeUrl("http://[::1]:9464/metrics").ok());
  EXPECT_TRUE(CheckScrapeUrl("http://client.default.svc/metrics").ok());
  EXPECT_FALSE(ScrapeView::Create({}, 1).ok());
  EXPECT_NE(Message(ScrapeView::Create({"http://a/m", "http://a/m"}, 1).status()).find("given twice"),
            std::string::npos);
  EXPECT_NE(Message(ScrapeView::Create({"http://a/m"}, 0.001).status()).find("--scrape-interval: must be between"),
            std::string::npos);
  EXPECT_FALSE(ScrapeView::Create({"http://a/m"}, std::nan("")).ok());
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxScrapeSources; ++i) many.push_back(absl::StrCat("http://a/", i));
  EXPECT_NE(Message(ScrapeView::Create(many, 1).status()).find("more than the limit of 64"), std::string::npos);
}

TEST(ScrapeView, RefusesScrapesBeyondTheBucketLimit) {
  ScrapeView v = View({"http://127.0.0.1:1/metrics"}, 0.05);
  absl::Status st = v.Add(0, 0.05 * static_cast<double>(kMaxBuckets), Metrics({{"a", {1, 0}}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange) << st;
  EXPECT_NE(Message(st).find("history is full"), std::string::npos) << st;
}

}  // namespace
}  // namespace k8slb::report
