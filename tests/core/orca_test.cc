// The OrcaLoadReport wire codec: round trips, exact bytes against the protobuf encoding rules,
// unknown fields skipped, and every hostile input refused with a message naming the problem.
#include "k8slb/orca.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include "orca_support.h"

namespace k8slb {
namespace {

// Wire-building helpers, independent of the codec under test.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Tag(uint32_t field, uint32_t type) { return Varint((uint64_t{field} << 3) | type); }
std::string Fixed64(double v) {
  std::string out;
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  return out;
}
std::string DoubleField(uint32_t field, double v) { return Tag(field, 1) + Fixed64(v); }
std::string LenField(uint32_t field, const std::string& body) { return Tag(field, 2) + Varint(body.size()) + body; }
std::string MapEntry(uint32_t field, const std::string& key, double value) {
  return LenField(field, LenField(1, key) + DoubleField(2, value));
}

std::string ErrorOf(const std::string& bytes) {
  absl::StatusOr<OrcaLoadReport> r = DecodeOrcaLoadReport(bytes);
  EXPECT_FALSE(r.ok()) << "decoded hostile input";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

using coretest::FullOrcaReport;

TEST(OrcaCodecTest, RoundTripsEveryField) {
  const OrcaLoadReport in = FullOrcaReport();
  absl::StatusOr<OrcaLoadReport> out = DecodeOrcaLoadReport(EncodeOrcaLoadReport(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, in);
}

TEST(OrcaCodecTest, EmptyInputIsTheDefaultReport) {
  absl::StatusOr<OrcaLoadReport> out = DecodeOrcaLoadReport("");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, OrcaLoadReport{});
  EXPECT_EQ(EncodeOrcaLoadReport(OrcaLoadReport{}), "");
}

// The encoder writes what protobuf writes: fields in number order, zeros omitted, map entries
// as nested messages with key then value.
TEST(OrcaCodecTest, EncodesTheProtobufBytes) {
  OrcaLoadReport r;
  r.cpu_utilization = 0.5;
  r.utilization = {{"k", 0.25}};
  r.application_utilization = 0.125;
  EXPECT_EQ(EncodeOrcaLoadReport(r), DoubleField(1, 0.5) + MapEntry(5, "k", 0.25) + DoubleField(9, 0.125));
}

TEST(OrcaCodecTest, SkipsUnknownFieldsOfEveryWireType) {
  const std::string bytes = Tag(100, 0) + Varint(UINT64_MAX) + DoubleField(1, 0.5) + Tag(101, 1) + Fixed64(9) +
                            LenField(102, std::string(300, 'x')) + Tag(103, 5) + std::string(4, '\0') +
                            Tag(3, 0) + Varint(77) +  // deprecated rps: accepted, dropped
                            DoubleField(6, 10) + LenField(5, LenField(1, "u") + Tag(9, 0) + Varint(1) + DoubleField(2, 0.5));
  absl::StatusOr<OrcaLoadReport> out = DecodeOrcaLoadReport(bytes);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->cpu_utilization, 0.5);
  EXPECT_EQ(out->rps_fractional, 10);
  ASSERT_EQ(out->utilization.size(), 1u);
  EXPECT_EQ(out->utilization[0].first, "u");
  EXPECT_EQ(out->utilization[0].second, 0.5);
}

TEST(OrcaCodecTest, ARepeatedFieldOrKeyKeepsItsLastValue) {
  const std::string bytes = DoubleField(1, 0.25) + DoubleField(1, 0.5) + MapEntry(8, "a", 1) + MapEntry(8, "b", 2) +
                            MapEntry(8, "a", 3);
  absl::StatusOr<OrcaLoadReport> out = DecodeOrcaLoadReport(bytes);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->cpu_utilization, 0.5);
  const std::vector<std::pair<std::string, double>> expected = {{"a", 3}, {"b", 2}};
  EXPECT_EQ(out->named_metrics, expected);
}

TEST(OrcaCodecTest, RefusesInputAboveTheSizeLimit) {
  const std::string big = LenField(200, std::string(kMaxOrcaReportBytes, 'x'));
  EXPECT_NE(ErrorOf(big).find("above the limit of 65536"), std::string::npos) << ErrorOf(big);
  // Exactly at the limit is fine (an unknown field filling it).
  const std::string tag = Tag(200, 2);
  const std::string header = tag + Varint(kMaxOrcaReportBytes - tag.size() - 3);  // a 3-byte length
  const std::string at_limit = header + std::string(kMaxOrcaReportBytes - header.size(), 'x');
  ASSERT_EQ(at_limit.size(), kMaxOrcaReportBytes);
  EXPECT_TRUE(DecodeOrcaLoadReport(at_limit).ok()) << DecodeOrcaLoadReport(at_limit).status();
}

TEST(OrcaCodecTest, RefusesTruncatedVarints) {
  EXPECT_EQ(ErrorOf("\x80"), "ORCA load report: truncated varint at byte 0");
  EXPECT_EQ(ErrorOf(Tag(3, 0) + "\xff\xff"), "ORCA load report: truncated varint at byte 1");
  EXPECT_EQ(ErrorOf(Tag(15, 2) + "\x85"), "ORCA load report: truncated varint at byte 1");  // a length
  EXPECT_NE(ErrorOf(Tag(3, 0) + std::string(10, '\xff') + "\x01").find("varint longer than 64 bits"),
            std::string::npos);
}

TEST(OrcaCodecTest, RefusesTruncatedFixedValues) {
  EXPECT_EQ(ErrorOf(Tag(1, 1) + std::string(7, '\0')), "ORCA load report: truncated 64-bit value at byte 1");
  EXPECT_EQ(ErrorOf(Tag(50, 5) + std::string(3, '\0')), "ORCA load report: truncated 32-bit value at byte 2");
}

TEST(OrcaCodecTest, RefusesALengthBeyondTheBuffer) {
  EXPECT_EQ(ErrorOf(Tag(4, 2) + Varint(5) + "abcd"),
            "ORCA load report: length 5 beyond the buffer (4 bytes left) at byte 1");
  EXPECT_NE(ErrorOf(Tag(40, 2) + Varint(UINT64_MAX)).find("length 18446744073709551615 beyond the buffer"),
            std::string::npos);
  // Inside a map entry, the entry's own length bounds the key.
  EXPECT_NE(ErrorOf(LenField(4, Tag(1, 2) + Varint(3) + "ab") + "zzzz").find("length 3 beyond the buffer (2 bytes left)"),
            std::string::npos);
}

TEST(OrcaCodecTest, RefusesAKnownFieldWithTheWrongWireType) {
  EXPECT_EQ(ErrorOf(Tag(1, 0) + Varint(1)),
            "ORCA load report: cpu_utilization: wire type 0, expected 1 (64-bit) at byte 1");
  EXPECT_EQ(ErrorOf(Tag(6, 5) + std::string(4, '\0')),
            "ORCA load report: rps_fractional: wire type 5, expected 1 (64-bit) at byte 1");
  EXPECT_EQ(ErrorOf(Tag(5, 1) + Fixed64(1)),
            "ORCA load report: utilization: wire type 1, expected 2 (length-delimited) at byte 1");
  EXPECT_EQ(ErrorOf(Tag(3, 2) + Varint(0)), "ORCA load report: rps: wire type 2, expected 0 (varint) at byte 1");
  EXPECT_NE(ErrorOf(LenField(8, Tag(1, 0) + Varint(1))).find("named_metrics key: wire type 0"), std::string::npos);
  EXPECT_NE(ErrorOf(Tag(7, 3)).find("unsupported wire type 3"), std::string::npos);
  EXPECT_NE(ErrorOf(Tag(70, 6)).find("unsupported wire type 6"), std::string::npos);
  EXPECT_NE(ErrorOf(Tag(0, 0) + Varint(0)).find("field number 0"), std::string::npos);
}

TEST(OrcaCodecTest, RefusesValuesOutsideTheirField) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(ErrorOf(DoubleField(1, nan)), "ORCA load report: cpu_utilization is NaN at byte 1");
  EXPECT_EQ(ErrorOf(DoubleField(9, inf)), "ORCA load report: application_utilization is infinite at byte 1");
  EXPECT_EQ(ErrorOf(DoubleField(7, -inf)), "ORCA load report: eps is infinite at byte 1");
  EXPECT_EQ(ErrorOf(DoubleField(6, -1)), "ORCA load report: rps_fractional is negative (-1) at byte 1");
  EXPECT_EQ(ErrorOf(DoubleField(2, 1.5)), "ORCA load report: mem_utilization is above 1 (1.5) at byte 1");
  EXPECT_NE(ErrorOf(MapEntry(5, "gpu", 2)).find("utilization[\"gpu\"] is above 1"), std::string::npos);
  EXPECT_NE(ErrorOf(MapEntry(4, "db", nan)).find("request_cost[\"db\"] is NaN"), std::string::npos);
  EXPECT_NE(ErrorOf(MapEntry(8, "q", inf)).find("named_metrics[\"q\"] is infinite"), std::string::npos);
  // -0.0 is not negative; a negative cost or named metric is a legitimate value.
  EXPECT_TRUE(DecodeOrcaLoadReport(DoubleField(1, -0.0) + MapEntry(8, "q", -5)).ok());
}

