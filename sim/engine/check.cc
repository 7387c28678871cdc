#include "sim/engine/check.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace k8slb::sim {
namespace {

void CheckOne(const StrategyReport& s, const scenario::Expectation& x, bool complete,
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
  if (x.max_p99_ms) {
    add("maxP99Ms", s.latency_ms.p99 <= *x.max_p99_ms,
        absl::StrFormat("p99 %.3fms %s %.3fms", s.latency_ms.p99,
                        s.latency_ms.p99 <= *x.max_p99_ms ? "<=" : ">", *x.max_p99_ms));
  }
}

}  // namespace

std::vector<CheckResult> EvaluateExpectations(const Report& report,
                                              const std::vector<scenario::Expectation>& expect) {
  std::vector<CheckResult> out;
  for (const auto& x : expect) {
    if (x.strategy == "*") {
      for (const auto& s : report.strategies) CheckOne(s, x, report.complete, &out);
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
    CheckOne(*s, x, report.complete, &out);
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
