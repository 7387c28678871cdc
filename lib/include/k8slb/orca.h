// Server-reported load (ORCA): the xds.data.orca.v3.OrcaLoadReport message that a gRPC server
// attaches to a reply as the `endpoint-load-metrics-bin` trailer (gRFC A51,
// https://github.com/grpc/proposal/blob/master/A51-custom-backend-metrics.md), and a hand-written
// protobuf wire codec for it, so that k8slb_core reads reports without depending on protobuf.
//
// Field numbers follow xds/data/orca/v3/orca_load_report.proto (cncf/xds). The codec is pure:
// every function may be called from any thread.
#ifndef K8SLB_ORCA_H_
#define K8SLB_ORCA_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace k8slb {

// The trailing-metadata key of a per-call report (gRFC A51). A "-bin" key: grpc++ base64s it on
// the wire and hands both ends the raw bytes.
inline constexpr std::string_view kOrcaTrailerKey = "endpoint-load-metrics-bin";
// The same report under a key of k8slb's own. grpc++ 1.51's core parses endpoint-load-metrics-bin
// into a typed field for its LB policies and leaves it out of the metadata it gives the
// application (client interceptors and ClientContext::GetServerTrailingMetadata never see it,
// though it is on the wire: a grpc-js client reads it from the same server), so
// AttachOrcaLoadReport sends both and the k8slb client reads the standard key first, then this.
inline constexpr std::string_view kOrcaMirrorTrailerKey = "k8slb-load-report-bin";

// Bounds on what a decoder accepts from the network: a report is a few dozen bytes in practice,
// so anything near these is hostile or broken, and refusing it keeps memory bounded.
inline constexpr size_t kMaxOrcaReportBytes = 64 * 1024;
inline constexpr size_t kMaxOrcaMapEntries = 64;  // per map (request_cost, utilization, named_metrics)

// One load report, as OrcaLoadReport's fields. The proto's maps are vectors of (key, value) in
// wire order, keys unique (a repeated key keeps its last value, as protobuf's map parsing does).
// The deprecated integer `rps` (field 3) is accepted on the wire and dropped: rps_fractional
// replaces it.
struct OrcaLoadReport {
  double cpu_utilization = 0;          // field 1, >= 0 (may exceed 1 above a soft limit)
  double mem_utilization = 0;          // field 2, in [0, 1]
  double rps_fractional = 0;           // field 6, >= 0: requests per second
  double eps = 0;                      // field 7, >= 0: errors per second
  double application_utilization = 0;  // field 9, >= 0
  std::vector<std::pair<std::string, double>> request_cost;   // field 4, finite values
  std::vector<std::pair<std::string, double>> utilization;    // field 5, values in [0, 1]
  std::vector<std::pair<std::string, double>> named_metrics;  // field 8, finite values

  bool operator==(const OrcaLoadReport&) const = default;
};

// Parses a serialized OrcaLoadReport. Unknown fields (varint, 64-bit, length-delimited, 32-bit)
// are skipped. Errors (InvalidArgument, the message naming the problem and its byte offset):
// input above kMaxOrcaReportBytes, a truncated varint or fixed-width value, a length beyond the
// buffer, a known field with the wrong wire type, a group or invalid wire type, field number 0,
// a value outside the range its proto field declares (NaN, ±inf, negative, a fraction above 1),
// more than kMaxOrcaMapEntries entries in one map. Memory used is bounded by the input size.
absl::StatusOr<OrcaLoadReport> DecodeOrcaLoadReport(std::string_view bytes);

// Serializes `report` as protobuf does: fields in number order, scalar zeros omitted, every map
// entry with its key and value. The result decodes to an equal report when the report is valid.
std::string EncodeOrcaLoadReport(const OrcaLoadReport& report);

}  // namespace k8slb

#endif  // K8SLB_ORCA_H_
