// RunRecorder and the report.json / timeline CSV format (docs/report-format.md).
#include "sim/engine/recorder.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace k8slb::sim {
namespace {

using Json = nlohmann::json;
constexpr double kInf = std::numeric_limits<double>::infinity();
// New-pod intervals starting this close to the end of the covered time are not measured: a
// strategy cannot be expected to have sent there yet.
constexpr double kReactionTailS = 1.0;
constexpr double kStragglerS = 5.0;

// Log-linear latency histogram: 64 sub-buckets per power of two of the latency in microseconds
// (relative error under 1%), indexed straight from the double's exponent and mantissa bits, so
// recording is a few integer operations (10M RPCs must be cheap). Range 1 us .. 2^40 us.
class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr int kOctaves = 41;
  void Add(double latency_ms) {
    ++counts_[Index(latency_ms)];
    ++total_;
  }
  uint64_t total() const { return total_; }
  double Quantile(double q) const {
    if (total_ == 0) return 0;
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * total_)));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return Midpoint(i);
    }
    return Midpoint(counts_.size() - 1);
  }

 private:
  static size_t Index(double latency_ms) {
    double us = latency_ms * 1000.0;
    if (!(us >= 1.0)) return 0;  // also NaN
    const uint64_t bits = std::bit_cast<uint64_t>(us);
    const int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
    if (exponent >= kOctaves) return kOctaves * (1 << kSubBits) - 1;
    const uint64_t sub = (bits >> (52 - kSubBits)) & ((1u << kSubBits) - 1);
    return (static_cast<size_t>(exponent) << kSubBits) | sub;
  }
  static double Midpoint(size_t index) {
    const int exponent = static_cast<int>(index >> kSubBits);
    const double sub = static_cast<double>(index & ((1u << kSubBits) - 1));
    const double us = std::ldexp(1.0 + (sub + 0.5) / (1 << kSubBits), exponent);
    return us / 1000.0;
  }
  std::array<uint64_t, kOctaves << kSubBits> counts_{};
  uint64_t total_ = 0;
};

struct Cell {
  uint64_t ok = 0;
  uint64_t failed = 0;
  std::vector<float> latencies;
};

struct Row {
  int64_t bucket = 0;
  int pod = 0;
  uint64_t ok = 0;
  uint64_t failed = 0;
  double p50 = 0;
  double p99 = 0;
};

double NearestRank(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(q * v.size()));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

std::string StrategyCsvName(const std::string& strategy) {
  return absl::StrCat("timeline-", strategy, ".csv");
}

}  // namespace

struct RunRecorder::PodState {
  ReportPod rec;
  bool has_record = false;  // false for RPC-only names such as kNoPod
  std::vector<double> starts;  // usable interval k = [starts[k], ends[k] or open)
  std::vector<double> ends;
};

struct RunRecorder::StrategyState {
  std::string name;
  uint64_t ok = 0;
  uint64_t failed = 0;
  std::vector<uint64_t> pod_ok;      // by pod id
  std::vector<uint64_t> pod_failed;
  std::vector<std::vector<double>> first_in;    // pod → interval → first RPC inside (inf: none)
  std::vector<std::vector<double>> last_after;  // pod → interval → last RPC after its end
  LatencyHistogram histogram;
  std::map<int64_t, std::vector<Cell>> open;  // bucket → cells by pod id
  std::vector<Row> rows;                       // closed rows, in bucket order
  size_t rows_written = 0;
  bool csv_started = false;
  // The open bucket of the last record (std::map nodes are stable until erased).
  int64_t cached_bucket = -1;
  std::vector<Cell>* cached_cells = nullptr;
};

const StrategyReport* Report::FindStrategy(std::string_view name) const {
  for (const auto& s : strategies) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

RunRecorder::RunRecorder(RunInfo info) : info_(std::move(info)) {
  if (!(info_.timeline_bucket_s > 0)) info_.timeline_bucket_s = 0.5;
  for (const auto& name : info_.strategies) {
    auto s = std::make_unique<StrategyState>();
    s->name = name;
    strategies_.push_back(std::move(s));
  }
}

RunRecorder::~RunRecorder() = default;

void RunRecorder::SetEnvironment(std::string_view key, std::string_view value) {
  std::lock_guard<std::mutex> lock(mu_);
  environment_[std::string(key)] = std::string(value);
}

void RunRecorder::RecordEvent(double t_s, std::string_view kind, std::string_view detail) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back({t_s, std::string(kind), std::string(detail)});
}

