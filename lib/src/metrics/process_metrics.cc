// Process metrics as the Prometheus client libraries' process collector exports them
// (https://github.com/prometheus/client_golang/blob/main/prometheus/process_collector.go), read
// from procfs (https://man7.org/linux/man-pages/man5/proc.5.html, /proc/[pid]/stat fields 14, 15,
// 22, 23, 24 and /proc/stat btime).
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "k8slb/metrics_http.h"

namespace k8slb {
namespace {

// Small files under /proc: their size is reported as 0, so read to the end, bounded.
std::optional<std::string> ReadProcFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string out;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > (1u << 20)) return std::nullopt;
  }
  return out;
}

std::optional<double> BootTimeSeconds() {
  auto stat = ReadProcFile("/proc/stat");
  if (!stat) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      double v = 0;
      if (absl::SimpleAtod(line, &v)) return v;
    }
  }
  return std::nullopt;
}

std::optional<size_t> OpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  size_t n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // the directory stream's own descriptor
}

void Append(std::string& out, const char* name, const char* type, const char* help, double value) {
  char num[64];
  std::snprintf(num, sizeof num, "%.17g", value);
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + num + "\n";
}

}  // namespace

std::string RenderProcessMetrics() {
  std::string out;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (auto stat = ReadProcFile("/proc/self/stat"); stat && ticks > 0) {
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    size_t close = stat->rfind(')');
    if (close != std::string::npos) {
      std::vector<std::string> f = absl::StrSplit(stat->substr(close + 1), ' ', absl::SkipEmpty());
      // f[0] is field 3 (state), so field N is f[N - 3].
      double utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
      if (f.size() > 21 && absl::SimpleAtod(f[11], &utime) && absl::SimpleAtod(f[12], &stime) &&
          absl::SimpleAtod(f[19], &start) && absl::SimpleAtod(f[20], &vsize) && absl::SimpleAtod(f[21], &rss)) {
        Append(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
               (utime + stime) / ticks);
        Append(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss * page);
        Append(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", vsize);
        if (auto boot = BootTimeSeconds()) {
          Append(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                 *boot + start / ticks);
        }
      }
    }
  }
  if (auto fds = OpenFds()) {
    Append(out, "process_open_fds", "gauge", "Number of open file descriptors.", static_cast<double>(*fds));
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    Append(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
           static_cast<double>(limit.rlim_cur));
  }
  return out;
}

}  // namespace k8slb
