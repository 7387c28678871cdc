#include "sim/engine/check.h"

#include <cmath>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace k8slb::sim {
namespace {

// The largest share of `s`'s ok RPCs that a pod got in the first `early_s` seconds of a usable
// interval starting after t=0 (timeline buckets from the one holding the start up to start +
// early_s), and the pod; nullopt when no pod became usable after t=0 or the timeline is empty.
struct EarlyShare {
  double share = 0;
  std::string pod;
  int intervals = 0;
};
std::optional<EarlyShare> MaxEarlyShare(const Report& report, const StrategyReport& s, double early_s) {
  if (s.timeline.row_count == 0) return std::nullopt;
  std::optional<EarlyShare> worst;
  for (const ReportPod& pod : report.pods) {
    for (const auto& [start, end] : pod.usable) {
      if (start <= 0) continue;
      const double share = PodShareInWindow(s, pod.name, BucketStart(report, start), start + early_s).share();
      if (!worst) worst = EarlyShare{};
      ++worst->intervals;
      if (share >= worst->share) {
        worst->share = share;
        worst->pod = pod.name;
      }
    }
  }
  return worst;
}

void CheckOne(const Report& report, const StrategyReport& s, const scenario::Expectation& x, bool complete,
              std::vector<CheckResult>* out) {
  auto add = [&](std::string check, bool passed, std::string message) {
    if (!complete) {
      passed = false;
      message = absl::StrCat("report is incomplete (the run did not finish); ", message);
    }
    out->push_back({.strategy = s.name,
                    .check = std::move(check),
                    .outcome = passed ? CheckOutcome::kPassed : CheckOutcome::kFailed,
                    .message = std::move(message),
                    .line = x.line});
  };
  auto skip = [&](std::string check, std::string message) {
    out->push_back({.strategy = s.name,
                    .check = std::move(check),
                    .outcome = CheckOutcome::kSkipped,
                    .message = std::move(message),
                    .line = x.line});
  };
  if (x.max_failed) {
    add("maxFailed", s.failed <= *x.max_failed,
        absl::StrCat("failed RPCs ", s.failed, s.failed <= *x.max_failed ? " <= " : " > ",
                     *x.max_failed));
  }
  if (x.max_failed_ratio) {
    const uint64_t total = s.ok + s.failed;
    const double ratio = total == 0 ? 0 : static_cast<double>(s.failed) / total;
    add("maxFailedRatio", ratio <= *x.max_failed_ratio,
        absl::StrFormat("failed ratio %.4g %s %.4g", ratio,
                        ratio <= *x.max_failed_ratio ? "<=" : ">", *x.max_failed_ratio));
  }
  if (x.max_imbalance) {
    if (!s.imbalance) {
      add("maxImbalance", false, "no imbalance in the report (no pod alive all run got traffic)");
    } else {
      add("maxImbalance", *s.imbalance <= *x.max_imbalance,
          absl::StrFormat("imbalance %.3f %s %.3f", *s.imbalance,
                          *s.imbalance <= *x.max_imbalance ? "<=" : ">", *x.max_imbalance));
    }
  }
  auto reaction = [&](const char* name, const std::optional<ReactionStats>& st, double limit,
                      const char* what) {
    if (!st) {
      skip(name, absl::StrCat("nothing to measure (no ", what, ")"));
    } else if (st->never > 0) {
      add(name, false,
          absl::StrCat(st->never, " of ", st->never + st->count, " ", what,
                       " never received an RPC"));
    } else {
      add(name, st->max <= limit,
          absl::StrFormat("max reaction %.3fs %s %.3fs over %d %s", st->max,
                          st->max <= limit ? "<=" : ">", limit, st->count, what));
    }
  };
  if (x.max_reaction_s) {
    reaction("maxReactionSeconds", s.new_pod_first_rpc, *x.max_reaction_s, "newly ready pods");
  }
  if (x.max_removal_reaction_s) {
    reaction("maxRemovalReactionSeconds", s.removed_pod_last_rpc, *x.max_removal_reaction_s,
             "removed pods");
  }
  if (x.min_pods_used) {
    add("minPodsUsed", s.pods_used >= *x.min_pods_used,
        absl::StrCat("pods used ", s.pods_used, s.pods_used >= *x.min_pods_used ? " >= " : " < ",
                     *x.min_pods_used));
  }
  if (x.max_pods_used) {
    add("maxPodsUsed", s.pods_used <= *x.max_pods_used,
        absl::StrCat("pods used ", s.pods_used, s.pods_used <= *x.max_pods_used ? " <= " : " > ",
                     *x.max_pods_used));
  }
  if (x.max_early_share) {
    if (const std::optional<EarlyShare> e = MaxEarlyShare(report, s, x.early_s); !e) {
      skip("maxEarlyShare", "nothing to measure (no pod became usable after t=0, or no timeline)");
    } else {
      add("maxEarlyShare", e->share <= *x.max_early_share,
          absl::StrFormat("largest share in the first %gs after becoming usable %.4f (%s) %s %.4f over %d "
                          "intervals", x.early_s, e->share, e->pod, e->share <= *x.max_early_share ? "<=" : ">",
                          *x.max_early_share, e->intervals));
    }
  }
  if (x.max_p99_ms) {
    add("maxP99Ms", s.latency_ms.p99 <= *x.max_p99_ms,
        absl::StrFormat("p99 %.3fms %s %.3fms", s.latency_ms.p99,
                        s.latency_ms.p99 <= *x.max_p99_ms ? "<=" : ">", *x.max_p99_ms));
  }
}

}  // namespace

WindowShare PodShareInWindow(const StrategyReport& s, std::string_view pod, double from_s, double to_s) {
  int32_t index = -1;
  for (size_t i = 0; i < s.timeline.pod_names.size(); ++i) {
    if (s.timeline.pod_names[i] == pod) index = static_cast<int32_t>(i);
  }
  WindowShare w;
  s.timeline.ForEachRow([&](const report::TimelineRow& row) {
    if (row.t_s + 1e-9 < from_s || row.t_s + 1e-9 >= to_s) return;
    w.total_ok += row.ok;
    if (row.pod == index) w.pod_ok += row.ok;
  });
  return w;
}

double BucketStart(const Report& report, double t_s) {
  const double bucket = report.timeline_bucket_s > 0 ? report.timeline_bucket_s : 0.5;
  return std::floor(t_s / bucket + 1e-9) * bucket;
}

std::vector<CheckResult> EvaluateExpectations(const Report& report,
                                              const std::vector<scenario::Expectation>& expect) {
  std::vector<CheckResult> out;
  for (const auto& x : expect) {
    if (x.strategy == "*") {
      for (const auto& s : report.strategies) CheckOne(report, s, x, report.complete, &out);
      continue;
    }
    const StrategyReport* s = report.FindStrategy(x.strategy);
    if (s == nullptr) {
      out.push_back({.strategy = x.strategy,
                     .check = "(strategy)",
                     .outcome = CheckOutcome::kSkipped,
                     .message = "strategy not in the report (not run)",
                     .line = x.line});
      continue;
    }
    CheckOne(report, *s, x, report.complete, &out);
  }
  return out;
}

bool AllPassed(const std::vector<CheckResult>& results) {
  for (const auto& r : results) {
    if (r.outcome == CheckOutcome::kFailed) return false;
  }
  return true;
}

}  // namespace k8slb::sim
