// The hand-written OrcaLoadReport codec against protobuf's generated code for the same .proto
// (k8slb_orca_proto): protobuf parses what we encode, and we decode what protobuf serializes,
// field for field. Built only where the XDS protos are (K8SLB_BUILD_XDS).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "k8slb/orca.h"
#include "orca_support.h"
#include "xds/data/orca/v3/orca_load_report.pb.h"

namespace k8slb {
namespace {

using Pairs = std::vector<std::pair<std::string, double>>;

// Protobuf's map iteration order is unspecified: compare maps as sorted pairs.
Pairs Sorted(Pairs p) {
  std::sort(p.begin(), p.end());
  return p;
}
template <typename Map>
Pairs FromProto(const Map& m) {
  Pairs p(m.begin(), m.end());
  return Sorted(std::move(p));
}


TEST(OrcaProtoCrossCheck, ProtobufParsesOurEncoding) {
  const OrcaLoadReport r = coretest::FullOrcaReport();
  const std::string bytes = EncodeOrcaLoadReport(r);
  xds::data::orca::v3::OrcaLoadReport pb;
  ASSERT_TRUE(pb.ParseFromString(bytes));
  EXPECT_EQ(pb.cpu_utilization(), r.cpu_utilization);
  EXPECT_EQ(pb.mem_utilization(), r.mem_utilization);
  EXPECT_EQ(pb.rps_fractional(), r.rps_fractional);
  EXPECT_EQ(pb.eps(), r.eps);
  EXPECT_EQ(pb.application_utilization(), r.application_utilization);
  EXPECT_EQ(FromProto(pb.request_cost()), Sorted(r.request_cost));
  EXPECT_EQ(FromProto(pb.utilization()), Sorted(r.utilization));
  EXPECT_EQ(FromProto(pb.named_metrics()), Sorted(r.named_metrics));
  EXPECT_EQ(pb.ByteSizeLong(), bytes.size());  // nothing we wrote was unknown to protobuf or dropped
}

TEST(OrcaProtoCrossCheck, WeDecodeProtobufsSerialization) {
  xds::data::orca::v3::OrcaLoadReport pb;
  pb.set_cpu_utilization(1.25);
  pb.set_mem_utilization(0.5);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  pb.set_rps(7);  // deprecated: decoded and dropped
#pragma GCC diagnostic pop
  pb.set_rps_fractional(1e6);
  pb.set_eps(2);
  pb.set_application_utilization(0.0625);
  (*pb.mutable_request_cost())["bytes"] = 4096;
  (*pb.mutable_utilization())["disk"] = 1;
  (*pb.mutable_utilization())["net"] = 0;  // a zero value is still written inside a map entry
  (*pb.mutable_named_metrics())["x"] = -3.5;
  absl::StatusOr<OrcaLoadReport> r = DecodeOrcaLoadReport(pb.SerializeAsString());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->cpu_utilization, 1.25);
  EXPECT_EQ(r->mem_utilization, 0.5);
  EXPECT_EQ(r->rps_fractional, 1e6);
  EXPECT_EQ(r->eps, 2);
  EXPECT_EQ(r->application_utilization, 0.0625);
  EXPECT_EQ(Sorted(r->request_cost), FromProto(pb.request_cost()));
  EXPECT_EQ(Sorted(r->utilization), FromProto(pb.utilization()));
  EXPECT_EQ(Sorted(r->named_metrics), FromProto(pb.named_metrics()));
}

// Byte for byte where protobuf's output is deterministic (no maps, or one entry per map).
TEST(OrcaProtoCrossCheck, SameBytesAsProtobufForOneEntryMaps) {
  OrcaLoadReport r;
  r.cpu_utilization = 0.5;
  r.eps = 1;
  r.utilization = {{"k", 0.25}};
  r.application_utilization = 0.125;
  xds::data::orca::v3::OrcaLoadReport pb;
  pb.set_cpu_utilization(0.5);
  pb.set_eps(1);
  (*pb.mutable_utilization())["k"] = 0.25;
  pb.set_application_utilization(0.125);
  EXPECT_EQ(EncodeOrcaLoadReport(r), pb.SerializeAsString());
}

}  // namespace
}  // namespace k8slb
