// Helpers shared by the engines and the CLI (engine.h).
#include "sim/engine/engine.h"

#include <cmath>

namespace k8slb::sim {

std::vector<std::string> StrategiesFor(const scenario::Scenario& scenario,
                                       const RunOptions& options) {
  if (!options.strategies.empty()) return options.strategies;
  if (options.mode == RunMode::kLive) return scenario.strategies;
  std::vector<std::string> out;
  for (const auto& name : scenario.strategies) {
    if (!IsLiveOnlyStrategy(name)) out.push_back(name);
  }
  return out;
}

std::vector<std::string> SkippedStrategies(const scenario::Scenario& scenario,
                                           const RunOptions& options) {
  std::vector<std::string> out;
  if (!options.strategies.empty() || options.mode == RunMode::kLive) return out;
  for (const auto& name : scenario.strategies) {
    if (IsLiveOnlyStrategy(name)) out.push_back(name);
  }
  return out;
}

double RunDurationS(const scenario::Scenario& scenario, const RunOptions& options) {
  return options.duration_s.value_or(scenario.clients.duration_s);
}

RunInfo MakeRunInfo(const scenario::Scenario& scenario, const RunOptions& options) {
  RunInfo info;
  info.scenario = scenario.name;
  info.scenario_file = scenario.source_file;
  info.mode = options.mode == RunMode::kLive ? "live" : "virtual";
  info.seed = options.seed;
  info.strategies = StrategiesFor(scenario, options);
  // About 100 buckets per run, on a 1-2-5 grid, between 0.1 s and 10 s.
  const double target = RunDurationS(scenario, options) / 100.0;
  double bucket = 0.1;
  for (double b : {0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0}) {
    if (b <= target) bucket = b;
  }
  info.timeline_bucket_s = bucket;
  if (options.mode == RunMode::kLive) {
    // Live latencies are wall time, the timeline scenario time.
    info.latency_scale = options.speed;
    info.call_deadline_s = kLiveRpcDeadlineS * options.speed;
  }
  return info;
}

}  // namespace k8slb::sim
