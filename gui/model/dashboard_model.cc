#include "model/dashboard_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "util/percentile.h"

namespace k8slb::dashboard {
namespace {

using report::kNoPod;

// Position of a pod in the report's pods[] (creation order); pods the report does not list
// (a live run's CSV can be ahead of report.json) sort after them.
size_t CreationRank(const Report& report, const std::string& pod) {
  for (size_t i = 0; i < report.pods.size(); ++i) {
    if (report.pods[i].name == pod) return i;
  }
  return report.pods.size();
}

std::string ZoneOf(const Report& report, const std::string& pod) {
  const report::Pod* p = report.FindPod(pod);
  return p == nullptr ? std::string() : p->zone;
}

std::string OthersLabel(size_t n) { return absl::StrCat(kOthersLabel, " (", n, n == 1 ? " pod)" : " pods)"); }

size_t BucketIndex(double t_s, double bucket_s) {
  const double b = std::floor(t_s / bucket_s + 1e-6);
  return b <= 0 ? 0 : static_cast<size_t>(b);
}

// Sorts pods by creation order, then name, in place.
void SortByCreation(const Report& report, std::vector<std::string>& pods) {
  std::vector<std::pair<size_t, std::string>> keyed;
  keyed.reserve(pods.size());
  for (auto& p : pods) keyed.emplace_back(CreationRank(report, p), std::move(p));
  std::sort(keyed.begin(), keyed.end());
  pods.clear();
  for (auto& [rank, name] : keyed) pods.push_back(std::move(name));
}

}  // namespace

uint32_t StrategyColor(const Report& report, const std::string& strategy) {
  constexpr int kKnown = static_cast<int>(std::size(report::kStrategyNames));
  static_assert(kKnown < kStrategyPaletteSize, "every known strategy needs a colour of its own");
  if (const int i = report::StrategyIndex(strategy); i >= 0) return kStrategyPalette[i];
  int unknown = 0;
  for (const auto& s : report.strategies) {
    if (s.name == strategy) break;
    if (!report::IsKnownStrategy(s.name)) ++unknown;
  }
  return kStrategyPalette[kKnown + unknown % (kStrategyPaletteSize - kKnown)];
}

double DisplayBucket(const Report& report, int merge) {
  const double bucket = report.timeline_bucket_s;
  const bool usable = std::isfinite(bucket) && bucket >= report::kMinBucketS;
  return (usable ? bucket : 1.0) * std::max(1, merge);
}

size_t BucketCount(const Report& report, int merge) {
  // A report from FolderReader is validated and within kMaxBuckets already; the clamp keeps a
  // report built any other way from sizing every series by a corrupt duration.
  const double n = std::ceil(report.duration_s / DisplayBucket(report, merge) - 1e-6);
  if (!(n >= 1)) return 1;
  return static_cast<size_t>(std::min(n, static_cast<double>(report::kMaxBuckets)));
}

absl::StatusOr<RateChart> BuildRateChart(const Report& report, const std::string& strategy, int top_n, int merge) {
  const StrategyReport* s = report.FindStrategy(strategy);
  if (s == nullptr) return absl::NotFoundError(absl::StrCat("no strategy \"", strategy, "\" in the report"));
  RateChart chart;
  chart.strategy = strategy;
  chart.bucket_s = DisplayBucket(report, merge);
  const size_t buckets = BucketCount(report, merge);
  chart.bucket_t.resize(buckets);
  for (size_t b = 0; b < buckets; ++b) chart.bucket_t[b] = static_cast<double>(b) * chart.bucket_s;
  chart.bucket_total.assign(buckets, 0);

  const Timeline& tl = s->timeline;
  std::vector<int64_t> pod_total(tl.pod_names.size(), 0);
  tl.ForEachRow([&](const TimelineRow& row) { pod_total[static_cast<size_t>(row.pod)] += row.ok; });

  // Pick the shown pods: the busiest, ties broken by name so the choice is stable.
  std::vector<size_t> candidates;
  for (size_t p = 0; p < tl.pod_names.size(); ++p) {
    if (tl.pod_names[p] != kNoPod && pod_total[p] > 0) candidates.push_back(p);
  }
  chart.total_pods = static_cast<int>(candidates.size());
  const size_t shown_n = static_cast<size_t>(std::clamp(top_n, 1, kMaxShownPods));
  std::sort(candidates.begin(), candidates.end(), [&](size_t a, size_t b) {
    if (pod_total[a] != pod_total[b]) return pod_total[a] > pod_total[b];
    return tl.pod_names[a] < tl.pod_names[b];
  });
  std::vector<std::string> shown;
  for (size_t i = 0; i < candidates.size() && i < shown_n; ++i) shown.push_back(tl.pod_names[candidates[i]]);
  const size_t hidden = candidates.size() - shown.size();
  SortByCreation(report, shown);

  // Series index of every timeline pod: shown ones their own, the rest "others", "(none)" none.
  std::map<std::string, size_t> series_of;
  for (size_t i = 0; i < shown.size(); ++i) {
    PodSeries ps;
    ps.label = shown[i];
    ps.pods = {shown[i]};
    ps.zone = ZoneOf(report, shown[i]);
    ps.color = kPodPalette[i];
    ps.ok.assign(buckets, 0);
    series_of[shown[i]] = i;
    chart.series.push_back(std::move(ps));
  }
  constexpr size_t kNone = std::numeric_limits<size_t>::max();
  std::vector<size_t> row_series(tl.pod_names.size(), kNone);
  if (hidden > 0) {
    PodSeries others;
    others.label = OthersLabel(hidden);
    others.is_others = true;
    others.color = kOthersColor;
    others.ok.assign(buckets, 0);
    for (size_t i = shown.size(); i < candidates.size(); ++i) others.pods.push_back(tl.pod_names[candidates[i]]);
    SortByCreation(report, others.pods);
    chart.series.push_back(std::move(others));
  }
  for (size_t p = 0; p < tl.pod_names.size(); ++p) {
    if (tl.pod_names[p] == kNoPod) continue;
    auto it = series_of.find(tl.pod_names[p]);
    if (it != series_of.end()) {
      row_series[p] = it->second;
    } else if (hidden > 0) {
      row_series[p] = chart.series.size() - 1;
    }
  }
  tl.ForEachRow([&](const TimelineRow& row) {
    const size_t b = std::min(BucketIndex(row.t_s, chart.bucket_s), buckets - 1);
    const size_t si = row_series[static_cast<size_t>(row.pod)];
    if (si == kNone) return;
    chart.series[si].ok[b] += row.ok;
    chart.series[si].total += row.ok;
    chart.bucket_total[b] += row.ok;
    chart.total += row.ok;
  });
  return chart;
}

ImbalanceFigure ComputeImbalance(const Report& report, const StrategyReport& strategy) {
  auto max_over_mean = [&](const std::vector<std::string>& pods) -> std::optional<double> {
    if (pods.empty()) return std::nullopt;
    int64_t max = 0, sum = 0;
    for (const auto& p : pods) {
      auto it = strategy.per_pod.find(p);
      const int64_t n = it == strategy.per_pod.end() ? 0 : it->second;
      max = std::max(max, n);
      sum += n;
    }
    if (sum == 0) return std::nullopt;
    const double mean = static_cast<double>(sum) / static_cast<double>(pods.size());
    return static_cast<double>(max) / mean;
  };
  std::vector<std::string> whole_run, alive_at_end, all;
  for (const auto& p : report.pods) {
    all.push_back(p.name);
    if (p.deleted_s) continue;
    alive_at_end.push_back(p.name);
    if (p.created_s <= 1e-9) whole_run.push_back(p.name);
  }
  const std::pair<const std::vector<std::string>*, ImbalanceBasis> bases[] = {
      {&whole_run, ImbalanceBasis::kWholeRun},
      {&alive_at_end, ImbalanceBasis::kAliveAtEnd},
      {&all, ImbalanceBasis::kAllPods},
  };
  for (const auto& [pods, basis] : bases) {
    if (auto v = max_over_mean(*pods)) return {v, basis};
  }
  return {};
}

ImbalanceFigure Imbalance(const Report& report, const StrategyReport& strategy) {
  if (strategy.imbalance) return {strategy.imbalance, ImbalanceBasis::kReported};
  return ComputeImbalance(report, strategy);
}

std::string FormatImbalance(const ImbalanceFigure& f) {
  if (!f.value) return "n/a";
  std::string v = absl::StrFormat("%.2f", *f.value);
  switch (f.basis) {
    case ImbalanceBasis::kAliveAtEnd:
      return v + " (pods alive at the end)";
    case ImbalanceBasis::kAllPods:
      return v + " (all pods)";
    default:
      return v;
  }
}

double NiceTickStep(double span, int target) {
  if (!(span > 0) || target < 1) return 1.0;
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) return m * mag;
  }
  return 10.0 * mag;
}

