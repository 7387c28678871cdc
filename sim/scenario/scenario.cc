// Scenario parser and validator (yaml-cpp). Every problem becomes one absl::Status whose message
// reads "FILE:LINE: FIELD: problem"; FIELD is the dotted path of the offending key, e.g.
// "pods.replicas" or "timeline[2].kind". yaml-cpp reports positions through YAML::Mark (0-based).
// yaml-cpp throws on malformed input; the exceptions are caught here and never escape.
#include "sim/scenario/scenario.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "yaml-cpp/yaml.h"

namespace k8slb::scenario {
namespace {
// Debian's abseil keeps its own absl::string_view; bridge std::string_view into StrCat/StrJoin.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kScale: return "scale";
    case EventKind::kEvict: return "evict";
    case EventKind::kRollout: return "rollout";
    case EventKind::kNotReady: return "notReady";
    case EventKind::kSlow: return "slow";
    case EventKind::kCrash: return "crash";
    case EventKind::kZoneDown: return "zoneDown";
    case EventKind::kDisconnect: return "disconnect";
    case EventKind::kExpire: return "expire";
    case EventKind::kErrors: return "errors";
    case EventKind::kStall: return "stall";
  }
  return "unknown";
}

namespace {

constexpr EventKind kAllKinds[] = {
    EventKind::kScale,    EventKind::kEvict,      EventKind::kRollout, EventKind::kNotReady,
    EventKind::kSlow,     EventKind::kCrash,      EventKind::kZoneDown, EventKind::kDisconnect,
    EventKind::kExpire,   EventKind::kErrors,     EventKind::kStall};

constexpr std::string_view kStrategies[] = {"clusterip", "headless-dns", "round-robin",
                                            "least-request"};

std::string Seconds(double s) { return absl::StrFormat("%gs", s); }

}  // namespace

std::string Event::Describe() const {
  switch (kind) {
    case EventKind::kScale:
      return absl::StrCat("scale to ", replicas);
    case EventKind::kEvict:
      if (!pod.empty()) return absl::StrCat("evict ", pod);
      return absl::StrCat("evict ", count, count == 1 ? " random pod" : " random pods");
    case EventKind::kRollout:
      return absl::StrCat("rollout maxSurge=", max_surge, " maxUnavailable=", max_unavailable);
    case EventKind::kNotReady:
      return absl::StrCat("notReady ", pod, " for ", Seconds(for_s));
    case EventKind::kSlow:
      return absl::StrCat("slow ", pod, " x", absl::StrFormat("%g", factor),
                          for_s > 0 ? absl::StrCat(" for ", Seconds(for_s)) : " until the end");
    case EventKind::kCrash:
      return absl::StrCat("crash ", pod);
    case EventKind::kZoneDown:
      return absl::StrCat("zoneDown ", zone);
    case EventKind::kDisconnect:
      return "disconnect watch streams";
    case EventKind::kExpire:
      return "expire watch history";
    case EventKind::kErrors:
      return absl::StrCat("errors ", status, " for ", Seconds(duration_s));
    case EventKind::kStall:
      return absl::StrCat("stall watch streams for ", Seconds(duration_s));
  }
  return std::string(EventKindName(kind));
}

namespace {

#define K8SLB_RETURN_IF_ERROR(expr)        \
  do {                                     \
    absl::Status _st = (expr);             \
    if (!_st.ok()) return _st;             \
  } while (0)

// Formats errors with the file name and a node's line.
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  absl::Status At(int line, std::string_view field, std::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", line, ": ", AV(field), ": ", AV(problem)));
  }
  absl::Status At(const YAML::Node& node, std::string_view field, std::string_view problem) const {
    return At(LineOf(node), field, problem);
  }
  static int LineOf(const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    return mark.line >= 0 ? mark.line + 1 : 1;
  }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

template <typename Range>
std::string JoinViews(const Range& views) {
  std::string out;
  for (std::string_view v : views) {
    if (!out.empty()) out += ", ";
    out += v;
  }
  return out;
}

std::string Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(AV(path), ".", AV(key));
}

std::string TypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return absl::StrCat("\"", node.Scalar(), "\"");
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "nothing";
  }
}

// Reads one YAML mapping: rejects unknown and duplicate keys up front, then typed getters.
class MapReader {
 public:
  MapReader(const Errors& errors, YAML::Node node, std::string path)
      : errors_(errors), node_(std::move(node)), path_(std::move(path)) {}

