#include "load_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "util/percentile.h"

namespace k8slb::client {
namespace {

std::vector<const RpcRecord*> ByCompletion(const LoadReport& report) {
  std::vector<const RpcRecord*> out;
  for (const RpcRecord& r : report.records) out.push_back(&r);
  std::stable_sort(out.begin(), out.end(), [](const RpcRecord* a, const RpcRecord* b) { return a->end_us < b->end_us; });
  return out;
}

// Latency in ms of the nearest-rank percentile q of latencies in microseconds.
double PercentileMs(const std::vector<int64_t>& latencies_us, double q) {
  return static_cast<double>(util::Percentile(latencies_us, q)) / 1000.0;
}

}  // namespace

std::string FormatJson(const LoadReport& report) {
  // Insertion order, so "frontend" comes first as in the classic demo's output.
  nlohmann::ordered_json j;
  j["frontend"] = report.frontend;
  nlohmann::ordered_json backends = nlohmann::ordered_json::array();
  nlohmann::ordered_json rpcs = nlohmann::ordered_json::array();
  size_t failed = 0;
  std::map<std::string, size_t> errors;
  for (const RpcRecord* r : ByCompletion(report)) {
    rpcs.push_back({{"pod", r->pod}, {"sent_us", r->end_us - r->latency_us}, {"latency_us", r->latency_us},
                    {"code", r->code}});
    if (r->code == 0) {
      backends.push_back(r->pod);
    } else {
      ++failed;
      ++errors[r->error];
    }
  }
  j["backends"] = std::move(backends);
  j["failed"] = failed;
  j["errors"] = errors;
  j["target"] = report.target;
  j["policy"] = report.policy;
  j["duration_s"] = report.duration_s;
  j["start_unix_us"] = report.start_unix_us;
  j["rpcs"] = std::move(rpcs);
  return j.dump() + "\n";
}

std::string FormatTable(const LoadReport& report) {
  std::map<std::string, std::vector<int64_t>> latencies;
  std::vector<int64_t> all;
  size_t ok = 0;
  size_t failed = 0;
  for (const RpcRecord& r : report.records) {
    if (r.code == 0) {
      latencies[r.pod].push_back(r.latency_us);
      all.push_back(r.latency_us);
      ++ok;
    } else {
      ++failed;
    }
  }
  size_t width = 3;
  for (const auto& [pod, l] : latencies) width = std::max(width, pod.size());
  std::string out;
  char line[512];
  double qps = report.duration_s > 0 ? static_cast<double>(ok + failed) / report.duration_s : 0;
  std::snprintf(line, sizeof line, "# frontend %s target %s policy %s: %zu ok, %zu failed in %.2f s (%.0f RPC/s)\n",
                report.frontend.c_str(), report.target.c_str(), report.policy.c_str(), ok, failed, report.duration_s, qps);
  out += line;
  std::snprintf(line, sizeof line, "# %-*s %8s %7s %9s %9s\n", static_cast<int>(width) - 2, "pod", "count", "share",
                "p50_ms", "p99_ms");
  out += line;
  for (const auto& [pod, l] : latencies) {
    double share = ok > 0 ? 100.0 * static_cast<double>(l.size()) / static_cast<double>(ok) : 0;
    std::snprintf(line, sizeof line, "%-*s %8zu %6.1f%% %9.3f %9.3f\n", static_cast<int>(width), pod.c_str(), l.size(),
                  share, PercentileMs(l, 0.50), PercentileMs(l, 0.99));
    out += line;
  }
  std::snprintf(line, sizeof line, "# all: p50 %.3f ms, p99 %.3f ms\n", PercentileMs(all, 0.50),
                PercentileMs(all, 0.99));
  out += line;
  return out;
}

}  // namespace k8slb::client
