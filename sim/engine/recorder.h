// RunRecorder: collects what a simulator run did (events, pods, every RPC per strategy) and turns
// it into the report the dashboard and `k8slb-sim check` read (docs/report-format.md), written
// through the report library.
//
// Thread-safety: every method may be called from any thread at any time (the live engine records
// RPCs from many client threads while its control thread records events and pod changes); one
// internal mutex guards all state. The hot path (RecordRpc with ids) does no allocation in
// steady state except the one float kept per RPC of the open timeline buckets (freed when the
// bucket closes).
//
// Times before the scenario start (a live pod that existed before the run) are recorded as 0.
//
// Time: every t_s is seconds from the scenario start (virtual or scaled wall time). RecordRpc's
// t_s is when the RPC was SENT (the pick), so reaction times measure routing decisions.
//
// Timeline buckets and the straggler window: RPCs are filed under their send time but recorded
// when they finish, so a bucket stays open (its rows provisional) until its straggler window has
// passed after its end: a multiple of the strategy's observed p99.9 latency, at most the call
// deadline. Each incomplete write publishes the open buckets' rows so far as report.json
// "provisional" (docs/report-format.md); an RPC that finishes after its bucket closed is counted
// in the oldest open bucket, so every RPC is in exactly one timeline row.
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
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "report/schema.h"

namespace k8slb::sim {

// The report, as plain values: the report library's schema (report/schema.h) under the
// simulator's names.
using Report = report::Report;
using ReportEvent = report::Event;
using ReportPod = report::Pod;
using ReactionStats = report::ReactionStats;
using LatencySummary = report::LatencySummary;
using StrategyReport = report::StrategyReport;

// ---- Recording ----

struct RunInfo {
  std::string scenario;       // scenario name
  std::string scenario_file;  // path it came from
  std::string mode = "virtual";
  uint64_t seed = 1;
  double timeline_bucket_s = 0.5;
  std::vector<std::string> strategies;  // names, in display order
  // Longest an RPC can take, in scenario seconds (the call deadline; live runs: the wall deadline
  // times the speed-up). Bounds the straggler window. 0: unknown (5 s).
  double call_deadline_s = 0;
  // Scenario seconds per second of recorded latency (live runs: the speed-up; virtual: 1).
  double latency_scale = 1;
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
  static constexpr std::string_view kNoPod = report::kNoPod;

  explicit RunRecorder(RunInfo info);
  ~RunRecorder();
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  const RunInfo& info() const { return info_; }

  void RecordEvent(double t_s, std::string_view kind, std::string_view detail)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sets one entry of the report's "environment" (a later call with the same key replaces it).
  void SetEnvironment(std::string_view key, std::string_view value) ABSL_LOCKS_EXCLUDED(mu_);
  // Adds a pod (idempotent by name: a second call updates address/zone, keeps history).
  void RecordPod(const PodInfo& pod) ABSL_LOCKS_EXCLUDED(mu_);
  // A pod's usability changed at t_s. Unknown pods are added with created_s = t_s.
  void UpdatePod(std::string_view name, PodChange change, double t_s) ABSL_LOCKS_EXCLUDED(mu_);

  // Fast path: resolve names to ids once, then record by id. Ids are stable for the run.
  // StrategyId returns -1 for a name not in RunInfo::strategies.
  int StrategyId(std::string_view strategy) const;
  // Registers unknown names (an RPC-only name such as kNoPod gets no row in report "pods").
  int PodId(std::string_view pod) ABSL_LOCKS_EXCLUDED(mu_);
  void RecordRpc(int strategy_id, double t_s, int pod_id, bool ok, double latency_ms)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Convenience (live engines): looks names up; an unknown strategy is ignored.
  void RecordRpc(std::string_view strategy, double t_s, std::string_view pod, bool ok,
                 double latency_ms) ABSL_LOCKS_EXCLUDED(mu_);
  // `count` RPCs that pod `pod` answered for `strategy` by t_s, counted by the pod's server
  // (external client programs, which the engine cannot watch): ok, no latency sample.
  void RecordServed(std::string_view strategy, double t_s, std::string_view pod, uint64_t count)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The report as of now. `covered_s`: scenario time covered so far (report "duration_s").
  Report Snapshot(double covered_s, bool complete) const ABSL_LOCKS_EXCLUDED(mu_);

  // Writes DIR/report.json (temp file + rename) and DIR/timeline-STRATEGY.csv for each strategy.
  // Incomplete writes append the rows of buckets whose straggler window ended by covered_s and
  // put the rows of the others in report.json "provisional"; the complete write appends the rest. Creates DIR. Refuses (InvalidArgument naming the field) a report the report
  // library's Validate() would refuse, e.g. covered_s beyond report::kMaxDurationS. Any thread;
  // concurrent calls are serialized.
  absl::Status WriteReport(const std::string& dir, bool complete, double covered_s)
      ABSL_LOCKS_EXCLUDED(write_mu_, mu_);

 private:
  struct StrategyState;
  struct PodState;

  int PodIdLocked(std::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // RecordRpc and RecordServed: `count` RPCs; `latency_ms` null when not measured.
  void Record(int strategy_id, double t_s, int pod_id, bool ok, const double* latency_ms, uint64_t count)
      ABSL_LOCKS_EXCLUDED(mu_);
  int64_t OpenBuckets() const;
  double MaxStragglerS() const;
  double StragglerWindowS(const StrategyState& s) const;
  void CloseBucketsLocked(StrategyState& s, int64_t up_to_bucket)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Report SnapshotLocked(double covered_s, bool complete) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RunInfo info_;  // immutable after construction (strategy ids index info_.strategies)
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // serializes WriteReport
  // One mutex for all records: uncontended in the virtual engine; the live engine's RPC rates
  // (thousands per second) keep contention negligible, and one lock keeps pod intervals and
  // per-strategy reaction bookkeeping consistent.
  mutable absl::Mutex mu_;
  std::vector<ReportEvent> events_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> environment_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<PodState>> pods_ ABSL_GUARDED_BY(mu_);  // index = pod id
  std::unordered_map<std::string, int> pod_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<StrategyState>> strategies_ ABSL_GUARDED_BY(mu_);  // = info_.strategies
};

}  // namespace k8slb::sim

#endif  // K8SLB_SIM_ENGINE_RECORDER_H_