  // Checks that the node is a mapping whose keys are all in `allowed`.
  absl::Status Check(std::initializer_list<std::string_view> allowed) {
    if (!node_.IsMap()) {
      return errors_.At(node_, path_.empty() ? "(document)" : path_,
                        absl::StrCat("expected a mapping, got ", TypeName(node_)));
    }
    std::set<std::string> seen;
    for (const auto& kv : node_) {
      if (!kv.first.IsScalar()) {
        return errors_.At(kv.first, path_.empty() ? "(document)" : path_,
                          "keys must be plain strings");
      }
      const std::string key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return errors_.At(kv.first, Join(path_, key),
                          absl::StrCat("unknown field (allowed: ", JoinViews(allowed),
                                       ")"));
      }
      if (!seen.insert(key).second) {
        return errors_.At(kv.first, Join(path_, key), "duplicate field");
      }
      keys_.push_back({key, kv.first});
      values_.push_back(kv.second);
    }
    return absl::OkStatus();
  }

  bool Has(std::string_view key) const { return Find(key) >= 0; }
  int LineOfKey(std::string_view key) const {
    const int i = Find(key);
    return i >= 0 ? Errors::LineOf(keys_[i].second) : Errors::LineOf(node_);
  }
  int Line() const { return Errors::LineOf(node_); }
  std::string Path(std::string_view key) const { return Join(path_, key); }
  YAML::Node Value(std::string_view key) const {
    const int i = Find(key);
    return i >= 0 ? values_[i] : YAML::Node();
  }
  absl::Status ErrorAt(std::string_view key, std::string_view problem) const {
    return errors_.At(LineOfKey(key), Path(key), problem);
  }

  absl::Status String(std::string_view key, std::string* out) const {
    const int i = Find(key);
    if (i < 0) return absl::OkStatus();
    const YAML::Node& v = values_[i];
    if (!v.IsScalar()) return ErrorAt(key, absl::StrCat("expected a string, got ", TypeName(v)));
    *out = v.Scalar();
    return absl::OkStatus();
  }
  absl::Status Bool(std::string_view key, bool* out) const {
    const int i = Find(key);
    if (i < 0) return absl::OkStatus();
    const YAML::Node& v = values_[i];
    bool b = false;
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
      return ErrorAt(key, absl::StrCat("expected true or false, got ", TypeName(v)));
    }
    *out = b;
    return absl::OkStatus();
  }
  // A whole number in [min, max].
  absl::Status Int(std::string_view key, int64_t min, int64_t max, int64_t* out) const {
    const int i = Find(key);
    if (i < 0) return absl::OkStatus();
    const YAML::Node& v = values_[i];
    long long n = 0;
    if (!v.IsScalar() || !YAML::convert<long long>::decode(v, n)) {
      return ErrorAt(key, absl::StrCat("expected a whole number, got ", TypeName(v)));
    }
    if (n < min || n > max) {
      return ErrorAt(key, max == INT32_MAX || max == INT64_MAX
                              ? absl::StrCat("must be at least ", min, ", got ", n)
                              : absl::StrCat("must be in [", min, ", ", max, "], got ", n));
    }
    *out = n;
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status IntAs(std::string_view key, int64_t min, int64_t max, T* out) const {
    int64_t v = static_cast<int64_t>(*out);
    K8SLB_RETURN_IF_ERROR(Int(key, min, max, &v));
    *out = static_cast<T>(v);
    return absl::OkStatus();
  }
  // A finite number >= min (or > min when `exclusive`), <= max.
  absl::Status Number(std::string_view key, double min, bool exclusive, double max,
                      double* out) const {
    const int i = Find(key);
    if (i < 0) return absl::OkStatus();
    const YAML::Node& v = values_[i];
    double d = 0;
    if (!v.IsScalar() || !YAML::convert<double>::decode(v, d) || !std::isfinite(d)) {
      return ErrorAt(key, absl::StrCat("expected a number, got ", TypeName(v)));
    }
    if (exclusive ? d <= min : d < min) {
      return ErrorAt(key, absl::StrFormat("must be %s %g, got %g",
                                          exclusive ? "greater than" : "at least", min, d));
    }
    if (d > max) return ErrorAt(key, absl::StrFormat("must be at most %g, got %g", max, d));
    *out = d;
    return absl::OkStatus();
  }
  absl::Status StringList(std::string_view key, std::vector<std::string>* out,
                          std::vector<int>* lines = nullptr) const {
    const int i = Find(key);
    if (i < 0) return absl::OkStatus();
    const YAML::Node& v = values_[i];
    if (!v.IsSequence()) {
      return ErrorAt(key, absl::StrCat("expected a list of strings, got ", TypeName(v)));
    }
    out->clear();
    if (lines != nullptr) lines->clear();
    for (size_t j = 0; j < v.size(); ++j) {
      if (!v[j].IsScalar() || v[j].Scalar().empty()) {
        return errors_.At(v[j], absl::StrCat(Path(key), "[", j, "]"),
                          absl::StrCat("expected a non-empty string, got ", TypeName(v[j])));
      }
      out->push_back(v[j].Scalar());
      if (lines != nullptr) lines->push_back(Errors::LineOf(v[j]));
    }
    return absl::OkStatus();
  }

 private:
  int Find(std::string_view key) const {
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i].first == key) return static_cast<int>(i);
    }
    return -1;
  }

  const Errors& errors_;
  YAML::Node node_;
  std::string path_;
  std::vector<std::pair<std::string, YAML::Node>> keys_;
  std::vector<YAML::Node> values_;
};

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

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

