// LatencySignal: the peak-EWMA update rule (see load_signal.h) and the load-signal names.
#include "k8slb/load_signal.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace k8slb {

std::string_view LoadSignalName(LoadSignal signal) {
  switch (signal) {
    case LoadSignal::kInFlight:
      return "in-flight";
    case LoadSignal::kPeakEwmaLatency:
      return "peak-ewma";
    case LoadSignal::kLatencyEwma:
      return "latency-ewma";
    case LoadSignal::kOrcaWeighted:
      return "orca-weighted";
  }
  return "in-flight";
}

std::optional<LoadSignal> ParseLoadSignal(std::string_view name) {
  if (name == "in-flight" || name == "in_flight") return LoadSignal::kInFlight;
  if (name == "peak-ewma" || name == "peak_ewma") return LoadSignal::kPeakEwmaLatency;
  if (name == "latency-ewma" || name == "latency_ewma") return LoadSignal::kLatencyEwma;
  if (name == "orca-weighted" || name == "orca_weighted") return LoadSignal::kOrcaWeighted;
  return std::nullopt;
}

LatencySignal::LatencySignal(std::chrono::nanoseconds decay, std::shared_ptr<Clock> clock, LoadSignal signal)
    : decay_nanos_(std::max<int64_t>(decay.count(), 1)),
      signal_(signal),
      clock_(clock != nullptr ? std::move(clock) : MakeSteadyClock()) {}

void LatencySignal::Record(EndpointStats& stats, CallStart start, CallOutcome outcome) const {
  if (outcome != CallOutcome::kSuccess) return;
  const int64_t now = clock_->NowNanos();
  const int64_t rtt = now - start.nanos;
  if (signal_ == LoadSignal::kLatencyEwma) {
    const int64_t sample = rtt / std::max<int32_t>(start.in_flight, 1);
    const uint32_t answers = stats.latency_answers.load(std::memory_order_relaxed);
    stats.latency_answers.store(answers == UINT32_MAX ? answers : answers + 1, std::memory_order_relaxed);
    if (answers < kFirstAnswers) {
      // The first answers start the EWMA at their minimum. One of them may carry the connection's
      // setup (TCP, TLS and HTTP/2 handshakes) or a scheduling delay: taken as the latency, it
      // prices a pod far above peers that answer in well under a millisecond, and an idle pod
      // priced so never wins a pair to be measured again. Until then the value is stored negated
      // (the cost reads it as unmeasured: one call at a time).
      const double prev = stats.latency_ewma_nanos.load(std::memory_order_relaxed);
      const double low = prev < 0 ? std::min(-prev, static_cast<double>(sample)) : static_cast<double>(sample);
      const bool done = answers + 1 == kFirstAnswers;
      stats.latency_ewma_nanos.store(done ? std::max(low, 1.0) : -std::max(low, 1.0), std::memory_order_relaxed);
      stats.latency_stamp_nanos.store(now, std::memory_order_relaxed);
      return;
    }
    UpdateMean(stats, sample, now, decay_nanos_);
  } else {
    Update(stats, rtt, now, decay_nanos_);
  }
}

void LatencySignal::UpdateMean(EndpointStats& stats, int64_t rtt_nanos, int64_t now_nanos, int64_t decay_nanos) {
  const double rtt = static_cast<double>(std::max<int64_t>(rtt_nanos, 0));
  const double prev = stats.latency_ewma_nanos.load(std::memory_order_relaxed);
  double next = rtt;  // the first sample
  if (prev > 0) {
    const int64_t stamp = stats.latency_stamp_nanos.load(std::memory_order_relaxed);
    const double dt = static_cast<double>(std::max<int64_t>(now_nanos - stamp, 0));
    const double w =
        std::max(1.0 - std::exp(-dt / static_cast<double>(std::max<int64_t>(decay_nanos, 1))), kSampleWeight);
    next = std::min(prev + (rtt - prev) * w, kMaxRise * prev);
  }
  stats.latency_ewma_nanos.store(next, std::memory_order_relaxed);
  stats.latency_stamp_nanos.store(now_nanos, std::memory_order_relaxed);
}

namespace {

// e^(−x) for x ≥ 0. On the pick path x is usually tiny (an endpoint that answered a few ms ago,
// τ = 10 s): there the cubic Taylor polynomial is exact to x⁴/24 < 5e-10 relative, at a fraction
// of std::exp's cost (two per peak-EWMA pick).
inline double DecayFactor(double x) {
  if (x < 0.01) return 1.0 - x * (1.0 - x * (0.5 - x * (1.0 / 6)));
  return std::exp(-x);
}

// The EWMA at `now_nanos` with Finagle's decay on read; 0 when unmeasured.
double DecayedLatency(const EndpointSignals& signals, int64_t now_nanos, int64_t decay_nanos) {
  double ewma = signals.latency_ewma_nanos.load(std::memory_order_relaxed);
  if (ewma > 0) {
    const int64_t age = now_nanos - signals.latency_stamp_nanos.load(std::memory_order_relaxed);
    if (age > 0) ewma *= DecayFactor(static_cast<double>(age) / static_cast<double>(std::max<int64_t>(decay_nanos, 1)));
  }
  return ewma > 0 ? ewma : 0.0;
}

double CostOf(double latency, int32_t pending) {
  if (latency <= 0) return pending > 0 ? LatencySignal::kUnmeasuredBusyCost + pending : 0.0;
  return latency * static_cast<double>(std::max(pending, 0) + 1);
}

}  // namespace

double LatencySignal::Cost(const EndpointLoad& load, const EndpointSignals& signals, int64_t now_nanos,
                          int64_t decay_nanos) {
  return CostOf(DecayedLatency(signals, now_nanos, decay_nanos), load.in_flight.load(std::memory_order_relaxed));
}

std::pair<double, double> LatencySignal::PairCost(const EndpointLoad& a_load, const EndpointSignals& a_signals,
                                                  const EndpointLoad& b_load, const EndpointSignals& b_signals,
                                                  int64_t now_nanos, int64_t decay_nanos) {
  const double la = DecayedLatency(a_signals, now_nanos, decay_nanos);
  const double lb = DecayedLatency(b_signals, now_nanos, decay_nanos);
  const int32_t pa = a_load.in_flight.load(std::memory_order_relaxed);
  const int32_t pb = b_load.in_flight.load(std::memory_order_relaxed);
  if (la > 0 && lb > 0 && la <= kLatencyTolerance * lb && lb <= kLatencyTolerance * la) {
    return {static_cast<double>(pa), static_cast<double>(pb)};
  }
  return {CostOf(la, pa), CostOf(lb, pb)};
}

void LatencySignal::Update(EndpointStats& stats, int64_t rtt_nanos, int64_t now_nanos, int64_t decay_nanos) {
  const double rtt = static_cast<double>(std::max<int64_t>(rtt_nanos, 0));
  const double prev = stats.latency_ewma_nanos.load(std::memory_order_relaxed);
  double next = rtt;  // the peak: a slower sample replaces the value at once
  if (rtt <= prev) {
    const int64_t stamp = stats.latency_stamp_nanos.load(std::memory_order_relaxed);
    const double dt = static_cast<double>(std::max<int64_t>(now_nanos - stamp, 0));
    const double w = std::exp(-dt / static_cast<double>(std::max<int64_t>(decay_nanos, 1)));
    next = prev * w + rtt * (1.0 - w);
  }
  stats.latency_ewma_nanos.store(next, std::memory_order_relaxed);
  stats.latency_stamp_nanos.store(now_nanos, std::memory_order_relaxed);
}

}  // namespace k8slb