TEST(OrcaCodecTest, RefusesMoreThanTheMapEntryLimit) {
  std::string at_limit;
  for (size_t i = 0; i < kMaxOrcaMapEntries; ++i) at_limit += MapEntry(8, "m" + std::to_string(i), 1);
  absl::StatusOr<OrcaLoadReport> ok = DecodeOrcaLoadReport(at_limit);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->named_metrics.size(), kMaxOrcaMapEntries);
  // The limit counts entries on the wire, so repeating one key cannot hide work either.
  std::string repeated;
  for (size_t i = 0; i <= kMaxOrcaMapEntries; ++i) repeated += MapEntry(4, "same", 1);
  EXPECT_NE(ErrorOf(repeated).find("request_cost: more than 64 entries"), std::string::npos);
  EXPECT_NE(ErrorOf(at_limit + MapEntry(8, "one-more", 1)).find("named_metrics: more than 64 entries"),
            std::string::npos);
  // Each map has its own limit.
  std::string two_maps = at_limit;
  for (size_t i = 0; i < kMaxOrcaMapEntries; ++i) two_maps += MapEntry(5, "u" + std::to_string(i), 0.5);
  EXPECT_TRUE(DecodeOrcaLoadReport(two_maps).ok());
}

// Every prefix of a valid report either decodes or fails cleanly (no read past the end: run
// under ASan to see it), and every single-byte corruption does the same.
TEST(OrcaCodecTest, PrefixesAndCorruptionsFailCleanly) {
  const std::string bytes = EncodeOrcaLoadReport(FullOrcaReport());
  size_t failures = 0;
  for (size_t n = 0; n < bytes.size(); ++n) failures += DecodeOrcaLoadReport(bytes.substr(0, n)).ok() ? 0 : 1;
  EXPECT_GT(failures, bytes.size() / 2);  // most cuts land inside a field
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int v : {0x00, 0x7f, 0x80, 0xff}) {
      std::string c = bytes;
      c[i] = static_cast<char>(v);
      absl::StatusOr<OrcaLoadReport> r = DecodeOrcaLoadReport(c);
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
      }
    }
  }
}