constexpr int64_t kMaxInt = INT32_MAX;
constexpr double kHuge = 1e9;

absl::Status ParseService(const Errors& e, const YAML::Node& node, ServiceSpec* s) {
  MapReader r(e, node, "service");
  K8SLB_RETURN_IF_ERROR(r.Check({"name", "namespace", "port", "portName", "trafficDistribution"}));
  K8SLB_RETURN_IF_ERROR(r.String("name", &s->name));
  K8SLB_RETURN_IF_ERROR(r.String("namespace", &s->namespace_name));
  K8SLB_RETURN_IF_ERROR(r.IntAs("port", 1, 65535, &s->port));
  K8SLB_RETURN_IF_ERROR(r.String("portName", &s->port_name));
  K8SLB_RETURN_IF_ERROR(r.String("trafficDistribution", &s->traffic_distribution));
  if (!IsDnsLabel(s->name)) {
    return r.ErrorAt("name", "must be a DNS label (lower-case letters, digits, '-')");
  }
  if (!IsDnsLabel(s->namespace_name)) {
    return r.ErrorAt("namespace", "must be a DNS label (lower-case letters, digits, '-')");
  }
  if (!s->port_name.empty() && !IsDnsLabel(s->port_name)) {
    return r.ErrorAt("portName", "must be empty or a DNS label");
  }
  if (!s->traffic_distribution.empty() && s->traffic_distribution != "PreferClose") {
    return r.ErrorAt("trafficDistribution",
                     absl::StrCat("must be PreferClose or absent, got \"",
                                  s->traffic_distribution, "\""));
  }
  return absl::OkStatus();
}

absl::Status ParseCluster(const Errors& e, const YAML::Node& node, ClusterSpec* c) {
  MapReader r(e, node, "cluster");
  K8SLB_RETURN_IF_ERROR(r.Check({"zones", "nodesPerZone", "maxEndpointsPerSlice",
                                 "sliceBatchingSeconds", "podCIDR", "crashDetectSeconds"}));
  std::vector<int> lines;
  K8SLB_RETURN_IF_ERROR(r.StringList("zones", &c->zones, &lines));
  if (r.Has("zones")) {
    if (c->zones.empty()) return r.ErrorAt("zones", "must name at least one zone");
    std::set<std::string> seen;
    for (size_t i = 0; i < c->zones.size(); ++i) {
      if (!seen.insert(c->zones[i]).second) {
        return e.At(lines[i], absl::StrCat("cluster.zones[", i, "]"),
                    absl::StrCat("duplicate zone \"", c->zones[i], "\""));
      }
    }
  }
  K8SLB_RETURN_IF_ERROR(r.IntAs("nodesPerZone", 1, 10000, &c->nodes_per_zone));
  K8SLB_RETURN_IF_ERROR(r.IntAs("maxEndpointsPerSlice", 1, 1000, &c->max_endpoints_per_slice));
  K8SLB_RETURN_IF_ERROR(r.Number("sliceBatchingSeconds", 0, false, 3600, &c->slice_batching_s));
  K8SLB_RETURN_IF_ERROR(r.String("podCIDR", &c->pod_cidr));
  if (!IsIpv4Cidr(c->pod_cidr)) {
    return r.ErrorAt("podCIDR", absl::StrCat("expected an IPv4 CIDR like 127.0.1.0/24, got \"",
                                             c->pod_cidr, "\""));
  }
  K8SLB_RETURN_IF_ERROR(r.Number("crashDetectSeconds", 0, false, 3600, &c->crash_detect_s));
  return absl::OkStatus();
}

