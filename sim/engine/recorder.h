// RunRecorder: collects what a simulator run did (events, pods, every RPC per strategy) and turns
// it into the report the dashboard and `k8slb-sim check` read (docs/report-format.md).
//
// Thread-safety: every method may be called from any thread at any time (the live engine records
// RPCs from many client threads while its control thread records events and pod changes); one
// internal mutex guards all state. The hot path (RecordRpc with ids) does no allocation in steady state except the one float
// kept per RPC of the open timeline buckets (freed when the bucket closes).
//
// Time: every t_s is seconds from the scenario start (virtual or scaled wall time). RecordRpc's
// t_s is when the RPC was SENT (the pick), so reaction times measure routing decisions.
//
// Reaction times (report "reaction_s"): each pod has usable intervals [ready, unready) built from
// UpdatePod. new_pod_first_rpc: for each interval that starts after t=0, the time from its start
// to the strategy's first RPC to that pod inside the interval ("never" counts intervals with no
// such RPC, e.g. ClusterIP never noticing a new pod). removed_pod_last_rpc: for each interval that
// ends, the time from its end to the strategy's last RPC to that pod before it is usable again
// (0 when none was sent after the end).
#ifndef K8SLB_SIM_ENGINE_RECORDER_H_
#define K8SLB_SIM_ENGINE_RECORDER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace k8slb::sim {

// ---- The report, as plain values (what report.json holds; also parsed back by `check`). ----

struct ReportEvent {
  double t_s = 0;
  std::string kind;
  std::string detail;
};

struct ReportPod {
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

struct StrategyReport {
  std::string name;
  uint64_t ok = 0;
  uint64_t failed = 0;
  std::map<std::string, uint64_t> per_pod;         // pod → ok count
  std::map<std::string, uint64_t> per_pod_failed;  // pod → failed count ("(none)": no endpoint)
  LatencySummary latency_ms;
  // max/mean of per_pod over pods alive the whole run (created at t<=0, never deleted),
  // including pods that got nothing. nullopt when no such pod exists.
  std::optional<double> imbalance;
  int pods_used = 0;  // pods with at least one ok RPC
  std::optional<ReactionStats> new_pod_first_rpc;      // nullopt: nothing to measure
  std::optional<ReactionStats> removed_pod_last_rpc;
  std::string timeline_csv;  // file name inside the report folder
};

struct Report {
  int format = 1;
  std::string scenario;
  std::string scenario_file;
  std::string mode;  // "virtual" | "live"
  uint64_t seed = 1;
  bool complete = false;
  double duration_s = 0;
  double timeline_bucket_s = 0.5;
  std::vector<ReportEvent> events;
  std::vector<ReportPod> pods;
  std::vector<StrategyReport> strategies;
  // Where and how a live run ran, e.g. "pod_network": "namespace 198.18.0.0/24 ...",
  // "api_server", "loopback_endpoints_allowed" (report.json "environment"; absent when empty).
  std::map<std::string, std::string> environment;

  const StrategyReport* FindStrategy(std::string_view name) const;
};

// Serializes / parses report.json (unknown fields are ignored when parsing).
std::string ReportToJson(const Report& report);
absl::StatusOr<Report> ReportFromJson(std::string_view json_text, std::string_view file_name);
absl::StatusOr<Report> LoadReport(const std::string& dir_or_file);

// ---- Recording ----

struct RunInfo {
  std::string scenario;       // scenario name
  std::string scenario_file;  // path it came from
  std::string mode = "virtual";
  uint64_t seed = 1;
  double timeline_bucket_s = 0.5;
  std::vector<std::string> strategies;  // names, in display order
};

struct PodInfo {
  std::string name;
  std::string address;
  std::string zone;
  double created_s = 0;
};

enum class PodChange {
  kReady,    // became usable (ready): opens a usable interval
  kUnready,  // left the usable set (not ready, terminating, crash noticed): closes it
  kDeleted,  // removed from the cluster: closes the interval, sets deleted_s
};

class RunRecorder {
 public:
  // Pod name used for RPCs that failed before any pod was chosen (no endpoints).
  static constexpr std::string_view kNoPod = "(none)";

  explicit RunRecorder(RunInfo info);
  ~RunRecorder();
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  const RunInfo& info() const { return info_; }

  void RecordEvent(double t_s, std::string_view kind, std::string_view detail);
  // Sets one entry of the report's "environment" (a later call with the same key replaces it).
  void SetEnvironment(std::string_view key, std::string_view value);
  // Adds a pod (idempotent by name: a second call updates address/zone, keeps history).
  void RecordPod(const PodInfo& pod);
  // A pod's usability changed at t_s. Unknown pods are added with created_s = t_s.
  void UpdatePod(std::string_view name, PodChange change, double t_s);

  // Fast path: resolve names to ids once, then record by id. Ids are stable for the run.
  // StrategyId returns -1 for a name not in RunInfo::strategies.
  int StrategyId(std::string_view strategy) const;
  // Registers unknown names (an RPC-only name such as kNoPod gets no row in report "pods").
  int PodId(std::string_view pod);
  void RecordRpc(int strategy_id, double t_s, int pod_id, bool ok, double latency_ms);
  // Convenience (live engines): looks names up; an unknown strategy is ignored.
  void RecordRpc(std::string_view strategy, double t_s, std::string_view pod, bool ok,
                 double latency_ms);

  // The report as of now. `covered_s`: scenario time covered so far (report "duration_s").
  Report Snapshot(double covered_s, bool complete) const;

  // Writes DIR/report.json (temp file + rename) and DIR/timeline-STRATEGY.csv for each strategy.
  // Incomplete writes append the timeline rows of buckets that ended at least 5 s (at least two
  // buckets) before covered_s, leaving time for RPCs still in flight; the complete write appends
  // the rest. Creates DIR. Any thread; concurrent calls are serialized.
  absl::Status WriteReport(const std::string& dir, bool complete, double covered_s);

 private:
  struct StrategyState;
  struct PodState;

  int PodIdLocked(std::string_view name);
  int64_t OpenBuckets() const;
  void CloseBucketsLocked(StrategyState& s, int64_t up_to_bucket);
  Report SnapshotLocked(double covered_s, bool complete) const;

  RunInfo info_;
  // One mutex for all records: uncontended in the virtual engine; the live engine's RPC rates
  // (thousands per second) keep contention negligible, and one lock keeps pod intervals and
  // per-strategy reaction bookkeeping consistent.
  mutable std::mutex mu_;
  std::vector<ReportEvent> events_;                        // guarded by mu_
  std::map<std::string, std::string> environment_;         // guarded by mu_
  std::vector<std::unique_ptr<PodState>> pods_;            // guarded by mu_ (index = pod id)
  std::unordered_map<std::string, int> pod_ids_;           // guarded by mu_
  std::vector<std::unique_ptr<StrategyState>> strategies_;  // fixed at construction; contents
                                                            // guarded by mu_
  std::mutex write_mu_;  // serializes WriteReport (taken before mu_)
};

}  // namespace k8slb::sim

#endif  // K8SLB_SIM_ENGINE_RECORDER_H_
