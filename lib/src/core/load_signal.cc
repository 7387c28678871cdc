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

void LatencySignal::Record(EndpointStats& stats, int64_t start_nanos, CallOutcome outcome) const {
  if (outcome != CallOutcome::kSuccess) return;
  const int64_t now = clock_->NowNanos();
  if (signal_ == LoadSignal::kLatencyEwma) {
    UpdateMean(stats, now - start_nanos, now, decay_nanos_);
  } else {
    Update(stats, now - start_nanos, now, decay_nanos_);
  }
}

void LatencySignal::UpdateMean(EndpointStats& stats, int64_t rtt_nanos, int64_t now_nanos, int64_t decay_nanos) {
  const double rtt = static_cast<double>(std::max<int64_t>(rtt_nanos, 0));
  const double prev = stats.latency_ewma_nanos.load(std::memory_order_relaxed);
  double next = rtt;  // the first sample
  if (prev > 0) {
    double w = kRiseWeight;
    if (rtt < prev) {
      const int64_t stamp = stats.latency_stamp_nanos.load(std::memory_order_relaxed);
      const double dt = static_cast<double>(std::max<int64_t>(now_nanos - stamp, 0));
      w = std::max(1.0 - std::exp(-dt / static_cast<double>(std::max<int64_t>(decay_nanos, 1))), kMinFallWeight);
    }
    next = prev + (rtt - prev) * w;
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

}  // namespace

double LatencySignal::Cost(const EndpointLoad& load, int64_t now_nanos, int64_t decay_nanos) {
  const int32_t pending = load.in_flight.load(std::memory_order_relaxed);
  double ewma = load.latency_ewma_nanos.load(std::memory_order_relaxed);
  if (ewma > 0) {
    const int64_t age = now_nanos - load.latency_stamp_nanos.load(std::memory_order_relaxed);
    if (age > 0) ewma *= DecayFactor(static_cast<double>(age) / static_cast<double>(std::max<int64_t>(decay_nanos, 1)));
  }
  if (ewma <= 0) return pending > 0 ? kUnmeasuredBusyCost + pending : 0.0;
  return ewma * static_cast<double>(std::max(pending, 0) + 1);
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
