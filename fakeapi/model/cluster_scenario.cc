// Names and summaries of timeline events (see cluster_scenario.h).
#include "fakeapi/model/cluster_scenario.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace k8slb::fake {
namespace {

std::string Seconds(double s) { return absl::StrFormat("%gs", s); }

}  // namespace

std::string_view EventKindName(TimelineEventKind kind) {
  switch (kind) {
    case TimelineEventKind::kScale: return "scale";
    case TimelineEventKind::kEvict: return "evict";
    case TimelineEventKind::kRollout: return "rollout";
    case TimelineEventKind::kNotReady: return "notReady";
    case TimelineEventKind::kSlow: return "slow";
    case TimelineEventKind::kCrash: return "crash";
    case TimelineEventKind::kZoneDown: return "zoneDown";
    case TimelineEventKind::kDisconnect: return "disconnect";
    case TimelineEventKind::kExpire: return "expire";
    case TimelineEventKind::kErrors: return "errors";
    case TimelineEventKind::kStall: return "stall";
  }
  return "unknown";
}

std::optional<TimelineEventKind> EventKindFromName(std::string_view name) {
  for (TimelineEventKind k : kAllTimelineEventKinds) {
    if (EventKindName(k) == name) return k;
  }
  return std::nullopt;
}

bool IsApiFault(TimelineEventKind kind) {
  switch (kind) {
    case TimelineEventKind::kDisconnect:
    case TimelineEventKind::kExpire:
    case TimelineEventKind::kErrors:
    case TimelineEventKind::kStall:
      return true;
    default:
      return false;
  }
}

std::string TimelineEvent::Describe() const {
  switch (kind) {
    case TimelineEventKind::kScale:
      return absl::StrCat("scale to ", replicas);
    case TimelineEventKind::kEvict:
      if (!pod.empty()) return absl::StrCat("evict ", pod);
      return absl::StrCat("evict ", count, count == 1 ? " random pod" : " random pods");
    case TimelineEventKind::kRollout:
      return absl::StrCat("rollout maxSurge=", max_surge, " maxUnavailable=", max_unavailable);
    case TimelineEventKind::kNotReady:
      return absl::StrCat("notReady ", pod, " for ", Seconds(for_s));
    case TimelineEventKind::kSlow:
      return absl::StrCat("slow ", pod, " x", absl::StrFormat("%g", factor),
                          for_s > 0 ? absl::StrCat(" for ", Seconds(for_s)) : " until the end");
    case TimelineEventKind::kCrash:
      return absl::StrCat("crash ", pod);
    case TimelineEventKind::kZoneDown:
      return absl::StrCat("zoneDown ", zone);
    case TimelineEventKind::kDisconnect:
      return "disconnect watch streams";
    case TimelineEventKind::kExpire:
      return "expire watch history";
    case TimelineEventKind::kErrors:
      return absl::StrCat("errors ", status, " for ", Seconds(duration_s));
    case TimelineEventKind::kStall:
      return absl::StrCat("stall watch streams for ", Seconds(duration_s));
  }
  return std::string(EventKindName(kind));
}

}  // namespace k8slb::fake
