// Prometheus rendering: families once, labels escaped, discovery freshness.
#include "k8slb/metrics.h"

#include <gtest/gtest.h>

namespace k8slb {
namespace {

ChannelMetrics Sample(std::string name) {
  ChannelMetrics m;
  m.name = std::move(name);
  m.policy = "least-request";
  m.endpoint_set_version = 7;
  m.known_endpoints = 3;
  m.pending_endpoints = 4;
  EndpointMetrics e;
  e.address = "10.0.0.1:50051";
  e.pod_name = "echo-\"quoted\"\\pod\nx";
  e.zone = "zone-a";
  e.picks = 12;
  e.in_flight = 2;
  e.successes = 9;
  e.failures = 1;
  e.ejections = 1;
  e.ejected = true;
  e.connectivity = Connectivity::kTransientFailure;
  e.connection_failing = true;
  m.endpoints.push_back(e);
  DiscoveryStats d;
  d.synced = true;
  d.last_sync_unix_ms = 10000;
  d.relists = 2;
  d.last_error = "boom";
  m.discovery = d;
  m.collected_unix_ms = 12500;
  return m;
}

size_t Count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

TEST(MetricsTest, RendersTextExpositionFormat) {
  std::string text = RenderPrometheus(Sample("default/echo:grpc"));
  const std::string labels =
      "{channel=\"default/echo:grpc\",address=\"10.0.0.1:50051\",pod=\"echo-\\\"quoted\\\"\\\\pod\\nx\",zone=\"zone-a\"}";
  EXPECT_NE(text.find("# TYPE k8slb_endpoint_picks_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("k8slb_endpoint_picks_total" + labels + " 12\n"), std::string::npos) << text;
  EXPECT_NE(text.find("k8slb_endpoint_in_flight" + labels + " 2\n"), std::string::npos);
  EXPECT_NE(text.find("k8slb_endpoint_ejected" + labels + " 1\n"), std::string::npos);
  EXPECT_NE(text.find("state=\"TRANSIENT_FAILURE\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("k8slb_channel_endpoint_set_version{channel=\"default/echo:grpc\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("k8slb_channel_pending_endpoints{channel=\"default/echo:grpc\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("k8slb_discovery_staleness_seconds{channel=\"default/echo:grpc\"} 2.5\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("k8slb_discovery_last_sync_timestamp_seconds{channel=\"default/echo:grpc\"} 10\n"),
            std::string::npos);
  EXPECT_NE(text.find("k8slb_discovery_healthy{channel=\"default/echo:grpc\"} 0\n"), std::string::npos);
  // Every sample line is "name{labels} value" or "name value".
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    std::string line = text.substr(start, end - start);
    if (line.rfind("# ", 0) != 0) {
      EXPECT_EQ(line.rfind("k8slb_", 0), 0u) << line;
      EXPECT_NE(line.rfind(' '), std::string::npos) << line;
    }
    start = end + 1;
  }
}

TEST(MetricsTest, FamiliesAppearOnceAcrossChannels) {
  std::string text = RenderPrometheus({Sample("a/x:1"), Sample("b/y:2")});
  EXPECT_EQ(Count(text, "# TYPE k8slb_endpoint_picks_total"), 1u);
  EXPECT_EQ(Count(text, "# HELP k8slb_endpoint_picks_total"), 1u);
  EXPECT_EQ(Count(text, "k8slb_endpoint_picks_total{"), 2u);
  EXPECT_EQ(Count(text, "k8slb_channel_endpoints{"), 2u);
}

TEST(MetricsTest, NoDiscoveryNoDiscoveryFamilies) {
  ChannelMetrics m = Sample("c");
  m.discovery.reset();
  std::string text = RenderPrometheus(m);
  EXPECT_EQ(text.find("k8slb_discovery_"), std::string::npos);
  EXPECT_EQ(std::string(ConnectivityName(Connectivity::kReady)), "READY");
}

// Load-report families only for endpoints that sent reports; the weight only while there is one.
TEST(MetricsTest, LoadReportFamiliesOnlyWithReports) {
  ChannelMetrics m = Sample("d");
  EXPECT_EQ(RenderPrometheus(m).find("load_report"), std::string::npos);
  m.endpoints[0].orca_reports = 5;
  m.endpoints[0].orca_malformed = 1;
  std::string text = RenderPrometheus(m);
  EXPECT_NE(text.find("# TYPE k8slb_endpoint_load_reports_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find(",zone=\"zone-a\"} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("k8slb_endpoint_load_reports_malformed_total{"), std::string::npos) << text;
  EXPECT_EQ(text.find("k8slb_endpoint_load_report_weight"), std::string::npos) << text;
  m.endpoints[0].orca_weight = 250;
  text = RenderPrometheus(m);
  EXPECT_NE(text.find(",zone=\"zone-a\"} 250\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace k8slb