absl::Status ParsePods(const Errors& e, const YAML::Node& node, PodSpec* p) {
  MapReader r(e, node, "pods");
  K8SLB_RETURN_IF_ERROR(r.Check({"replicas", "startupSeconds", "latency", "errorRate",
                                 "terminationGraceSeconds", "drainSeconds"}));
  K8SLB_RETURN_IF_ERROR(r.IntAs("replicas", 0, 5000, &p->replicas));
  K8SLB_RETURN_IF_ERROR(r.Number("startupSeconds", 0, false, 3600, &p->startup_s));
  if (r.Has("latency")) {
    MapReader l(e, r.Value("latency"), "pods.latency");
    K8SLB_RETURN_IF_ERROR(l.Check({"meanMs", "jitterMs"}));
    K8SLB_RETURN_IF_ERROR(l.Number("meanMs", 0, true, 60000, &p->latency.mean_ms));
    K8SLB_RETURN_IF_ERROR(l.Number("jitterMs", 0, false, 60000, &p->latency.jitter_ms));
  }
  K8SLB_RETURN_IF_ERROR(r.Number("errorRate", 0, false, 1, &p->error_rate));
  K8SLB_RETURN_IF_ERROR(
      r.Number("terminationGraceSeconds", 0, false, 3600, &p->termination_grace_s));
  K8SLB_RETURN_IF_ERROR(r.Number("drainSeconds", 0, false, 3600, &p->drain_s));
  if (p->drain_s > p->termination_grace_s) {
    return r.ErrorAt("drainSeconds",
                     absl::StrFormat("must not exceed terminationGraceSeconds (%g), got %g",
                                     p->termination_grace_s, p->drain_s));
  }
  return absl::OkStatus();
}

absl::Status ParseClients(const Errors& e, const YAML::Node& node, ClientSpec* c) {
  MapReader r(e, node, "clients");
  K8SLB_RETURN_IF_ERROR(
      r.Check({"count", "zone", "rateRps", "concurrency", "durationSeconds"}));
  K8SLB_RETURN_IF_ERROR(r.IntAs("count", 1, 1000, &c->count));
  if (r.Has("zone")) {
    std::string zone;
    K8SLB_RETURN_IF_ERROR(r.String("zone", &zone));
    if (zone.empty()) return r.ErrorAt("zone", "must not be empty");
    c->zone = zone;
  }
  K8SLB_RETURN_IF_ERROR(r.Number("rateRps", 0, false, 1e7, &c->rate_rps));
  K8SLB_RETURN_IF_ERROR(r.IntAs("concurrency", 1, 100000, &c->concurrency));
  K8SLB_RETURN_IF_ERROR(r.Number("durationSeconds", 0, true, 86400, &c->duration_s));
  return absl::OkStatus();
}

std::optional<EventKind> KindFromName(std::string_view name) {
  for (EventKind k : kAllKinds) {
    if (EventKindName(k) == name) return k;
  }
  return std::nullopt;
}

// Upper bound on pod indexes that can exist (pods are named SERVICE-N with N counting up, one
// per pod ever created): used to reject events naming pods that cannot exist.
struct PodNameBound {
  int64_t created = 0;   // pods created so far (upper bound)
  int64_t replicas = 0;  // current desired replicas
};

absl::Status CheckPodName(const MapReader& r, const std::string& service, const std::string& pod,
                          const PodNameBound& bound) {
  const std::string prefix = service + "-";
  bool ok = pod.size() > prefix.size() && pod.compare(0, prefix.size(), prefix) == 0;
  int64_t index = 0;
  for (size_t i = prefix.size(); ok && i < pod.size(); ++i) {
    if (pod[i] < '0' || pod[i] > '9' || i - prefix.size() > 8) {
      ok = false;
    } else {
      index = index * 10 + (pod[i] - '0');
    }
  }
  if (!ok) {
    return r.ErrorAt("pod", absl::StrCat("pods are named ", service, "-N (N = 0, 1, ...), got \"",
                                         pod, "\""));
  }
  if (index >= bound.created) {
    return r.ErrorAt("pod", absl::StrCat("unknown pod \"", pod, "\": at this time at most ",
                                         bound.created, " pods (", service, "-0 .. ", service, "-",
                                         bound.created - 1, ") can exist"));
  }
  return absl::OkStatus();
}