int RunRecorder::PodIdLocked(std::string_view name) {
  auto it = pod_ids_.find(std::string(name));
  if (it != pod_ids_.end()) return it->second;
  const int id = static_cast<int>(pods_.size());
  pods_.push_back(std::make_unique<PodState>());
  pods_.back()->rec.name = std::string(name);
  pod_ids_.emplace(std::string(name), id);
  return id;
}

void RunRecorder::RecordPod(const PodInfo& pod) {
  std::lock_guard<std::mutex> lock(mu_);
  PodState& p = *pods_[PodIdLocked(pod.name)];
  if (!p.has_record) p.rec.created_s = pod.created_s;
  p.has_record = true;
  p.rec.address = pod.address;
  p.rec.zone = pod.zone;
}

void RunRecorder::UpdatePod(std::string_view name, PodChange change, double t_s) {
  std::lock_guard<std::mutex> lock(mu_);
  PodState& p = *pods_[PodIdLocked(name)];
  if (!p.has_record) {
    p.has_record = true;
    p.rec.created_s = t_s;
  }
  const bool open = p.starts.size() > p.ends.size();
  switch (change) {
    case PodChange::kReady:
      if (!open && !p.rec.deleted_s) {
        // Intervals must not go back in time (live: records from different threads).
        if (!p.ends.empty()) t_s = std::max(t_s, p.ends.back());
        p.starts.push_back(t_s);
        if (!p.rec.ready_s) p.rec.ready_s = t_s;
      }
      break;
    case PodChange::kUnready:
      if (open) p.ends.push_back(std::max(t_s, p.starts.back()));
      break;
    case PodChange::kDeleted:
      if (open) p.ends.push_back(std::max(t_s, p.starts.back()));
      if (!p.rec.deleted_s) p.rec.deleted_s = t_s;
      break;
  }
}

int RunRecorder::StrategyId(std::string_view strategy) const {
  for (size_t i = 0; i < strategies_.size(); ++i) {
    if (strategies_[i]->name == strategy) return static_cast<int>(i);
  }
  return -1;
}

int RunRecorder::PodId(std::string_view pod) {
  std::lock_guard<std::mutex> lock(mu_);
  return PodIdLocked(pod);
}

void RunRecorder::RecordRpc(std::string_view strategy, double t_s, std::string_view pod, bool ok,
                            double latency_ms) {
  const int sid = StrategyId(strategy);
  if (sid < 0) return;
  RecordRpc(sid, t_s, PodId(pod), ok, latency_ms);
}

