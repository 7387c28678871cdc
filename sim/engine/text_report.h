// Terminal rendering of a Report: the per-pod table and the strategy comparison printed by
// `k8slb-sim run` (and `k8slb-sim check`). Plain text, fixed-width columns, at most ~40 pod rows
// (larger services show the busiest and idlest pods plus a summary line). Pure functions.
#ifndef K8SLB_SIM_ENGINE_TEXT_REPORT_H_
#define K8SLB_SIM_ENGINE_TEXT_REPORT_H_

#include <string>
#include <string_view>

#include "sim/engine/recorder.h"

namespace k8slb::sim {

// "echo-2" < "echo-10": digit runs compare as numbers.
bool NaturalLess(std::string_view a, std::string_view b);

// Per-pod counts. Up to kMaxPodRows pods: one table, pods by name, one column per strategy
// ("ok  share%"). More: per strategy, the top and bottom pods by count and a summary line.
inline constexpr size_t kMaxPodRows = 40;
std::string FormatPodTable(const Report& report);

// One row per strategy: requests, failures, imbalance, pods used, latency, reaction times.
std::string FormatComparison(const Report& report);

// Slow start made visible: for each pod that became usable after t=0, its share of each
// strategy's ok RPCs per second after that (from the timeline in memory or read back), for
// `seconds` seconds. Empty when no pod became usable after t=0 or there is no timeline.
std::string FormatNewPodShares(const Report& report, int seconds = 12);

// The scenario's events, one per line ("  5.000s  scale     scale to 8"), at most `max` lines.
std::string FormatEvents(const Report& report, size_t max = 12);

}  // namespace k8slb::sim

#endif  // K8SLB_SIM_ENGINE_TEXT_REPORT_H_
