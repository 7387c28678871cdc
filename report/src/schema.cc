// Vocabulary and the validation rule of the report format (schema.h).
#include "report/schema.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace k8slb::report {
namespace {

absl::Status Bad(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// A time of the report: finite, in [0, horizon].
absl::Status CheckTime(absl::string_view field, double t, double horizon) {
  if (!std::isfinite(t)) return Bad(field, absl::StrCat("must be a finite number, got ", t));
  if (t < 0) return Bad(field, absl::StrFormat("must not be negative, got %g", t));
  if (t > horizon) {
    return Bad(field, absl::StrFormat("%g s is beyond the report's time limit of %g s", t, horizon));
  }
  return absl::OkStatus();
}

absl::Status CheckNonNegative(absl::string_view field, double v) {
  if (!std::isfinite(v) || v < 0) {
    return Bad(field, absl::StrFormat("must be a finite non-negative number, got %g", v));
  }
  return absl::OkStatus();
}

absl::Status CheckCount(absl::string_view field, uint64_t n) {
  if (n > kMaxCount) return Bad(field, absl::StrCat(n, " is beyond the count limit of 2^53"));
  return absl::OkStatus();
}

// Pod names appear as CSV fields: no separators, quotes or line breaks.
absl::Status CheckPodName(absl::string_view field, absl::string_view name) {
  if (name.empty()) return Bad(field, "a pod name is empty");
  if (name.find_first_of(",\"\r\n") != absl::string_view::npos) {
    return Bad(field, absl::StrCat("pod name \"", name, "\" contains a comma, quote or line break"));
  }
  return absl::OkStatus();
}

absl::Status CheckCountMap(absl::string_view field, const std::map<std::string, uint64_t>& m) {
  uint64_t sum = 0;
  for (const auto& [pod, n] : m) {
    if (absl::Status st = CheckPodName(field, pod); !st.ok()) return st;
    if (absl::Status st = CheckCount(absl::StrCat(field, ".", pod), n); !st.ok()) return st;
    sum += n;  // both terms <= 2^53: no overflow before the check
    if (sum > kMaxCount) return Bad(field, "the counts add up to more than 2^53");
  }
  return absl::OkStatus();
}

absl::Status CheckReaction(absl::string_view field, const std::optional<ReactionStats>& st) {
  if (!st) return absl::OkStatus();
  if (absl::Status s = CheckCount(absl::StrCat(field, ".count"), st->count); !s.ok()) return s;
  if (absl::Status s = CheckCount(absl::StrCat(field, ".never"), st->never); !s.ok()) return s;
  if (absl::Status s = CheckNonNegative(absl::StrCat(field, ".p50"), st->p50); !s.ok()) return s;
  return CheckNonNegative(absl::StrCat(field, ".max"), st->max);
}

// A live run's provisional view of its open buckets (schema.h StrategyReport).
absl::Status CheckProvisional(const std::string& path, const StrategyReport& s, double horizon) {
  if (s.timeline_final_rows) {
    if (absl::Status st = CheckCount(path + ".timeline_final_rows", *s.timeline_final_rows); !st.ok()) return st;
  }
  if (s.timeline_final_s) {
    if (absl::Status st = CheckTime(path + ".timeline_final_s", *s.timeline_final_s, horizon); !st.ok()) return st;
  }
  if (s.straggler_window_s) {
    if (absl::Status st = CheckTime(path + ".straggler_window_s", *s.straggler_window_s, kMaxDurationS); !st.ok()) {
      return st;
    }
  }
  if (s.provisional.size() > kMaxProvisionalRows) {
    return Bad(path + ".provisional",
               absl::StrCat(s.provisional.size(), " rows, more than the limit of ", kMaxProvisionalRows));
  }
  uint64_t sum = 0;
  for (size_t k = 0; k < s.provisional.size(); ++k) {
    const ProvisionalRow& row = s.provisional[k];
    const std::string rp = absl::StrCat(path, ".provisional[", k, "]");
    if (absl::Status st = CheckTime(rp + ".t_s", row.t_s, horizon); !st.ok()) return st;
    if (s.timeline_final_s && row.t_s < *s.timeline_final_s) {
      return Bad(rp + ".t_s", absl::StrFormat("%g s is before timeline_final_s (%g s): that bucket is final", row.t_s,
                                              *s.timeline_final_s));
    }
    if (absl::Status st = CheckPodName(rp + ".pod", row.pod); !st.ok()) return st;
    if (absl::Status st = CheckCount(rp + ".ok", row.ok); !st.ok()) return st;
    if (absl::Status st = CheckCount(rp + ".failed", row.failed); !st.ok()) return st;
    sum += row.ok + row.failed;  // each <= 2^53, the sum checked every row: no overflow
    if (sum > kMaxCount) return Bad(path + ".provisional", "the counts add up to more than 2^53");
    for (const auto& [name, v] : {std::pair<const char*, double>{".p50_ms", row.p50_ms}, {".p99_ms", row.p99_ms}}) {
      if (!std::isnan(v)) {
        if (absl::Status st = CheckNonNegative(rp + name, v); !st.ok()) return st;
      }
    }
  }
  return absl::OkStatus();
}

#define K8SLB_REPORT_CHECK(expr)      \
  do {                                \
    absl::Status _st = (expr);        \
    if (!_st.ok()) return _st;        \
  } while (0)

}  // namespace

bool IsKnownStrategy(std::string_view name) { return StrategyIndex(name) >= 0; }

bool IsLiveOnlyStrategy(std::string_view name) { return name == "xds" || name == "grpc-dns"; }

bool IsOptInStrategy(std::string_view name) {
  return name == "peak-ewma" || name == "orca-weighted";
}

std::vector<std::string> DefaultStrategies() {
  std::vector<std::string> out;
  for (std::string_view name : kStrategyNames) {
    if (!IsLiveOnlyStrategy(name) && !IsOptInStrategy(name)) out.emplace_back(name);
  }
  return out;
}

int StrategyIndex(std::string_view name) {
  for (size_t i = 0; i < std::size(kStrategyNames); ++i) {
    if (kStrategyNames[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::string KnownStrategiesList() {
  std::string out;
  for (std::string_view name : kStrategyNames) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string TimelineFileName(std::string_view strategy) {
  std::string out = "timeline-";
  out += strategy;
  out += ".csv";
  return out;
}

const StrategyReport* Report::FindStrategy(std::string_view name) const {
  for (const auto& s : strategies) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const Pod* Report::FindPod(std::string_view name) const {
  for (const auto& p : pods) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

double TimeHorizon(double timeline_bucket_s) {
  return std::min(kMaxDurationS, static_cast<double>(kMaxBuckets) * timeline_bucket_s);
}

absl::Status Validate(const Report& r) {
  if (r.format != kFormatVersion) {
    return Bad("format", absl::StrCat("unsupported format ", r.format, " (this reader reads format ",
                                      kFormatVersion, ")"));
  }
  if (r.scenario.empty()) return Bad("scenario", "must not be empty");
  if (r.mode != "virtual" && r.mode != "live") {
    return Bad("mode", absl::StrCat("expected \"virtual\" or \"live\", got \"", r.mode, "\""));
  }
  const double bucket = r.timeline_bucket_s;
  if (!std::isfinite(bucket) || bucket < kMinBucketS || bucket > kMaxBucketS) {
    return Bad("timeline_bucket_s", absl::StrFormat("must be between %g and %g s, got %g",
                                                    kMinBucketS, kMaxBucketS, bucket));
  }
  if (!std::isfinite(r.duration_s) || r.duration_s < 0 || r.duration_s > kMaxDurationS) {
    return Bad("duration_s", absl::StrFormat("must be between 0 and %g s, got %g", kMaxDurationS,
                                             r.duration_s));
  }
  if (r.duration_s / bucket > static_cast<double>(kMaxBuckets)) {
    return Bad("duration_s",
               absl::StrFormat("%g s in buckets of %g s (timeline_bucket_s) is %.3g buckets, more "
                               "than the limit of %d",
                               r.duration_s, bucket, r.duration_s / bucket, kMaxBuckets));
  }
  for (const auto& [key, value] : r.environment) {
    if (key.empty()) return Bad("environment", "a name is empty");
  }
  const double horizon = TimeHorizon(bucket);
  for (size_t i = 0; i < r.events.size(); ++i) {
    const std::string path = absl::StrCat("events[", i, "]");
    K8SLB_REPORT_CHECK(CheckTime(path + ".t_s", r.events[i].t_s, horizon));
    if (r.events[i].kind.empty()) return Bad(path + ".kind", "must not be empty");
  }
  std::set<std::string_view> pod_names;
  for (size_t i = 0; i < r.pods.size(); ++i) {
    const Pod& p = r.pods[i];
    const std::string path = absl::StrCat("pods[", i, "]");
    K8SLB_REPORT_CHECK(CheckPodName(path + ".name", p.name));
    if (!pod_names.insert(p.name).second) {
      return Bad(path + ".name", absl::StrCat("pod \"", p.name, "\" appears twice"));
    }
    K8SLB_REPORT_CHECK(CheckTime(path + ".created_s", p.created_s, horizon));
    if (p.ready_s) K8SLB_REPORT_CHECK(CheckTime(path + ".ready_s", *p.ready_s, horizon));
    if (p.deleted_s) K8SLB_REPORT_CHECK(CheckTime(path + ".deleted_s", *p.deleted_s, horizon));
    for (size_t k = 0; k < p.usable.size(); ++k) {
      const std::string up = absl::StrCat(path, ".usable[", k, "]");
      const auto& [start, end] = p.usable[k];
      K8SLB_REPORT_CHECK(CheckTime(up, start, horizon));
      if (end) {
        K8SLB_REPORT_CHECK(CheckTime(up, *end, horizon));
        if (*end < start) {
          return Bad(up, absl::StrFormat("ends (%g s) before it starts (%g s)", *end, start));
        }
      }
    }
  }
  std::set<std::string_view> strategy_names;
  std::set<std::string_view> csv_names;
  for (size_t i = 0; i < r.strategies.size(); ++i) {
    const StrategyReport& s = r.strategies[i];
    const std::string path = absl::StrCat("strategies[", i, "]");
    if (s.name.empty()) return Bad(path + ".name", "must not be empty");
    if (!strategy_names.insert(s.name).second) {
      return Bad(path + ".name", absl::StrCat("strategy \"", s.name, "\" appears twice"));
    }
    K8SLB_REPORT_CHECK(CheckCount(path + ".rpcs.ok", s.ok));
    K8SLB_REPORT_CHECK(CheckCount(path + ".rpcs.failed", s.failed));
    K8SLB_REPORT_CHECK(CheckCountMap(path + ".per_pod", s.per_pod));
    K8SLB_REPORT_CHECK(CheckCountMap(path + ".per_pod_failed", s.per_pod_failed));
    K8SLB_REPORT_CHECK(CheckNonNegative(path + ".latency_ms.p50", s.latency_ms.p50));
    K8SLB_REPORT_CHECK(CheckNonNegative(path + ".latency_ms.p99", s.latency_ms.p99));
    K8SLB_REPORT_CHECK(CheckNonNegative(path + ".latency_ms.p999", s.latency_ms.p999));
    if (s.imbalance) K8SLB_REPORT_CHECK(CheckNonNegative(path + ".imbalance", *s.imbalance));
    if (s.pods_used < 0 || static_cast<size_t>(s.pods_used) > s.per_pod.size()) {
      return Bad(path + ".pods_used",
                 absl::StrCat("must be between 0 and the number of per_pod entries (",
                              s.per_pod.size(), "), got ", s.pods_used));
    }
    K8SLB_REPORT_CHECK(
        CheckReaction(path + ".reaction_s.new_pod_first_rpc", s.new_pod_first_rpc));
    K8SLB_REPORT_CHECK(
        CheckReaction(path + ".reaction_s.removed_pod_last_rpc", s.removed_pod_last_rpc));
    const std::string& f = s.timeline_csv;
    if (f.empty() || f == "." || f == ".." || f == "report.json" ||
        f.find_first_of("/\\") != std::string::npos || f.find('\0') != std::string::npos) {
      return Bad(path + ".timeline_csv",
                 absl::StrCat("must be a file name inside the report folder, got \"", f, "\""));
    }
    if (!csv_names.insert(f).second) {
      return Bad(path + ".timeline_csv",
                 absl::StrCat("\"", f, "\" is named by another strategy too"));
    }
    K8SLB_REPORT_CHECK(CheckProvisional(path, s, horizon));
  }
  return absl::OkStatus();
}

#undef K8SLB_REPORT_CHECK

}  // namespace k8slb::report