absl::Status ParseEvent(const Errors& e, const YAML::Node& node, size_t index,
                        const Scenario& sc, PodNameBound* bound, Event* ev) {
  const std::string path = absl::StrCat("timeline[", index, "]");
  if (!node.IsMap()) {
    return e.At(node, path, absl::StrCat("expected a mapping with at and kind, got ",
                                         TypeName(node)));
  }
  // Look up the kind first so unknown-field messages can list what this kind accepts.
  const YAML::Node kind_node = node["kind"];
  if (!kind_node) return e.At(node, path + ".kind", "missing (every event needs a kind)");
  if (!kind_node.IsScalar()) {
    return e.At(kind_node, path + ".kind", absl::StrCat("expected a string, got ",
                                                        TypeName(kind_node)));
  }
  std::optional<EventKind> kind = KindFromName(kind_node.Scalar());
  if (!kind) {
    std::vector<std::string> names;
    for (EventKind k : kAllKinds) names.emplace_back(EventKindName(k));
    return e.At(kind_node, path + ".kind",
                absl::StrCat("unknown event kind \"", kind_node.Scalar(), "\" (known: ",
                             absl::StrJoin(names, ", "), ")"));
  }
  ev->kind = *kind;
  ev->line = Errors::LineOf(node);
  MapReader r(e, node, path);
  switch (*kind) {
    case EventKind::kScale:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "replicas"}));
      break;
    case EventKind::kEvict:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "pod", "count"}));
      break;
    case EventKind::kRollout:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "maxSurge", "maxUnavailable"}));
      break;
    case EventKind::kNotReady:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "pod", "forSeconds"}));
      break;
    case EventKind::kSlow:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "pod", "factor", "forSeconds"}));
      break;
    case EventKind::kCrash:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "pod"}));
      break;
    case EventKind::kZoneDown:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "zone"}));
      break;
    case EventKind::kDisconnect:
    case EventKind::kExpire:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind"}));
      break;
    case EventKind::kErrors:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "status", "durationSeconds"}));
      break;
    case EventKind::kStall:
      K8SLB_RETURN_IF_ERROR(r.Check({"at", "kind", "durationSeconds"}));
      break;
  }
  if (!r.Has("at")) return e.At(node, path + ".at", "missing (seconds from the start)");
  K8SLB_RETURN_IF_ERROR(r.Number("at", 0, false, kHuge, &ev->t_s));
  if (ev->t_s > sc.clients.duration_s) {
    return r.ErrorAt("at", absl::StrFormat("%g is after the end of the run (clients."
                                           "durationSeconds = %g)",
                                           ev->t_s, sc.clients.duration_s));
  }
  auto require = [&](std::string_view key, std::string_view what) -> absl::Status {
    if (!r.Has(key)) {
      return e.At(node, r.Path(key),
                  absl::StrCat("missing (", AV(EventKindName(*kind)), " needs ", AV(what), ")"));
    }
    return absl::OkStatus();
  };
  auto pod_field = [&]() -> absl::Status {
    K8SLB_RETURN_IF_ERROR(r.String("pod", &ev->pod));
    return CheckPodName(r, sc.service.name, ev->pod, *bound);
  };
  switch (*kind) {
    case EventKind::kScale:
      K8SLB_RETURN_IF_ERROR(require("replicas", "replicas"));
      K8SLB_RETURN_IF_ERROR(r.IntAs("replicas", 0, 5000, &ev->replicas));
      if (ev->replicas > bound->replicas) bound->created += ev->replicas - bound->replicas;
      bound->replicas = ev->replicas;
      break;
    case EventKind::kEvict:
      if (r.Has("pod") == r.Has("count")) {
        return e.At(node, r.Path("pod"), "give exactly one of pod (a name) or count (random pods)");
      }
      if (r.Has("pod")) {
        K8SLB_RETURN_IF_ERROR(pod_field());
        bound->created += 1;  // the Deployment replaces it
      } else {
        K8SLB_RETURN_IF_ERROR(r.IntAs("count", 1, 5000, &ev->count));
        bound->created += ev->count;
      }
      break;
    case EventKind::kRollout:
      K8SLB_RETURN_IF_ERROR(r.IntAs("maxSurge", 0, 5000, &ev->max_surge));
      K8SLB_RETURN_IF_ERROR(r.IntAs("maxUnavailable", 0, 5000, &ev->max_unavailable));
      if (ev->max_surge == 0 && ev->max_unavailable == 0) {
        return r.ErrorAt(r.Has("maxSurge") ? "maxSurge" : "maxUnavailable",
                         "maxSurge and maxUnavailable must not both be 0");
      }
      bound->created += bound->replicas;
      break;
    case EventKind::kNotReady:
      K8SLB_RETURN_IF_ERROR(require("pod", "a pod"));
      K8SLB_RETURN_IF_ERROR(pod_field());
      K8SLB_RETURN_IF_ERROR(require("forSeconds", "forSeconds"));
      K8SLB_RETURN_IF_ERROR(r.Number("forSeconds", 0, true, kHuge, &ev->for_s));
      break;
    case EventKind::kSlow:
      K8SLB_RETURN_IF_ERROR(require("pod", "a pod"));
      K8SLB_RETURN_IF_ERROR(pod_field());
      K8SLB_RETURN_IF_ERROR(require("factor", "a latency factor"));
      K8SLB_RETURN_IF_ERROR(r.Number("factor", 0, true, 1e6, &ev->factor));
      K8SLB_RETURN_IF_ERROR(r.Number("forSeconds", 0, false, kHuge, &ev->for_s));
      break;
    case EventKind::kCrash:
      K8SLB_RETURN_IF_ERROR(require("pod", "a pod"));
      K8SLB_RETURN_IF_ERROR(pod_field());
      break;
    case EventKind::kZoneDown: {
      K8SLB_RETURN_IF_ERROR(require("zone", "a zone"));
      K8SLB_RETURN_IF_ERROR(r.String("zone", &ev->zone));
      const auto& zones = sc.cluster.zones;
      if (std::find(zones.begin(), zones.end(), ev->zone) == zones.end()) {
        return r.ErrorAt("zone", absl::StrCat("unknown zone \"", ev->zone,
                                              "\" (cluster.zones: ", absl::StrJoin(zones, ", "),
                                              ")"));
      }
      bound->created += bound->replicas;  // replacements scheduled elsewhere
      break;
    }
    case EventKind::kDisconnect:
    case EventKind::kExpire:
      break;
    case EventKind::kErrors:
      K8SLB_RETURN_IF_ERROR(r.IntAs("status", 400, 599, &ev->status));
      K8SLB_RETURN_IF_ERROR(require("durationSeconds", "durationSeconds"));
      K8SLB_RETURN_IF_ERROR(r.Number("durationSeconds", 0, true, kHuge, &ev->duration_s));
      break;
    case EventKind::kStall:
      K8SLB_RETURN_IF_ERROR(require("durationSeconds", "durationSeconds"));
      K8SLB_RETURN_IF_ERROR(r.Number("durationSeconds", 0, true, kHuge, &ev->duration_s));
      break;
  }
  return absl::OkStatus();
}

