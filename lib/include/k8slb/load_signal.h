// Load signals: what a power-of-two-choices picker compares between its two candidates, and the
// one recording rule for the latency signal, shared by the gRPC layer's call interceptor and the
// simulator's virtual engine.
//
// LatencySignal is immutable after construction and thread-safe: Record() may run on any number
// of call-completion threads at once and takes no lock (it updates EndpointStats' atomics).
#ifndef K8SLB_LOAD_SIGNAL_H_
#define K8SLB_LOAD_SIGNAL_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "k8slb/call_outcome.h"
#include "k8slb/endpoint_set.h"
#include "k8slb/random.h"

namespace k8slb {

enum class LoadSignal {
  // Requests in flight (Envoy's least_request; Mitzenmacher's power of two choices).
  kInFlight,
  // Peak-EWMA latency × (in flight + 1), as Finagle's and Linkerd's balancers: an endpoint that is
  // slow but not yet busy is avoided too. Needs LatencySignal::Record on every finished call.
  kPeakEwmaLatency,
  // The default (kDefaultPolicyName): a latency EWMA without peak capture, each sample (latency
  // per call in flight at the call's start) weighing at least half (LatencySignal::Record,
  // UpdateMean), decayed on read like peak-ewma, and compared with a tolerance
  // (LatencySignal::PairCost): two candidates whose latencies are within kLatencyTolerance of each
  // other compare requests in flight, as least-request does; otherwise latency × (in flight + 1).
  // Peak capture lets one latency spike of a fast endpoint (a GC pause, a busy core) price it like
  // a slow one until time decays it; per-sample weights let an endpoint that answers often recover
  // within a few calls. The tolerance keeps equal endpoints equal: compared exactly, the noise of
  // sub-millisecond latencies ranks idle equal endpoints, and the one ranked last loses every pair.
  kLatencyEwma,
  // (in flight + 1) / weight, the weight from the servers' ORCA load reports as gRPC's
  // weighted_round_robin computes it (gRFC A58: qps / (utilization + eps/qps); orca.h). An
  // endpoint without a weight yet (no reports, the 10-s blackout, a report older than 3 min)
  // takes the other candidate's, so two such endpoints compare in-flight counts. Needs servers
  // that attach reports (k8slb/orca_server.h); the gRPC layer records them on every call.
  kOrcaWeighted,
};

std::string_view LoadSignalName(LoadSignal signal);  // "in-flight" | "peak-ewma" | "latency-ewma" |
                                                     // "orca-weighted"
std::optional<LoadSignal> ParseLoadSignal(std::string_view name);
// Whether a picker over `signal` needs every finished call recorded with a LatencySignal.
constexpr bool RecordsLatency(LoadSignal signal) {
  return signal == LoadSignal::kPeakEwmaLatency || signal == LoadSignal::kLatencyEwma;
}

// Decay time of the latency EWMA (Linkerd's default, 10 s).
inline constexpr std::chrono::milliseconds kDefaultLatencyDecay{10000};

// The latency signals' recording rules. Peak-EWMA, after Finagle's PeakEwma
// (com.twitter.finagle.loadbalancer.PeakEwma): a sample above the current value replaces it at
// once (the peak), a lower one is blended in with weight 1 − exp(−Δt/τ), Δt being the time since
// the previous sample. latency-ewma: Record and UpdateMean below. For both, only successful calls
// count: a fast failure must not make an endpoint look cheap (failures are outlier detection's
// business). Two racing samples may lose one, which a statistic can afford.
class LatencySignal {
 public:
  // `clock` null: steady clock. A non-positive decay is treated as 1 ns (the last sample wins).
  // `signal`: which update rule Record applies (kLatencyEwma: UpdateMean; else Update).
  explicit LatencySignal(std::chrono::nanoseconds decay = kDefaultLatencyDecay, std::shared_ptr<Clock> clock = nullptr,
                         LoadSignal signal = LoadSignal::kPeakEwmaLatency);

