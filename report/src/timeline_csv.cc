// Timeline CSV writer format and incremental reader (timeline_csv.h).
#include "report/timeline_csv.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace k8slb::report {
namespace {

constexpr const char* kColumns[] = {"t_s", "pod", "ok", "failed", "p50_ms", "p99_ms"};
constexpr int kColT = 0, kColPod = 1, kColOk = 2, kColFailed = 3, kColP50 = 4, kColP99 = 5;
constexpr absl::string_view kBom = "\xEF\xBB\xBF";

absl::string_view Trim(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

bool ParseDouble(absl::string_view s, double& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
}

bool ParseCount(absl::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out <= kMaxCount;
}

// Latency: empty (no RPC in the bucket had one) or a finite non-negative number.
bool ParseLatency(absl::string_view s, double& out) {
  if (s.empty()) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  return ParseDouble(s, out) && out >= 0;
}

}  // namespace

void AppendTimelineRow(std::string* out, double t_s, std::string_view pod, uint64_t ok,
                       uint64_t failed, double p50_ms, double p99_ms) {
  auto latency = [](double ms) { return std::isnan(ms) ? std::string() : absl::StrFormat("%.4g", ms); };
  absl::StrAppend(out, absl::StrFormat("%.6g", t_s), ",");
  out->append(pod.data(), pod.size());
  absl::StrAppend(out, ",", ok, ",", failed, ",", latency(p50_ms), ",", latency(p99_ms), "\n");
}

TimelineCsvReader::TimelineCsvReader(std::string file_label, double horizon_s)
    : file_(std::move(file_label)), horizon_s_(horizon_s) {}

absl::Status TimelineCsvReader::Feed(std::string_view input, bool final, size_t* consumed) {
  const absl::string_view bytes(input.data(), input.size());
  auto rows = std::make_shared<std::vector<TimelineRow>>();
  size_t pos = 0;
  absl::Status status;
  while (pos < bytes.size()) {
    const size_t nl = bytes.find('\n', pos);
    const size_t line_end = nl == absl::string_view::npos ? bytes.size() : nl;
    if (line_end - pos > kMaxTimelineLine) {
      status = absl::InvalidArgumentError(absl::StrCat(file_, ":", line_ + 1, ": line longer than ",
                                                       kMaxTimelineLine, " bytes"));
      break;
    }
    if (nl == absl::string_view::npos && !final) break;  // a row still being written
    const size_t next = nl == absl::string_view::npos ? bytes.size() : nl + 1;
    status = Line(bytes.substr(pos, line_end - pos), line_ + 1, rows.get());
    if (!status.ok()) break;
    pos = next;
    ++line_;
  }
  if (!rows->empty()) {
    timeline_.row_count += rows->size();
    timeline_.chunks.push_back(std::move(rows));
  }
  *consumed = pos;
  if (!status.ok()) return status;
  if (final && !header_read_) {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": empty file (no header line)"));
  }
  return absl::OkStatus();
}

absl::Status TimelineCsvReader::Line(absl::string_view line, int64_t line_no,
                                     std::vector<TimelineRow>* rows) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!header_read_ && line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  if (Trim(line).empty()) return absl::OkStatus();  // blank lines are harmless
  const std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
  if (!header_read_) {
    column_.assign(std::size(kColumns), -1);
    for (size_t i = 0; i < fields.size(); ++i) {
      for (size_t c = 0; c < std::size(kColumns); ++c) {
        if (Trim(fields[i]) == kColumns[c]) column_[c] = static_cast<int>(i);
      }
    }
    for (size_t c = 0; c < std::size(kColumns); ++c) {
      if (column_[c] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(file_, ":", line_no, ": header lacks column \"", kColumns[c],
                         "\" (expected ", std::string(kTimelineHeader), "; got \"", line, "\")"));
      }
    }
    column_count_ = fields.size();
    header_read_ = true;
    return absl::OkStatus();
  }
  if (fields.size() != column_count_) {
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", line_no, ": expected ", column_count_,
                                                   " comma-separated fields, found ", fields.size(),
                                                   ": \"", line, "\""));
  }
  auto field = [&](int c) { return Trim(fields[static_cast<size_t>(column_[c])]); };
  auto bad = [&](int c, absl::string_view want) {
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", line_no, ": field \"", kColumns[c],
                                                   "\" is not ", want, ": \"", field(c), "\""));
  };
  TimelineRow row;
  if (!ParseDouble(field(kColT), row.t_s) || row.t_s < 0) return bad(kColT, "a non-negative number");
  if (row.t_s > horizon_s_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s:%d: t_s %g s is beyond the report's time limit of %g s", file_, line_no, row.t_s,
        horizon_s_));
  }
  if (row.t_s < timeline_.max_t_s) {
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", line_no, ": t_s ", field(kColT),
                                                   " goes back in time (previous row had ",
                                                   timeline_.max_t_s, "); rows must be in bucket order"));
  }
  const absl::string_view field_pod = field(kColPod);
  if (field_pod.empty()) return bad(kColPod, "a pod name");
  const std::string_view pod(field_pod.data(), field_pod.size());
  if (!ParseCount(field(kColOk), row.ok)) return bad(kColOk, "a non-negative integer up to 2^53");
  if (!ParseCount(field(kColFailed), row.failed)) {
    return bad(kColFailed, "a non-negative integer up to 2^53");
  }
  // The running total bounds every sum a viewer forms from the rows.
  const uint64_t total = timeline_.total + row.ok + row.failed;
  if (total > kMaxCount) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", line_no, ": the counts of the timeline add up to more than 2^53"));
  }
  if (!ParseLatency(field(kColP50), row.p50_ms)) return bad(kColP50, "empty or a non-negative number");
  if (!ParseLatency(field(kColP99), row.p99_ms)) return bad(kColP99, "empty or a non-negative number");
  auto it = pod_index_.find(pod);
  if (it == pod_index_.end()) {
    it = pod_index_.emplace(std::string(pod), static_cast<int32_t>(timeline_.pod_names.size())).first;
    timeline_.pod_names.emplace_back(pod);
  }
  row.pod = it->second;
  timeline_.total = total;
  timeline_.max_t_s = row.t_s;
  rows->push_back(row);
  return absl::OkStatus();
}

}  // namespace k8slb::report
