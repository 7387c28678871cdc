#include "grpc/outlier_detector.h"

#include <grpcpp/support/status.h>

#include <algorithm>
#include <iostream>
#include <utility>

namespace k8slb::internal {

CallOutcome ClassifyStatusCode(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::OK:
      return CallOutcome::kSuccess;
    case grpc::StatusCode::UNAVAILABLE:
      return CallOutcome::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return CallOutcome::kNeutral;
    default:
      return CallOutcome::kServerError;
  }
}

OutlierDetector::OutlierDetector(OutlierDetectionOptions options, std::shared_ptr<Clock> clock, LogSink log,
                                 std::string name)
    : options_(options),
      clock_(clock != nullptr ? std::move(clock) : MakeSteadyClock()),
      log_(std::move(log)),
      name_(std::move(name)) {}

void OutlierDetector::SetEndpoints(std::shared_ptr<const EndpointSet> set) {
  std::lock_guard<std::mutex> lock(mu_);
  set_ = std::move(set);
}

bool OutlierDetector::Record(EndpointStats& stats, EjectionState& state, CallOutcome outcome,
                             std::string_view endpoint_name) {
  switch (outcome) {
    case CallOutcome::kSuccess:
      stats.successes.fetch_add(1, std::memory_order_relaxed);
      // Store only when needed: a relaxed load is cheaper than a write to a shared line.
      if (stats.consecutive_failures.load(std::memory_order_relaxed) != 0) {
        stats.consecutive_failures.store(0, std::memory_order_relaxed);
      }
      return false;
    case CallOutcome::kServerError:
      stats.failures.fetch_add(1, std::memory_order_relaxed);
      stats.consecutive_failures.store(0, std::memory_order_relaxed);
      return false;
    case CallOutcome::kNeutral:
      stats.failures.fetch_add(1, std::memory_order_relaxed);
      return false;
    case CallOutcome::kUnavailable:
      break;
  }
  stats.failures.fetch_add(1, std::memory_order_relaxed);
  uint32_t consecutive = stats.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint32_t threshold = options_.consecutive_unavailable;
  if (threshold == 0 || consecutive < threshold) return false;

  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = clock_->NowNanos();
  if (stats.ejected_until_nanos.load(std::memory_order_relaxed) > now) return false;  // already out
  if (stats.consecutive_failures.load(std::memory_order_relaxed) < threshold) return false;  // raced
  if (set_ == nullptr) return false;
  size_t total = set_->size();
  size_t ejected = 0;
  bool member = false;
  for (const Endpoint& e : set_->endpoints()) {
    if (e.stats.get() == &stats) member = true;
    if (e.stats != nullptr && e.stats->ejected_until_nanos.load(std::memory_order_relaxed) > now) ++ejected;
  }
  // An endpoint that already left the set is not picked anyway.
  if (!member) return false;
  // Envoy's max_ejection_percent: never eject beyond the share (the count stays at the threshold,
  // so the endpoint is ejected by its next UNAVAILABLE once room frees up).
  if ((ejected + 1) * 100 > static_cast<size_t>(options_.max_ejection_percent) * total) return false;

  const int64_t base = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.base_ejection_time).count();
  const int64_t max = std::max<int64_t>(
      base, std::chrono::duration_cast<std::chrono::nanoseconds>(options_.max_ejection_time).count());
  // The multiplier decays by one per base period spent healthy since the last ejection ended
  // (Envoy decrements it on every healthy interval), so a pod that flaps keeps growing its ejection
  // and a pod that recovered for good starts over.
  if (state.multiplier > 0 && base > 0 && now > state.last_ejection_end_nanos) {
    int64_t healthy_periods = (now - state.last_ejection_end_nanos) / base;
    state.multiplier = healthy_periods >= state.multiplier ? 0 : state.multiplier - static_cast<uint32_t>(healthy_periods);
  }
  state.multiplier += 1;
  int64_t duration = base > 0 && state.multiplier > static_cast<uint32_t>(max / base) ? max : base * state.multiplier;
  duration = std::min(duration, max);
  stats.ejected_until_nanos.store(now + duration, std::memory_order_relaxed);
  state.last_ejection_end_nanos = now + duration;
  stats.ejections.fetch_add(1, std::memory_order_relaxed);
  stats.consecutive_failures.store(0, std::memory_order_relaxed);
  std::string message = "k8slb: " + name_ + ": ejected " + std::string(endpoint_name) + " for " +
                        std::to_string(duration / 1000000) + " ms after " + std::to_string(threshold) +
                        " consecutive UNAVAILABLE (ejection " + std::to_string(state.multiplier) + ")";
  if (log_) {
    log_(LogLevel::kWarning, message);
  } else {
    std::cerr << message << "\n";
  }
  return true;
}

std::string OutlierDetector::AllIneligibleNote() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (set_ == nullptr || set_->empty()) return "";
  const int64_t now = clock_->NowNanos();
  size_t ejected = 0;
  size_t failing = 0;
  for (const Endpoint& e : set_->endpoints()) {
    if (e.stats == nullptr || e.stats->Eligible(now)) return "";
    if (e.stats->ejected_until_nanos.load(std::memory_order_relaxed) > now) ++ejected;
    if (e.stats->connection_failing.load(std::memory_order_relaxed)) ++failing;
  }
  return " (k8slb: all " + std::to_string(set_->size()) + " endpoints of " + name_ +
         " are unusable: " + std::to_string(ejected) + " ejected, " + std::to_string(failing) +
         " failing to connect)";
}

}  // namespace k8slb::internal