void RunRecorder::RecordRpc(int strategy_id, double t_s, int pod_id, bool ok,
                            double latency_ms) {
  if (strategy_id < 0 || static_cast<size_t>(strategy_id) >= strategies_.size()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (pod_id < 0 || static_cast<size_t>(pod_id) >= pods_.size()) return;
  StrategyState& s = *strategies_[strategy_id];
  const size_t pid = static_cast<size_t>(pod_id);
  if (s.pod_ok.size() <= pid) {
    const size_t n = std::max(pods_.size(), pid + 1);
    s.pod_ok.resize(n);
    s.pod_failed.resize(n);
    s.first_in.resize(n);
    s.last_after.resize(n);
  }
  if (ok) {
    ++s.ok;
    ++s.pod_ok[pid];
  } else {
    ++s.failed;
    ++s.pod_failed[pid];
  }
  s.histogram.Add(latency_ms);

  // Reaction bookkeeping: which usable interval (or gap after one) this send falls in.
  const PodState& p = *pods_[pid];
  if (!p.starts.empty() && t_s >= p.starts.front()) {
    const size_t k = static_cast<size_t>(
        std::upper_bound(p.starts.begin(), p.starts.end(), t_s) - p.starts.begin() - 1);
    const bool inside = k >= p.ends.size() || t_s < p.ends[k];
    auto& first = s.first_in[pid];
    auto& last = s.last_after[pid];
    if (first.size() <= k) {
      first.resize(k + 1, kInf);
      last.resize(k + 1, -kInf);
    }
    if (inside) {
      first[k] = std::min(first[k], t_s);
    } else {
      last[k] = std::max(last[k], t_s);
    }
  }

  // Timeline cell. The bucket of the previous record is cached: nearly every record goes there.
  const double bucket_s = info_.timeline_bucket_s;
  const int64_t bucket = static_cast<int64_t>(std::floor(std::max(0.0, t_s) / bucket_s));
  std::vector<Cell>* cells_ptr = nullptr;
  if (s.cached_cells != nullptr && s.cached_bucket == bucket) {
    cells_ptr = s.cached_cells;
  } else {
    auto it = s.open.find(bucket);
    if (it == s.open.end()) {
      const bool already_closed = !s.rows.empty() && bucket <= s.rows.back().bucket;
      if (already_closed) {
        // Late record (live: an RPC sent long ago finishing now). Update its row if unwritten.
        for (size_t r = s.rows.size(); r-- > 0 && s.rows[r].bucket >= bucket;) {
          if (s.rows[r].bucket == bucket && s.rows[r].pod == pod_id) {
            if (r >= s.rows_written) {
              (ok ? s.rows[r].ok : s.rows[r].failed) += 1;
              return;
            }
            break;
          }
        }
        if (s.open.empty()) return;  // counted in the totals; its bucket is written already
        it = s.open.begin();  // attribute to the oldest open bucket
      } else {
        s.open.emplace(bucket, std::vector<Cell>());
        CloseBucketsLocked(s, bucket - OpenBuckets());
        it = s.open.find(bucket);
      }
    }
    cells_ptr = &it->second;
    s.cached_bucket = it->first;
    s.cached_cells = cells_ptr;
  }
  auto& cells = *cells_ptr;
  if (cells.size() <= pid) cells.resize(std::max(pods_.size(), pid + 1));
  Cell& c = cells[pid];
  (ok ? c.ok : c.failed) += 1;
  c.latencies.push_back(static_cast<float>(latency_ms));
}

int64_t RunRecorder::OpenBuckets() const {
  // RPCs are recorded when they finish but filed under their send time, so a bucket stays open
  // for kStragglerS (or two buckets, if wider) after it ends; later stragglers still count in
  // the totals but no longer in the timeline's percentiles.
  return std::max<int64_t>(2, static_cast<int64_t>(std::ceil(kStragglerS /
                                                             info_.timeline_bucket_s)));
}

void RunRecorder::CloseBucketsLocked(StrategyState& s, int64_t up_to_bucket) {
  while (!s.open.empty() && s.open.begin()->first <= up_to_bucket) {
    if (s.open.begin()->first == s.cached_bucket) s.cached_cells = nullptr;
    auto node = s.open.extract(s.open.begin());
    std::vector<int> ids;
    for (size_t i = 0; i < node.mapped().size(); ++i) {
      const Cell& c = node.mapped()[i];
      if (c.ok + c.failed > 0) ids.push_back(static_cast<int>(i));
    }
    std::sort(ids.begin(), ids.end(),
              [&](int a, int b) { return pods_[a]->rec.name < pods_[b]->rec.name; });
    for (int id : ids) {
      Cell& c = node.mapped()[id];
      std::vector<double> lat(c.latencies.begin(), c.latencies.end());
      Row row{.bucket = node.key(), .pod = id, .ok = c.ok, .failed = c.failed,
              .p50 = NearestRank(lat, 0.5), .p99 = NearestRank(lat, 0.99)};
      s.rows.push_back(row);
    }
  }
}

Report RunRecorder::Snapshot(double covered_s, bool complete) const {
  std::lock_guard<std::mutex> lock(mu_);
  return SnapshotLocked(covered_s, complete);
}

Report RunRecorder::SnapshotLocked(double covered_s, bool complete) const {
  Report r;
  r.scenario = info_.scenario;
  r.scenario_file = info_.scenario_file;
  r.mode = info_.mode;
  r.seed = info_.seed;
  r.complete = complete;
  r.duration_s = covered_s;
  r.timeline_bucket_s = info_.timeline_bucket_s;
  r.events = events_;
  r.environment = environment_;
  std::stable_sort(r.events.begin(), r.events.end(),
                   [](const ReportEvent& a, const ReportEvent& b) { return a.t_s < b.t_s; });
  std::vector<size_t> recorded;  // pod ids with a pod record, in recording order
  for (size_t i = 0; i < pods_.size(); ++i) {
    const PodState& p = *pods_[i];
    if (!p.has_record) continue;
    recorded.push_back(i);
    ReportPod rp = p.rec;
    rp.usable.clear();
    for (size_t k = 0; k < p.starts.size(); ++k) {
      rp.usable.emplace_back(p.starts[k], k < p.ends.size() ? std::optional<double>(p.ends[k])
                                                            : std::nullopt);
    }
    r.pods.push_back(std::move(rp));
  }
  for (const auto& sp : strategies_) {
    const StrategyState& s = *sp;
    StrategyReport out;
    out.name = s.name;
    out.ok = s.ok;
    out.failed = s.failed;
    out.timeline_csv = StrategyCsvName(s.name);
    auto ok_of = [&](size_t id) { return id < s.pod_ok.size() ? s.pod_ok[id] : 0; };
    for (size_t id : recorded) out.per_pod[pods_[id]->rec.name] = ok_of(id);
    for (size_t id = 0; id < pods_.size(); ++id) {
      if (id < s.pod_ok.size() && s.pod_ok[id] > 0) {
        out.per_pod[pods_[id]->rec.name] = s.pod_ok[id];
        ++out.pods_used;
      }
      if (id < s.pod_failed.size() && s.pod_failed[id] > 0) {
        out.per_pod_failed[pods_[id]->rec.name] = s.pod_failed[id];
      }
    }
    out.latency_ms = {.p50 = s.histogram.Quantile(0.5),
                      .p99 = s.histogram.Quantile(0.99),
                      .p999 = s.histogram.Quantile(0.999)};
    // Imbalance over pods alive the whole run.
    double sum = 0, max = 0;
    int alive = 0;
    for (size_t id : recorded) {
      const PodState& p = *pods_[id];
      if (p.rec.created_s > 0 || p.rec.deleted_s) continue;
      const double v = static_cast<double>(ok_of(id));
      sum += v;
      max = std::max(max, v);
      ++alive;
    }
    if (alive > 0 && sum > 0) out.imbalance = max / (sum / alive);
    // Reaction times.
    std::vector<double> fresh, removed;
    uint64_t never = 0;
    for (size_t id : recorded) {
      const PodState& p = *pods_[id];
      const std::vector<double>* first = id < s.first_in.size() ? &s.first_in[id] : nullptr;
      const std::vector<double>* last = id < s.last_after.size() ? &s.last_after[id] : nullptr;
      for (size_t k = 0; k < p.starts.size(); ++k) {
        const double start = p.starts[k];
        if (start > 0 && start <= covered_s - kReactionTailS) {
          const double f = first != nullptr && k < first->size() ? (*first)[k] : kInf;
          if (std::isfinite(f)) {
            fresh.push_back(f - start);
          } else {
            ++never;
          }
        }
        if (k < p.ends.size() && p.ends[k] <= covered_s) {
          const double l = last != nullptr && k < last->size() ? (*last)[k] : -kInf;
          removed.push_back(std::isfinite(l) && l >= p.ends[k] ? l - p.ends[k] : 0.0);
        }
      }
    }
    if (!fresh.empty() || never > 0) {
      ReactionStats st;
      st.count = fresh.size();
      st.never = never;
      st.p50 = NearestRank(fresh, 0.5);
      st.max = fresh.empty() ? 0 : fresh.back();  // sorted by NearestRank
      out.new_pod_first_rpc = st;
    }
    if (!removed.empty()) {
      ReactionStats st;
      st.count = removed.size();
      st.p50 = NearestRank(removed, 0.5);
      st.max = removed.back();
      out.removed_pod_last_rpc = st;
    }
    r.strategies.push_back(std::move(out));
  }
  return r;
}

namespace {

Json OptionalNumber(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

Json ReactionJson(const std::optional<ReactionStats>& st) {
  if (!st) return nullptr;
  return Json{{"count", st->count}, {"never", st->never}, {"p50", st->p50}, {"max", st->max}};
}

}  // namespace

std::string ReportToJson(const Report& report) {
  Json j;
  j["format"] = report.format;
  j["scenario"] = report.scenario;
  j["scenario_file"] = report.scenario_file;
  j["mode"] = report.mode;
  j["seed"] = report.seed;
  j["complete"] = report.complete;
  j["duration_s"] = report.duration_s;
  j["timeline_bucket_s"] = report.timeline_bucket_s;
  if (!report.environment.empty()) j["environment"] = report.environment;
  Json events = Json::array();
  for (const auto& e : report.events) {
    events.push_back({{"t_s", e.t_s}, {"kind", e.kind}, {"detail", e.detail}});
  }
  j["events"] = std::move(events);
  Json pods = Json::array();
  for (const auto& p : report.pods) {
    Json usable = Json::array();
    for (const auto& [start, end] : p.usable) usable.push_back({start, OptionalNumber(end)});
    pods.push_back({{"name", p.name},
                    {"address", p.address},
                    {"zone", p.zone},
                    {"created_s", p.created_s},
                    {"ready_s", OptionalNumber(p.ready_s)},
                    {"deleted_s", OptionalNumber(p.deleted_s)},
                    {"usable", std::move(usable)}});
  }
  j["pods"] = std::move(pods);
  Json strategies = Json::array();
  for (const auto& s : report.strategies) {
    Json per_pod = Json::object();
    for (const auto& [pod, n] : s.per_pod) per_pod[pod] = n;
    Json per_pod_failed = Json::object();
    for (const auto& [pod, n] : s.per_pod_failed) per_pod_failed[pod] = n;
    strategies.push_back(
        {{"name", s.name},
         {"rpcs", {{"ok", s.ok}, {"failed", s.failed}}},
         {"per_pod", std::move(per_pod)},
         {"per_pod_failed", std::move(per_pod_failed)},
         {"latency_ms",
          {{"p50", s.latency_ms.p50}, {"p99", s.latency_ms.p99}, {"p999", s.latency_ms.p999}}},
         {"imbalance", OptionalNumber(s.imbalance)},
         {"pods_used", s.pods_used},
         {"reaction_s",
          (s.new_pod_first_rpc || s.removed_pod_last_rpc)
              ? Json{{"new_pod_first_rpc", ReactionJson(s.new_pod_first_rpc)},
                     {"removed_pod_last_rpc", ReactionJson(s.removed_pod_last_rpc)}}
              : Json(nullptr)},
         {"timeline_csv", s.timeline_csv}});
  }
  j["strategies"] = std::move(strategies);
  return j.dump(2) + "\n";
}

namespace {

// Typed reads that name the field path on error.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  absl::Status Error(const std::string& field, const std::string& problem) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ": ", field, ": ", problem));
  }
  template <typename T>
  absl::Status Get(const Json& obj, const char* key, const std::string& path, T* out,
                   bool required) const {
    const std::string field = path.empty() ? key : absl::StrCat(path, ".", key);
    if (!obj.is_object()) return Error(path.empty() ? "(document)" : path, "expected an object");
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
      return required ? Error(field, "missing") : absl::OkStatus();
    }
    try {
      *out = it->template get<T>();
    } catch (const Json::exception& e) {
      return Error(field, absl::StrCat("wrong type: ", e.what()));
    }
    return absl::OkStatus();
  }

 private:
  std::string file_;
};

