// A reader of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format): what a
// /metrics endpoint answers, parsed into samples for tests and for the dashboard's --scrape view.
//
// Accepted: "# HELP"/"# TYPE" and other comment lines (TYPE recorded per family), samples
// `name{label="value",...} value [timestamp]` with the escapes \\ \" \n in label values, the
// values NaN, +Inf, -Inf. Refused with the line number: a malformed name, label or value, a
// duplicate label, input over kMaxPrometheusTextBytes. Pure functions; thread-safe.
#ifndef K8SLB_REPORT_PROMETHEUS_TEXT_H_
#define K8SLB_REPORT_PROMETHEUS_TEXT_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb::report {

inline constexpr size_t kMaxPrometheusTextBytes = 16u << 20;

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromScrape {
  std::vector<PromSample> samples;             // in the text's order
  std::map<std::string, std::string> types;    // family name -> "counter" | "gauge" | ...
  // The samples named `name` whose labels include every pair of `match`.
  std::vector<const PromSample*> Find(std::string_view name,
                                      const std::map<std::string, std::string>& match = {}) const;
};

absl::StatusOr<PromScrape> ParsePrometheusText(std::string_view text);

}  // namespace k8slb::report

#endif  // K8SLB_REPORT_PROMETHEUS_TEXT_H_