TotalsChart BuildTotalsChart(const Report& report, int top_n) {
  TotalsChart chart;
  // Every pod the report knows, plus any that only appear in per_pod: a pod that got nothing
  // from one strategy is exactly what this chart must show.
  std::vector<std::string> pods;
  for (const auto& p : report.pods) pods.push_back(p.name);
  for (const auto& s : report.strategies) {
    for (const auto& [pod, n] : s.per_pod) {
      if (pod != kNoPod && std::find(pods.begin(), pods.end(), pod) == pods.end()) pods.push_back(pod);
    }
  }
  std::map<std::string, double> max_share;
  for (const auto& s : report.strategies) {
    int64_t total = 0;
    for (const auto& [pod, n] : s.per_pod) total += n;
    chart.strategies.push_back(s.name);
    chart.colors.push_back(StrategyColor(report, s.name));
    chart.strategy_totals.push_back(total);
    chart.imbalance.push_back(Imbalance(report, s));
    for (const auto& pod : pods) {
      auto it = s.per_pod.find(pod);
      const double share = (it == s.per_pod.end() || total == 0) ? 0.0 : static_cast<double>(it->second) / total;
      max_share[pod] = std::max(max_share[pod], share);
    }
  }
  std::vector<std::string> ranked = pods;
  std::stable_sort(ranked.begin(), ranked.end(), [&](const std::string& a, const std::string& b) {
    if (max_share[a] != max_share[b]) return max_share[a] > max_share[b];
    return a < b;
  });
  const size_t shown_n = static_cast<size_t>(std::clamp(top_n, 1, kMaxShownPods));
  std::vector<std::string> shown(ranked.begin(), ranked.begin() + static_cast<long>(std::min(shown_n, ranked.size())));
  std::vector<std::string> hidden(ranked.begin() + static_cast<long>(shown.size()), ranked.end());
  SortByCreation(report, shown);
  chart.categories = shown;
  for (const auto& p : shown) chart.zones.push_back(ZoneOf(report, p));
  chart.others_pods = hidden.size();
  if (!hidden.empty()) {
    chart.categories.push_back(absl::StrCat(kOthersLabel, ": mean of ", hidden.size(), hidden.size() == 1 ? " pod" : " pods"));
    chart.zones.emplace_back();
  }
  for (const auto& s : report.strategies) {
    std::vector<int64_t> row;
    for (const auto& pod : shown) {
      auto it = s.per_pod.find(pod);
      row.push_back(it == s.per_pod.end() ? 0 : it->second);
    }
    int64_t others = 0;
    for (const auto& pod : hidden) {
      auto it = s.per_pod.find(pod);
      if (it != s.per_pod.end()) others += it->second;
    }
    chart.others_total.push_back(others);
    if (!hidden.empty()) {
      const auto n = static_cast<int64_t>(hidden.size());
      row.push_back((others + n / 2) / n);
    }
    chart.counts.push_back(std::move(row));
  }
  return chart;
}