#define K8SLB_RETURN_IF_ERROR(expr)        \
  do {                                     \
    absl::Status _st = (expr);             \
    if (!_st.ok()) return _st;             \
  } while (0)

absl::StatusOr<std::optional<ReactionStats>> ReadReaction(const Reader& rd, const Json& obj,
                                                          const std::string& path) {
  if (!obj.is_object()) return std::optional<ReactionStats>();
  ReactionStats st;
  K8SLB_RETURN_IF_ERROR(rd.Get(obj, "count", path, &st.count, true));
  K8SLB_RETURN_IF_ERROR(rd.Get(obj, "never", path, &st.never, false));
  K8SLB_RETURN_IF_ERROR(rd.Get(obj, "p50", path, &st.p50, false));
  K8SLB_RETURN_IF_ERROR(rd.Get(obj, "max", path, &st.max, false));
  return std::optional<ReactionStats>(st);
}

}  // namespace

absl::StatusOr<Report> ReportFromJson(std::string_view json_text, std::string_view file_name) {
  const std::string file(file_name);
  Json j = Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not valid JSON"));
  }
  const Reader rd(file);
  Report r;
  K8SLB_RETURN_IF_ERROR(rd.Get(j, "format", "", &r.format, false));
  K8SLB_RETURN_IF_ERROR(rd.Get(j, "scenario", "", &r.scenario, true));
  K8SLB_RETURN_IF_ERROR(rd.Get(j, "scenario_file", "", &r.scenario_file, false));
  K8SLB_RETURN_IF_ERROR(rd.Get(j, "mode", "", &r.mode, true));
  K8SLB_RETURN_IF_ERROR(rd.Get(j, "seed", "", &r.seed, false));
  K8SLB_RETURN_IF_ERROR(rd.Get(j, "complete", "", &r.complete, false));
  K8SLB_RETURN_IF_ERROR(rd.Get(j, "duration_s", "", &r.duration_s, false));
  K8SLB_RETURN_IF_ERROR(rd.Get(j, "timeline_bucket_s", "", &r.timeline_bucket_s, false));
  if (j.contains("environment") && j["environment"].is_object()) {
    for (const auto& [key, value] : j["environment"].items()) {
      if (value.is_string()) r.environment[key] = value.get<std::string>();
    }
  }
  if (j.contains("events") && j["events"].is_array()) {
    for (size_t i = 0; i < j["events"].size(); ++i) {
      const std::string path = absl::StrCat("events[", i, "]");
      ReportEvent e;
      K8SLB_RETURN_IF_ERROR(rd.Get(j["events"][i], "t_s", path, &e.t_s, true));
      K8SLB_RETURN_IF_ERROR(rd.Get(j["events"][i], "kind", path, &e.kind, true));
      K8SLB_RETURN_IF_ERROR(rd.Get(j["events"][i], "detail", path, &e.detail, false));
      r.events.push_back(std::move(e));
    }
  }
  if (j.contains("pods") && j["pods"].is_array()) {
    for (size_t i = 0; i < j["pods"].size(); ++i) {
      const Json& o = j["pods"][i];
      const std::string path = absl::StrCat("pods[", i, "]");
      ReportPod p;
      double v = 0;
      K8SLB_RETURN_IF_ERROR(rd.Get(o, "name", path, &p.name, true));
      K8SLB_RETURN_IF_ERROR(rd.Get(o, "address", path, &p.address, false));
      K8SLB_RETURN_IF_ERROR(rd.Get(o, "zone", path, &p.zone, false));
      K8SLB_RETURN_IF_ERROR(rd.Get(o, "created_s", path, &p.created_s, false));
      if (o.contains("ready_s") && !o["ready_s"].is_null()) {
        K8SLB_RETURN_IF_ERROR(rd.Get(o, "ready_s", path, &v, true));
        p.ready_s = v;
      }
      if (o.contains("deleted_s") && !o["deleted_s"].is_null()) {
        K8SLB_RETURN_IF_ERROR(rd.Get(o, "deleted_s", path, &v, true));
        p.deleted_s = v;
      }
      if (o.contains("usable") && o["usable"].is_array()) {
        for (const auto& iv : o["usable"]) {
          if (!iv.is_array() || iv.size() != 2 || !iv[0].is_number()) {
            return rd.Error(path + ".usable", "expected [start, end|null] pairs");
          }
          p.usable.emplace_back(iv[0].get<double>(), iv[1].is_number()
                                                         ? std::optional<double>(iv[1].get<double>())
                                                         : std::nullopt);
        }
      }
      r.pods.push_back(std::move(p));
    }
  }
  if (!j.contains("strategies") || !j["strategies"].is_array()) {
    return rd.Error("strategies", "missing (expected a list)");
  }
  for (size_t i = 0; i < j["strategies"].size(); ++i) {
    const Json& o = j["strategies"][i];
    const std::string path = absl::StrCat("strategies[", i, "]");
    StrategyReport s;
    K8SLB_RETURN_IF_ERROR(rd.Get(o, "name", path, &s.name, true));
    if (!o.contains("rpcs")) return rd.Error(path + ".rpcs", "missing");
    K8SLB_RETURN_IF_ERROR(rd.Get(o["rpcs"], "ok", path + ".rpcs", &s.ok, true));
    K8SLB_RETURN_IF_ERROR(rd.Get(o["rpcs"], "failed", path + ".rpcs", &s.failed, true));
    K8SLB_RETURN_IF_ERROR(rd.Get(o, "per_pod", path, &s.per_pod, true));
    K8SLB_RETURN_IF_ERROR(rd.Get(o, "per_pod_failed", path, &s.per_pod_failed, false));
    if (!o.contains("latency_ms")) return rd.Error(path + ".latency_ms", "missing");
    const std::string lp = path + ".latency_ms";
    K8SLB_RETURN_IF_ERROR(rd.Get(o["latency_ms"], "p50", lp, &s.latency_ms.p50, true));
    K8SLB_RETURN_IF_ERROR(rd.Get(o["latency_ms"], "p99", lp, &s.latency_ms.p99, true));
    K8SLB_RETURN_IF_ERROR(rd.Get(o["latency_ms"], "p999", lp, &s.latency_ms.p999, true));
    if (o.contains("imbalance") && !o["imbalance"].is_null()) {
      double v = 0;
      K8SLB_RETURN_IF_ERROR(rd.Get(o, "imbalance", path, &v, true));
      s.imbalance = v;
    }
    if (o.contains("pods_used")) {
      K8SLB_RETURN_IF_ERROR(rd.Get(o, "pods_used", path, &s.pods_used, false));
    } else {
      for (const auto& [pod, n] : s.per_pod) s.pods_used += n > 0 ? 1 : 0;
    }
    if (o.contains("reaction_s") && o["reaction_s"].is_object()) {
      const Json& rx = o["reaction_s"];
      const std::string rp = path + ".reaction_s";
      if (rx.contains("new_pod_first_rpc")) {
        auto st = ReadReaction(rd, rx["new_pod_first_rpc"], rp + ".new_pod_first_rpc");
        if (!st.ok()) return st.status();
        s.new_pod_first_rpc = *st;
      }
      if (rx.contains("removed_pod_last_rpc")) {
        auto st = ReadReaction(rd, rx["removed_pod_last_rpc"], rp + ".removed_pod_last_rpc");
        if (!st.ok()) return st.status();
        s.removed_pod_last_rpc = *st;
      }
    }
    K8SLB_RETURN_IF_ERROR(rd.Get(o, "timeline_csv", path, &s.timeline_csv, false));
    r.strategies.push_back(std::move(s));
  }
  return r;
}

