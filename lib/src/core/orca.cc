// The OrcaLoadReport wire codec (orca.h): protobuf's wire format
// (https://protobuf.dev/programming-guides/encoding/) for the one message, by hand. The decoder
// reads untrusted bytes (a server's trailer), so every read is bounds-checked against the
// remaining input and every accepted value is range-checked against its proto field's
// declaration.
#include "k8slb/orca.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "util/string_view.h"

namespace k8slb {
namespace {

using util::AbslView;

enum WireType : uint32_t { kVarint = 0, kI64 = 1, kLen = 2, kSGroup = 3, kEGroup = 4, kI32 = 5 };

absl::Status Error(size_t offset, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("ORCA load report: ", AbslView(what), " at byte ", offset));
}

// A cursor over [pos, end) of the whole input; offsets in messages are from the input's start,
// also inside a nested map entry.
class Reader {
 public:
  Reader(std::string_view all, size_t begin, size_t end) : all_(all), pos_(begin), end_(end) {}

  bool done() const { return pos_ >= end_; }
  size_t pos() const { return pos_; }

  absl::Status Varint(uint64_t& out) {
    const size_t start = pos_;
    uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ >= end_) return Error(start, "truncated varint");
      const uint8_t b = static_cast<uint8_t>(all_[pos_++]);
      if (i == 9 && b > 1) return Error(start, "varint longer than 64 bits");
      v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        out = v;
        return absl::OkStatus();
      }
    }
    return Error(start, "varint longer than 64 bits");
  }

  absl::Status Fixed(size_t width, uint64_t& out) {
    if (end_ - pos_ < width) return Error(pos_, absl::StrCat("truncated ", width * 8, "-bit value"));
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(all_[pos_ + i])) << (8 * i);
    pos_ += width;
    out = v;
    return absl::OkStatus();
  }

  // A length prefix and the [begin, end) it covers, which must lie inside this reader.
  absl::Status Length(size_t& begin, size_t& end) {
    const size_t start = pos_;
    uint64_t len = 0;
    if (absl::Status s = Varint(len); !s.ok()) return s;
    if (len > end_ - pos_) {
      return Error(start, absl::StrCat("length ", len, " beyond the buffer (", end_ - pos_, " bytes left)"));
    }
    begin = pos_;
    end = pos_ + static_cast<size_t>(len);
    pos_ = end;
    return absl::OkStatus();
  }

  std::string_view Slice(size_t begin, size_t end) const { return all_.substr(begin, end - begin); }
  std::string_view all() const { return all_; }

  absl::Status Skip(uint32_t wire_type) {
    uint64_t ignored = 0;
    size_t b = 0;
    size_t e = 0;
    switch (wire_type) {
      case kVarint:
        return Varint(ignored);
      case kI64:
        return Fixed(8, ignored);
      case kI32:
        return Fixed(4, ignored);
      case kLen:
        return Length(b, e);
      default:
        break;
    }
    return Error(pos_, absl::StrCat("unsupported wire type ", wire_type));
  }

 private:
  std::string_view all_;
  size_t pos_;
  size_t end_;
};

// A tag: field number and wire type. Field 0 and group/invalid wire types are errors (proto3
// has no groups; skipping one would mean tracking nesting for a message that never has them).
absl::Status ReadTag(Reader& r, uint32_t& field, uint32_t& wire_type) {
  const size_t start = r.pos();
  uint64_t tag = 0;
  if (absl::Status s = r.Varint(tag); !s.ok()) return s;
  if (tag > UINT32_MAX) return Error(start, "tag above 32 bits");
  field = static_cast<uint32_t>(tag >> 3);
  wire_type = static_cast<uint32_t>(tag & 7);
  if (field == 0) return Error(start, "field number 0");
  if (wire_type == kSGroup || wire_type == kEGroup || wire_type > kI32) {
    return Error(start, absl::StrCat("unsupported wire type ", wire_type, " for field ", field));
  }
  return absl::OkStatus();
}

struct Range {
  double min;
  double max;  // +inf: no upper bound (values must still be finite)
};
constexpr Range kNonNegative{0, INFINITY};
constexpr Range kFraction{0, 1};
constexpr Range kAnyFinite{-INFINITY, INFINITY};

absl::Status CheckValue(size_t offset, std::string_view name, double v, Range range) {
  if (std::isnan(v)) return Error(offset, absl::StrCat(AbslView(name), " is NaN"));
  if (std::isinf(v)) return Error(offset, absl::StrCat(AbslView(name), " is infinite"));
  if (v < range.min) return Error(offset, absl::StrCat(AbslView(name), " is negative (", v, ")"));
  if (v > range.max) return Error(offset, absl::StrCat(AbslView(name), " is above ", range.max, " (", v, ")"));
  return absl::OkStatus();
}