absl::StatusOr<LatencySeries> BuildLatencySeries(const Report& report, const std::string& strategy, int merge) {
  const StrategyReport* s = report.FindStrategy(strategy);
  if (s == nullptr) return absl::NotFoundError(absl::StrCat("no strategy \"", strategy, "\" in the report"));
  LatencySeries out;
  out.strategy = strategy;
  out.color = StrategyColor(report, strategy);
  const double bucket_s = DisplayBucket(report, merge);
  const size_t buckets = BucketCount(report, merge);
  out.bucket_s = bucket_s;
  out.bucket_t.resize(buckets);
  for (size_t b = 0; b < buckets; ++b) out.bucket_t[b] = static_cast<double>(b) * bucket_s;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  out.p50_ms.assign(buckets, nan);
  out.p99_ms.assign(buckets, nan);
  out.failed.assign(buckets, 0);
  out.ok.assign(buckets, 0);
  // (p50, weight) of each pod in each bucket, for the weighted median.
  std::vector<std::vector<std::pair<double, uint64_t>>> p50s(buckets);
  s->timeline.ForEachRow([&](const TimelineRow& row) {
    const size_t b = std::min(BucketIndex(row.t_s, bucket_s), buckets - 1);
    out.failed[b] += row.failed;
    out.total_failed += row.failed;
    out.ok[b] += row.ok;
    if (row.ok > 0 && std::isfinite(row.p50_ms)) p50s[b].emplace_back(row.p50_ms, row.ok);
    if (row.ok > 0 && std::isfinite(row.p99_ms)) {
      out.p99_ms[b] = std::isnan(out.p99_ms[b]) ? row.p99_ms : std::max(out.p99_ms[b], row.p99_ms);
    }
  });
  for (size_t b = 0; b < buckets; ++b) {
    if (!p50s[b].empty()) out.p50_ms[b] = util::WeightedPercentile(std::move(p50s[b]), 0.5);
  }
  return out;
}

