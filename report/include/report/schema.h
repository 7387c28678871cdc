// The report of a simulator run, as plain values: what report.json and the timeline CSVs of a
// report folder hold (docs/report-format.md is the contract), plus the rule every report obeys.
//
// `k8slb-sim run` fills a Report from its recorder and writes it; `k8slb-sim check` and
// `k8slb-dashboard` read it back. Both sides call the same Validate(), so the writer never writes
// a report the reader refuses, and a reader never hands out one whose numbers could overflow or
// make a viewer allocate without bound (a bucket count derived from `duration_s` and
// `timeline_bucket_s` is capped by kMaxBuckets).
//
// Plain values: thread-compatible. The timeline chunks are shared, immutable once published.
#ifndef K8SLB_REPORT_SCHEMA_H_
#define K8SLB_REPORT_SCHEMA_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace k8slb::report {

// ---- Vocabulary ----

inline constexpr int kFormatVersion = 1;

// The strategies the simulator knows, in display order (the dashboard colours them in this
// order; `k8slb-sim run --strategies` and scenario files accept exactly these).
inline constexpr std::string_view kStrategyNames[] = {"clusterip", "headless-dns", "round-robin",
                                                      "least-request", "xds", "grpc-dns",
                                                      "peak-ewma", "latency-ewma", "orca-weighted"};
bool IsKnownStrategy(std::string_view name);
// Strategies only the live engine runs (real clients the virtual engine does not model): xds,
// grpc-dns.
bool IsLiveOnlyStrategy(std::string_view name);
// Strategies a scenario runs only when it names them: peak-ewma (P2C over peak-EWMA latency cost,
// kept for comparison) and orca-weighted (P2C over server-reported load: only meaningful with pods
// that send ORCA reports). latency-ewma, the library's default policy, runs by default.
bool IsOptInStrategy(std::string_view name);
// The strategies a scenario runs when it names none: the known ones that are neither live-only
// nor opt-in.
std::vector<std::string> DefaultStrategies();
// "clusterip, headless-dns, round-robin, least-request, xds, grpc-dns, peak-ewma, latency-ewma, orca-weighted",
// for error messages.
std::string KnownStrategiesList();
// Index in kStrategyNames, or -1.
int StrategyIndex(std::string_view name);

// Pod name of RPCs that failed before any pod was chosen (no endpoints).
inline constexpr std::string_view kNoPod = "(none)";

// The default timeline file of a strategy: "timeline-<strategy>.csv".
std::string TimelineFileName(std::string_view strategy);

// ---- Limits (the reader refuses, and the writer never writes, anything beyond them) ----

// Longest run a report may cover: 1e6 s (11.6 days; scenarios are at most a day long).
inline constexpr double kMaxDurationS = 1e6;
// Narrowest and widest timeline bucket.
inline constexpr double kMinBucketS = 1e-3;
inline constexpr double kMaxBucketS = 3600;
// Most timeline buckets a report may span (duration / bucket width), so a viewer that keeps a
// value per bucket and pod stays within a known size.
inline constexpr int64_t kMaxBuckets = 100'000;
// Largest RPC count, and largest sum of the counts of one map or timeline: 2^53, the largest
// integer a JSON number holds exactly in every common reader.
inline constexpr uint64_t kMaxCount = uint64_t{1} << 53;

// ---- report.json ----

struct Event {
  double t_s = 0;
  std::string kind;    // "scale", "evict", "rollout", ...
  std::string detail;  // free text
};

struct Pod {
  std::string name;
  std::string address;
  std::string zone;
  double created_s = 0;
  std::optional<double> ready_s;    // first time it became ready
  std::optional<double> deleted_s;  // when it was removed from the cluster
  // Usable intervals [start, end); end is nullopt while still usable at the end of the run.
  std::vector<std::pair<double, std::optional<double>>> usable;
};

struct ReactionStats {
  uint64_t count = 0;  // measured intervals (excluding `never`)
  uint64_t never = 0;  // new-pod intervals that received no RPC at all
  double p50 = 0;
  double max = 0;
};

struct LatencySummary {
  double p50 = 0;
  double p99 = 0;
  double p999 = 0;
};

// One row of a timeline CSV: what one pod served in one bucket. `pod` indexes
// Timeline::pod_names.
struct TimelineRow {
  double t_s = 0;  // bucket start
  int32_t pod = 0;
  uint64_t ok = 0;
  uint64_t failed = 0;
  double p50_ms = 0;  // NaN when the CSV leaves it empty
  double p99_ms = 0;
  // A row of a bucket whose straggler window has not closed yet (from report.json's
  // "provisional" rows, never from the CSV): its counts may still grow.
  bool provisional = false;
};

