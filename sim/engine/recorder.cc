// RunRecorder: a run's records into a report, written through the report library
// (docs/report-format.md).
#include "sim/engine/recorder.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "report/folder.h"
#include "report/timeline_csv.h"
#include "util/percentile.h"

namespace k8slb::sim {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// New-pod intervals starting this close to the end of the covered time are not measured: a
// strategy cannot be expected to have sent there yet.
constexpr double kReactionTailS = 1.0;
// The straggler window: kStragglerMultiple times the strategy's observed p99.9 latency, at least
// kMinStragglerS (the time from an RPC's end to its record), at most the call deadline (no RPC
// outlives it) or kMaxStragglerS when the deadline is unknown; kMaxStragglerS before any RPC.
constexpr double kStragglerMultiple = 4.0;
constexpr double kMinStragglerS = 0.05;
constexpr double kMaxStragglerS = 5.0;

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

RunInfo Normalized(RunInfo info) {
  if (!(info.timeline_bucket_s > 0)) info.timeline_bucket_s = 0.5;
  if (!(info.call_deadline_s > 0) || !std::isfinite(info.call_deadline_s)) info.call_deadline_s = 0;
  if (!(info.latency_scale > 0) || !std::isfinite(info.latency_scale)) info.latency_scale = 1;
  return info;
}

// The rows of one bucket's cells with any RPC, in pod-name order (`names[id]` names pod id).
// Sorted as (name, id) pairs: names are unique.
void AppendRows(int64_t bucket, const std::vector<Cell>& cells, const std::vector<std::string_view>& names,
                std::vector<Row>* out) {
  std::vector<std::pair<std::string_view, int>> by_name;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (cells[i].ok + cells[i].failed > 0) by_name.emplace_back(names[i], static_cast<int>(i));
  }
  std::sort(by_name.begin(), by_name.end());
  for (const auto& [name, id] : by_name) {
    const Cell& c = cells[static_cast<size_t>(id)];
    std::vector<double> lat(c.latencies.begin(), c.latencies.end());
    std::sort(lat.begin(), lat.end());
    out->push_back(Row{.bucket = bucket, .pod = id, .ok = c.ok, .failed = c.failed,
                       .p50 = util::PercentileOfSorted(lat, 0.5), .p99 = util::PercentileOfSorted(lat, 0.99)});
  }
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
  // Buckets up to this one are final: their rows are in `rows`, a late RPC of theirs goes to the
  // oldest open bucket.
  int64_t closed_through = -1;
  // The open bucket of the last record (std::map nodes are stable until erased).
  int64_t cached_bucket = -1;
  std::vector<Cell>* cached_cells = nullptr;
};

RunRecorder::RunRecorder(RunInfo info) : info_(Normalized(std::move(info))) {
  absl::MutexLock lock(&mu_);
  for (const auto& name : info_.strategies) {
    auto s = std::make_unique<StrategyState>();
    s->name = name;
    strategies_.push_back(std::move(s));
  }
}

RunRecorder::~RunRecorder() = default;

void RunRecorder::SetEnvironment(std::string_view key, std::string_view value) {
  absl::MutexLock lock(&mu_);
  environment_[std::string(key)] = std::string(value);
}

void RunRecorder::RecordEvent(double t_s, std::string_view kind, std::string_view detail) {
  absl::MutexLock lock(&mu_);
  events_.push_back({std::max(0.0, t_s), std::string(kind), std::string(detail)});
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
  absl::MutexLock lock(&mu_);
  PodState& p = *pods_[PodIdLocked(pod.name)];
  if (!p.has_record) p.rec.created_s = std::max(0.0, pod.created_s);
  p.has_record = true;
  p.rec.address = pod.address;
  p.rec.zone = pod.zone;
}

void RunRecorder::UpdatePod(std::string_view name, PodChange change, double t_s) {
  t_s = std::max(0.0, t_s);
  absl::MutexLock lock(&mu_);
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
  for (size_t i = 0; i < info_.strategies.size(); ++i) {
    if (info_.strategies[i] == strategy) return static_cast<int>(i);
  }
  return -1;
}

int RunRecorder::PodId(std::string_view pod) {
  absl::MutexLock lock(&mu_);
  return PodIdLocked(pod);
}

void RunRecorder::RecordRpc(std::string_view strategy, double t_s, std::string_view pod, bool ok,
                            double latency_ms) {
  const int sid = StrategyId(strategy);
  if (sid < 0) return;
  RecordRpc(sid, t_s, PodId(pod), ok, latency_ms);
}

