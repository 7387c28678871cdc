// What the dashboard's charts draw, computed from a Report without any Qt type, so the numbers
// behind every chart are unit-tested apart from the widgets: per-pod rate series grouped into the
// top pods plus "others", per-pod totals per strategy with the imbalance figure, latency and
// failures over time, and the event markers with their label lanes.
//
// The Report is the report library's (report/schema.h), as a FolderReader or another source
// fills it, timelines included. All functions are pure: they read an immutable Report and may
// be called from any thread.
#ifndef K8SLB_GUI_MODEL_DASHBOARD_MODEL_H_
#define K8SLB_GUI_MODEL_DASHBOARD_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "report/schema.h"

namespace k8slb::dashboard {

using report::Report;
using report::StrategyReport;
using report::Timeline;
using report::TimelineRow;

// Series colours. The pod palette is the colour of the i-th shown pod; its entries are far
// apart from each other, from the "others" grey and from the strategy colours, so a screenshot's
// pixels tell how many series were drawn (tests/gui count them).
inline constexpr uint32_t kPodPalette[] = {
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22, 0x393b79,
    0xff9896, 0x98df8a, 0xaec7e8, 0xffbb78, 0xc5b0d5, 0x637939, 0xf7b6d2, 0x9edae5, 0xad494a, 0x5254a3,
};
inline constexpr int kPodPaletteSize = static_cast<int>(sizeof(kPodPalette) / sizeof(kPodPalette[0]));
inline constexpr uint32_t kOthersColor = 0xa0a0a0;
// Strategy colours for bars and latency lines: the known strategies (report::kStrategyNames) in
// their order first, then the others.
inline constexpr uint32_t kStrategyPalette[] = {0x4d4d4d, 0xb8860b, 0x008b8b, 0x8b008b,
                                                0x2f4f4f, 0x006400, 0x800000, 0x4b0082,
                                                0x8b4513};
inline constexpr int kStrategyPaletteSize =
    static_cast<int>(sizeof(kStrategyPalette) / sizeof(kStrategyPalette[0]));
// The most pods a chart shows one by one; the rest go into "others".
inline constexpr int kMaxShownPods = kPodPaletteSize;
inline constexpr char kOthersLabel[] = "others";

uint32_t StrategyColor(const Report& report, const std::string& strategy);

// One series of the per-pod rate chart: a pod, or "others" (the sum of every pod not shown).
struct PodSeries {
  std::string label;                // pod name, or "others (N pods)"
  std::vector<std::string> pods;    // the pods summed into this series (one unless others)
  std::string zone;                 // the pod's zone; empty for others and unknown pods
  bool is_others = false;
  uint32_t color = 0;               // 0xRRGGBB
  std::vector<int64_t> ok;          // per bucket
  int64_t total = 0;                // sum of ok
};

struct RateChart {
  std::string strategy;
  double bucket_s = 1;
  std::vector<double> bucket_t;     // bucket start times, 0, bucket_s, 2 * bucket_s, ...
  std::vector<int64_t> bucket_total;  // ok summed over every pod (shown or not) per bucket
  std::vector<PodSeries> series;    // shown pods in creation order (stacking order), then others
  int64_t total = 0;
  int total_pods = 0;               // distinct pods with at least one ok RPC