absl::Status ParseExpectation(const Errors& e, const YAML::Node& node, size_t index,
                              const Scenario& sc, Expectation* x) {
  const std::string path = absl::StrCat("expect[", index, "]");
  MapReader r(e, node, path);
  K8SLB_RETURN_IF_ERROR(r.Check({"strategy", "maxFailed", "maxFailedRatio", "maxImbalance",
                                 "maxReactionSeconds", "maxRemovalReactionSeconds",
                                 "minPodsUsed", "maxPodsUsed", "maxP99Ms"}));
  x->line = r.Line();
  K8SLB_RETURN_IF_ERROR(r.String("strategy", &x->strategy));
  if (x->strategy != "*" && std::find(sc.strategies.begin(), sc.strategies.end(),
                                      x->strategy) == sc.strategies.end()) {
    return r.ErrorAt("strategy",
                     absl::StrCat("\"", x->strategy, "\" is not one of this scenario's "
                                  "strategies (", absl::StrJoin(sc.strategies, ", "),
                                  ") or \"*\""));
  }
  auto opt_int = [&](std::string_view key, int64_t min, int64_t max, auto* out) -> absl::Status {
    if (!r.Has(key)) return absl::OkStatus();
    int64_t v = 0;
    K8SLB_RETURN_IF_ERROR(r.Int(key, min, max, &v));
    *out = static_cast<typename std::remove_reference_t<decltype(*out)>::value_type>(v);
    return absl::OkStatus();
  };
  auto opt_num = [&](std::string_view key, double min, bool exclusive, double max,
                     std::optional<double>* out) -> absl::Status {
    if (!r.Has(key)) return absl::OkStatus();
    double v = 0;
    K8SLB_RETURN_IF_ERROR(r.Number(key, min, exclusive, max, &v));
    *out = v;
    return absl::OkStatus();
  };
  K8SLB_RETURN_IF_ERROR(opt_int("maxFailed", 0, INT64_MAX, &x->max_failed));
  K8SLB_RETURN_IF_ERROR(opt_num("maxFailedRatio", 0, false, 1, &x->max_failed_ratio));
  K8SLB_RETURN_IF_ERROR(opt_num("maxImbalance", 1, false, kHuge, &x->max_imbalance));
  K8SLB_RETURN_IF_ERROR(opt_num("maxReactionSeconds", 0, false, kHuge, &x->max_reaction_s));
  K8SLB_RETURN_IF_ERROR(
      opt_num("maxRemovalReactionSeconds", 0, false, kHuge, &x->max_removal_reaction_s));
  K8SLB_RETURN_IF_ERROR(opt_int("minPodsUsed", 0, kMaxInt, &x->min_pods_used));
  K8SLB_RETURN_IF_ERROR(opt_int("maxPodsUsed", 0, kMaxInt, &x->max_pods_used));
  K8SLB_RETURN_IF_ERROR(opt_num("maxP99Ms", 0, true, kHuge, &x->max_p99_ms));
  if (x->min_pods_used && x->max_pods_used && *x->min_pods_used > *x->max_pods_used) {
    return r.ErrorAt("maxPodsUsed", "must not be below minPodsUsed");
  }
  return absl::OkStatus();
}