void RunRecorder::RecordServed(std::string_view strategy, double t_s, std::string_view pod,
                               uint64_t count) {
  const int sid = StrategyId(strategy);
  if (sid < 0 || count == 0) return;
  Record(sid, t_s, PodId(pod), /*ok=*/true, nullptr, count);
}

void RunRecorder::RecordRpc(int strategy_id, double t_s, int pod_id, bool ok,
                            double latency_ms) {
  Record(strategy_id, t_s, pod_id, ok, &latency_ms, 1);
}

void RunRecorder::Record(int strategy_id, double t_s, int pod_id, bool ok, const double* latency_ms,
                         uint64_t count) {
  if (strategy_id < 0 || static_cast<size_t>(strategy_id) >= info_.strategies.size()) return;
  absl::MutexLock lock(&mu_);
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
    s.ok += count;
    s.pod_ok[pid] += count;
  } else {
    s.failed += count;
    s.pod_failed[pid] += count;
  }
  if (latency_ms != nullptr) s.histogram.Add(*latency_ms);

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
      if (bucket <= s.closed_through) {
        // Late record (live: an RPC slower than the straggler window). Update its row if unwritten.
        for (size_t r = s.rows.size(); r-- > 0 && s.rows[r].bucket >= bucket;) {
          if (s.rows[r].bucket == bucket && s.rows[r].pod == pod_id) {
            if (r >= s.rows_written) {
              (ok ? s.rows[r].ok : s.rows[r].failed) += count;
              return;
            }
            break;
          }
        }
        // Its bucket is final: count it in the oldest open one, so that the timeline still adds
        // up to the totals (after the complete write nothing is open any more).
        if (s.closed_through == std::numeric_limits<int64_t>::max()) return;
        it = s.open.try_emplace(s.closed_through + 1).first;
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
  (ok ? c.ok : c.failed) += count;
  if (latency_ms != nullptr) c.latencies.push_back(static_cast<float>(*latency_ms));
}

double RunRecorder::MaxStragglerS() const {
  return info_.call_deadline_s > 0 ? info_.call_deadline_s : kMaxStragglerS;
}

double RunRecorder::StragglerWindowS(const StrategyState& s) const {
  if (s.histogram.total() == 0) return MaxStragglerS();
  const double p999_s = s.histogram.Quantile(0.999) / 1000.0 * info_.latency_scale;
  return std::clamp(kStragglerMultiple * p999_s, std::min(kMinStragglerS, MaxStragglerS()), MaxStragglerS());
}

int64_t RunRecorder::OpenBuckets() const {
  // What the recorder keeps open at most, whatever the writes do: the widest straggler window
  // (no RPC outlives the deadline), at least two buckets. Bounds the memory of open buckets.
  return std::max<int64_t>(2, static_cast<int64_t>(std::ceil(MaxStragglerS() / info_.timeline_bucket_s)));
}

void RunRecorder::CloseBucketsLocked(StrategyState& s, int64_t up_to_bucket) {
  s.closed_through = std::max(s.closed_through, up_to_bucket);
  if (s.open.empty() || s.open.begin()->first > up_to_bucket) return;
  // Pod names by id, read here under the lock (AppendRows takes them as values).
  std::vector<std::string_view> names;
  names.reserve(pods_.size());
  for (const auto& p : pods_) names.emplace_back(p->rec.name);
  while (!s.open.empty() && s.open.begin()->first <= up_to_bucket) {
    if (s.open.begin()->first == s.cached_bucket) s.cached_cells = nullptr;
    auto node = s.open.extract(s.open.begin());
    AppendRows(node.key(), node.mapped(), names, &s.rows);
  }
}

