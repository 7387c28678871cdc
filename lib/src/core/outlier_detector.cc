// OutlierDetector: consecutive-unavailable ejection with a decaying multiplier and a cap on the
// ejected share (see outlier_detector.h).
#include "k8slb/outlier_detector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "util/string_view.h"

namespace k8slb {

absl::Status ValidateOutlierDetectionOptions(const OutlierDetectionOptions& options) {
  if (options.max_ejection_percent > 100) {
    return absl::InvalidArgumentError("outlier.max_ejection_percent must be at most 100");
  }
  if (options.base_ejection_time.count() < 0) {
    return absl::InvalidArgumentError("outlier.base_ejection_time must not be negative");
  }
  if (options.max_ejection_time.count() < 0) {
    return absl::InvalidArgumentError("outlier.max_ejection_time must not be negative");
  }
  return absl::OkStatus();
}

std::string DescribeEjection(const Ejection& ejection, std::string_view endpoint_name) {
  return absl::StrCat("ejected ", util::AbslView(endpoint_name), " for ",
                      std::chrono::duration_cast<std::chrono::milliseconds>(ejection.duration).count(),
                      " ms after ", ejection.consecutive, " consecutive UNAVAILABLE (ejection ",
                      ejection.multiplier, ")");
}

OutlierDetector::OutlierDetector(OutlierDetectionOptions options, std::shared_ptr<Clock> clock, std::string name)
    : options_(options),
      clock_(clock != nullptr ? std::move(clock) : MakeSteadyClock()),
      name_(std::move(name)) {}

void OutlierDetector::SetEndpoints(std::shared_ptr<const EndpointSet> set) {
  absl::MutexLock lock(&mu_);
  set_ = std::move(set);
}

std::optional<Ejection> OutlierDetector::Record(EndpointStats& stats, CallOutcome outcome) {
  switch (outcome) {
    case CallOutcome::kSuccess:
      stats.successes.fetch_add(1, std::memory_order_relaxed);
      // Store only when needed: a relaxed load is cheaper than a write to a shared line.
      if (stats.consecutive_failures.load(std::memory_order_relaxed) != 0) {
        stats.consecutive_failures.store(0, std::memory_order_relaxed);
      }
      return std::nullopt;
    case CallOutcome::kServerError:
      stats.failures.fetch_add(1, std::memory_order_relaxed);
      stats.consecutive_failures.store(0, std::memory_order_relaxed);
      return std::nullopt;
    case CallOutcome::kNeutral:
      stats.failures.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    case CallOutcome::kUnavailable:
      break;
  }
  stats.failures.fetch_add(1, std::memory_order_relaxed);
  const uint32_t consecutive = stats.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint32_t threshold = options_.consecutive_unavailable;
  if (threshold == 0 || consecutive < threshold) return std::nullopt;
  absl::MutexLock lock(&mu_);
  return MaybeEjectLocked(stats);
}

std::optional<Ejection> OutlierDetector::MaybeEjectLocked(EndpointStats& stats) {
  const uint32_t threshold = options_.consecutive_unavailable;
  const int64_t now = clock_->NowNanos();
  if (stats.ejected_until_nanos.load(std::memory_order_relaxed) > now) return std::nullopt;  // already out
  if (stats.consecutive_failures.load(std::memory_order_relaxed) < threshold) return std::nullopt;  // raced
  if (set_ == nullptr) return std::nullopt;
  const size_t total = set_->size();
  size_t ejected = 0;
  bool member = false;
  for (const Endpoint& e : set_->endpoints()) {
    if (e.stats.get() == &stats) member = true;
    if (e.stats != nullptr && e.stats->ejected_until_nanos.load(std::memory_order_relaxed) > now) ++ejected;
  }
  // An endpoint that already left the set is not picked anyway.
  if (!member) return std::nullopt;
  // Envoy's max_ejection_percent: never eject beyond the share (the count stays at the threshold,
  // so the endpoint is ejected by its next kUnavailable once room frees up).
  if ((ejected + 1) * 100 > static_cast<size_t>(options_.max_ejection_percent) * total) return std::nullopt;

  const int64_t base = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.base_ejection_time).count();
  const int64_t max = std::max<int64_t>(
      base, std::chrono::duration_cast<std::chrono::nanoseconds>(options_.max_ejection_time).count());
  // The multiplier decays by one per base period spent healthy since the last ejection ended (as
  // Envoy decrements it on every interval without an ejection), so a pod that flaps keeps growing
  // its ejection and a pod that recovered for good starts over.
  uint32_t multiplier = stats.ejection_multiplier.load(std::memory_order_relaxed);
  const int64_t last_end = stats.last_ejection_end_nanos.load(std::memory_order_relaxed);
  if (multiplier > 0 && base > 0 && now > last_end) {
    const int64_t healthy_periods = (now - last_end) / base;
    multiplier = healthy_periods >= multiplier ? 0 : multiplier - static_cast<uint32_t>(healthy_periods);
  }
  multiplier += 1;
  int64_t duration = base > 0 && multiplier > static_cast<uint32_t>(max / base) ? max : base * multiplier;
  duration = std::min(duration, max);
  stats.ejection_multiplier.store(multiplier, std::memory_order_relaxed);
  stats.last_ejection_end_nanos.store(now + duration, std::memory_order_relaxed);
  stats.SetEjectedUntil(now + duration);
  stats.ejections.fetch_add(1, std::memory_order_relaxed);
  stats.consecutive_failures.store(0, std::memory_order_relaxed);
  return Ejection{.duration = std::chrono::nanoseconds(duration), .multiplier = multiplier, .consecutive = threshold};
}

std::string OutlierDetector::AllIneligibleNote() const {
  absl::MutexLock lock(&mu_);
  if (set_ == nullptr || set_->empty()) return "";
  const int64_t now = clock_->NowNanos();
  size_t ejected = 0;
  size_t failing = 0;
  for (const Endpoint& e : set_->endpoints()) {
    if (e.stats == nullptr || e.stats->Eligible(now)) return "";
    if (e.stats->ejected_until_nanos.load(std::memory_order_relaxed) > now) ++ejected;
    if (e.stats->connection_failing.load(std::memory_order_relaxed)) ++failing;
  }
  return absl::StrCat(" (k8slb: all ", set_->size(), " endpoints of ", name_, " are unusable: ", ejected,
                      " ejected, ", failing, " failing to connect)");
}

}  // namespace k8slb
