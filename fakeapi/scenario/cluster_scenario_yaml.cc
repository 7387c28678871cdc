// The cluster half of a scenario file: service, cluster, pods, timeline (see
// cluster_scenario_yaml.h and cluster_sections.h). Every problem becomes one message
// "FILE:LINE: FIELD: problem".
#include "fakeapi/scenario/cluster_scenario_yaml.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "fakeapi/model/cluster.h"
#include "fakeapi/model/timeline_check.h"
#include "fakeapi/scenario/cluster_sections.h"
#include "fakeapi/scenario/yaml_reader.h"

namespace k8slb::fake {
namespace yaml {
namespace {

// Debian's Abseil has its own string_view type (not std's): convert at the boundary.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Dotted-quad/prefix syntax; the model decides which prefixes it can serve (ValidatePodCidr).
bool IsIpv4Cidr(std::string_view s) {
  std::vector<std::string> parts = absl::StrSplit(AV(s), '/');
  if (parts.size() != 2) return false;
  std::vector<std::string> octets = absl::StrSplit(parts[0], '.');
  if (octets.size() != 4) return false;
  auto number = [](const std::string& t, int max) {
    if (t.empty() || t.size() > 3) return false;
    int v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    return v <= max;
  };
  for (const auto& o : octets) {
    if (!number(o, 255)) return false;
  }
  return number(parts[1], 32);
}

absl::Status ParseService(const Errors& e, const YAML::Node& node, ServiceSpec* s) {
  MapReader r(e, node, "service");
  K8SLB_RETURN_IF_ERROR(r.Check({"name", "namespace", "port", "portName", "trafficDistribution"}));
  K8SLB_RETURN_IF_ERROR(r.String("name", &s->name));
  K8SLB_RETURN_IF_ERROR(r.String("namespace", &s->namespace_name));
  K8SLB_RETURN_IF_ERROR(r.IntAs("port", 1, 65535, &s->port));
  K8SLB_RETURN_IF_ERROR(r.String("portName", &s->port_name));
  K8SLB_RETURN_IF_ERROR(r.String("trafficDistribution", &s->traffic_distribution));
  if (!IsDnsLabel(s->name)) return r.ErrorAt("name", "must be a DNS label (lower-case letters, digits, '-')");
  if (!IsDnsLabel(s->namespace_name)) {
    return r.ErrorAt("namespace", "must be a DNS label (lower-case letters, digits, '-')");
  }
  if (!s->port_name.empty() && !IsDnsLabel(s->port_name)) return r.ErrorAt("portName", "must be empty or a DNS label");
  if (!s->traffic_distribution.empty() && s->traffic_distribution != "PreferClose" &&
      s->traffic_distribution != "PreferSameZone" && s->traffic_distribution != "PreferSameNode") {
    return r.ErrorAt("trafficDistribution", absl::StrCat("must be PreferClose, PreferSameZone, PreferSameNode or absent, got \"",
                                                         s->traffic_distribution, "\""));
  }
  return absl::OkStatus();
}

absl::Status ParseCluster(const Errors& e, const YAML::Node& node, ClusterSpec* c) {
  MapReader r(e, node, "cluster");
  K8SLB_RETURN_IF_ERROR(r.Check({"zones", "nodesPerZone", "maxEndpointsPerSlice", "sliceBatchingSeconds", "podCIDR",
                                 "crashDetectSeconds"}));
  std::vector<int> lines;
  K8SLB_RETURN_IF_ERROR(r.StringList("zones", &c->zones, &lines));
  if (r.Has("zones")) {
    if (c->zones.empty()) return r.ErrorAt("zones", "must name at least one zone");
    std::set<std::string> seen;
    for (size_t i = 0; i < c->zones.size(); ++i) {
      if (!seen.insert(c->zones[i]).second) {
        return e.At(lines[i], absl::StrCat("cluster.zones[", i, "]"), absl::StrCat("duplicate zone \"", c->zones[i], "\""));
      }
    }
  }
  K8SLB_RETURN_IF_ERROR(r.IntAs("nodesPerZone", 1, 10000, &c->nodes_per_zone));
  K8SLB_RETURN_IF_ERROR(r.IntAs("maxEndpointsPerSlice", 1, 1000, &c->max_endpoints_per_slice));
  K8SLB_RETURN_IF_ERROR(r.Number("sliceBatchingSeconds", 0, false, 3600, &c->slice_batching_s));
  K8SLB_RETURN_IF_ERROR(r.String("podCIDR", &c->pod_cidr));
  if (!IsIpv4Cidr(c->pod_cidr)) {
    return r.ErrorAt("podCIDR", absl::StrCat("expected an IPv4 CIDR like 127.0.1.0/24, got \"", c->pod_cidr, "\""));
  }
  if (absl::Status st = ValidatePodCidr(c->pod_cidr); !st.ok()) return r.ErrorAt("podCIDR", std::string(st.message()));
  K8SLB_RETURN_IF_ERROR(r.Number("crashDetectSeconds", 0, false, 3600, &c->crash_detect_s));
  return absl::OkStatus();
}

absl::Status ParsePods(const Errors& e, const YAML::Node& node, PodSpec* p) {
  MapReader r(e, node, "pods");
  K8SLB_RETURN_IF_ERROR(
      r.Check({"replicas", "startupSeconds", "latency", "errorRate", "terminationGraceSeconds", "drainSeconds"}));
  K8SLB_RETURN_IF_ERROR(r.IntAs("replicas", 0, 5000, &p->replicas));
  K8SLB_RETURN_IF_ERROR(r.Number("startupSeconds", 0, false, 3600, &p->startup_s));
  if (r.Has("latency")) {
    MapReader l(e, r.Value("latency"), "pods.latency");
    K8SLB_RETURN_IF_ERROR(l.Check({"meanMs", "jitterMs"}));
    K8SLB_RETURN_IF_ERROR(l.Number("meanMs", 0, true, 60000, &p->latency.mean_ms));
    K8SLB_RETURN_IF_ERROR(l.Number("jitterMs", 0, false, 60000, &p->latency.jitter_ms));
  }
  K8SLB_RETURN_IF_ERROR(r.Number("errorRate", 0, false, 1, &p->error_rate));
  K8SLB_RETURN_IF_ERROR(r.Number("terminationGraceSeconds", 0, false, 3600, &p->termination_grace_s));
  K8SLB_RETURN_IF_ERROR(r.Number("drainSeconds", 0, false, 3600, &p->drain_s));
  if (p->drain_s > p->termination_grace_s) {
    return r.ErrorAt("drainSeconds", absl::StrFormat("must not exceed terminationGraceSeconds (%g), got %g",
                                                     p->termination_grace_s, p->drain_s));
  }
  return absl::OkStatus();
}

// Pods are named `<service>-N` (the scenario's Deployment carries the Service's name); whether
// such a pod exists at the event's time is FindImpossiblePodEvent's question.
absl::Status CheckPodName(const MapReader& r, const std::string& service, const std::string& pod) {
  const std::string prefix = service + "-";
  bool ok = pod.size() > prefix.size() && pod.compare(0, prefix.size(), prefix) == 0;
  for (size_t i = prefix.size(); ok && i < pod.size(); ++i) {
    if (pod[i] < '0' || pod[i] > '9' || i - prefix.size() > 8) ok = false;
  }
  if (!ok) return r.ErrorAt("pod", absl::StrCat("pods are named ", service, "-N (N = 0, 1, ...), got \"", pod, "\""));
  return absl::OkStatus();
}

// Where an event's pod key is, for the messages of the timeline check.
struct EventSource {
  size_t index = 0;  // position in the file's timeline list
  int pod_line = 0;
};

absl::Status ParseEvent(const Errors& e, const YAML::Node& node, size_t index, const ClusterScenario& sc,
                        const std::optional<RunEnd>& end, TimelineEvent* ev, EventSource* source) {
  const std::string path = absl::StrCat("timeline[", index, "]");
  if (!node.IsMap()) {
    return e.At(node, path, absl::StrCat("expected a mapping with at and kind, got ", TypeName(node)));
  }
  // Look up the kind first so unknown-field messages can list what this kind accepts.
  const YAML::Node kind_node = node["kind"];
  if (!kind_node) return e.At(node, path + ".kind", "missing (every event needs a kind)");
  if (!kind_node.IsScalar()) {
    return e.At(kind_node, path + ".kind", absl::StrCat("expected a string, got ", TypeName(kind_node)));
  }
  std::optional<TimelineEventKind> kind = EventKindFromName(kind_node.Scalar());
  if (!kind) {
    std::vector<std::string_view> names;
    for (TimelineEventKind k : kAllTimelineEventKinds) names.push_back(EventKindName(k));
    return e.At(kind_node, path + ".kind",
                absl::StrCat("unknown event kind \"", kind_node.Scalar(), "\" (known: ", JoinViews(names), ")"));
  }
  ev->kind = *kind;
  ev->line = Errors::LineOf(node);
  source->index = index;
  MapReader r(e, node, path);
  switch (*kind) {
    case TimelineEventKind::kScale: K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "replicas"})); break;
    case TimelineEventKind::kEvict: K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "pod", "count"})); break;
    case TimelineEventKind::kRollout:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "maxSurge", "maxUnavailable"}));
      break;
    case TimelineEventKind::kNotReady: K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "pod", "forSeconds"})); break;
    case TimelineEventKind::kSlow:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "pod", "factor", "forSeconds"}));
      break;
    case TimelineEventKind::kCrash: K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "pod"})); break;
    case TimelineEventKind::kZoneDown: K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "zone"})); break;
    case TimelineEventKind::kDisconnect:
    case TimelineEventKind::kExpire: K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind"})); break;
    case TimelineEventKind::kErrors:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "status", "durationSeconds"}));
      break;
    case TimelineEventKind::kStall: K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "durationSeconds"})); break;
  }
  if (!r.Has("at")) return e.At(node, path + ".at", "missing (seconds from the start)");
  K8SLB_RETURN_IF_ERROR(r.Number("at", 0, false, kHugeNumber, &ev->t_s));
  if (end && ev->t_s > end->s) {
    return r.ErrorAt("at", absl::StrFormat("%g is after the end of the run (%s = %g)", ev->t_s, end->field, end->s));
  }
  auto require = [&](std::string_view key, std::string_view what) -> absl::Status {
    if (!r.Has(key)) {
      return e.At(node, r.Path(key), absl::StrCat("missing (", AV(EventKindName(*kind)), " needs ", AV(what), ")"));
    }
    return absl::OkStatus();
  };
  auto pod_field = [&]() -> absl::Status {
    K8SLB_RETURN_IF_ERROR(r.String("pod", &ev->pod));
    source->pod_line = r.LineOfKey("pod");
    return CheckPodName(r, sc.service.name, ev->pod);
  };
  switch (*kind) {
    case TimelineEventKind::kScale:
      K8SLB_RETURN_IF_ERROR(require("replicas", "replicas"));
      K8SLB_RETURN_IF_ERROR(r.IntAs("replicas", 0, 5000, &ev->replicas));
      break;
    case TimelineEventKind::kEvict:
      if (r.Has("pod") == r.Has("count")) {
        return e.At(node, r.Path("pod"), "give exactly one of pod (a name) or count (random pods)");
      }
      if (r.Has("pod")) {
        K8SLB_RETURN_IF_ERROR(pod_field());
      } else {
        K8SLB_RETURN_IF_ERROR(r.IntAs("count", 1, 5000, &ev->count));
      }
      break;
    case TimelineEventKind::kRollout:
      K8SLB_RETURN_IF_ERROR(r.IntAs("maxSurge", 0, 5000, &ev->max_surge));
      K8SLB_RETURN_IF_ERROR(r.IntAs("maxUnavailable", 0, 5000, &ev->max_unavailable));
      if (ev->max_surge == 0 && ev->max_unavailable == 0) {
        return r.ErrorAt(r.Has("maxSurge") ? "maxSurge" : "maxUnavailable",
                         "maxSurge and maxUnavailable must not both be 0");
      }
      break;
    case TimelineEventKind::kNotReady:
      K8SLB_RETURN_IF_ERROR(require("pod", "a pod"));
      K8SLB_RETURN_IF_ERROR(pod_field());
      K8SLB_RETURN_IF_ERROR(require("forSeconds", "forSeconds"));
      K8SLB_RETURN_IF_ERROR(r.Number("forSeconds", 0, true, kHugeNumber, &ev->for_s));
      break;
    case TimelineEventKind::kSlow:
      K8SLB_RETURN_IF_ERROR(require("pod", "a pod"));
      K8SLB_RETURN_IF_ERROR(pod_field());
      K8SLB_RETURN_IF_ERROR(require("factor", "a latency factor"));
      K8SLB_RETURN_IF_ERROR(r.Number("factor", 0, true, 1e6, &ev->factor));
      K8SLB_RETURN_IF_ERROR(r.Number("forSeconds", 0, false, kHugeNumber, &ev->for_s));
      break;
    case TimelineEventKind::kCrash:
      K8SLB_RETURN_IF_ERROR(require("pod", "a pod"));
      K8SLB_RETURN_IF_ERROR(pod_field());
      break;
    case TimelineEventKind::kZoneDown: {
      K8SLB_RETURN_IF_ERROR(require("zone", "a zone"));
      K8SLB_RETURN_IF_ERROR(r.String("zone", &ev->zone));
      const auto& zones = sc.cluster.zones;
      if (std::find(zones.begin(), zones.end(), ev->zone) == zones.end()) {
        return r.ErrorAt("zone", absl::StrCat("unknown zone \"", ev->zone, "\" (cluster.zones: ",
                                              absl::StrJoin(zones, ", "), ")"));
      }
      break;
    }
    case TimelineEventKind::kDisconnect:
    case TimelineEventKind::kExpire:
      break;
    case TimelineEventKind::kErrors:
      K8SLB_RETURN_IF_ERROR(r.IntAs("status", 400, 599, &ev->status));
      K8SLB_RETURN_IF_ERROR(require("durationSeconds", "durationSeconds"));
      K8SLB_RETURN_IF_ERROR(r.Number("durationSeconds", 0, true, kHugeNumber, &ev->duration_s));
      break;
    case TimelineEventKind::kStall:
      K8SLB_RETURN_IF_ERROR(require("durationSeconds", "durationSeconds"));
      K8SLB_RETURN_IF_ERROR(r.Number("durationSeconds", 0, true, kHugeNumber, &ev->duration_s));
      break;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadClusterSettings(const MapReader& root, ClusterScenario* out) {
  const Errors& e = root.errors();
  K8SLB_RETURN_IF_ERROR(root.IntAs("seed", 0, INT64_MAX, &out->seed));
  K8SLB_RETURN_IF_ERROR(root.Number("tokenRotationSeconds", 0, false, kHugeNumber, &out->token_rotation_s));
  if (root.Has("service")) K8SLB_RETURN_IF_ERROR(ParseService(e, root.Value("service"), &out->service));
  if (root.Has("cluster")) K8SLB_RETURN_IF_ERROR(ParseCluster(e, root.Value("cluster"), &out->cluster));
  if (root.Has("pods")) K8SLB_RETURN_IF_ERROR(ParsePods(e, root.Value("pods"), &out->pods));
  return absl::OkStatus();
}

absl::Status ReadTimeline(const MapReader& root, const std::optional<RunEnd>& end, ClusterScenario* out) {
  if (!root.Has("timeline")) return absl::OkStatus();
  const Errors& e = root.errors();
  const YAML::Node tl = root.Value("timeline");
  if (!tl.IsSequence()) return root.ErrorAt("timeline", absl::StrCat("expected a list of events, got ", TypeName(tl)));
  // Events are read and played in time order (stable for equal times).
  std::vector<std::pair<double, size_t>> order;
  for (size_t i = 0; i < tl.size(); ++i) {
    double at = 0;
    if (tl[i].IsMap() && tl[i]["at"] && tl[i]["at"].IsScalar()) YAML::convert<double>::decode(tl[i]["at"], at);
    order.emplace_back(at, i);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<TimelineEvent> events(tl.size());
  std::vector<EventSource> sources(tl.size());
  for (const auto& [at, i] : order) K8SLB_RETURN_IF_ERROR(ParseEvent(e, tl[i], i, *out, end, &events[i], &sources[i]));
  out->timeline.clear();
  std::vector<EventSource> sorted_sources;
  for (const auto& [at, i] : order) {
    out->timeline.push_back(events[i]);
    sorted_sources.push_back(sources[i]);
  }
  absl::StatusOr<std::optional<TimelineProblem>> problem = FindImpossiblePodEvent(*out);
  if (!problem.ok()) {
    return e.At(root.LineOfKey("timeline"), "timeline",
                absl::StrCat("the cluster model cannot play this scenario: ", problem.status().message()));
  }
  if (*problem) {
    const EventSource& where = sorted_sources[(*problem)->event];
    return e.At(where.pod_line > 0 ? where.pod_line : out->timeline[(*problem)->event].line,
                absl::StrCat("timeline[", where.index, "]", where.pod_line > 0 ? ".pod" : ""), (*problem)->problem);
  }
  return absl::OkStatus();
}

}  // namespace yaml

absl::StatusOr<ClusterScenario> ParseClusterScenario(std::string_view yaml_text, std::string_view file_name) {
  const yaml::Errors errors{std::string(file_name)};
  ClusterScenario sc;
  sc.source_file = std::string(file_name);
  std::vector<std::string_view> keys(std::begin(kClusterScenarioKeys), std::end(kClusterScenarioKeys));
  keys.insert(keys.end(), std::begin(kSimulatorScenarioKeys), std::end(kSimulatorScenarioKeys));
  K8SLB_RETURN_IF_ERROR(yaml::ReadDocument(yaml_text, errors, [&](const YAML::Node& root) -> absl::Status {
    yaml::MapReader r(errors, root, "");
    K8SLB_RETURN_IF_ERROR(r.Check(keys));
    K8SLB_RETURN_IF_ERROR(yaml::ReadClusterSettings(r, &sc));
    return yaml::ReadTimeline(r, std::nullopt, &sc);
  }));
  return sc;
}

absl::StatusOr<ClusterScenario> LoadClusterScenario(const std::string& path) {
  absl::StatusOr<std::string> text = yaml::ReadScenarioFile(path);
  if (!text.ok()) return text.status();
  return ParseClusterScenario(*text, path);
}

}  // namespace k8slb::fake