std::vector<EventMarker> BuildEventMarkers(const Report& report, double min_gap_s, int max_lanes) {
  std::vector<EventMarker> out;
  max_lanes = std::max(1, max_lanes);
  std::vector<double> lane_last(static_cast<size_t>(max_lanes), -std::numeric_limits<double>::infinity());
  for (const auto& e : report.events) {  // sorted by t_s when parsed
    EventMarker m{.t_s = e.t_s, .label = e.kind, .detail = e.detail, .lane = 0};
    int lane = -1;
    for (int l = 0; l < max_lanes; ++l) {
      if (e.t_s - lane_last[static_cast<size_t>(l)] >= min_gap_s) {
        lane = l;
        break;
      }
    }
    if (lane < 0) {
      lane = static_cast<int>(std::min_element(lane_last.begin(), lane_last.end()) - lane_last.begin());
    }
    lane_last[static_cast<size_t>(lane)] = e.t_s;
    m.lane = lane;
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<PodMarker> BuildPodMarkers(const Report& report) {
  std::vector<PodMarker> out;
  for (const auto& p : report.pods) {
    const double ready = p.ready_s.value_or(p.created_s);
    if (ready > 1e-9) out.push_back({.t_s = ready, .pod = p.name, .zone = p.zone, .kind = PodMarkerKind::kReady});
    if (p.deleted_s) out.push_back({.t_s = *p.deleted_s, .pod = p.name, .zone = p.zone, .kind = PodMarkerKind::kDeleted});
  }
  std::stable_sort(out.begin(), out.end(), [](const PodMarker& a, const PodMarker& b) { return a.t_s < b.t_s; });
  return out;
}

std::string Describe(const Report& report) {
  return absl::StrFormat("%s · %s · seed %d · %.1f s · %d pods · %s", report.scenario, report.mode, report.seed,
                         report.duration_s, report.pods.size(), report.complete ? "complete" : "still running");
}

}  // namespace k8slb::dashboard