  // When a call started and how many calls its endpoint had in flight then, itself included.
  struct CallStart {
    int64_t nanos = 0;
    int32_t in_flight = 1;
  };
  // Take it when a call starts, after the pick counted it in `stats`, and pass it to Record when
  // the call ends.
  CallStart Start(const EndpointStats& stats) const {
    return {clock_->NowNanos(), stats.in_flight.load(std::memory_order_relaxed)};
  }
  // Records a finished call. kLatencyEwma records the latency per call in flight at its start
  // (latency / max(in_flight, 1)): the cost multiplies the value by the endpoint's (in flight + 1)
  // again, so an endpoint measured while busy is not charged for its queue twice (a fast pod
  // whose answers took 4 ms with 4 calls in flight costs 5 ms at that load, not 20), while a slow
  // pod measured alone keeps its full latency; and it starts an endpoint's EWMA at the minimum of
  // its first kFirstAnswers answers (one may carry the connection's setup; unmeasured until then).
  // kPeakEwmaLatency records the latency itself (Finagle's rule).
  void Record(EndpointStats& stats, CallStart start, CallOutcome outcome) const;

  // The peak-EWMA update rule itself, with explicit times.
  static void Update(EndpointStats& stats, int64_t rtt_nanos, int64_t now_nanos, int64_t decay_nanos);
  // The latency-EWMA rule (kLatencyEwma): the first sample sets the value; each later one moves
  // it by max(kSampleWeight, 1 − e^(−Δt/τ)) of the difference, Δt since the previous sample, but
  // never above kMaxRise times the value: one outlier (a GC pause, a call queued behind a
  // reconnect) at most doubles an endpoint's price, which keeps it within reach of its peers'
  // in-flight comparison, while a pod that is really slower gets there within a few answers.
  static void UpdateMean(EndpointStats& stats, int64_t rtt_nanos, int64_t now_nanos, int64_t decay_nanos);
  static constexpr double kSampleWeight = 0.5;
  static constexpr double kMaxRise = 2.0;
  static constexpr uint32_t kFirstAnswers = 3;
  // latency-ewma's comparison of two candidates (lower wins): their in-flight counts when both
  // are measured and their decayed latencies are within kLatencyTolerance of each other, else
  // their Cost()s.
  static std::pair<double, double> PairCost(const EndpointLoad& a_load, const EndpointSignals& a_signals,
                                            const EndpointLoad& b_load, const EndpointSignals& b_signals,
                                            int64_t now_nanos, int64_t decay_nanos);
  static std::pair<double, double> PairCost(const EndpointStats& a, const EndpointStats& b, int64_t now_nanos,
                                            int64_t decay_nanos) {
    return PairCost(a.load(), a.signals(), b.load(), b.signals(), now_nanos, decay_nanos);
  }
  static constexpr double kLatencyTolerance = 2.0;
  // The peak-EWMA cost at `now_nanos`, with Finagle's decay on read: the EWMA as it would be had
  // a zero-latency sample arrived now (ewma · e^(−age/τ), age = now − last update), times
  // (in_flight + 1). An endpoint that has not answered lately (a stale peak, or no traffic
  // because it looked slow) drifts back toward the others and is probed again, never starved
  // forever. Unmeasured: 0 when idle (tried at once), kUnmeasuredBusyCost + in_flight when it
  // has calls in flight (Finagle's Penalty), so a new or silent endpoint holds one call, not the
  // whole load, until it answers.
  static double Cost(const EndpointLoad& load, const EndpointSignals& signals, int64_t now_nanos,
                     int64_t decay_nanos);
  static double Cost(const EndpointStats& stats, int64_t now_nanos, int64_t decay_nanos) {
    return Cost(stats.load(), stats.signals(), now_nanos, decay_nanos);
  }
  // The EWMA as readers outside the pick see it (metrics): 0 while unmeasured, including
  // latency-ewma's first answers (stored negated until the EWMA starts).
  static double Ewma(const EndpointStats& stats) {
    return std::max(stats.latency_ewma_nanos.load(std::memory_order_relaxed), 0.0);
  }
  // Finagle's Penalty (Long.MaxValue >> 16): above any measured cost.
  static constexpr double kUnmeasuredBusyCost = static_cast<double>(INT64_MAX >> 16);

  int64_t decay_nanos() const { return decay_nanos_; }
  LoadSignal signal() const { return signal_; }

 private:
  int64_t decay_nanos_;
  LoadSignal signal_;
  std::shared_ptr<Clock> clock_;
};

}  // namespace k8slb

#endif  // K8SLB_LOAD_SIGNAL_H_
