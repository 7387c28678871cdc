// Evaluates a scenario's `expect:` block against a report (k8slb-sim check, and the tests).
// Pure function of its inputs; thread-compatible.
#ifndef K8SLB_SIM_ENGINE_CHECK_H_
#define K8SLB_SIM_ENGINE_CHECK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/engine/recorder.h"
#include "sim/scenario/scenario.h"

namespace k8slb::sim {

enum class CheckOutcome { kPassed, kFailed, kSkipped };

struct CheckResult {
  std::string strategy;
  std::string check;  // the expect field, e.g. "maxImbalance"
  CheckOutcome outcome = CheckOutcome::kPassed;
  std::string message;  // "imbalance 1.04 <= 1.2" or why it failed / was skipped
  int line = 0;         // line of the expectation in the scenario file
};

// One result per (expectation field, matching strategy). A strategy named by an expectation but
// absent from the report (e.g. run with --strategies) is kSkipped; "*" matches every strategy in
// the report. An incomplete report fails every check (the run did not finish).
std::vector<CheckResult> EvaluateExpectations(const Report& report,
                                              const std::vector<scenario::Expectation>& expect);

// What `pod` got of `s`'s ok RPCs in the timeline buckets that start in [from_s, to_s) (the
// timeline in memory after a run, or as FolderReader read it).
struct WindowShare {
  uint64_t pod_ok = 0;
  uint64_t total_ok = 0;
  double share() const { return total_ok == 0 ? 0 : static_cast<double>(pod_ok) / static_cast<double>(total_ok); }
};
WindowShare PodShareInWindow(const StrategyReport& s, std::string_view pod, double from_s, double to_s);

// The start of the timeline bucket holding `t_s`.
double BucketStart(const Report& report, double t_s);

// True when no result failed.
bool AllPassed(const std::vector<CheckResult>& results);

}  // namespace k8slb::sim

#endif  // K8SLB_SIM_ENGINE_CHECK_H_
