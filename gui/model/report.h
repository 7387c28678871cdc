// The dashboard's in-memory view of a report folder written by `k8slb-sim run` (the contract is
// docs/report-format.md), and the reader that loads it, once or incrementally while a live run is
// still writing it (`k8slb-dashboard --follow`).
//
// Nothing here depends on Qt or on simulator code: the dashboard reads files only (docs/report-format.md).
#ifndef K8SLB_GUI_MODEL_REPORT_H_
#define K8SLB_GUI_MODEL_REPORT_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb::dashboard {

// A scenario event drawn as a vertical marker on every time axis.
struct ReportEvent {
  double t_s = 0;
  std::string kind;    // "scale", "evict", "rollout", ...
  std::string detail;  // free text, shown in the marker's tooltip
};

struct ReportPod {
  std::string name;
  std::string address;
  std::string zone;
  double created_s = 0;
  std::optional<double> ready_s;
  std::optional<double> deleted_s;  // null: still alive at the end of the run
};

struct LatencySummary {
  double p50_ms = 0;
  double p99_ms = 0;
  std::optional<double> p999_ms;
};

// One row of timeline-STRATEGY.csv: what one pod served in one time bucket. `pod` indexes
// StrategyTimeline::pod_names.
struct TimelineRow {
  double t_s = 0;
  int32_t pod = 0;
  int64_t ok = 0;
  int64_t failed = 0;
  double p50_ms = 0;  // NaN when the CSV leaves it empty (no successful RPC in the bucket)
  double p99_ms = 0;
};

// The rows of one timeline CSV. Rows arrive in chunks (one per read of a growing file) that are
// never modified once published, so a snapshot shares them with the reader instead of copying.
struct StrategyTimeline {
  std::vector<std::string> pod_names;  // interned pod names, in order of first appearance
  std::vector<std::shared_ptr<const std::vector<TimelineRow>>> chunks;
  double max_t_s = -1;  // start of the last bucket seen, -1 when there is none
  size_t row_count = 0;

  // Calls f(const TimelineRow&) for every row in file order.
  template <typename F>
  void ForEachRow(F&& f) const {
    for (const auto& chunk : chunks) {
      for (const TimelineRow& row : *chunk) f(row);
    }
  }
};

struct StrategyReport {
  std::string name;
  int64_t ok = 0;
  int64_t failed = 0;
  std::map<std::string, int64_t> per_pod;         // pod → ok count
  std::map<std::string, int64_t> per_pod_failed;  // pod → failed count (optional in the file)
  LatencySummary latency;
  std::optional<double> imbalance;  // as written by the sim; null or absent: nullopt
  std::optional<int64_t> pods_used;
  std::string timeline_csv;  // file name inside the report folder
  StrategyTimeline timeline;
};

struct Report {
  std::filesystem::path dir;
  int format = 1;
  std::string scenario;
  std::string scenario_file;
  std::string mode;  // "virtual" | "live"
  int64_t seed = 0;
  bool complete = true;
  double duration_s = 0;        // max of the field and the end of the last timeline bucket
  double timeline_bucket_s = 0; // from the file, else inferred from the CSVs, else 1
  std::vector<ReportEvent> events;
  std::vector<ReportPod> pods;
  std::vector<StrategyReport> strategies;
  // Problems that do not stop the dashboard from showing the report (an incomplete run, a CSV
  // not written yet), each naming the file. Shown in the window's banner.
  std::vector<std::string> warnings;

  const StrategyReport* FindStrategy(const std::string& name) const;
  const ReportPod* FindPod(const std::string& name) const;
};

enum class ReadMode {
  kRecorded,  // one complete read; a CSV must end with a complete row
  kFollow,    // a live run: a trailing half-written CSV row waits for the next poll
};

// Reads a report folder and, on each Poll(), whatever changed since the previous one: report.json
// again when its size or modification time changed (the sim replaces it atomically by rename),
// and only the bytes appended to each timeline CSV since the last poll.
//
// Not thread-safe: one thread owns a ReportReader and calls Poll(); the snapshots it hands out
// are immutable and may be read from any thread (the dashboard polls on a worker thread and
// draws on the UI thread).
class ReportReader {
 public:
  explicit ReportReader(std::filesystem::path dir, ReadMode mode = ReadMode::kRecorded);

  // Returns whether the snapshot changed. On error the previous snapshot stays in place and the
  // status names the file and the problem ("report.json: strategies[1]: missing required field
  // \"name\""); a later Poll() retries.
  absl::StatusOr<bool> Poll();

  // The last good report; null before the first successful Poll().
  std::shared_ptr<const Report> snapshot() const { return snapshot_; }

 private:
  struct CsvState {
    uint64_t offset = 0;       // bytes consumed (always at a line boundary)
    int64_t line = 0;          // lines consumed, for messages
    bool header_read = false;
    std::vector<int> column;   // index of t_s, pod, ok, failed, p50_ms, p99_ms in a row
    size_t column_count = 0;
    StrategyTimeline timeline;
    std::map<std::string, int32_t> pod_index;
  };

  absl::Status ReadCsvIncrement(const std::string& file, CsvState& state, bool final_read);

  std::filesystem::path dir_;
  ReadMode mode_;
  std::optional<std::filesystem::file_time_type> json_mtime_;
  uintmax_t json_size_ = 0;
  std::shared_ptr<Report> parsed_json_;  // report.json only, timelines empty
  std::map<std::string, CsvState> csv_;  // by file name
  std::shared_ptr<const Report> snapshot_;
};

// Reads a recorded report folder completely. Equivalent to ReportReader(dir).Poll() once.
absl::StatusOr<std::shared_ptr<const Report>> LoadReport(const std::filesystem::path& dir);

// Parses the text of report.json (without timelines). `file_label` prefixes messages.
absl::StatusOr<Report> ParseReportJson(const std::string& text, const std::string& file_label);

}  // namespace k8slb::dashboard

#endif  // K8SLB_GUI_MODEL_REPORT_H_
