// A report with every field of OrcaLoadReport set to a non-default value, for the codec tests
// and the protobuf cross-check.
#ifndef K8SLB_TESTS_CORE_ORCA_SUPPORT_H_
#define K8SLB_TESTS_CORE_ORCA_SUPPORT_H_

#include "k8slb/orca.h"

namespace k8slb::coretest {

inline OrcaLoadReport FullOrcaReport() {
  OrcaLoadReport r;
  r.cpu_utilization = 0.75;
  r.mem_utilization = 0.5;
  r.rps_fractional = 1234.5;
  r.eps = 3.25;
  r.application_utilization = 1.5;  // above 1: over a soft limit is allowed
  r.request_cost = {{"db", 17.0}, {"cache", -2.0}};
  r.utilization = {{"gpu", 0.25}, {"disk", 1.0}};
  r.named_metrics = {{"queue", 42.0}};
  return r;
}

}  // namespace k8slb::coretest

#endif  // K8SLB_TESTS_CORE_ORCA_SUPPORT_H_
