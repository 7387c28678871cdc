// ScrapeView turns successive scrapes of one or more Prometheus /metrics endpoints (k8slb-client,
// any service that serves ServeChannelMetrics) into a Report the dashboard draws like a live
// report folder: one strategy per `channel` label, one timeline bucket per scrape interval whose
// per-pod rows are the counter increases since the previous scrape of each source, summed over
// the sources (the client replicas of one deployment), per pod. A scrape at t measures about
// (t - interval, t]: its increase goes to the bucket holding t - interval/2 (the first bucket
// for t < interval/2), so scrapes at k·interval with jitter under half an interval fill one
// bucket each.
//
// Counting: `ok` is the increase of k8slb_endpoint_successes_total, `failed` of
// k8slb_endpoint_failures_total, plus k8slb_channel_no_endpoint_failures_total under the pod
// "(none)". A series seen for the first time counts from zero (a new endpoint starts at zero,
// and a source's first scrape puts what it counted before into the first bucket, so header
// totals are what the sources' own /metrics say and equal the sum of the rows); a counter that
// goes down was reset (the process restarted) and its new value is the increase, as
// Prometheus' rate() treats resets. An increase of k8slb_endpoint_ejections_total is an
// "ejection" event. Gauges (in flight, ejected, discovery freshness) of the newest good scrape of
// each source are in the report's `environment`, per channel.
//
// A scrape that fails (unreachable source, text the parser refuses, NaN/Inf/negative/fractional
// counter values, a duplicate series, more than kMaxScrapeSeries series) changes nothing: the
// source's last good counters stay, and its health names the URL and the problem.
// Memory is bounded: at most kMaxScrapeSeries per-endpoint series per source, kMaxScrapeEvents
// events, and report::kMaxBuckets buckets (later scrapes are refused with a clear error).
//
// Not thread-safe: one thread feeds Add() and takes Snapshot(); snapshots are immutable.
#ifndef K8SLB_REPORT_SCRAPE_H_
#define K8SLB_REPORT_SCRAPE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "report/schema.h"

namespace k8slb::report {

inline constexpr size_t kMaxScrapeSources = 64;
inline constexpr size_t kMaxScrapeSeries = 10'000;
inline constexpr size_t kMaxScrapeEvents = 10'000;
inline constexpr double kMinScrapeIntervalS = 0.05;
inline constexpr double kMaxScrapeIntervalS = 3600;

// Checks one --scrape URL: http://HOST[:PORT]/PATH (no credentials, no https).
absl::Status CheckScrapeUrl(std::string_view url);

struct ScrapeSourceHealth {
  std::string url;
  bool ok = false;            // the newest scrape was good
  std::string error;          // the newest scrape's problem; empty when ok
  double last_ok_s = -1;      // time of the newest good scrape; -1: none yet
  uint64_t scrapes = 0;
  uint64_t failures = 0;
};

class ScrapeView {
 public:
  // `urls`: 1..kMaxScrapeSources sources (CheckScrapeUrl each, no duplicates); `interval_s`
  // the bucket width, within [kMinScrapeIntervalS, kMaxScrapeIntervalS].
  static absl::StatusOr<ScrapeView> Create(std::vector<std::string> urls, double interval_s);

  // One scrape of source `source` at `t_s` seconds since the view started (non-decreasing per
  // source): the body it answered, or why it could not be fetched. Returns the problem with
  // this scrape (also kept in health()); the view keeps the last good data either way.
  absl::Status Add(size_t source, double t_s, const absl::StatusOr<std::string>& body);

  // The report as of `now_s`: duration_s = now_s (at least the newest bucket's end).
  std::shared_ptr<const Report> Snapshot(double now_s) const;

  const std::vector<ScrapeSourceHealth>& health() const { return health_; }
  double interval_s() const { return interval_s_; }

 private:
  // (channel, pod, address); pod falls back to the address when the label is empty.
  using SeriesKey = std::tuple<std::string, std::string, std::string>;
  struct Counters {
    double ok = 0, failed = 0, ejections = 0;
  };
  struct Gauges {
    double in_flight = 0;
    bool ejected = false;
    std::string zone;
  };
  struct ChannelState {
    double no_endpoint = 0;
    std::optional<double> staleness_s;
    std::string resource_version;
    std::optional<bool> synced;
  };
  struct Source {
    bool seen = false;
    std::map<SeriesKey, Counters> counters;
    std::map<SeriesKey, Gauges> gauges;
    std::map<std::string, ChannelState> channels;
  };
  struct PodInfo {
    std::string address, zone;
    double first_s = 0, last_s = 0;
    bool present = false;
  };
  // What one strategy (channel) accumulated: totals and the rows of each bucket.
  struct ChannelTotals {
    std::map<std::string, uint64_t> ok, failed;
    std::map<std::pair<int64_t, std::string>, std::pair<uint64_t, uint64_t>> rows;  // (bucket, pod) -> ok, failed
  };

  ScrapeView(std::vector<std::string> urls, double interval_s);
  absl::Status Apply(size_t source, double t_s, std::string_view text);

  double interval_s_;
  std::vector<ScrapeSourceHealth> health_;
  std::vector<Source> sources_;
  std::map<std::string, ChannelTotals> channels_;
  std::map<std::string, PodInfo> pods_;
  std::vector<Event> events_;
  double newest_s_ = 0;
};

}  // namespace k8slb::report

#endif  // K8SLB_REPORT_SCRAPE_H_