// gRFC A58's weight: qps / (utilization + eps/qps × 1), application utilization first.
TEST(OrcaWeightTest, ReportWeightFollowsA58) {
  OrcaLoadReport r;
  r.rps_fractional = 100;
  r.cpu_utilization = 0.5;
  EXPECT_DOUBLE_EQ(OrcaReportWeight(r), 200);
  r.application_utilization = 0.25;
  EXPECT_DOUBLE_EQ(OrcaReportWeight(r), 400);
  r.eps = 25;  // penalty 25/100 = 0.25
  EXPECT_DOUBLE_EQ(OrcaReportWeight(r), 200);
  r.rps_fractional = 0;
  EXPECT_EQ(OrcaReportWeight(r), 0);
  r.rps_fractional = 100;
  r.application_utilization = 0;
  r.cpu_utilization = 0;
  EXPECT_EQ(OrcaReportWeight(r), 0);
}

TEST(OrcaWeightTest, BlackoutThenWeightThenExpiry) {
  constexpr int64_t kS = 1'000'000'000;
  EndpointStats s;
  OrcaLoadReport r;
  r.rps_fractional = 100;
  r.application_utilization = 0.5;
  EXPECT_EQ(OrcaWeight(s, 0), 0);  // never reported
  EXPECT_TRUE(RecordOrcaLoad(s, r, 100 * kS));
  EXPECT_EQ(OrcaWeight(s, 100 * kS), 0);           // blackout: 10 s of reports first
  EXPECT_TRUE(RecordOrcaLoad(s, r, 109 * kS));
  EXPECT_EQ(OrcaWeight(s, 110 * kS - 1), 0);
  EXPECT_DOUBLE_EQ(OrcaWeight(s, 110 * kS), 200);
  // A report without a weight is counted and changes nothing.
  OrcaLoadReport idle;
  EXPECT_FALSE(RecordOrcaLoad(s, idle, 111 * kS));
  EXPECT_EQ(s.orca_reports.load(), 3u);
  EXPECT_DOUBLE_EQ(OrcaWeight(s, 111 * kS), 200);
  // Expired 3 min after the last report with a weight.
  EXPECT_DOUBLE_EQ(OrcaWeight(s, 109 * kS + 180 * kS - 1), 200);
  EXPECT_EQ(OrcaWeight(s, 109 * kS + 180 * kS), 0);
  // Reporting again after the expiry starts a new blackout.
  EXPECT_TRUE(RecordOrcaLoad(s, r, 400 * kS));
  EXPECT_EQ(OrcaWeight(s, 405 * kS), 0);
  EXPECT_DOUBLE_EQ(OrcaWeight(s, 410 * kS), 200);
}

}  // namespace
}  // namespace k8slb
