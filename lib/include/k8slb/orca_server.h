// The server side of per-call ORCA load reports (gRFC A51,
// https://github.com/grpc/proposal/blob/master/A51-custom-backend-metrics.md): attach a report to
// a reply's trailers, and a small tracker that measures what a report says (calls in flight,
// requests and errors per second, process CPU utilization).
//
// AttachOrcaLoadReport is a free function for a handler's thread. ServerLoadTracker is
// thread-safe: any handler thread may call CallStarted/CallFinished/Report at once.
#ifndef K8SLB_ORCA_SERVER_H_
#define K8SLB_ORCA_SERVER_H_

#include <grpcpp/server_context.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "k8slb/orca.h"
#include "k8slb/random.h"

namespace k8slb {

// Adds `report` to the call's trailing metadata as `endpoint-load-metrics-bin` (the serialized
// xds.data.orca.v3.OrcaLoadReport; grpc++ base64s "-bin" values on the wire and gives the client
// the raw bytes), for any A51 client (gRPC's weighted_round_robin and xDS policies in every
// language), and the same bytes as `k8slb-load-report-bin` (kOrcaMirrorTrailerKey), which is the
// one a k8slb client on grpc++ 1.51 can read: its core keeps endpoint-load-metrics-bin for its
// own LB policies and does not hand it to the application (orca.h). Call before the call finishes (before Finish on a reactor or returning from a
// synchronous handler). Takes ServerContextBase so that both the synchronous ServerContext and
// the callback API's CallbackServerContext work.
void AttachOrcaLoadReport(grpc::ServerContextBase& context, const OrcaLoadReport& report);

// Measures a server's load for its reports. Counts calls in flight, and completed calls and
// errors over fixed 1-second windows: a report gives the rates of the last complete window (the
// current one is partial and would under-report), and zeros before the first window has ended
// (a client treats a zero rate as no weight yet, gRFC A58). CPU utilization is the process's CPU time (getrusage: user + system) over
// the same window divided by wall time × the CPUs the process may run on (sched_getaffinity), so
// a process using all its CPUs reports 1.
//
// Thread-safe: a mutex guards the window (taken once per finished call and per report, for a few
// additions); in_flight is an atomic.
class ServerLoadTracker {
 public:
  struct Options {
    std::shared_ptr<Clock> clock;         // null: the steady clock
    std::function<int64_t()> cpu_nanos;   // null: this process's CPU time (getrusage)
    int cpu_count = 0;                    // <= 0: the CPUs in this process's affinity mask
  };
  ServerLoadTracker() : ServerLoadTracker(Options{}) {}
  explicit ServerLoadTracker(Options options);

  void CallStarted() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  // `error`: the call did not succeed (counts toward eps as well as rps).
  void CallFinished(bool error);

  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  // cpu_utilization, rps_fractional and eps as above; named_metrics {"in_flight": calls in flight}.
  // application_utilization is left 0: the application may set it (clients then prefer it to the
  // CPU figure, gRFC A58).
  OrcaLoadReport Report();

  static constexpr int64_t kWindowNanos = 1'000'000'000;

 private:
  // Closes windows that ended by `now` (the caller holds mu_).
  void Roll(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<Clock> clock_;
  const std::function<int64_t()> cpu_nanos_;
  const int cpu_count_;
  std::atomic<int64_t> in_flight_{0};
  absl::Mutex mu_;
  int64_t window_start_ ABSL_GUARDED_BY(mu_);
  int64_t window_cpu_ ABSL_GUARDED_BY(mu_);  // CPU time at window_start_
  uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;  // in the current window
  uint64_t errors_ ABSL_GUARDED_BY(mu_) = 0;
  bool have_last_ ABSL_GUARDED_BY(mu_) = false;  // a window has ended
  double last_rps_ ABSL_GUARDED_BY(mu_) = 0;
  double last_eps_ ABSL_GUARDED_BY(mu_) = 0;
  double last_cpu_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace k8slb

#endif  // K8SLB_ORCA_SERVER_H_
