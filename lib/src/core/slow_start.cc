// Slow start's factor and the carrying of ramp starts across snapshots (see slow_start.h).
#include "k8slb/slow_start.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"

namespace k8slb {

absl::Status ValidateSlowStartOptions(const SlowStartOptions& options, std::string_view prefix) {
  const std::string p(prefix);
  if (options.window.count() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(p, ".window must not be negative, got ",
                                                   options.window.count(), " ns"));
  }
  if (!std::isfinite(options.aggression) || options.aggression <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(p, ".aggression must be a positive number, got ", options.aggression));
  }
  if (!(options.min_weight >= 0 && options.min_weight <= 1)) {  // also refuses NaN
    return absl::InvalidArgumentError(
        absl::StrCat(p, ".min_weight must be in [0, 1], got ", options.min_weight));
  }
  return absl::OkStatus();
}

double SlowStartFactor(const SlowStartOptions& options, int64_t elapsed_nanos) {
  const int64_t window = options.window.count();
  if (window <= 0 || elapsed_nanos >= window) return 1.0;
  const double t = elapsed_nanos <= 0 ? 0.0 : static_cast<double>(elapsed_nanos) / static_cast<double>(window);
  // aggression 1 is the common case: skip pow() on the pick path.
  const double ramp = options.aggression == 1.0 ? t : std::pow(t, 1.0 / options.aggression);
  return std::max(options.min_weight, ramp);
}

void StartSlowStartRamps(const EndpointSet* previous, const EndpointSet& next, int64_t now_nanos) {
  if (previous == nullptr) return;
  // Nothing kept (the first endpoints after an empty snapshot, a complete replacement): every
  // endpoint would ramp together at the same share, so none does.
  const bool keeps_one = std::any_of(next.endpoints().begin(), next.endpoints().end(),
                                     [&](const Endpoint& e) { return previous->Find(e.HostPort()).has_value(); });
  if (!keeps_one) return;
  for (const Endpoint& e : next.endpoints()) {
    if (e.stats == nullptr) continue;
    const std::optional<size_t> before = previous->Find(e.HostPort());
    if (!before) {
      e.stats->ready_since_nanos.store(now_nanos, std::memory_order_relaxed);
      continue;
    }
    const std::shared_ptr<EndpointStats>& old = previous->endpoints()[*before].stats;
    if (old != nullptr && old != e.stats) {
      e.stats->ready_since_nanos.store(old->ready_since_nanos.load(std::memory_order_relaxed),
                                       std::memory_order_relaxed);
    }
  }
}

}  // namespace k8slb