absl::Status ReadDouble(Reader& r, uint32_t wire_type, std::string_view name, Range range, double& out) {
  const size_t start = r.pos();
  if (wire_type != kI64) {
    return Error(start, absl::StrCat(AbslView(name), ": wire type ", wire_type, ", expected 1 (64-bit)"));
  }
  uint64_t bits = 0;
  if (absl::Status s = r.Fixed(8, bits); !s.ok()) return s;
  const double v = std::bit_cast<double>(bits);
  if (absl::Status s = CheckValue(start, name, v, range); !s.ok()) return s;
  out = v;
  return absl::OkStatus();
}

// One map<string, double> entry (a nested message: key = 1, value = 2), merged into `map`.
absl::Status ReadMapEntry(Reader& r, uint32_t wire_type, std::string_view name, Range range, size_t& entries,
                          std::vector<std::pair<std::string, double>>& map) {
  const size_t start = r.pos();
  if (wire_type != kLen) {
    return Error(start, absl::StrCat(AbslView(name), ": wire type ", wire_type, ", expected 2 (length-delimited)"));
  }
  if (++entries > kMaxOrcaMapEntries) {
    return Error(start, absl::StrCat(AbslView(name), ": more than ", kMaxOrcaMapEntries, " entries"));
  }
  size_t begin = 0;
  size_t end = 0;
  if (absl::Status s = r.Length(begin, end); !s.ok()) return s;
  Reader entry(r.all(), begin, end);
  std::string_view key;
  double value = 0;
  while (!entry.done()) {
    uint32_t field = 0;
    uint32_t type = 0;
    if (absl::Status s = ReadTag(entry, field, type); !s.ok()) return s;
    if (field == 1) {
      if (type != kLen) {
        return Error(entry.pos(), absl::StrCat(AbslView(name), " key: wire type ", type, ", expected 2"));
      }
      size_t kb = 0;
      size_t ke = 0;
      if (absl::Status s = entry.Length(kb, ke); !s.ok()) return s;
      key = entry.Slice(kb, ke);
    } else if (field == 2) {
      const std::string value_name = absl::StrCat(AbslView(name), "[\"", AbslView(key), "\"]");
      if (absl::Status s = ReadDouble(entry, type, value_name, range, value); !s.ok()) return s;
    } else if (absl::Status s = entry.Skip(type); !s.ok()) {
      return s;
    }
  }
  auto it = std::find_if(map.begin(), map.end(), [&](const auto& kv) { return kv.first == key; });
  if (it != map.end()) {
    it->second = value;  // protobuf's map parsing: the last value of a key wins
  } else {
    map.emplace_back(std::string(key), value);
  }
  return absl::OkStatus();
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, uint32_t field, WireType type) { PutVarint(out, (uint64_t{field} << 3) | type); }

void PutDoubleBits(std::string& out, double v) {
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

// proto3 omits a scalar equal to its default; protobuf compares the bits, so -0.0 is written.
void PutDouble(std::string& out, uint32_t field, double v) {
  if (std::bit_cast<uint64_t>(v) == 0) return;
  PutTag(out, field, kI64);
  PutDoubleBits(out, v);
}

void PutMap(std::string& out, uint32_t field, const std::vector<std::pair<std::string, double>>& map) {
  for (const auto& [key, value] : map) {
    std::string entry;
    PutTag(entry, 1, kLen);
    PutVarint(entry, key.size());
    entry += key;
    PutTag(entry, 2, kI64);
    PutDoubleBits(entry, value);
    PutTag(out, field, kLen);
    PutVarint(out, entry.size());
    out += entry;
  }
}

// The message's fields in field-number order, one row each: what the decoder checks and the
// encoder writes (the deprecated integer rps, field 3, is read and dropped, never written).
struct Field {
  uint32_t number;
  std::string_view name;
  Range range;
  double OrcaLoadReport::*scalar;                                    // a double field, or
  std::vector<std::pair<std::string, double>> OrcaLoadReport::*map;  // a map<string, double>
};
constexpr Field kFields[] = {
    {1, "cpu_utilization", kNonNegative, &OrcaLoadReport::cpu_utilization, nullptr},
    {2, "mem_utilization", kFraction, &OrcaLoadReport::mem_utilization, nullptr},
    {4, "request_cost", kAnyFinite, nullptr, &OrcaLoadReport::request_cost},
    {5, "utilization", kFraction, nullptr, &OrcaLoadReport::utilization},
    {6, "rps_fractional", kNonNegative, &OrcaLoadReport::rps_fractional, nullptr},
    {7, "eps", kNonNegative, &OrcaLoadReport::eps, nullptr},
    {8, "named_metrics", kAnyFinite, nullptr, &OrcaLoadReport::named_metrics},
    {9, "application_utilization", kNonNegative, &OrcaLoadReport::application_utilization, nullptr},
};

}  // namespace