absl::StatusOr<Report> LoadReport(const std::string& dir_or_file) {
  std::filesystem::path path(dir_or_file);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) path /= "report.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": cannot read (no report here?)"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ReportFromJson(text.str(), path.string());
}

absl::Status RunRecorder::WriteReport(const std::string& dir, bool complete, double covered_s) {
  std::lock_guard<std::mutex> write_lock(write_mu_);
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create: ", ec.message()));

  std::string json;
  std::vector<std::pair<std::string, std::string>> csv_chunks;  // file, text to append
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& sp : strategies_) {
      StrategyState& s = *sp;
      if (complete) {
        CloseBucketsLocked(s, std::numeric_limits<int64_t>::max());
      } else {
        const int64_t last_closed =
            static_cast<int64_t>(std::floor(covered_s / info_.timeline_bucket_s)) - OpenBuckets();
        CloseBucketsLocked(s, last_closed);
      }
      std::string text;
      if (!s.csv_started) text = "t_s,pod,ok,failed,p50_ms,p99_ms\n";
      for (size_t i = s.rows_written; i < s.rows.size(); ++i) {
        const Row& row = s.rows[i];
        absl::StrAppend(&text,
                        absl::StrFormat("%.6g,%s,%d,%d,%.4g,%.4g\n",
                                        static_cast<double>(row.bucket) * info_.timeline_bucket_s,
                                        pods_[row.pod]->rec.name, row.ok, row.failed, row.p50,
                                        row.p99));
      }
      csv_chunks.emplace_back(StrategyCsvName(s.name), std::move(text));
      s.csv_started = true;
      s.rows_written = s.rows.size();
    }
    json = ReportToJson(SnapshotLocked(covered_s, complete));
  }
  for (const auto& [name, text] : csv_chunks) {
    const fs::path path = fs::path(dir) / name;
    // The first write of a run truncates (a previous run's file), later ones append.
    const bool first = text.rfind("t_s,pod,", 0) == 0;
    std::ofstream out(path, first ? std::ios::trunc | std::ios::binary
                                  : std::ios::app | std::ios::binary);
    out << text;
    if (!out) return absl::InternalError(absl::StrCat(path.string(), ": write failed"));
  }
  const fs::path final_path = fs::path(dir) / "report.json";
  const fs::path tmp = fs::path(dir) / "report.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << json;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat(tmp.string(), ": write failed"));
  }
  fs::rename(tmp, final_path, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat(final_path.string(), ": rename failed: ",
                                            ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace k8slb::sim
