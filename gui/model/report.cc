#include "model/report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace k8slb::dashboard {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr char kReportFile[] = "report.json";
// Columns of a timeline CSV, in the order TimelineRow wants them (docs/report-format.md).
constexpr const char* kCsvColumns[] = {"t_s", "pod", "ok", "failed", "p50_ms", "p99_ms"};
constexpr int kColT = 0, kColPod = 1, kColOk = 2, kColFailed = 3, kColP50 = 4, kColP99 = 5;

// Validates one JSON object and names the path of every problem, so a broken report.json says
// exactly which field is wrong instead of the dashboard drawing nonsense.
class Fields {
 public:
  Fields(const json& obj, std::string file, std::string path)
      : obj_(obj), file_(std::move(file)), path_(std::move(path)) {}

  absl::Status Error(absl::string_view what) const {
    if (path_.empty()) return absl::InvalidArgumentError(absl::StrCat(file_, ": ", what));
    return absl::InvalidArgumentError(absl::StrCat(file_, ": ", path_, ": ", what));
  }
  std::string Child(absl::string_view key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  }

  const json* Find(absl::string_view key) const {
    auto it = obj_.find(std::string(key));
    return it == obj_.end() ? nullptr : &*it;
  }
  absl::StatusOr<const json*> Require(absl::string_view key) const {
    const json* v = Find(key);
    if (v == nullptr) return Error(absl::StrCat("missing required field \"", key, "\""));
    return v;
  }
  absl::Status WrongType(absl::string_view key, absl::string_view want, const json& v) const {
    return Error(absl::StrCat("field \"", key, "\" must be ", want, ", got ", v.type_name()));
  }

  absl::StatusOr<double> Number(absl::string_view key) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_number()) return WrongType(key, "a number", **v);
    return (*v)->get<double>();
  }
  absl::StatusOr<int64_t> Count(absl::string_view key) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    return CountValue(key, **v);
  }
  absl::StatusOr<int64_t> CountValue(absl::string_view key, const json& v) const {
    if (v.is_number_unsigned()) return static_cast<int64_t>(v.get<uint64_t>());
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
    if (v.is_number_float() && v.get<double>() >= 0 && std::floor(v.get<double>()) == v.get<double>()) {
      return static_cast<int64_t>(v.get<double>());
    }
    return Error(absl::StrCat("field \"", key, "\" must be a non-negative integer, got ", v.dump()));
  }
  absl::StatusOr<std::string> String(absl::string_view key) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_string()) return WrongType(key, "a string", **v);
    return (*v)->get<std::string>();
  }
  absl::StatusOr<std::string> OptionalString(absl::string_view key, std::string fallback) const {
    const json* v = Find(key);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_string()) return WrongType(key, "a string", *v);
    return v->get<std::string>();
  }
  // Absent or null → nullopt.
  absl::StatusOr<std::optional<double>> OptionalNumber(absl::string_view key) const {
    const json* v = Find(key);
    if (v == nullptr || v->is_null()) return std::optional<double>();
    if (!v->is_number()) return WrongType(key, "a number or null", *v);
    return std::optional<double>(v->get<double>());
  }
  absl::StatusOr<const json*> Array(absl::string_view key) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_array()) return WrongType(key, "an array", **v);
    return *v;
  }
  absl::StatusOr<const json*> Object(absl::string_view key) const {
    auto v = Require(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_object()) return WrongType(key, "an object", **v);
    return *v;
  }

 private:
  const json& obj_;
  std::string file_;
  std::string path_;
};

#define K8SLB_ASSIGN(lhs, expr)            \
  do {                                     \
    auto _v = (expr);                      \
    if (!_v.ok()) return _v.status();      \
    lhs = *std::move(_v);                  \
  } while (0)

absl::StatusOr<std::map<std::string, int64_t>> ParseCountMap(const Fields& parent, absl::string_view key,
                                                             const json& obj, const std::string& file) {
  std::map<std::string, int64_t> out;
  Fields f(obj, file, parent.Child(key));
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    int64_t n = 0;
    K8SLB_ASSIGN(n, f.CountValue(it.key(), it.value()));
    out[it.key()] = n;
  }
  return out;
}