absl::StatusOr<OrcaLoadReport> DecodeOrcaLoadReport(std::string_view bytes) {
  if (bytes.size() > kMaxOrcaReportBytes) {
    return absl::InvalidArgumentError(absl::StrCat("ORCA load report: ", bytes.size(), " bytes, above the limit of ",
                                                   kMaxOrcaReportBytes));
  }
  OrcaLoadReport report;
  size_t map_entries[std::size(kFields)] = {};  // per map field, counted on the wire
  Reader r(bytes, 0, bytes.size());
  while (!r.done()) {
    uint32_t number = 0;
    uint32_t type = 0;
    if (absl::Status s = ReadTag(r, number, type); !s.ok()) return s;
    absl::Status s;
    const auto row = std::find_if(std::begin(kFields), std::end(kFields),
                                  [&](const Field& f) { return f.number == number; });
    if (row != std::end(kFields)) {
      const Field& f = *row;
      s = f.scalar != nullptr
              ? ReadDouble(r, type, f.name, f.range, report.*f.scalar)
              : ReadMapEntry(r, type, f.name, f.range, map_entries[row - std::begin(kFields)], report.*f.map);
    } else if (number == 3) {  // deprecated uint64 rps: checked and dropped
      uint64_t ignored = 0;
      s = type == kVarint ? r.Varint(ignored)
                          : Error(r.pos(), absl::StrCat("rps: wire type ", type, ", expected 0 (varint)"));
    } else {
      s = r.Skip(type);
    }
    if (!s.ok()) return s;
  }
  return report;
}

std::string EncodeOrcaLoadReport(const OrcaLoadReport& report) {
  std::string out;
  for (const Field& f : kFields) {
    if (f.scalar != nullptr) {
      PutDouble(out, f.number, report.*f.scalar);
    } else {
      PutMap(out, f.number, report.*f.map);
    }
  }
  return out;
}

namespace {

double UtilizationOf(const OrcaLoadReport& report) {
  return report.application_utilization > 0 ? report.application_utilization : report.cpu_utilization;
}

double WeightOf(double qps, double eps, double utilization) {
  if (!(qps > 0) || !(utilization > 0)) return 0;
  const double penalty = eps > 0 ? eps / qps * kOrcaErrorUtilizationPenalty : 0;
  return qps / (utilization + penalty);
}

constexpr int64_t kBlackoutNanos = std::chrono::nanoseconds(kOrcaBlackout).count();
constexpr int64_t kExpirationNanos = std::chrono::nanoseconds(kOrcaExpiration).count();

}  // namespace

double OrcaReportWeight(const OrcaLoadReport& report) {
  return WeightOf(report.rps_fractional, report.eps, UtilizationOf(report));
}

bool RecordOrcaLoad(EndpointStats& stats, const OrcaLoadReport& report, int64_t now_nanos) {
  stats.orca_reports.fetch_add(1, std::memory_order_relaxed);
  if (OrcaReportWeight(report) <= 0) return false;
  const int64_t last = stats.orca_report_nanos.load(std::memory_order_relaxed);
  // A58's non_empty_since: reset when the weight had expired, so the blackout applies again.
  if (last == INT64_MIN || now_nanos - last >= kExpirationNanos) {
    stats.orca_reporting_since_nanos.store(now_nanos, std::memory_order_relaxed);
  }
  stats.orca_utilization.store(UtilizationOf(report), std::memory_order_relaxed);
  stats.orca_qps.store(report.rps_fractional, std::memory_order_relaxed);
  stats.orca_eps.store(report.eps, std::memory_order_relaxed);
  stats.orca_report_nanos.store(now_nanos, std::memory_order_relaxed);
  return true;
}

double OrcaWeight(const EndpointStats& stats, int64_t now_nanos) {
  const int64_t last = stats.orca_report_nanos.load(std::memory_order_relaxed);
  if (last == INT64_MIN || now_nanos - last >= kExpirationNanos) return 0;
  const int64_t since = stats.orca_reporting_since_nanos.load(std::memory_order_relaxed);
  if (since == INT64_MIN || now_nanos - since < kBlackoutNanos) return 0;
  return WeightOf(stats.orca_qps.load(std::memory_order_relaxed), stats.orca_eps.load(std::memory_order_relaxed),
                  stats.orca_utilization.load(std::memory_order_relaxed));
}

}  // namespace k8slb
