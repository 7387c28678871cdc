// Helpers shared by the discovery benchmark modes (one binary, k8slb_discovery_bench).
#ifndef K8SLB_BENCH_DISCOVERY_BENCH_UTIL_H_
#define K8SLB_BENCH_DISCOVERY_BENCH_UTIL_H_

#include <cstdio>
#include <fstream>
#include <cstdint>
#include <string>
#include <vector>

namespace k8slb::bench {

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"); -1 when unreadable.
inline long ProcStatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  }
  return -1;
}

// "load average: 1.20, 0.90, 0.70" from /proc/loadavg, printed beside every figure.
inline std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  return buf;
}

int RunNesting(size_t bytes, bool list_page, bool flat);

// Backoff overrides for the outage modes; negative: the library's default.
struct BackoffFlags {
  int64_t initial_ms = -1, max_ms = -1;
  double jitter = -1;
};
int RunOutage(const std::vector<int>& outages_s, int trials, const BackoffFlags& flags);
int RunReconnect(int clients, int outage_s, const BackoffFlags& flags);
int RunProbe();
int RunChurn(int events);

}  // namespace k8slb::bench

#endif  // K8SLB_BENCH_DISCOVERY_BENCH_UTIL_H_