absl::StatusOr<StrategyReport> ParseStrategy(const json& j, const std::string& file, const std::string& path) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", path, ": must be an object, got ", j.type_name()));
  }
  Fields f(j, file, path);
  StrategyReport s;
  K8SLB_ASSIGN(s.name, f.String("name"));
  if (s.name.empty()) return f.Error("field \"name\" is empty");
  const json* rpcs = nullptr;
  K8SLB_ASSIGN(rpcs, f.Object("rpcs"));
  Fields fr(*rpcs, file, f.Child("rpcs"));
  K8SLB_ASSIGN(s.ok, fr.Count("ok"));
  K8SLB_ASSIGN(s.failed, fr.Count("failed"));
  const json* per_pod = nullptr;
  K8SLB_ASSIGN(per_pod, f.Object("per_pod"));
  K8SLB_ASSIGN(s.per_pod, ParseCountMap(f, "per_pod", *per_pod, file));
  if (const json* pf = f.Find("per_pod_failed"); pf != nullptr && !pf->is_null()) {
    if (!pf->is_object()) return f.WrongType("per_pod_failed", "an object", *pf);
    K8SLB_ASSIGN(s.per_pod_failed, ParseCountMap(f, "per_pod_failed", *pf, file));
  }
  const json* lat = nullptr;
  K8SLB_ASSIGN(lat, f.Object("latency_ms"));
  Fields fl(*lat, file, f.Child("latency_ms"));
  K8SLB_ASSIGN(s.latency.p50_ms, fl.Number("p50"));
  K8SLB_ASSIGN(s.latency.p99_ms, fl.Number("p99"));
  K8SLB_ASSIGN(s.latency.p999_ms, fl.OptionalNumber("p999"));
  K8SLB_ASSIGN(s.imbalance, f.OptionalNumber("imbalance"));
  std::optional<double> pods_used;
  K8SLB_ASSIGN(pods_used, f.OptionalNumber("pods_used"));
  if (pods_used) s.pods_used = static_cast<int64_t>(*pods_used);
  K8SLB_ASSIGN(s.timeline_csv, f.OptionalString("timeline_csv", absl::StrCat("timeline-", s.name, ".csv")));
  if (s.timeline_csv.empty() || s.timeline_csv.find('/') != std::string::npos ||
      s.timeline_csv.find('\\') != std::string::npos || s.timeline_csv == "." || s.timeline_csv == "..") {
    return f.Error(absl::StrCat("field \"timeline_csv\" must be a file name inside the report folder, got \"",
                                s.timeline_csv, "\""));
  }
  return s;
}

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

bool ParseCount(absl::string_view s, int64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0;
}

}  // namespace