  // Requests per second of series s in bucket b.
  double Rate(size_t s, size_t b) const { return static_cast<double>(series[s].ok[b]) / bucket_s; }
};

// The per-pod rate chart of one strategy. At most `top_n` pods (clamped to 1..kMaxShownPods) are
// shown on their own, picked by total ok count (ties: name); the others are summed into one
// series. Failed RPCs without a pod ("(none)") are not a pod and count under failures only.
// `merge` > 1 draws buckets `merge` times wider than the CSV's (a smoother view of a noisy run).
absl::StatusOr<RateChart> BuildRateChart(const Report& report, const std::string& strategy, int top_n,
                                         int merge = 1);

// Which pods an imbalance figure is measured over.
enum class ImbalanceBasis {
  kNone,           // nothing to measure (no pod served anything)
  kReported,       // the sim's own "imbalance" field
  kWholeRun,       // pods alive for the whole run (created at t=0, never deleted): report-format.md
  kAliveAtEnd,     // no pod lived through the run (a rolling update replaces all): pods alive at the end
  kAllPods,        // those served nothing either (e.g. a pinned connection to a deleted pod): every pod
};

struct ImbalanceFigure {
  std::optional<double> value;  // max/mean of per_pod over the basis' pods
  ImbalanceBasis basis = ImbalanceBasis::kNone;
};

// The sim's figure when report.json has a number; otherwise max/mean computed over the first
// basis, in the order above, whose pods served anything.
ImbalanceFigure Imbalance(const Report& report, const StrategyReport& strategy);
ImbalanceFigure ComputeImbalance(const Report& report, const StrategyReport& strategy);
// "1.02", "1.50 (pods alive at the end)", "n/a".
std::string FormatImbalance(const ImbalanceFigure& figure);

// A tick step of 1, 2 or 5 × 10^k that cuts [0, span] into about `target` intervals.
double NiceTickStep(double span, int target = 6);

struct TotalsChart {
  std::vector<std::string> categories;  // pod names, then "others: mean of N pods" when some are hidden
  std::vector<std::string> zones;       // per category; empty for others
  std::vector<std::string> strategies;
  std::vector<uint32_t> colors;                 // per strategy
  // [strategy][category]. The others category holds the mean per hidden pod (rounded), not the
  // sum: next to single pods a sum of 590 pods would flatten every other bar, while the mean is
  // the "typical pod" the top pods are compared with.
  std::vector<std::vector<int64_t>> counts;
  std::vector<int64_t> others_total;            // per strategy: sum over the hidden pods
  size_t others_pods = 0;                       // how many pods are hidden (0: no others category)
  std::vector<int64_t> strategy_totals;         // ok per strategy over all pods
  std::vector<ImbalanceFigure> imbalance;       // per strategy, see Imbalance()
};

// Per-pod totals with strategies side by side. Shown pods: the top_n by their largest share in
// any strategy, so a pod that one strategy starves and another floods is visible.
TotalsChart BuildTotalsChart(const Report& report, int top_n);

struct LatencySeries {
  std::string strategy;
  uint32_t color = 0;
  double bucket_s = 1;
  std::vector<double> bucket_t;
  // Per bucket; NaN where no RPC succeeded. The CSV has per-pod percentiles only, so p50 is the
  // request-weighted median of the pods' p50 and p99 the largest pod p99 (an upper bound).
  std::vector<double> p50_ms;
  std::vector<double> p99_ms;
  std::vector<int64_t> failed;  // including "(none)": RPCs that found no endpoint
  std::vector<int64_t> ok;
  int64_t total_failed = 0;
};

absl::StatusOr<LatencySeries> BuildLatencySeries(const Report& report, const std::string& strategy,
                                                 int merge = 1);

struct EventMarker {
  double t_s = 0;
  std::string label;   // the kind, e.g. "rollout"
  std::string detail;
  int lane = 0;        // label row: 0 at the top; markers closer than the gap stack downwards
};

// One marker per event. Labels of events closer than `min_gap_s` go on different lanes so they
// do not overlap; at most `max_lanes` lanes are used (then lanes are reused).
std::vector<EventMarker> BuildEventMarkers(const Report& report, double min_gap_s, int max_lanes = 4);

// Pod lifecycle along the time axis: when each pod became ready and when it was deleted, so the
// steps of a rollout, a scale-up or an eviction show even when the scenario logs one event.
enum class PodMarkerKind { kReady, kDeleted };
struct PodMarker {
  double t_s = 0;
  std::string pod;
  std::string zone;
  PodMarkerKind kind = PodMarkerKind::kReady;
};

// Markers sorted by time; pods ready at t=0 are left out (they are the starting state).
std::vector<PodMarker> BuildPodMarkers(const Report& report);

// The drawn bucket width: the report's bucket times `merge` (at least 1).
double DisplayBucket(const Report& report, int merge = 1);
// Number of drawn buckets that cover the report: ceil(duration_s / DisplayBucket), at least 1
// and at most report::kMaxBuckets.
size_t BucketCount(const Report& report, int merge = 1);

// "k8slb-sim report 'rolling-update' (virtual, seed 1, 30.0 s, complete)"
std::string Describe(const Report& report);

}  // namespace k8slb::dashboard

#endif  // K8SLB_GUI_MODEL_DASHBOARD_MODEL_H_
