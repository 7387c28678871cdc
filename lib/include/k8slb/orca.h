// Server-reported load (ORCA): the xds.data.orca.v3.OrcaLoadReport message that a gRPC server
// attaches to a reply as the `endpoint-load-metrics-bin` trailer (gRFC A51,
// https://github.com/grpc/proposal/blob/master/A51-custom-backend-metrics.md), and a hand-written
// protobuf wire codec for it, so that k8slb_core reads reports without depending on protobuf.
//
// Field numbers follow xds/data/orca/v3/orca_load_report.proto (cncf/xds). The codec is pure:
// every function may be called from any thread. RecordOrcaLoad and OrcaWeight turn reports into
// an endpoint's weight as gRPC's weighted_round_robin does (gRFC A58,
// https://github.com/grpc/proposal/blob/master/A58-client-side-weighted-round-robin-lb-policy.md);
// they touch only EndpointStats' atomics and may run on any thread.
#ifndef K8SLB_ORCA_H_
#define K8SLB_ORCA_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "k8slb/endpoint_set.h"

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

// gRFC A58's defaults: a weight is used once an endpoint has reported for the blackout period
// (a new endpoint's first reports describe a cold or idle process), and forgotten when no
// report has arrived for the expiration period; errors count as utilization with this penalty.
inline constexpr std::chrono::seconds kOrcaBlackout{10};
inline constexpr std::chrono::minutes kOrcaExpiration{3};
inline constexpr double kOrcaErrorUtilizationPenalty = 1.0;

// A58's weight of one report: qps / (utilization + eps / qps × penalty), utilization being
// application_utilization if > 0 else cpu_utilization; 0 (no weight) when qps or utilization
// is 0.
double OrcaReportWeight(const OrcaLoadReport& report);

// Stores a decoded report that arrived at `now_nanos` into `stats` when it gives a weight, and
// counts it (orca_reports) either way; a report without a weight leaves the last one in place,
// as A58's MaybeUpdateWeight. Starts a new reporting run (the blackout again) when the previous
// report is older than kOrcaExpiration. Returns whether the stored load changed.
bool RecordOrcaLoad(EndpointStats& stats, const OrcaLoadReport& report, int64_t now_nanos);

// The endpoint's weight at `now_nanos`: the stored load's A58 weight when its report is younger
// than kOrcaExpiration and the endpoint has reported for at least kOrcaBlackout; else 0.
double OrcaWeight(const EndpointStats& stats, int64_t now_nanos);

}  // namespace k8slb

#endif  // K8SLB_ORCA_H_