const StrategyReport* Report::FindStrategy(const std::string& name) const {
  for (const auto& s : strategies) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const ReportPod* Report::FindPod(const std::string& name) const {
  for (const auto& p : pods) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

absl::StatusOr<Report> ParseReportJson(const std::string& text, const std::string& file) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    // what() is "[json.exception.parse_error.101] parse error at line L, column C: ..."; keep
    // the part a user can act on.
    absl::string_view what = e.what();
    if (auto pos = what.find("] "); pos != absl::string_view::npos) what.remove_prefix(pos + 2);
    return absl::InvalidArgumentError(absl::StrCat(file, ": invalid JSON: ", what));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": the top level must be an object, got ", j.type_name()));
  }
  Fields f(j, file, "");
  Report r;
  std::optional<double> format;
  K8SLB_ASSIGN(format, f.OptionalNumber("format"));
  r.format = format ? static_cast<int>(*format) : 1;
  if (r.format != 1) {
    return f.Error(absl::StrCat("unsupported \"format\" ", r.format, " (this dashboard reads format 1)"));
  }
  K8SLB_ASSIGN(r.scenario, f.String("scenario"));
  K8SLB_ASSIGN(r.scenario_file, f.OptionalString("scenario_file", ""));
  K8SLB_ASSIGN(r.mode, f.String("mode"));
  const json* seed = nullptr;
  K8SLB_ASSIGN(seed, f.Require("seed"));
  if (!seed->is_number_integer()) return f.WrongType("seed", "an integer", *seed);
  r.seed = seed->is_number_unsigned() ? static_cast<int64_t>(seed->get<uint64_t>()) : seed->get<int64_t>();
  if (const json* c = f.Find("complete"); c != nullptr && !c->is_null()) {
    if (!c->is_boolean()) return f.WrongType("complete", "true or false", *c);
    r.complete = c->get<bool>();
  }
  std::optional<double> num;
  K8SLB_ASSIGN(num, f.OptionalNumber("duration_s"));
  r.duration_s = num.value_or(0);
  if (r.duration_s < 0) return f.Error("field \"duration_s\" is negative");
  K8SLB_ASSIGN(num, f.OptionalNumber("timeline_bucket_s"));
  r.timeline_bucket_s = num.value_or(0);
  if (r.timeline_bucket_s < 0) return f.Error("field \"timeline_bucket_s\" is negative");

  const json* events = nullptr;
  K8SLB_ASSIGN(events, f.Array("events"));
  for (size_t i = 0; i < events->size(); ++i) {
    const json& e = (*events)[i];
    std::string path = absl::StrCat("events[", i, "]");
    if (!e.is_object()) return f.Error(absl::StrCat(path, " must be an object, got ", e.type_name()));
    Fields fe(e, file, path);
    ReportEvent ev;
    K8SLB_ASSIGN(ev.t_s, fe.Number("t_s"));
    K8SLB_ASSIGN(ev.kind, fe.String("kind"));
    K8SLB_ASSIGN(ev.detail, fe.OptionalString("detail", ""));
    r.events.push_back(std::move(ev));
  }
  std::stable_sort(r.events.begin(), r.events.end(),
                   [](const ReportEvent& a, const ReportEvent& b) { return a.t_s < b.t_s; });

  const json* pods = nullptr;
  K8SLB_ASSIGN(pods, f.Array("pods"));
  for (size_t i = 0; i < pods->size(); ++i) {
    const json& p = (*pods)[i];
    std::string path = absl::StrCat("pods[", i, "]");
    if (!p.is_object()) return f.Error(absl::StrCat(path, " must be an object, got ", p.type_name()));
    Fields fp(p, file, path);
    ReportPod pod;
    K8SLB_ASSIGN(pod.name, fp.String("name"));
    K8SLB_ASSIGN(pod.address, fp.OptionalString("address", ""));
    K8SLB_ASSIGN(pod.zone, fp.OptionalString("zone", ""));
    K8SLB_ASSIGN(pod.created_s, fp.Number("created_s"));
    K8SLB_ASSIGN(pod.ready_s, fp.OptionalNumber("ready_s"));
    K8SLB_ASSIGN(pod.deleted_s, fp.OptionalNumber("deleted_s"));
    r.pods.push_back(std::move(pod));
  }

  const json* strategies = nullptr;
  K8SLB_ASSIGN(strategies, f.Array("strategies"));
  std::set<std::string> names;
  for (size_t i = 0; i < strategies->size(); ++i) {
    StrategyReport s;
    K8SLB_ASSIGN(s, ParseStrategy((*strategies)[i], file, absl::StrCat("strategies[", i, "]")));
    if (!names.insert(s.name).second) {
      return f.Error(absl::StrCat("strategies[", i, "]: strategy \"", s.name, "\" appears twice"));
    }
    r.strategies.push_back(std::move(s));
  }
  return r;
}

ReportReader::ReportReader(fs::path dir, ReadMode mode) : dir_(std::move(dir)), mode_(mode) {}