Report RunRecorder::Snapshot(double covered_s, bool complete) const {
  absl::MutexLock lock(&mu_);
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
    out.timeline_csv = report::TimelineFileName(s.name);
    if (complete) {
      // The final rows as FolderReader would read them from the CSV, so checks on the timeline
      // (maxEarlyShare) work on a report fresh from the engine too. Once, at the end of a run.
      for (const auto& p : pods_) out.timeline.pod_names.push_back(p->rec.name);
      std::vector<report::TimelineRow> rows;
      rows.reserve(s.rows.size());
      for (const Row& row : s.rows) {
        rows.push_back({.t_s = static_cast<double>(row.bucket) * info_.timeline_bucket_s, .pod = row.pod,
                        .ok = row.ok, .failed = row.failed, .p50_ms = row.p50, .p99_ms = row.p99,
                        .provisional = false});
      }
      out.timeline.AppendChunk(std::move(rows));
    }
    if (!complete) {
      // The rows the CSV does not hold yet: closed but unwritten (only between writes), then the
      // open buckets' rows so far.
      out.timeline_final_rows = s.rows_written;
      out.timeline_final_s =
          std::clamp(static_cast<double>(s.closed_through + 1) * info_.timeline_bucket_s, 0.0,
                     std::max(0.0, covered_s));
      out.straggler_window_s = StragglerWindowS(s);
      std::vector<Row> rows(s.rows.begin() + static_cast<std::ptrdiff_t>(s.rows_written), s.rows.end());
      std::vector<std::string_view> names;
      names.reserve(pods_.size());
      for (const auto& p : pods_) names.emplace_back(p->rec.name);
      for (const auto& [bucket, cells] : s.open) AppendRows(bucket, cells, names, &rows);
      for (const Row& row : rows) {
        out.provisional.push_back({.t_s = static_cast<double>(row.bucket) * info_.timeline_bucket_s,
                                   .pod = std::string(names[static_cast<size_t>(row.pod)]),
                                   .ok = row.ok,
                                   .failed = row.failed,
                                   .p50_ms = row.p50,
                                   .p99_ms = row.p99});
      }
      if (!rows.empty()) out.timeline_final_s = std::min(*out.timeline_final_s, out.provisional.front().t_s);
    }
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
    std::sort(fresh.begin(), fresh.end());
    std::sort(removed.begin(), removed.end());
    if (!fresh.empty() || never > 0) {
      ReactionStats st;
      st.count = fresh.size();
      st.never = never;
      st.p50 = util::PercentileOfSorted(fresh, 0.5);
      st.max = fresh.empty() ? 0 : fresh.back();
      out.new_pod_first_rpc = st;
    }
    if (!removed.empty()) {
      ReactionStats st;
      st.count = removed.size();
      st.p50 = util::PercentileOfSorted(removed, 0.5);
      st.max = removed.back();
      out.removed_pod_last_rpc = st;
    }
    r.strategies.push_back(std::move(out));
  }
  return r;
}

absl::Status RunRecorder::WriteReport(const std::string& dir, bool complete, double covered_s) {
  absl::MutexLock write_lock(&write_mu_);
  namespace fs = std::filesystem;
  Report snapshot;
  std::vector<std::pair<std::string, std::string>> csv_chunks;  // file, text to append
  std::vector<bool> csv_first;                                  // per chunk: truncate first
  {
    absl::MutexLock lock(&mu_);
    for (auto& sp : strategies_) {
      StrategyState& s = *sp;
      if (complete) {
        CloseBucketsLocked(s, std::numeric_limits<int64_t>::max());
      } else {
        // Bucket b ends at (b + 1) * width; it is final once its straggler window has passed too.
        const double window = StragglerWindowS(s);
        const int64_t last_closed =
            static_cast<int64_t>(std::floor((covered_s - window) / info_.timeline_bucket_s)) - 1;
        CloseBucketsLocked(s, last_closed);
      }
      std::string text;
      if (!s.csv_started) {
        text.append(report::kTimelineHeader);
        text += '\n';
      }
      for (size_t i = s.rows_written; i < s.rows.size(); ++i) {
        const Row& row = s.rows[i];
        report::AppendTimelineRow(&text, static_cast<double>(row.bucket) * info_.timeline_bucket_s,
                                  pods_[row.pod]->rec.name, row.ok, row.failed, row.p50, row.p99);
      }
      csv_first.push_back(!s.csv_started);
      csv_chunks.emplace_back(report::TimelineFileName(s.name), std::move(text));
      s.csv_started = true;
      s.rows_written = s.rows.size();
    }
    snapshot = SnapshotLocked(covered_s, complete);
  }
  // Validate before anything is written, so a run never leaves a folder its readers refuse.
  if (absl::Status st = report::Validate(snapshot); !st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": refusing to write an invalid report: ", st.message()));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create: ", ec.message()));
  for (size_t i = 0; i < csv_chunks.size(); ++i) {
    // The first write of a run truncates (a previous run's file), later ones append.
    const auto& [name, text] = csv_chunks[i];
    if (absl::Status st = report::AppendToFile(fs::path(dir) / name, text, csv_first[i]); !st.ok()) {
      return st;
    }
  }
  return report::WriteReportJson(dir, snapshot);
}

}  // namespace k8slb::sim
