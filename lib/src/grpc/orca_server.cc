// Server-side ORCA (orca_server.h): the trailer and the load tracker.
#include "k8slb/orca_server.h"

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <string>
#include <utility>

namespace k8slb {
namespace {

int64_t ProcessCpuNanos() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto nanos = [](const timeval& t) { return int64_t{t.tv_sec} * 1'000'000'000 + int64_t{t.tv_usec} * 1000; };
  return nanos(u.ru_utime) + nanos(u.ru_stime);
}

int AffinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(CPU_COUNT(&set), 1);
  return 1;
}

}  // namespace

void AttachOrcaLoadReport(grpc::ServerContextBase& context, const OrcaLoadReport& report) {
  std::string bytes = EncodeOrcaLoadReport(report);
  context.AddTrailingMetadata(std::string(kOrcaMirrorTrailerKey), bytes);
  context.AddTrailingMetadata(std::string(kOrcaTrailerKey), std::move(bytes));
}

ServerLoadTracker::ServerLoadTracker(Options options)
    : clock_(options.clock != nullptr ? std::move(options.clock) : MakeSteadyClock()),
      cpu_nanos_(options.cpu_nanos != nullptr ? std::move(options.cpu_nanos) : std::function<int64_t()>(ProcessCpuNanos)),
      cpu_count_(options.cpu_count > 0 ? options.cpu_count : AffinityCpus()),
      window_start_(clock_->NowNanos()),
      window_cpu_(cpu_nanos_()) {}

void ServerLoadTracker::CallFinished(bool error) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  const int64_t now = clock_->NowNanos();
  absl::MutexLock lock(&mu_);
  Roll(now);
  ++calls_;
  if (error) ++errors_;
}

void ServerLoadTracker::Roll(int64_t now) {
  const int64_t elapsed = now - window_start_;
  if (elapsed < kWindowNanos) return;
  // The window [start, start + 1 s) is complete. If another whole window has passed since, that
  // one is the last complete window and it saw no calls (every call lands in the current window).
  const bool idle_since = elapsed >= 2 * kWindowNanos;
  last_rps_ = idle_since ? 0 : static_cast<double>(calls_);
  last_eps_ = idle_since ? 0 : static_cast<double>(errors_);
  const int64_t cpu = cpu_nanos_();
  last_cpu_ = static_cast<double>(std::max<int64_t>(cpu - window_cpu_, 0)) /
              (static_cast<double>(elapsed) * static_cast<double>(cpu_count_));
  have_last_ = true;
  window_start_ += (elapsed / kWindowNanos) * kWindowNanos;
  window_cpu_ = cpu;
  calls_ = 0;
  errors_ = 0;
}

OrcaLoadReport ServerLoadTracker::Report() {
  const int64_t now = clock_->NowNanos();
  OrcaLoadReport report;
  {
    absl::MutexLock lock(&mu_);
    Roll(now);
    if (have_last_) {
      report.rps_fractional = last_rps_;
      report.eps = last_eps_;
      report.cpu_utilization = last_cpu_;
    }
  }
  report.named_metrics.emplace_back("in_flight", static_cast<double>(std::max<int64_t>(in_flight(), 0)));
  return report;
}

}  // namespace k8slb