absl::Status ReportReader::ReadCsvIncrement(const std::string& file, CsvState& st, bool final_read) {
  const fs::path path = dir_ / file;
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open for reading"));
  in.seekg(0, std::ios::end);
  const auto end = static_cast<uint64_t>(in.tellg());
  if (end < st.offset) {
    // The file was rewritten from scratch (a new run in the same folder): start over.
    st = CsvState{};
  }
  if (end == st.offset) {
    if (final_read && !st.header_read) return absl::InvalidArgumentError(absl::StrCat(file, ": empty file (no header line)"));
    return absl::OkStatus();
  }
  std::string buf(end - st.offset, '\0');
  in.seekg(static_cast<std::streamoff>(st.offset));
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  if (!in) return absl::DataLossError(absl::StrCat(file, ": read failed"));

  auto rows = std::make_shared<std::vector<TimelineRow>>();
  size_t pos = 0;
  absl::Status status;
  while (pos < buf.size()) {
    size_t nl = buf.find('\n', pos);
    if (nl == std::string::npos && !final_read) break;  // a row still being written
    const size_t line_end = nl == std::string::npos ? buf.size() : nl;
    const size_t next = nl == std::string::npos ? buf.size() : nl + 1;
    absl::string_view line(buf.data() + pos, line_end - pos);
    const int64_t line_no = st.line + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!st.header_read && absl::StartsWith(line, "\xEF\xBB\xBF")) line.remove_prefix(3);  // a UTF-8 BOM
    if (Trim(line).empty()) {  // blank lines are harmless
      pos = next;
      st.line = line_no;
      continue;
    }
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    if (!st.header_read) {
      st.column.assign(std::size(kCsvColumns), -1);
      for (size_t i = 0; i < fields.size(); ++i) {
        for (size_t c = 0; c < std::size(kCsvColumns); ++c) {
          if (Trim(fields[i]) == kCsvColumns[c]) st.column[c] = static_cast<int>(i);
        }
      }
      for (size_t c = 0; c < std::size(kCsvColumns); ++c) {
        if (st.column[c] < 0) {
          status = absl::InvalidArgumentError(absl::StrCat(
              file, ":", line_no, ": header lacks column \"", kCsvColumns[c],
              "\" (expected t_s,pod,ok,failed,p50_ms,p99_ms; got \"", line, "\")"));
          break;
        }
      }
      if (!status.ok()) break;
      st.column_count = fields.size();
      st.header_read = true;
    } else {
      if (fields.size() != st.column_count) {
        status = absl::InvalidArgumentError(absl::StrCat(file, ":", line_no, ": expected ", st.column_count,
                                                         " comma-separated fields, found ", fields.size(), ": \"",
                                                         line, "\""));
        break;
      }
      auto field = [&](int c) { return Trim(fields[static_cast<size_t>(st.column[c])]); };
      auto bad = [&](int c, absl::string_view want) {
        return absl::InvalidArgumentError(absl::StrCat(file, ":", line_no, ": field \"", kCsvColumns[c], "\" is not ",
                                                       want, ": \"", field(c), "\""));
      };
      TimelineRow row;
      if (!ParseDouble(field(kColT), row.t_s) || row.t_s < 0) {
        status = bad(kColT, "a non-negative number");
        break;
      }
      if (row.t_s < st.timeline.max_t_s) {
        status = absl::InvalidArgumentError(absl::StrCat(file, ":", line_no, ": t_s ", field(kColT),
                                                         " goes back in time (previous row had ",
                                                         st.timeline.max_t_s, "); rows must be in bucket order"));
        break;
      }
      const std::string pod(field(kColPod));
      if (pod.empty()) {
        status = bad(kColPod, "a pod name");
        break;
      }
      if (!ParseCount(field(kColOk), row.ok)) {
        status = bad(kColOk, "a non-negative integer");
        break;
      }
      if (!ParseCount(field(kColFailed), row.failed)) {
        status = bad(kColFailed, "a non-negative integer");
        break;
      }
      // Latency is empty when a bucket had only failures.
      row.p50_ms = std::numeric_limits<double>::quiet_NaN();
      row.p99_ms = std::numeric_limits<double>::quiet_NaN();
      if (!field(kColP50).empty() && !ParseDouble(field(kColP50), row.p50_ms)) {
        status = bad(kColP50, "a number");
        break;
      }
      if (!field(kColP99).empty() && !ParseDouble(field(kColP99), row.p99_ms)) {
        status = bad(kColP99, "a number");
        break;
      }
      auto [it, inserted] = st.pod_index.try_emplace(pod, static_cast<int32_t>(st.timeline.pod_names.size()));
      if (inserted) st.timeline.pod_names.push_back(pod);
      row.pod = it->second;
      st.timeline.max_t_s = row.t_s;
      rows->push_back(row);
    }
    pos = next;
    st.line = line_no;
  }
  st.offset += pos;
  if (!rows->empty()) {
    st.timeline.row_count += rows->size();
    st.timeline.chunks.push_back(std::move(rows));
  }
  if (status.ok() && final_read && !st.header_read) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": empty file (no header line)"));
  }
  return status;
}

