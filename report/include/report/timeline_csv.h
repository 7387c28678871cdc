// timeline-STRATEGY.csv: the writer's row format and an incremental reader that checks every
// row (docs/report-format.md). A live run appends rows while a viewer reads them, so the reader
// takes the file in pieces and keeps a trailing half-written line for the next piece.
//
// TimelineCsvReader is not thread-safe: one thread feeds it; the Timeline chunks it publishes
// are immutable and may be shared with any thread.
#ifndef K8SLB_REPORT_TIMELINE_CSV_H_
#define K8SLB_REPORT_TIMELINE_CSV_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "report/schema.h"

namespace k8slb::report {

// The header line the writer writes (without the newline). Readers find columns by name and
// ignore columns they do not know, so a later format may add columns.
inline constexpr std::string_view kTimelineHeader = "t_s,pod,ok,failed,p50_ms,p99_ms";
// The longest line a reader accepts (a Kubernetes pod name is at most 253 characters).
inline constexpr size_t kMaxTimelineLine = 4096;

// Appends "t_s,pod,ok,failed,p50_ms,p99_ms\n" in the writer's number format (%.6g for t_s,
// %.4g for latencies; a NaN latency is written as an empty field).
void AppendTimelineRow(std::string* out, double t_s, std::string_view pod, uint64_t ok,
                       uint64_t failed, double p50_ms, double p99_ms);

class TimelineCsvReader {
 public:
  // `file_label` prefixes messages ("timeline-x.csv:12: ..."). Rows may not start later than
  // `horizon_s` (TimeHorizon of the report's bucket width).
  TimelineCsvReader(std::string file_label, double horizon_s);

  // Reads the complete lines of `bytes` (the next bytes of the file) and sets `consumed` to how
  // many bytes it used; a trailing line without a newline is left for the next call unless
  // `final`. On error the lines before the bad one are kept (and consumed), nothing of the bad
  // line is, and the status names the line and the field.
  absl::Status Feed(std::string_view bytes, bool final, size_t* consumed);

  bool header_read() const { return header_read_; }
  const Timeline& timeline() const { return timeline_; }

 private:
  absl::Status Line(absl::string_view line, int64_t line_no, std::vector<TimelineRow>* rows);

  std::string file_;
  double horizon_s_;
  int64_t line_ = 0;
  bool header_read_ = false;
  std::vector<int> column_;  // index of t_s, pod, ok, failed, p50_ms, p99_ms in a row
  size_t column_count_ = 0;
  Timeline timeline_;
  std::map<std::string, int32_t, std::less<>> pod_index_;
};

}  // namespace k8slb::report

#endif  // K8SLB_REPORT_TIMELINE_CSV_H_