// The rows of one timeline CSV. Rows arrive in chunks (one per read of a growing file) that are
// never modified once published, so a snapshot shares them with the reader instead of copying.
struct Timeline {
  std::vector<std::string> pod_names;  // interned pod names, in order of first appearance
  std::vector<std::shared_ptr<const std::vector<TimelineRow>>> chunks;
  double max_t_s = -1;  // start of the last bucket seen, -1 when there is none
  size_t row_count = 0;
  uint64_t total = 0;   // ok + failed over every row (bounded by kMaxCount)
  // Buckets starting at or after this are provisional (their rows come last, flagged); nullopt:
  // every row is final.
  std::optional<double> provisional_from_s;

  // Adds `rows` (in file order, after every row held) as one chunk, keeping total, max_t_s and
  // row_count in step with it.
  void AppendChunk(std::vector<TimelineRow> rows) {
    if (rows.empty()) return;
    for (const TimelineRow& row : rows) {
      total += row.ok + row.failed;
      if (row.t_s > max_t_s) max_t_s = row.t_s;
    }
    row_count += rows.size();
    chunks.push_back(std::make_shared<const std::vector<TimelineRow>>(std::move(rows)));
  }

  // Calls f(const TimelineRow&) for every row in file order.
  template <typename F>
  void ForEachRow(F&& f) const {
    for (const auto& chunk : chunks) {
      for (const TimelineRow& row : *chunk) f(row);
    }
  }
};

// A row of a bucket still open when report.json was written (report.json "provisional").
struct ProvisionalRow {
  double t_s = 0;
  std::string pod;
  uint64_t ok = 0;
  uint64_t failed = 0;
  double p50_ms = 0;  // NaN: no latency
  double p99_ms = 0;
};

// Most provisional rows one strategy may carry (the open buckets of a straggler window times
// the pods; far above what a run writes).
inline constexpr size_t kMaxProvisionalRows = 100'000;

struct StrategyReport {
  std::string name;
  uint64_t ok = 0;
  uint64_t failed = 0;
  std::map<std::string, uint64_t> per_pod;         // pod → ok count
  std::map<std::string, uint64_t> per_pod_failed;  // pod → failed count (kNoPod: no endpoint)
  LatencySummary latency_ms;
  // max/mean of per_pod over pods alive the whole run (created at t<=0, never deleted),
  // including pods that got nothing. nullopt when no such pod exists.
  std::optional<double> imbalance;
  int pods_used = 0;  // pods with at least one ok RPC
  std::optional<ReactionStats> new_pod_first_rpc;  // nullopt: nothing to measure
  std::optional<ReactionStats> removed_pod_last_rpc;
  std::string timeline_csv;  // file name inside the report folder
  // A live run's view of its open buckets (docs/report-format.md, "Provisional rows"): the CSV's
  // first `timeline_final_rows` rows were final when this report.json was written; buckets from
  // `timeline_final_s` on are still open, their rows so far in `provisional`; the window a bucket
  // stays open after its end. Absent in recorded reports: every CSV row is final.
  std::optional<uint64_t> timeline_final_rows;
  std::optional<double> timeline_final_s;
  std::optional<double> straggler_window_s;
  std::vector<ProvisionalRow> provisional;
  // The rows of timeline_csv: filled by FolderReader; not part of report.json.
  Timeline timeline;
};

struct Report {
  int format = kFormatVersion;
  std::string scenario;
  std::string scenario_file;
  std::string mode;  // "virtual" | "live"
  uint64_t seed = 1;
  bool complete = false;
  double duration_s = 0;  // scenario time covered so far
  double timeline_bucket_s = 0.5;
  // How the run was set up where it matters to read its numbers (for example where live pods
  // ran); free-form name → value pairs.
  std::map<std::string, std::string> environment;
  std::vector<Event> events;  // in time order
  std::vector<Pod> pods;
  std::vector<StrategyReport> strategies;
  // What a reader noticed that does not stop a viewer (an incomplete run, a CSV not written
  // yet), each naming the file. Not part of report.json.
  std::vector<std::string> warnings;

  const StrategyReport* FindStrategy(std::string_view name) const;
  const Pod* FindPod(std::string_view name) const;
};

// Latest time a report may mention: kMaxDurationS, or kMaxBuckets buckets if that is sooner.
double TimeHorizon(double timeline_bucket_s);

// The rule of report.json: format, mode, finite numbers in range, the bucket limit, unique pod
// and strategy names, bounded counts, file names inside the folder. The error names the field
// ("strategies[1].latency_ms.p99: ...", "duration_s: ..."). Ignores the timelines.
absl::Status Validate(const Report& report);

}  // namespace k8slb::report

#endif  // K8SLB_REPORT_SCHEMA_H_