absl::StatusOr<bool> ReportReader::Poll() {
  const fs::path json_path = dir_ / kReportFile;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) {
    return absl::NotFoundError(absl::StrCat(dir_.string(), ": not a directory"));
  }
  const auto mtime = fs::last_write_time(json_path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat(kReportFile, ": not found in ", dir_.string(),
                                            " (a k8slb-sim report folder holds report.json and timeline CSVs)"));
  }
  const uintmax_t size = fs::file_size(json_path, ec);
  bool changed = false;
  if (!json_mtime_ || *json_mtime_ != mtime || json_size_ != size || parsed_json_ == nullptr) {
    std::ifstream in(json_path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(kReportFile, ": cannot open for reading"));
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = ParseReportJson(ss.str(), kReportFile);
    if (!parsed.ok()) return parsed.status();
    parsed_json_ = std::make_shared<Report>(*std::move(parsed));
    json_mtime_ = mtime;
    json_size_ = size;
    changed = true;
  }

  auto report = std::make_shared<Report>(*parsed_json_);
  report->dir = dir_;
  const bool final_read = mode_ == ReadMode::kRecorded || report->complete;
  for (size_t i = 0; i < report->strategies.size(); ++i) {
    StrategyReport& s = report->strategies[i];
    const fs::path csv = dir_ / s.timeline_csv;
    if (!fs::exists(csv, ec)) {
      if (report->complete) {
        return absl::NotFoundError(absl::StrCat(s.timeline_csv, ": not found (named by report.json strategies[", i,
                                                "].timeline_csv)"));
      }
      report->warnings.push_back(absl::StrCat(s.timeline_csv, ": not written yet"));
      continue;
    }
    CsvState& st = csv_[s.timeline_csv];
    const size_t before = st.timeline.row_count;
    const uint64_t offset_before = st.offset;
    absl::Status status = ReadCsvIncrement(s.timeline_csv, st, final_read);
    if (!status.ok()) return status;
    if (st.timeline.row_count != before || st.offset != offset_before) changed = true;
    s.timeline = st.timeline;
  }

  // Bucket width: the file's, else the smallest step between bucket starts, else 1 s.
  if (report->timeline_bucket_s <= 0) {
    double step = 0;
    for (const auto& s : report->strategies) {
      double prev = -1;
      s.timeline.ForEachRow([&](const TimelineRow& row) {
        if (prev >= 0 && row.t_s > prev && (step == 0 || row.t_s - prev < step)) step = row.t_s - prev;
        prev = row.t_s;
      });
    }
    report->timeline_bucket_s = step > 0 ? step : 1.0;
  }
  for (const auto& s : report->strategies) {
    if (s.timeline.max_t_s >= 0) {
      report->duration_s = std::max(report->duration_s, s.timeline.max_t_s + report->timeline_bucket_s);
    }
  }
  for (const auto& e : report->events) report->duration_s = std::max(report->duration_s, e.t_s);

  if (report->complete) {
    // A finished run's timelines must add up to its totals; say so when they do not, because
    // the charts would otherwise silently disagree with each other.
    for (const auto& s : report->strategies) {
      std::vector<int64_t> sums(s.timeline.pod_names.size(), 0);
      s.timeline.ForEachRow([&](const TimelineRow& row) { sums[static_cast<size_t>(row.pod)] += row.ok; });
      for (size_t p = 0; p < sums.size(); ++p) {
        const std::string& pod = s.timeline.pod_names[p];
        if (pod == "(none)") continue;
        auto it = s.per_pod.find(pod);
        const int64_t want = it == s.per_pod.end() ? 0 : it->second;
        if (want != sums[p]) {
          report->warnings.push_back(absl::StrCat(s.timeline_csv, ": pod ", pod, " has ", sums[p],
                                                  " ok RPCs in the timeline but ", want,
                                                  " in report.json per_pod (strategy ", s.name, ")"));
          break;
        }
      }
    }
  } else if (mode_ == ReadMode::kRecorded) {
    report->warnings.push_back(absl::StrFormat(
        "report.json: the run is not complete (\"complete\": false); showing the first %.1f s. "
        "Use --follow to watch a live run.",
        report->duration_s));
  }
  if (changed || snapshot_ == nullptr ||
      snapshot_->warnings != report->warnings) {
    snapshot_ = std::move(report);
    return true;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<const Report>> LoadReport(const fs::path& dir) {
  ReportReader reader(dir, ReadMode::kRecorded);
  auto changed = reader.Poll();
  if (!changed.ok()) return changed.status();
  return reader.snapshot();
}

#undef K8SLB_ASSIGN

}  // namespace k8slb::dashboard