std::string StemOf(std::string_view file_name) {
  std::string_view base = file_name;
  if (const size_t slash = base.find_last_of('/'); slash != std::string_view::npos) {
    base = base.substr(slash + 1);
  }
  for (std::string_view ext : {".yaml", ".yml"}) {
    if (base.size() > ext.size() && base.substr(base.size() - ext.size()) == ext) {
      base = base.substr(0, base.size() - ext.size());
      break;
    }
  }
  return std::string(base);
}

absl::Status ParseDocument(const Errors& e, const YAML::Node& root, Scenario* sc) {
  MapReader r(e, root, "");
  K8SLB_RETURN_IF_ERROR(r.Check({"name", "description", "seed", "liveOnly",
                                 "tokenRotationSeconds", "service", "cluster", "pods", "clients",
                                 "strategies", "timeline", "expect"}));
  K8SLB_RETURN_IF_ERROR(r.String("name", &sc->name));
  if (!IsDnsLabel(sc->name)) {
    return e.At(r.LineOfKey("name"), "name",
                absl::StrCat("must be lower-case letters, digits and '-' (from the file name "
                             "unless given), got \"", sc->name, "\""));
  }
  K8SLB_RETURN_IF_ERROR(r.String("description", &sc->description));
  K8SLB_RETURN_IF_ERROR(r.IntAs("seed", 0, INT64_MAX, &sc->seed));
  K8SLB_RETURN_IF_ERROR(r.Bool("liveOnly", &sc->live_only));
  K8SLB_RETURN_IF_ERROR(r.Number("tokenRotationSeconds", 0, false, kHuge, &sc->token_rotation_s));
  if (r.Has("service")) K8SLB_RETURN_IF_ERROR(ParseService(e, r.Value("service"), &sc->service));
  if (r.Has("cluster")) K8SLB_RETURN_IF_ERROR(ParseCluster(e, r.Value("cluster"), &sc->cluster));
  if (r.Has("pods")) K8SLB_RETURN_IF_ERROR(ParsePods(e, r.Value("pods"), &sc->pods));
  if (r.Has("clients")) K8SLB_RETURN_IF_ERROR(ParseClients(e, r.Value("clients"), &sc->clients));
  if (sc->clients.zone) {
    const auto& zones = sc->cluster.zones;
    if (std::find(zones.begin(), zones.end(), *sc->clients.zone) == zones.end()) {
      MapReader c(e, r.Value("clients"), "clients");
      K8SLB_RETURN_IF_ERROR(c.Check({"count", "zone", "rateRps", "concurrency",
                                     "durationSeconds"}));
      return c.ErrorAt("zone", absl::StrCat("unknown zone \"", *sc->clients.zone,
                                            "\" (cluster.zones: ", absl::StrJoin(zones, ", "),
                                            ")"));
    }
  }
  if (r.Has("strategies")) {
    std::vector<int> lines;
    K8SLB_RETURN_IF_ERROR(r.StringList("strategies", &sc->strategies, &lines));
    if (sc->strategies.empty()) return r.ErrorAt("strategies", "must name at least one strategy");
    std::set<std::string> seen;
    for (size_t i = 0; i < sc->strategies.size(); ++i) {
      const std::string& s = sc->strategies[i];
      const std::string field = absl::StrCat("strategies[", i, "]");
      if (std::find(std::begin(kStrategies), std::end(kStrategies), s) ==
          std::end(kStrategies)) {
        return e.At(lines[i], field,
                    absl::StrCat("unknown strategy \"", s, "\" (known: ",
                                 JoinViews(kStrategies), ")"));
      }
      if (!seen.insert(s).second) {
        return e.At(lines[i], field, absl::StrCat("duplicate strategy \"", s, "\""));
      }
    }
  }
  if (r.Has("timeline")) {
    const YAML::Node tl = r.Value("timeline");
    if (!tl.IsSequence()) {
      return r.ErrorAt("timeline", absl::StrCat("expected a list of events, got ", TypeName(tl)));
    }
    PodNameBound bound{.created = sc->pods.replicas, .replicas = sc->pods.replicas};
    // Pod-name bounds follow time order, so look at events sorted by `at` (stable).
    std::vector<std::pair<double, size_t>> order;
    for (size_t i = 0; i < tl.size(); ++i) {
      double at = 0;
      if (tl[i].IsMap() && tl[i]["at"] && tl[i]["at"].IsScalar()) {
        YAML::convert<double>::decode(tl[i]["at"], at);
      }
      order.emplace_back(at, i);
    }
    std::stable_sort(order.begin(), order.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Event> events(tl.size());
    for (const auto& [at, i] : order) {
      K8SLB_RETURN_IF_ERROR(ParseEvent(e, tl[i], i, *sc, &bound, &events[i]));
    }
    sc->timeline.clear();
    for (const auto& [at, i] : order) sc->timeline.push_back(events[i]);
  }
  if (r.Has("expect")) {
    const YAML::Node ex = r.Value("expect");
    if (!ex.IsSequence()) {
      return r.ErrorAt("expect", absl::StrCat("expected a list of checks, got ", TypeName(ex)));
    }
    for (size_t i = 0; i < ex.size(); ++i) {
      Expectation x;
      K8SLB_RETURN_IF_ERROR(ParseExpectation(e, ex[i], i, *sc, &x));
      sc->expect.push_back(std::move(x));
    }
  }
  if (sc->live_only && sc->token_rotation_s <= 0 && r.Has("tokenRotationSeconds")) {
    return r.ErrorAt("tokenRotationSeconds", "must be greater than 0 when given");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Scenario> ParseScenario(std::string_view yaml_text, std::string_view file_name) {
  const Errors errors{std::string(file_name)};
  Scenario sc;
  sc.name = StemOf(file_name);
  sc.source_file = std::string(file_name);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root || root.IsNull()) {
      return errors.At(1, "(document)", "empty file (expected a mapping with the scenario)");
    }
    K8SLB_RETURN_IF_ERROR(ParseDocument(errors, root, &sc));
  } catch (const YAML::ParserException& ex) {
    return errors.At(ex.mark.line >= 0 ? ex.mark.line + 1 : 1, "(yaml)",
                     absl::StrCat("malformed YAML: ", ex.msg));
  } catch (const YAML::Exception& ex) {
    return errors.At(ex.mark.line >= 0 ? ex.mark.line + 1 : 1, "(yaml)", ex.msg);
  }
  return sc;
}

absl::StatusOr<Scenario> LoadScenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ":1: (file): cannot read the file"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ":1: (file): read error"));
  return ParseScenario(text.str(), path);
}

}  // namespace k8slb::scenario
