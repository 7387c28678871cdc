// Replays a scenario's cluster events on the model to find events on pods that cannot exist then
// (see timeline_check.h).
#include "fakeapi/model/timeline_check.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "fakeapi/model/cluster.h"
#include "k8slb/random.h"

namespace k8slb::fake {
namespace {

// Event times as the virtual engine schedules them (rounded to the nanosecond).
int64_t EventNanos(double s) { return static_cast<int64_t>(std::llround(s * 1e9)); }

std::string Seconds(int64_t nanos) { return absl::StrFormat("%gs", static_cast<double>(nanos) / 1e9); }

bool NamesPod(const TimelineEvent& e) { return !e.pod.empty(); }

// How a pod's deletion came about, as seen while replaying.
struct Fate {
  std::optional<size_t> by_event;     // deletion began while this event was applied
  std::optional<size_t> during;       // or later, while this rollout progressed
  std::optional<size_t> zone_event;   // removed with its zone (no graceful deletion)
  bool seed_dependent = false;        // a random eviction had happened by then
};

// "echo-0 .. echo-4, echo-7": live pods of the Service's Deployment, runs of numbers collapsed.
std::string PodList(const Cluster& cluster, const std::string& ns, const std::string& prefix) {
  std::vector<int64_t> numbers;
  std::vector<std::string> others;
  for (const PodInfo& p : cluster.Pods()) {
    if (p.deleted_nanos || p.namespace_name != ns) continue;
    int64_t n = 0;
    const std::string& name = p.name;
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
        absl::SimpleAtoi(absl::string_view(name).substr(prefix.size()), &n)) {
      numbers.push_back(n);
    } else {
      others.push_back(p.name);
    }
  }
  if (numbers.empty() && others.empty()) return "none";
  std::sort(numbers.begin(), numbers.end());
  std::vector<std::string> parts;
  for (size_t i = 0; i < numbers.size();) {
    size_t j = i;
    while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) ++j;
    const std::string first = absl::StrCat(prefix, numbers[i]);
    if (j == i) {
      parts.push_back(first);
    } else {
      parts.push_back(absl::StrCat(first, j == i + 1 ? ", " : " .. ", prefix, numbers[j]));
    }
    i = j + 1;
  }
  for (std::string& o : others) parts.push_back(std::move(o));
  constexpr size_t kMaxParts = 12;
  std::string out;
  for (size_t i = 0; i < parts.size() && i < kMaxParts; ++i) absl::StrAppend(&out, i == 0 ? "" : ", ", parts[i]);
  if (parts.size() > kMaxParts) absl::StrAppend(&out, ", ...");
  return out;
}

std::string Quoted(const TimelineEvent& e) { return absl::StrCat("\"", e.Describe(), "\""); }

}  // namespace

absl::StatusOr<std::optional<TimelineProblem>> FindImpossiblePodEvent(const ClusterScenario& scenario) {
  const std::vector<TimelineEvent>& timeline = scenario.timeline;
  if (std::none_of(timeline.begin(), timeline.end(), NamesPod)) return std::nullopt;

  auto clock = std::make_shared<ManualClock>(0);
  absl::StatusOr<std::unique_ptr<Cluster>> built = Cluster::FromScenario(scenario, clock);
  if (!built.ok()) return built.status();
  Cluster& cluster = **built;
  const std::string& ns = scenario.service.namespace_name;
  const std::string prefix = absl::StrCat(scenario.service.name, "-");

  std::optional<size_t> applying;      // the event being applied, if any
  std::optional<size_t> last_rollout;  // deletions inside timers belong to a rollout's progress
  bool seed_dependent = false;         // a random eviction has happened
  std::map<std::string, Fate> fates;   // pod name → how its (latest) deletion came about
  cluster.SubscribePods([&](const PodInfo& p) {
    if (p.namespace_name != ns || !(p.terminating || p.deleted_nanos)) return;
    auto [it, fresh] = fates.try_emplace(p.name);
    if (!fresh) return;
    Fate& f = it->second;
    f.seed_dependent = seed_dependent;
    if (!p.terminating) {
      // Removed without a graceful deletion: the pod GC after its node went away.
      for (size_t i = timeline.size(); i-- > 0;) {
        if (timeline[i].kind == TimelineEventKind::kZoneDown && timeline[i].zone == p.zone &&
            EventNanos(timeline[i].t_s) <= *p.deleted_nanos) {
          f.zone_event = i;
          break;
        }
      }
    } else if (applying) {
      f.by_event = applying;
    } else {
      f.during = last_rollout;
    }
  });

  for (size_t i = 0; i < timeline.size(); ++i) {
    const TimelineEvent& e = timeline[i];
    const int64_t t = EventNanos(e.t_s);
    // Model timers due by the event's instant run first, each at its own time.
    for (std::optional<int64_t> next = cluster.NextTimerNanos(); next && *next <= t;
         next = cluster.NextTimerNanos()) {
      clock->SetNanos(std::max(clock->NowNanos(), *next));
      cluster.RunDue();
    }
    clock->SetNanos(std::max(clock->NowNanos(), t));
    if (NamesPod(e)) {
      std::optional<PodInfo> pod = cluster.Pod(ns, e.pod);
      if (!pod) {
        return TimelineProblem{
            .event = i,
            .problem = absl::StrCat("unknown pod \"", e.pod, "\": no pod of that name has been created by ",
                                    Seconds(t), " (pods then: ", PodList(cluster, ns, prefix), ")")};
      }
      if (pod->deleted_nanos) {
        const Fate& f = fates[e.pod];
        const bool named = f.by_event && timeline[*f.by_event].kind == TimelineEventKind::kEvict &&
                           timeline[*f.by_event].pod == e.pod;
        if (f.seed_dependent && !named && !f.zone_event) continue;  // may exist with another seed
        std::string how;
        if (f.zone_event) {
          how = absl::StrCat("its zone went down with ", Quoted(timeline[*f.zone_event]), " at ",
                             Seconds(EventNanos(timeline[*f.zone_event].t_s)));
        } else if (f.by_event) {
          how = absl::StrCat("deleted by ", Quoted(timeline[*f.by_event]), " at ", Seconds(*pod->deletion_nanos));
        } else if (f.during) {
          how = absl::StrCat("deleted at ", Seconds(*pod->deletion_nanos), " by ", Quoted(timeline[*f.during]),
                             " (from ", Seconds(EventNanos(timeline[*f.during].t_s)), ")");
        } else {
          how = absl::StrCat("deleted at ", Seconds(pod->deletion_nanos.value_or(*pod->deleted_nanos)));
        }
        return TimelineProblem{
            .event = i,
            .problem = absl::StrCat("pod \"", e.pod, "\" no longer exists at ", Seconds(t), ": ", how,
                                    ", removed at ", Seconds(*pod->deleted_nanos), " (pods then: ",
                                    PodList(cluster, ns, prefix), ")")};
      }
    }
    const bool random_evict = e.kind == TimelineEventKind::kEvict && e.pod.empty() && e.count > 0;
    if (random_evict) seed_dependent = true;  // from its own deletions on
    if (e.kind == TimelineEventKind::kRollout) last_rollout = i;
    applying = i;
    const absl::Status st = cluster.ApplyScenarioEvent(e);
    applying.reset();
    if (!st.ok() && !absl::IsUnimplemented(st)) {  // Unimplemented: an API fault, not the model's
      return TimelineProblem{.event = i, .problem = absl::StrCat("the cluster model refuses it: ", st.message())};
    }
  }
  return std::nullopt;
}

}  // namespace k8slb::fake
