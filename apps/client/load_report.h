// LoadReport: what k8slb-client prints. The formats are a fixed interface (scripts and the k8s
// client Job parse them):
//   json:  {"frontend": ..., "backends": [one pod name per successful RPC, in completion order], ...,
//           "start_unix_us": T0, "rpcs": [{"pod", "sent_us", "latency_us", "code"} per RPC, in
//           completion order; sent_us from T0, so reaction times can be read off the output]}
//   table: one row per pod, starting with the pod name and its count, then share and latency
//          p50/p99; comment lines start with '#'.
// Plain values and pure functions; thread-compatible.
#ifndef K8SLB_APPS_CLIENT_LOAD_REPORT_H_
#define K8SLB_APPS_CLIENT_LOAD_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace k8slb::client {

struct RpcRecord {
  int64_t end_us = 0;      // completion time since the run started
  int64_t latency_us = 0;
  std::string pod;         // empty when the RPC failed
  int code = 0;            // grpc::StatusCode
  std::string error;       // status message when failed
};

struct LoadReport {
  std::string frontend;  // the client's id (hostname or --client-id)
  std::string target;
  std::string policy;
  double duration_s = 0;
  int64_t start_unix_us = 0;       // wall clock when the run started; RPC times count from it
  std::vector<RpcRecord> records;  // any order; formatting sorts by completion time
};

std::string FormatJson(const LoadReport& report);
std::string FormatTable(const LoadReport& report);

}  // namespace k8slb::client

#endif  // K8SLB_APPS_CLIENT_LOAD_REPORT_H_
