// The cluster model: see cluster.h for the contract. Layout of this file:
//   helpers (time, names, JSON reading) → Impl state → store writes and history → pods →
//   deployment controller → EndpointSlice controller → timers → public API.
//
// Every public mutation ends with Flush(): dirty Deployments are reconciled (which may create or
// delete pods) until stable, then dirty Services get their slices synced (at once, or after the
// batching period), then Deployment statuses are written. So after each call (and after each
// RunDue) the slices reflect the pods exactly, which is what the property test checks.
#include "fakeapi/model/cluster.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>
#include <queue>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "k8slb/endpoint_slice_json.h"
#include "sim/scenario/scenario.h"

namespace k8slb::fake {
namespace {

using Json = nlohmann::json;
using Key = std::pair<std::string, std::string>;  // (namespace, name)

// The characters Kubernetes uses for generated name suffixes (k8s.io/apimachinery utilrand).
constexpr std::string_view kNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";
constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr std::string_view kTemplateHashLabel = "pod-template-hash";
constexpr std::string_view kTriggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time";
// Bound on controller rounds inside one Flush (each round is idempotent; 2-3 suffice).
constexpr int kMaxFlushRounds = 64;

// Debian's Abseil has its own string_view type (not std's): convert at the boundary.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

int64_t SecondsToNanos(double s) { return static_cast<int64_t>(s * 1e9); }

Key MakeKey(std::string_view ns, std::string_view name) { return {std::string(ns), std::string(name)}; }

std::string NotFoundMessage(ResourceKind kind, std::string_view name) {
  return absl::StrCat(QualifiedResource(kind), " \"", AV(name), "\" not found");
}

absl::Status NotFound(ResourceKind kind, std::string_view name) {
  return absl::NotFoundError(NotFoundMessage(kind, name));
}

absl::Status Invalid(ResourceKind kind, std::string_view name, std::string_view detail) {
  // The API's 422 wording: `EndpointSlice.discovery.k8s.io "foo" is invalid: <field>: <detail>`.
  std::string group(ResourceGroup(kind));
  std::string kind_name = group.empty() ? std::string(KindName(kind)) : absl::StrCat(AV(KindName(kind)), ".", group);
  return absl::InvalidArgumentError(absl::StrCat(kind_name, " \"", AV(name), "\" is invalid: ", AV(detail)));
}

absl::Status Conflict(ResourceKind kind, std::string_view name) {
  return absl::AbortedError(absl::StrCat(
      "Operation cannot be fulfilled on ", QualifiedResource(kind), " \"", AV(name),
      "\": the object has been modified; please apply your changes to the latest version and try again"));
}

// FNV-1a, for template hashes (stable across runs and platforms).
uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string HashName(uint64_t h, int length) {
  std::string out;
  for (int i = 0; i < length; ++i) {
    out.push_back(kNameAlphabet[h % kNameAlphabet.size()]);
    h /= kNameAlphabet.size();
  }
  return out;
}

bool LabelsMatch(const std::map<std::string, std::string>& selector,
                 const std::map<std::string, std::string>& labels) {
  if (selector.empty()) return false;
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

// Reads a string→string map at object[key]; missing/null → empty.
absl::Status ReadLabels(const Json& object, std::string_view key, std::string_view path,
                        std::map<std::string, std::string>* out) {
  out->clear();
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return absl::InvalidArgumentError(absl::StrCat(AV(path), ": expected object"));
  for (auto e = it->begin(); e != it->end(); ++e) {
    if (!e.value().is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(AV(path), "[", e.key(), "]: expected string"));
    }
    (*out)[e.key()] = e.value().get<std::string>();
  }
  return absl::OkStatus();
}

const Json* Member(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Json LabelsJson(const std::map<std::string, std::string>& labels) {
  Json j = Json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  return j;
}

// intstr (an int, or "NN%" of `total`), as the Deployment controller resolves maxSurge (rounding
// up) and maxUnavailable (rounding down).
absl::StatusOr<int> IntOrPercent(const Json* value, int total, bool round_up, int fallback,
                                 std::string_view path) {
  if (value == nullptr) return fallback;
  if (value->is_number_integer()) {
    int64_t v = value->get<int64_t>();
    if (v < 0) return absl::InvalidArgumentError(absl::StrCat(AV(path), ": must be non-negative"));
    return static_cast<int>(v);
  }
  if (value->is_string()) {
    std::string s = value->get<std::string>();
    int pct = 0;
    if (s.size() >= 2 && s.back() == '%' && absl::SimpleAtoi(s.substr(0, s.size() - 1), &pct) && pct >= 0) {
      int64_t scaled = static_cast<int64_t>(pct) * total;
      return static_cast<int>(round_up ? (scaled + 99) / 100 : scaled / 100);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(AV(path), ": expected an integer or a percentage"));
}

struct IPv4Pool {
  uint32_t first = 0;  // first usable address
  uint32_t count = 0;  // usable addresses
  uint32_t cursor = 0; // next offset to try (addresses are handed out in order, wrapping)
  absl::flat_hash_set<uint32_t> in_use;

  static absl::StatusOr<IPv4Pool> Parse(std::string_view cidr) {
    std::vector<absl::string_view> parts = absl::StrSplit(AV(cidr), '/');
    int prefix = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &prefix) || prefix < 8 || prefix > 30) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod_cidr \"", AV(cidr), "\": expected an IPv4 CIDR with a prefix length from 8 to 30"));
    }
    std::vector<absl::string_view> octets = absl::StrSplit(parts[0], '.');
    uint32_t base = 0;
    if (octets.size() != 4) return absl::InvalidArgumentError(absl::StrCat("pod_cidr \"", AV(cidr), "\": bad address"));
    for (absl::string_view o : octets) {
      int v = 0;
      if (!absl::SimpleAtoi(o, &v) || v < 0 || v > 255) {
        return absl::InvalidArgumentError(absl::StrCat("pod_cidr \"", AV(cidr), "\": bad address"));
      }
      base = (base << 8) | static_cast<uint32_t>(v);
    }
    uint32_t size = 1u << (32 - prefix);
    base &= ~(size - 1);
    IPv4Pool pool;
    pool.first = base + 1;  // skip the network address
    pool.count = size - 2;  // and the broadcast address
    return pool;
  }

  std::optional<uint32_t> Allocate() {
    for (uint32_t tries = 0; tries < count; ++tries) {
      uint32_t addr = first + cursor;
      cursor = (cursor + 1) % count;
      if (in_use.insert(addr).second) return addr;
    }
    return std::nullopt;
  }
  void Release(uint32_t addr) { in_use.erase(addr); }

  static std::string Format(uint32_t a) {
    return absl::StrFormat("%d.%d.%d.%d", (a >> 24) & 255, (a >> 16) & 255, (a >> 8) & 255, a & 255);
  }
};

struct ContainerPort {
  std::string name;
  int32_t port = 0;
};

struct PodState {
  PodInfo info;
  uint64_t seq = 0;
  uint64_t rv = 0;
  std::map<std::string, std::string> annotations;
  std::vector<ContainerPort> ports;
  PodTiming timing;
  std::string rs_name;  // owner ReplicaSet (deployment pods)
  std::string rs_uid;
  uint32_t address_raw = 0;
  bool started = false;        // container running (startup complete)
  bool crash_noticed = false;  // readiness probe failing because the process died
  bool removed = false;
  int64_t not_ready_until = 0;
  uint64_t epoch = 0;       // bumps on crash/restart so stale timers do nothing
  uint64_t slow_token = 0;  // the latest SetPodSlow, for its end timer
  mutable std::shared_ptr<const Json> cached;  // built lazily (bulk setup builds none)
};

struct ServicePort {
  std::string name;
  int32_t port = 0;
  std::optional<int32_t> target_number;
  std::optional<std::string> target_name;
  std::string protocol = "TCP";
  std::optional<std::string> app_protocol;
};

struct ServiceState {
  std::string ns, name, uid;
  Json object;  // the full stored object (kind, apiVersion, metadata incl. RV, spec, status)
  uint64_t rv = 0;
  std::map<std::string, std::string> selector;
  std::map<std::string, std::string> labels;
  std::vector<ServicePort> ports;
  bool prefer_close = false;
  bool dirty = false;
  bool flush_scheduled = false;
  std::shared_ptr<const Json> cached;
};

struct DeploymentState {
  std::string ns, name, uid;
  Json object;
  uint64_t rv = 0;
  int replicas = 1;
  std::map<std::string, std::string> selector;
  std::map<std::string, std::string> template_labels;
  std::map<std::string, std::string> template_annotations;
  std::vector<ContainerPort> ports;
  PodTiming timing;
  int max_surge = 1;
  int max_unavailable = 0;
  std::string template_hash;
  std::map<std::string, std::string> rs_uids;  // template hash → ReplicaSet uid
  int64_t next_index = 0;
  int rollouts = 0;
  bool dirty = false;         // needs a reconcile
  bool status_dirty = true;   // status may be stale
  std::shared_ptr<const Json> cached;
};

struct SliceEntry {
  std::shared_ptr<const EndpointSlice> slice;
  mutable std::shared_ptr<const Json> cached;  // built lazily (bulk setup builds none)
};

struct Timer {
  int64_t due = 0;
  uint64_t seq = 0;
  std::function<void()> run;
};
struct TimerLater {
  bool operator()(const Timer& a, const Timer& b) const {
    return a.due != b.due ? a.due > b.due : a.seq > b.seq;
  }
};

bool SamePorts(const std::vector<SlicePort>& a, const std::vector<SlicePort>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].port != b[i].port || a[i].protocol != b[i].protocol ||
        a[i].app_protocol != b[i].app_protocol) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view ResourceName(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kService: return "services";
    case ResourceKind::kDeployment: return "deployments";
    case ResourceKind::kPod: return "pods";
    case ResourceKind::kEndpointSlice: return "endpointslices";
  }
  return "";
}

std::string_view ResourceGroup(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kDeployment: return "apps";
    case ResourceKind::kEndpointSlice: return "discovery.k8s.io";
    default: return "";
  }
}

std::string QualifiedResource(ResourceKind kind) {
  std::string_view group = ResourceGroup(kind);
  return group.empty() ? std::string(ResourceName(kind)) : absl::StrCat(AV(ResourceName(kind)), ".", AV(group));
}

std::string_view KindName(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kService: return "Service";
    case ResourceKind::kDeployment: return "Deployment";
    case ResourceKind::kPod: return "Pod";
    case ResourceKind::kEndpointSlice: return "EndpointSlice";
  }
  return "";
}

std::string_view ApiVersion(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kDeployment: return "apps/v1";
    case ResourceKind::kEndpointSlice: return "discovery.k8s.io/v1";
    default: return "v1";
  }
}

std::string_view ChangeTypeName(ChangeType type) {
  switch (type) {
    case ChangeType::kAdded: return "ADDED";
    case ChangeType::kModified: return "MODIFIED";
    case ChangeType::kDeleted: return "DELETED";
  }
  return "";
}

// ------------------------------------------------------------------------------------------------

class Cluster::Impl {
 public:
  Impl(Cluster* owner, std::shared_ptr<Clock> clock, IPv4Pool pool)
      : owner_(owner), opts_(owner->options_), clock_(std::move(clock)), pool_(std::move(pool)),
        rng_(MakeSeededRandom(opts_.seed)) {
    for (const std::string& z : opts_.zones) zones_up_[z] = true;
  }

  // ---- helpers ---------------------------------------------------------------------------------
  int64_t Now() const { return clock_->NowNanos(); }
  std::string Timestamp(int64_t nanos) const {
    absl::Time t = absl::FromUnixSeconds(opts_.epoch_unix_seconds) + absl::Nanoseconds(nanos);
    return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", t, absl::UTCTimeZone());
  }
  std::string NowTimestamp() const { return Timestamp(Now()); }

  std::string NewUid() {
    uint64_t a = rng_->Next(), b = rng_->Next();
    return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                           0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffULL);
  }
  std::string RandomSuffix() {
    std::string s;
    for (int i = 0; i < 5; ++i) s.push_back(kNameAlphabet[rng_->Uniform(kNameAlphabet.size())]);
    return s;
  }

  uint64_t NextRv() { return ++owner_->resource_version_; }

  void Record(ResourceKind kind, ChangeType type, const std::string& ns, const std::string& name,
              std::shared_ptr<const Json> object, std::shared_ptr<const EndpointSlice> slice) {
    if (!recording_) return;
    StoredEvent ev{.resource_version = owner_->resource_version_, .kind = kind, .type = type,
                   .namespace_name = ns, .name = name, .object = std::move(object), .slice = std::move(slice)};
    history_.push_back(ev);
    while (history_.size() > opts_.history_limit) {
      owner_->compacted_rv_ = std::max(owner_->compacted_rv_, history_.front().resource_version);
      history_.pop_front();
    }
    for (const auto& l : listeners_) l(ev);
  }

  void Compact(uint64_t rv) {
    rv = std::min(rv, owner_->resource_version_);
    while (!history_.empty() && history_.front().resource_version <= rv) history_.pop_front();
    owner_->compacted_rv_ = std::max(owner_->compacted_rv_, rv);
  }

  void AddTimer(int64_t due, std::function<void()> fn) {
    timers_.push(Timer{.due = due, .seq = next_timer_seq_++, .run = std::move(fn)});
  }

  // ---- pods ------------------------------------------------------------------------------------
  Json PodJson(const PodState& p) const {
    const PodInfo& i = p.info;
    Json meta = {{"name", i.name}, {"namespace", i.namespace_name}, {"uid", i.uid},
                 {"resourceVersion", std::to_string(p.rv)}, {"creationTimestamp", Timestamp(i.created_nanos)},
                 {"labels", LabelsJson(i.labels)}};
    if (!p.annotations.empty()) meta["annotations"] = LabelsJson(p.annotations);
    if (!i.deployment.empty()) {
      meta["generateName"] = p.rs_name + "-";
      meta["ownerReferences"] = Json::array({{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
                                              {"name", p.rs_name}, {"uid", p.rs_uid},
                                              {"controller", true}, {"blockOwnerDeletion", true}}});
    }
    if (i.deletion_nanos) {
      meta["deletionTimestamp"] = Timestamp(*i.deletion_nanos);
      meta["deletionGracePeriodSeconds"] = p.timing.termination_grace_nanos / kNanosPerSecond;
    }
    Json ports = Json::array();
    for (const ContainerPort& cp : p.ports) {
      Json port = {{"containerPort", cp.port}, {"protocol", "TCP"}};
      if (!cp.name.empty()) port["name"] = cp.name;
      ports.push_back(port);
    }
    Json container = {{"name", "echo"}, {"image", opts_.image}};
    if (!ports.empty()) container["ports"] = ports;
    Json spec = {{"containers", Json::array({container})},
                 {"restartPolicy", "Always"},
                 {"terminationGracePeriodSeconds", p.timing.termination_grace_nanos / kNanosPerSecond}};
    if (!i.node.empty()) spec["nodeName"] = i.node;
    std::string ready = i.ready ? "True" : "False";
    std::string scheduled = i.node.empty() ? "False" : "True";
    Json status = {{"phase", i.address.empty() ? "Pending" : "Running"},
                   {"conditions", Json::array({{{"type", "PodScheduled"}, {"status", scheduled}},
                                               {{"type", "ContainersReady"}, {"status", ready}},
                                               {{"type", "Ready"}, {"status", ready}}})}};
    if (!i.address.empty()) {
      status["podIP"] = i.address;
      status["podIPs"] = Json::array({{{"ip", i.address}}});
      status["startTime"] = Timestamp(i.created_nanos);
      Json state = Json::object();
      if (i.crashed) {
        state["waiting"] = {{"reason", "CrashLoopBackOff"}};
      } else if (p.started) {
        state["running"] = Json::object();
      } else {
        state["waiting"] = {{"reason", "ContainerCreating"}};
      }
      status["containerStatuses"] = Json::array({{{"name", "echo"}, {"image", opts_.image}, {"ready", i.ready},
                                                  {"started", p.started && !i.crashed},
                                                  {"restartCount", i.restart_count}, {"state", state}}});
    }
    return Json{{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", meta}, {"spec", spec}, {"status", status}};
  }

  std::shared_ptr<const Json> PodObject(const PodState& p) const {
    if (!p.cached) p.cached = std::make_shared<const Json>(PodJson(p));
    return p.cached;
  }

  void NotifyPod(const PodState& p) {
    for (const auto& l : pod_listeners_) l(p.info);
  }

  // An API write of the pod (its object changed).
  void WritePod(PodState& p, ChangeType type) {
    p.rv = NextRv();
    p.cached.reset();
    if (recording_) {
      std::shared_ptr<const Json> obj = PodObject(p);
      Record(ResourceKind::kPod, type, p.info.namespace_name, p.info.name, obj, nullptr);
    }
    MarkPodDependents(p);
  }

  void MarkPodDependents(const PodState& p) {
    for (auto it = services_.lower_bound(MakeKey(p.info.namespace_name, ""));
         it != services_.end() && it->first.first == p.info.namespace_name; ++it) {
      it->second->dirty = true;
    }
    if (!p.info.deployment.empty()) {
      auto d = deployments_.find(MakeKey(p.info.namespace_name, p.info.deployment));
      if (d != deployments_.end()) d->second->dirty = d->second->status_dirty = true;
    }
  }

  // Recomputes Ready and serving from the pod's state; writes the pod if Ready changed.
  void RecomputePod(PodState& p) {
    if (p.removed) return;
    int64_t now = Now();
    bool ready = p.started && !p.crash_noticed && !p.info.crashed && now >= p.not_ready_until;
    // Ready stays as reported until the model notices a crash (crash_noticed), so a crashed
    // process keeps its Ready condition for crash_detect: that is the point of the `crash` event.
    if (p.info.crashed && !p.crash_noticed) ready = p.info.ready;
    bool serving = p.started && !p.info.crashed;
    bool changed_ready = ready != p.info.ready;
    bool changed_serving = serving != p.info.serving;
    p.info.serving = serving;
    if (changed_ready) {
      p.info.ready = ready;
      if (ready) {
        p.info.ready_since_nanos = now;
        if (!p.info.first_ready_nanos) p.info.first_ready_nanos = now;
      } else {
        p.info.ready_since_nanos.reset();
      }
      WritePod(p, ChangeType::kModified);
    }
    if (changed_ready || changed_serving) NotifyPod(p);
  }

  void Schedule(PodState& p, std::optional<std::string> node_hint) {
    std::vector<std::string> live = LiveZones();
    if (node_hint && !node_hint->empty()) {
      p.info.node = *node_hint;
      for (const std::string& z : opts_.zones) {
        if (absl::StartsWith(*node_hint, z + "-node-")) p.info.zone = z;
      }
    } else if (!live.empty()) {
      const std::string& zone = live[next_zone_++ % live.size()];
      int& n = next_node_[zone];
      p.info.zone = zone;
      p.info.node = absl::StrCat(zone, "-node-", n % opts_.nodes_per_zone);
      ++n;
    } else {
      return;  // no live zone: Pending, no address, not an endpoint
    }
    if (std::optional<uint32_t> a = pool_.Allocate()) {
      p.address_raw = *a;
      p.info.address = IPv4Pool::Format(*a);
    }
  }

  PodState& NewPod(std::string ns, std::string name, std::map<std::string, std::string> labels,
                   std::vector<ContainerPort> ports, PodTiming timing, std::optional<std::string> node) {
    auto owned = std::make_unique<PodState>();
    PodState& p = *owned;
    p.seq = all_pods_.size();
    p.info.name = std::move(name);
    p.info.namespace_name = std::move(ns);
    p.info.uid = NewUid();
    p.info.labels = std::move(labels);
    p.info.created_nanos = Now();
    p.ports = std::move(ports);
    p.timing = timing;
    Schedule(p, std::move(node));
    all_pods_.push_back(std::move(owned));
    live_pods_[MakeKey(p.info.namespace_name, p.info.name)] = &p;
    return p;
  }

  // Starts the pod's container clock: Ready after startup (or now, for pre-existing pods).
  void StartPod(PodState& p, PodStart start) {
    if (p.info.address.empty()) {
      WritePod(p, ChangeType::kAdded);
      NotifyPod(p);
      return;
    }
    if (start == PodStart::kAlreadyRunning || p.timing.startup_nanos <= 0) {
      p.started = true;
      p.info.serving = true;
      p.info.ready = true;
      p.info.first_ready_nanos = p.info.ready_since_nanos = Now();
      WritePod(p, ChangeType::kAdded);
      NotifyPod(p);
      return;
    }
    WritePod(p, ChangeType::kAdded);
    NotifyPod(p);
    ScheduleStartup(p, Now() + p.timing.startup_nanos);
  }

  void ScheduleStartup(PodState& p, int64_t due) {
    PodState* pp = &p;
    uint64_t epoch = p.epoch;
    AddTimer(due, [this, pp, epoch] {
      if (pp->removed || pp->epoch != epoch) return;
      pp->started = true;
      if (pp->info.crashed) {  // restart after a crash
        pp->info.crashed = false;
        pp->crash_noticed = false;
        ++pp->info.restart_count;
        pp->cached.reset();
      }
      RecomputePod(*pp);
      // restart_count/state changed even if Ready did not flip
      NotifyPod(*pp);
    });
  }

  std::string DeploymentPodName(DeploymentState& d) {
    while (true) {
      std::string name = absl::StrCat(d.name, "-", d.next_index++);
      if (live_pods_.count(MakeKey(d.ns, name)) == 0) return name;
    }
  }

  PodState& CreateDeploymentPod(DeploymentState& d, PodStart start) {
    std::map<std::string, std::string> labels = d.template_labels;
    labels[std::string(kTemplateHashLabel)] = d.template_hash;
    PodState& p = NewPod(d.ns, DeploymentPodName(d), std::move(labels), d.ports, d.timing, std::nullopt);
    p.info.deployment = d.name;
    p.info.template_hash = d.template_hash;
    p.rs_name = absl::StrCat(d.name, "-", d.template_hash);
    std::string& rs_uid = d.rs_uids[d.template_hash];
    if (rs_uid.empty()) rs_uid = NewUid();
    p.rs_uid = rs_uid;
    StartPod(p, start);
    return p;
  }

  void RemovePod(PodState& p) {
    if (p.removed) return;
    int64_t now = Now();
    p.info.deleted_nanos = now;
    p.info.serving = false;
    p.info.ready = false;
    p.info.ready_since_nanos.reset();
    // DELETED carries the last state with the deletion's RV (reference §2.4).
    std::shared_ptr<const Json> last = PodObject(p);
    p.rv = NextRv();
    if (recording_) {
      auto obj = std::make_shared<Json>(*last);
      (*obj)["metadata"]["resourceVersion"] = std::to_string(p.rv);
      Record(ResourceKind::kPod, ChangeType::kDeleted, p.info.namespace_name, p.info.name, obj, nullptr);
    }
    p.removed = true;
    p.cached.reset();
    live_pods_.erase(MakeKey(p.info.namespace_name, p.info.name));
    if (!p.info.address.empty()) pool_.Release(p.address_raw);
    MarkPodDependents(p);
    NotifyPod(p);
  }

  absl::StatusOr<PodState*> FindPod(std::string_view ns, std::string_view name) {
    auto it = live_pods_.find(MakeKey(ns, name));
    if (it == live_pods_.end()) return NotFound(ResourceKind::kPod, name);
    return it->second;
  }

  void BeginDeletion(PodState& p) {
    if (p.removed || p.info.terminating) return;
    int64_t now = Now();
    p.info.terminating = true;
    p.info.deletion_nanos = now;
    WritePod(p, ChangeType::kModified);
    NotifyPod(p);
    // The preStop drain keeps the process serving; then it exits and the kubelet removes the pod.
    // The grace period bounds the whole termination (SIGKILL at its end).
    int64_t end = now + std::min(p.timing.drain_nanos, p.timing.termination_grace_nanos);
    PodState* pp = &p;
    AddTimer(end, [this, pp] { RemovePod(*pp); });
  }

  // ---- deployment controller ------------------------------------------------------------------
  // ReplicaSet scale-down preference (controller.ActivePods ordering, simplified): unscheduled,
  // then not ready, then the most recently ready, then the newest.
  static bool DeleteFirst(const PodState* a, const PodState* b) {
    bool as = !a->info.address.empty(), bs = !b->info.address.empty();
    if (as != bs) return !as;
    if (a->info.ready != b->info.ready) return !a->info.ready;
    int64_t ar = a->info.ready_since_nanos.value_or(0), br = b->info.ready_since_nanos.value_or(0);
    if (ar != br) return ar > br;
    return a->seq > b->seq;
  }

  std::vector<PodState*> DeploymentPods(const DeploymentState& d) {
    std::vector<PodState*> out;
    for (auto it = live_pods_.lower_bound(MakeKey(d.ns, "")); it != live_pods_.end() && it->first.first == d.ns;
         ++it) {
      PodState* p = it->second;
      if (p->info.deployment == d.name && !p->info.terminating) out.push_back(p);
    }
    return out;  // by name; DeleteSome orders by its own total order
  }

  void DeleteSome(std::vector<PodState*> pods, int n) {
    std::sort(pods.begin(), pods.end(), DeleteFirst);
    for (int i = 0; i < n && i < static_cast<int>(pods.size()); ++i) BeginDeletion(*pods[i]);
  }

  // One reconcile pass (Deployment + its ReplicaSets, rolling update per the deployment
  // controller's rolling.go: scale up the new RS within maxSurge, clean up unhealthy old pods,
  // then scale old ones down only as far as availability allows).
  void ReconcileDeployment(DeploymentState& d) {
    d.dirty = false;
    d.status_dirty = true;
    std::vector<PodState*> pods = DeploymentPods(d);
    std::vector<PodState*> fresh, old;
    for (PodState* p : pods) (p->info.template_hash == d.template_hash ? fresh : old).push_back(p);
    const int replicas = d.replicas;
    const int n_new = static_cast<int>(fresh.size()), n_old = static_cast<int>(old.size());
    if (old.empty()) {
      if (n_new < replicas) {
        for (int i = n_new; i < replicas; ++i) CreateDeploymentPod(d, PodStart::kStarting);
      } else if (n_new > replicas) {
        DeleteSome(fresh, n_new - replicas);
      }
      return;
    }
    if (n_new > replicas) {
      DeleteSome(fresh, n_new - replicas);
      return;
    }
    int room = replicas + d.max_surge - (n_old + n_new);
    int want = replicas - n_new;
    int create = std::min(room, want);
    for (int i = 0; i < create; ++i) fresh.push_back(&CreateDeploymentPod(d, PodStart::kStarting));
    const int min_available = std::max(0, replicas - d.max_unavailable);
    int total = static_cast<int>(old.size() + fresh.size());
    int new_unavailable = 0, available = 0;
    for (PodState* p : fresh) (p->info.ready ? available : new_unavailable) += 1;
    std::vector<PodState*> old_unready, old_ready;
    for (PodState* p : old) (p->info.ready ? old_ready : old_unready).push_back(p);
    available += static_cast<int>(old_ready.size());
    int cleanup = std::min<int>(total - min_available - new_unavailable, static_cast<int>(old_unready.size()));
    if (cleanup > 0) DeleteSome(old_unready, cleanup);
    int scale_down = available - min_available;
    if (scale_down > 0) DeleteSome(old_ready, scale_down);
  }

  void UpdateDeploymentStatus(DeploymentState& d) {
    d.status_dirty = false;
    int replicas = 0, ready = 0, updated = 0;
    for (PodState* p : DeploymentPods(d)) {
      ++replicas;
      if (p->info.ready) ++ready;
      if (p->info.template_hash == d.template_hash) ++updated;
    }
    Json status = {{"observedGeneration", d.object["metadata"].value("generation", 1)},
                   {"replicas", replicas}, {"updatedReplicas", updated}, {"readyReplicas", ready},
                   {"availableReplicas", ready}};
    if (replicas - ready > 0) status["unavailableReplicas"] = replicas - ready;
    if (d.object.value("status", Json()) == status) return;
    d.object["status"] = status;
    WriteDeployment(d, ChangeType::kModified);
  }

  void WriteDeployment(DeploymentState& d, ChangeType type) {
    d.rv = NextRv();
    d.object["metadata"]["resourceVersion"] = std::to_string(d.rv);
    d.cached = std::make_shared<const Json>(d.object);
    Record(ResourceKind::kDeployment, type, d.ns, d.name, d.cached, nullptr);
  }

  void WriteService(ServiceState& s, ChangeType type) {
    s.rv = NextRv();
    s.object["metadata"]["resourceVersion"] = std::to_string(s.rv);
    s.cached = std::make_shared<const Json>(s.object);
    Record(ResourceKind::kService, type, s.ns, s.name, s.cached, nullptr);
  }

  // ---- EndpointSlice controller -----------------------------------------------------------------
  std::shared_ptr<const Json> SliceObject(const SliceEntry& e) const {
    if (!e.cached) e.cached = std::make_shared<const Json>(EndpointSliceToJson(*e.slice, true));
    return e.cached;
  }

  void WriteSlice(EndpointSlice slice, ChangeType type) {
    Key key = MakeKey(slice.metadata.namespace_name, slice.metadata.name);
    uint64_t rv = NextRv();
    slice.metadata.resource_version = std::to_string(rv);
    auto shared = std::make_shared<const EndpointSlice>(std::move(slice));
    if (type == ChangeType::kDeleted) {
      std::shared_ptr<const Json> obj;
      if (recording_) obj = std::make_shared<const Json>(EndpointSliceToJson(*shared, true));
      slices_.erase(key);
      Record(ResourceKind::kEndpointSlice, type, key.first, key.second, obj, shared);
      return;
    }
    SliceEntry& e = slices_[key];
    e.slice = shared;
    e.cached.reset();
    if (recording_) Record(ResourceKind::kEndpointSlice, type, key.first, key.second, SliceObject(e), shared);
  }

  bool IsManagedBy(const EndpointSlice& s, const ServiceState& svc) const {
    auto m = s.metadata.labels.find(std::string(kManagedByLabel));
    return s.metadata.namespace_name == svc.ns && s.ServiceName() == svc.name &&
           m != s.metadata.labels.end() && m->second == kControllerName;
  }

  std::map<std::string, std::string> SliceLabels(const ServiceState& svc) const {
    std::map<std::string, std::string> labels = svc.labels;
    labels[std::string(kServiceNameLabel)] = svc.name;
    labels[std::string(kManagedByLabel)] = std::string(kControllerName);
    return labels;
  }

  // The slice ports a pod resolves to (targetPort by number, or by the container port's name).
  std::optional<std::vector<SlicePort>> ResolvePorts(const ServiceState& svc, const PodState& p) const {
    std::vector<SlicePort> out;
    for (const ServicePort& sp : svc.ports) {
      int32_t number = sp.port;
      if (sp.target_number) number = *sp.target_number;
      if (sp.target_name) {
        auto it = std::find_if(p.ports.begin(), p.ports.end(),
                               [&](const ContainerPort& c) { return c.name == *sp.target_name; });
        if (it == p.ports.end()) return std::nullopt;
        number = it->port;
      }
      out.push_back(SlicePort{.name = sp.name, .port = number, .protocol = sp.protocol,
                              .app_protocol = sp.app_protocol});
    }
    return out;
  }

  EndpointSlice NewSlice(const ServiceState& svc) {
    EndpointSlice s;
    std::string name;
    do {
      name = absl::StrCat(svc.name, "-", RandomSuffix());
    } while (slices_.count(MakeKey(svc.ns, name)) != 0);
    s.metadata.name = name;
    s.metadata.generate_name = svc.name + "-";
    s.metadata.namespace_name = svc.ns;
    s.metadata.uid = NewUid();
    s.metadata.generation = 1;
    s.metadata.creation_timestamp = NowTimestamp();
    s.metadata.labels = SliceLabels(svc);
    s.metadata.annotations[std::string(kTriggerTimeAnnotation)] = NowTimestamp();
    s.metadata.owner_references.push_back(OwnerReference{.api_version = "v1", .kind = "Service", .name = svc.name,
                                                         .uid = svc.uid, .controller = true,
                                                         .block_owner_deletion = true});
    s.address_type = AddressType::kIPv4;
    return s;
  }

  // The endpoint the controller writes for a pod (reference §1.1: ready = serving && !terminating,
  // serving = pod Ready, terminating = deletionTimestamp set; PreferClose hints on ready ones).
  static SliceEndpoint PodEndpoint(const ServiceState& svc, const PodState& p) {
    SliceEndpoint e;
    e.addresses = {p.info.address};
    bool serving = p.info.ready, terminating = p.info.terminating;
    e.conditions.ready = serving && !terminating;
    e.conditions.serving = serving;
    e.conditions.terminating = terminating;
    e.node_name = p.info.node;
    if (!p.info.zone.empty()) e.zone = p.info.zone;
    e.target_ref = ObjectReference{.kind = "Pod", .namespace_name = p.info.namespace_name, .name = p.info.name,
                                   .uid = p.info.uid};
    if (svc.prefer_close && serving && !terminating && !p.info.zone.empty()) e.hint_zones = {p.info.zone};
    return e;
  }

  // PodEndpoint(svc, p) == e, without building it (the per-sync cost on large Services).
  static bool EndpointMatchesPod(const SliceEndpoint& e, const ServiceState& svc, const PodState& p) {
    bool serving = p.info.ready, terminating = p.info.terminating;
    bool ready = serving && !terminating;
    bool hinted = svc.prefer_close && ready && !p.info.zone.empty();
    return e.addresses.size() == 1 && e.addresses[0] == p.info.address && e.conditions.ready == ready &&
           e.conditions.serving == serving && e.conditions.terminating == terminating && !e.hostname &&
           e.node_name == p.info.node &&
           (p.info.zone.empty() ? !e.zone.has_value() : e.zone == p.info.zone) && e.target_ref &&
           e.target_ref->kind == "Pod" && e.target_ref->namespace_name == p.info.namespace_name &&
           e.target_ref->name == p.info.name && e.target_ref->uid == p.info.uid && e.hint_nodes.empty() &&
           (hinted ? (e.hint_zones.size() == 1 && e.hint_zones[0] == p.info.zone) : e.hint_zones.empty());
  }

  // Reconciles the Service's controller-managed slices with its pods: the greedy, non-rebalancing
  // placement of the real controller (reference §1.2; endpointslice reconciler.go). Cost is linear
  // in the Service's pods and endpoints, with endpoint objects built only for what changes.
  void SyncService(ServiceState& svc) {
    svc.dirty = false;
    if (svc.selector.empty()) return;  // selector-less Service: the controller manages nothing
    const size_t max = static_cast<size_t>(opts_.max_endpoints_per_slice);
    // Desired endpoints, in pod creation order.
    std::vector<const PodState*> selected;
    for (auto it = live_pods_.lower_bound(MakeKey(svc.ns, "")); it != live_pods_.end() && it->first.first == svc.ns;
         ++it) {
      const PodState* p = it->second;
      if (!p->info.address.empty() && LabelsMatch(svc.selector, p->info.labels)) selected.push_back(p);
    }
    std::sort(selected.begin(), selected.end(), [](const PodState* a, const PodState* b) { return a->seq < b->seq; });
    std::optional<std::vector<SlicePort>> ports;
    std::vector<const PodState*> desired;
    desired.reserve(selected.size());
    const std::vector<ContainerPort>* last_ports = nullptr;
    bool last_ok = false;
    for (const PodState* p : selected) {
      // Pods of one Deployment share their container ports: resolve once per distinct set.
      bool same = last_ports != nullptr && last_ports->size() == p->ports.size() &&
                  std::equal(last_ports->begin(), last_ports->end(), p->ports.begin(),
                             [](const ContainerPort& x, const ContainerPort& y) {
                               return x.name == y.name && x.port == y.port;
                             });
      if (!same) {
        std::optional<std::vector<SlicePort>> pp = ResolvePorts(svc, *p);
        if (pp && !ports) ports = *pp;
        last_ok = pp.has_value() && SamePorts(*ports, *pp);  // a different mapping would be another slice set
        last_ports = &p->ports;
      }
      if (last_ok) desired.push_back(p);
    }
    std::vector<SlicePort> want_ports = ports.value_or(std::vector<SlicePort>{});
    absl::flat_hash_map<std::string_view, size_t> by_uid;
    by_uid.reserve(desired.size());
    for (size_t i = 0; i < desired.size(); ++i) by_uid.emplace(desired[i]->info.uid, i);
    std::vector<bool> placed(desired.size(), false);
    std::map<std::string, std::string> want_labels = SliceLabels(svc);

    std::vector<EndpointSlice> to_update, to_delete, to_create;
    std::vector<const EndpointSlice*> unchanged;
    for (auto it = slices_.lower_bound(MakeKey(svc.ns, "")); it != slices_.end() && it->first.first == svc.ns; ++it) {
      const EndpointSlice& s = *it->second.slice;
      if (!IsManagedBy(s, svc)) continue;
      bool changed = s.metadata.labels != want_labels;
      std::vector<std::pair<size_t, bool>> keep;  // (desired index, endpoint unchanged), slice order
      keep.reserve(s.endpoints.size());
      for (const SliceEndpoint& e : s.endpoints) {
        auto d = e.target_ref ? by_uid.find(e.target_ref->uid) : by_uid.end();
        if (d == by_uid.end() || placed[d->second]) {
          changed = true;  // gone, or a duplicate: drop it here
          continue;
        }
        placed[d->second] = true;
        bool same = EndpointMatchesPod(e, svc, *desired[d->second]);
        keep.emplace_back(d->second, same);
        if (!same) changed = true;
      }
      if (keep.empty()) {
        to_delete.push_back(s);
        continue;
      }
      if (!SamePorts(s.ports, want_ports)) changed = true;
      if (!changed) {
        unchanged.push_back(&s);
        continue;
      }
      EndpointSlice u;
      u.metadata = s.metadata;
      u.address_type = s.address_type;
      u.metadata.labels = want_labels;
      u.ports = want_ports;
      u.endpoints.reserve(keep.size());
      size_t j = 0;
      for (const SliceEndpoint& e : s.endpoints) {
        if (j >= keep.size()) break;
        // keep[] follows the slice order of the endpoints that stayed; copy the unchanged ones.
        if (e.target_ref && desired[keep[j].first]->info.uid == e.target_ref->uid) {
          u.endpoints.push_back(keep[j].second ? e : PodEndpoint(svc, *desired[keep[j].first]));
          ++j;
        }
      }
      to_update.push_back(std::move(u));
    }
    std::vector<size_t> remaining;
    for (size_t i = 0; i < desired.size(); ++i) {
      if (!placed[i]) remaining.push_back(i);
    }
    size_t next = 0;
    // 1. Fill slices that are being updated anyway.
    for (EndpointSlice& u : to_update) {
      while (u.endpoints.size() < max && next < remaining.size()) u.endpoints.push_back(PodEndpoint(svc, *desired[remaining[next++]]));
    }
    // 2. Full new slices; 3. the rest into the fullest unchanged slice that fits it, else a new
    // slice (the controller prefers one new slice to several updates, and never rebalances).
    while (remaining.size() - next >= max) {
      EndpointSlice s = NewSlice(svc);
      s.ports = want_ports;
      for (size_t i = 0; i < max; ++i) s.endpoints.push_back(PodEndpoint(svc, *desired[remaining[next++]]));
      to_create.push_back(std::move(s));
    }
    size_t rest = remaining.size() - next;
    if (rest > 0) {
      const EndpointSlice* fill = nullptr;
      for (const EndpointSlice* s : unchanged) {
        if (s->endpoints.size() + rest <= max && (fill == nullptr || s->endpoints.size() > fill->endpoints.size())) {
          fill = s;
        }
      }
      if (fill != nullptr) {
        EndpointSlice u = *fill;
        unchanged.erase(std::find(unchanged.begin(), unchanged.end(), fill));
        while (next < remaining.size()) u.endpoints.push_back(PodEndpoint(svc, *desired[remaining[next++]]));
        to_update.push_back(std::move(u));
      } else {
        EndpointSlice s = NewSlice(svc);
        s.ports = want_ports;
        while (next < remaining.size()) s.endpoints.push_back(PodEndpoint(svc, *desired[remaining[next++]]));
        to_create.push_back(std::move(s));
      }
    }
    // Placeholder: a Service that selects nothing keeps exactly one empty slice.
    if (to_create.empty() && to_update.empty() && unchanged.empty()) {
      if (!to_delete.empty()) {
        EndpointSlice keep = to_delete.front();
        to_delete.erase(to_delete.begin());
        if (!keep.endpoints.empty() || !keep.ports.empty() || keep.metadata.labels != want_labels) {
          keep.endpoints.clear();
          keep.ports.clear();
          keep.metadata.labels = want_labels;
          to_update.push_back(std::move(keep));
        }
      } else {
        to_create.push_back(NewSlice(svc));
      }
    }
    // As the real reconciler's finalize(): a slice about to be deleted is recycled for a slice
    // about to be created (one update instead of a create plus a delete; keeps the name).
    while (!to_create.empty() && !to_delete.empty()) {
      EndpointSlice recycled = std::move(to_delete.back());
      to_delete.pop_back();
      recycled.metadata.labels = to_create.back().metadata.labels;
      recycled.ports = std::move(to_create.back().ports);
      recycled.endpoints = std::move(to_create.back().endpoints);
      to_create.pop_back();
      to_update.push_back(std::move(recycled));
    }
    // Creates first, then updates, then deletes: an endpoint is never absent from every slice
    // while it moves (it never moves, but deletes of emptied slices come last all the same).
    std::sort(to_update.begin(), to_update.end(),
              [](const EndpointSlice& a, const EndpointSlice& b) { return a.metadata.name < b.metadata.name; });
    for (EndpointSlice& s : to_create) WriteSlice(std::move(s), ChangeType::kAdded);
    for (EndpointSlice& s : to_update) {
      ++s.metadata.generation;
      s.metadata.annotations[std::string(kTriggerTimeAnnotation)] = NowTimestamp();
      WriteSlice(std::move(s), ChangeType::kModified);
    }
    for (EndpointSlice& s : to_delete) WriteSlice(std::move(s), ChangeType::kDeleted);
  }

  // ---- flush -------------------------------------------------------------------------------------
  void Flush() {
    for (int round = 0; round < kMaxFlushRounds; ++round) {
      bool any = false;
      for (auto& [key, d] : deployments_) {
        if (d->dirty) {
          any = true;
          ReconcileDeployment(*d);
        }
      }
      if (!any) break;
    }
    for (auto& [key, d] : deployments_) {
      if (d->status_dirty) UpdateDeploymentStatus(*d);
    }
    for (auto& [key, s] : services_) {
      if (!s->dirty) continue;
      if (opts_.slice_batching_nanos <= 0 || !batching_) {
        SyncService(*s);
      } else if (!s->flush_scheduled) {
        s->flush_scheduled = true;
        std::string ns = s->ns, name = s->name;
        AddTimer(Now() + opts_.slice_batching_nanos, [this, ns, name] {
          auto it = services_.find(MakeKey(ns, name));
          if (it == services_.end()) return;
          it->second->flush_scheduled = false;
          SyncService(*it->second);
        });
      }
    }
  }

  std::vector<std::string> LiveZones() const {
    std::vector<std::string> out;
    for (const std::string& z : opts_.zones) {
      auto it = zones_up_.find(z);
      if (it != zones_up_.end() && it->second) out.push_back(z);
    }
    return out;
  }

  // ---- object parsing (generic store) -------------------------------------------------------------
  // Takes name/namespace from metadata (generateName → name + 5 random chars).
  absl::StatusOr<std::string> ObjectName(ResourceKind kind, std::string_view ns, const Json& object,
                                         bool generate) {
    if (!object.is_object()) return absl::FailedPreconditionError("the request body must be a JSON object");
    const Json* meta = Member(object, "metadata");
    std::string name, generate_name, obj_ns;
    if (meta != nullptr) {
      if (!meta->is_object()) return absl::FailedPreconditionError("metadata: expected object");
      if (const Json* n = Member(*meta, "name"); n != nullptr && n->is_string()) name = n->get<std::string>();
      if (const Json* g = Member(*meta, "generateName"); g != nullptr && g->is_string()) {
        generate_name = g->get<std::string>();
      }
      if (const Json* n = Member(*meta, "namespace"); n != nullptr && n->is_string()) obj_ns = n->get<std::string>();
    }
    if (!obj_ns.empty() && obj_ns != ns) {
      return absl::FailedPreconditionError(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
    if (name.empty() && generate && !generate_name.empty()) {
      for (int i = 0; i < 100; ++i) {
        std::string candidate = generate_name + RandomSuffix();
        if (!Exists(kind, ns, candidate)) return candidate;
      }
    }
    if (name.empty()) {
      return Invalid(kind, "", "metadata.name: Required value: name or generateName is required");
    }
    return name;
  }

  bool Exists(ResourceKind kind, std::string_view ns, std::string_view name) const {
    Key k = MakeKey(ns, name);
    switch (kind) {
      case ResourceKind::kService: return services_.count(k) != 0;
      case ResourceKind::kDeployment: return deployments_.count(k) != 0;
      case ResourceKind::kPod: return live_pods_.count(k) != 0;
      case ResourceKind::kEndpointSlice: return slices_.count(k) != 0;
    }
    return false;
  }

  // Fills metadata common to stored objects.
  void StampMeta(Json& object, ResourceKind kind, std::string_view ns, const std::string& name,
                 const std::string& uid, const std::string& created) {
    object["kind"] = KindName(kind);
    object["apiVersion"] = ApiVersion(kind);
    Json& meta = object["metadata"];
    if (!meta.is_object()) meta = Json::object();
    meta["name"] = name;
    meta["namespace"] = ns;
    meta["uid"] = uid;
    meta["creationTimestamp"] = created;
  }

  absl::Status ParseServiceSpec(const std::string& name, const Json& object, ServiceState& s) {
    const Json* meta = Member(object, "metadata");
    if (meta != nullptr) {
      if (auto st = ReadLabels(*meta, "labels", "metadata.labels", &s.labels); !st.ok()) {
        return Invalid(ResourceKind::kService, name, SV(st.message()));
      }
    }
    const Json* spec = Member(object, "spec");
    if (spec == nullptr || !spec->is_object()) return Invalid(ResourceKind::kService, name, "spec: Required value");
    if (auto st = ReadLabels(*spec, "selector", "spec.selector", &s.selector); !st.ok()) {
      return Invalid(ResourceKind::kService, name, SV(st.message()));
    }
    s.ports.clear();
    const Json* ports = Member(*spec, "ports");
    if (ports != nullptr) {
      if (!ports->is_array()) return Invalid(ResourceKind::kService, name, "spec.ports: expected array");
      for (size_t i = 0; i < ports->size(); ++i) {
        const Json& p = (*ports)[i];
        std::string path = absl::StrCat("spec.ports[", i, "]");
        if (!p.is_object()) return Invalid(ResourceKind::kService, name, path + ": expected object");
        ServicePort sp;
        const Json* port = Member(p, "port");
        if (port == nullptr || !port->is_number_integer() || port->get<int64_t>() < 1 || port->get<int64_t>() > 65535) {
          return Invalid(ResourceKind::kService, name,
                         path + ".port: Invalid value: must be between 1 and 65535, inclusive");
        }
        sp.port = static_cast<int32_t>(port->get<int64_t>());
        if (const Json* n = Member(p, "name"); n != nullptr && n->is_string()) sp.name = n->get<std::string>();
        if (const Json* pr = Member(p, "protocol"); pr != nullptr && pr->is_string()) sp.protocol = pr->get<std::string>();
        if (const Json* ap = Member(p, "appProtocol"); ap != nullptr && ap->is_string()) {
          sp.app_protocol = ap->get<std::string>();
        }
        if (const Json* t = Member(p, "targetPort"); t != nullptr) {
          if (t->is_number_integer()) {
            sp.target_number = static_cast<int32_t>(t->get<int64_t>());
          } else if (t->is_string()) {
            std::string ts = t->get<std::string>();
            int32_t v = 0;
            if (absl::SimpleAtoi(ts, &v)) {
              sp.target_number = v;
            } else {
              sp.target_name = ts;
            }
          } else {
            return Invalid(ResourceKind::kService, name, path + ".targetPort: expected integer or string");
          }
        }
        s.ports.push_back(std::move(sp));
      }
    }
    s.prefer_close = false;
    if (const Json* td = Member(*spec, "trafficDistribution"); td != nullptr) {
      if (!td->is_string()) return Invalid(ResourceKind::kService, name, "spec.trafficDistribution: expected string");
      // PreferSameZone is the 1.34 name of PreferClose (reference §1.3).
      s.prefer_close = td->get<std::string>() == "PreferClose" || td->get<std::string>() == "PreferSameZone";
    }
    return absl::OkStatus();
  }

  absl::Status ParseDeploymentSpec(const std::string& name, const Json& object, DeploymentState& d) {
    const Json* spec = Member(object, "spec");
    if (spec == nullptr || !spec->is_object()) return Invalid(ResourceKind::kDeployment, name, "spec: Required value");
    int replicas = 1;
    if (const Json* r = Member(*spec, "replicas"); r != nullptr) {
      if (!r->is_number_integer() || r->get<int64_t>() < 0 || r->get<int64_t>() > 1'000'000) {
        return Invalid(ResourceKind::kDeployment, name,
                       "spec.replicas: Invalid value: must be greater than or equal to 0");
      }
      replicas = static_cast<int>(r->get<int64_t>());
    }
    const Json* sel = Member(*spec, "selector");
    std::map<std::string, std::string> selector;
    if (sel != nullptr) {
      if (auto st = ReadLabels(*sel, "matchLabels", "spec.selector.matchLabels", &selector); !st.ok()) {
        return Invalid(ResourceKind::kDeployment, name, SV(st.message()));
      }
    }
    if (selector.empty()) return Invalid(ResourceKind::kDeployment, name, "spec.selector: Required value");
    const Json* tmpl = Member(*spec, "template");
    if (tmpl == nullptr || !tmpl->is_object()) {
      return Invalid(ResourceKind::kDeployment, name, "spec.template: Required value");
    }
    std::map<std::string, std::string> tlabels, tannotations;
    if (const Json* tm = Member(*tmpl, "metadata"); tm != nullptr) {
      if (!tm->is_object()) return Invalid(ResourceKind::kDeployment, name, "spec.template.metadata: expected object");
      if (auto st = ReadLabels(*tm, "labels", "spec.template.metadata.labels", &tlabels); !st.ok()) {
        return Invalid(ResourceKind::kDeployment, name, SV(st.message()));
      }
      if (auto st = ReadLabels(*tm, "annotations", "spec.template.metadata.annotations", &tannotations); !st.ok()) {
        return Invalid(ResourceKind::kDeployment, name, SV(st.message()));
      }
    }
    if (!LabelsMatch(selector, tlabels)) {
      return Invalid(ResourceKind::kDeployment, name,
                     "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`");
    }
    std::vector<ContainerPort> ports;
    if (const Json* ts = Member(*tmpl, "spec"); ts != nullptr) {
      if (const Json* cs = Member(*ts, "containers"); cs != nullptr && cs->is_array() && !cs->empty()) {
        if (const Json* ps = Member((*cs)[0], "ports"); ps != nullptr && ps->is_array()) {
          for (const Json& p : *ps) {
            ContainerPort cp;
            if (const Json* n = Member(p, "name"); n != nullptr && n->is_string()) cp.name = n->get<std::string>();
            if (const Json* n = Member(p, "containerPort"); n != nullptr && n->is_number_integer()) {
              cp.port = static_cast<int32_t>(n->get<int64_t>());
            }
            if (cp.port > 0) ports.push_back(cp);
          }
        }
      }
      if (const Json* g = Member(*ts, "terminationGracePeriodSeconds"); g != nullptr && g->is_number_integer()) {
        d.timing.termination_grace_nanos = g->get<int64_t>() * kNanosPerSecond;
      }
    }
    const Json* ru = nullptr;
    if (const Json* strat = Member(*spec, "strategy"); strat != nullptr) ru = Member(*strat, "rollingUpdate");
    absl::StatusOr<int> surge = IntOrPercent(ru ? Member(*ru, "maxSurge") : nullptr, replicas, true,
                                             (replicas * 25 + 99) / 100, "spec.strategy.rollingUpdate.maxSurge");
    if (!surge.ok()) return Invalid(ResourceKind::kDeployment, name, SV(surge.status().message()));
    absl::StatusOr<int> unavailable =
        IntOrPercent(ru ? Member(*ru, "maxUnavailable") : nullptr, replicas, false, replicas * 25 / 100,
                     "spec.strategy.rollingUpdate.maxUnavailable");
    if (!unavailable.ok()) return Invalid(ResourceKind::kDeployment, name, SV(unavailable.status().message()));
    d.replicas = replicas;
    d.selector = std::move(selector);
    d.template_labels = std::move(tlabels);
    d.template_annotations = std::move(tannotations);
    d.ports = std::move(ports);
    d.max_surge = *surge;
    // Both 0 resolves to maxUnavailable 1, as the deployment controller does.
    d.max_unavailable = (*surge == 0 && *unavailable == 0) ? 1 : *unavailable;
    d.template_hash = HashName(Fnv1a(tmpl->dump()), 10);
    return absl::OkStatus();
  }

  // ---- state -----------------------------------------------------------------------------------
  Cluster* owner_;
  const ClusterOptions& opts_;
  std::shared_ptr<Clock> clock_;
  IPv4Pool pool_;
  std::shared_ptr<RandomSource> rng_;
  bool recording_ = true;
  bool batching_ = true;
  std::deque<StoredEvent> history_;
  std::vector<EventListener> listeners_;
  std::vector<PodListener> pod_listeners_;
  std::priority_queue<Timer, std::vector<Timer>, TimerLater> timers_;
  uint64_t next_timer_seq_ = 0;
  std::map<Key, std::unique_ptr<ServiceState>> services_;
  std::map<Key, std::unique_ptr<DeploymentState>> deployments_;
  std::vector<std::unique_ptr<PodState>> all_pods_;
  std::map<Key, PodState*> live_pods_;
  std::map<Key, SliceEntry> slices_;
  std::map<std::string, bool> zones_up_;
  std::map<std::string, int> next_node_;
  uint64_t next_zone_ = 0;
  int next_cluster_ip_ = 1;
  std::string scenario_ns_ = "default";
  std::string scenario_deployment_ = "echo";
};

// ================================================================================================
// Construction and setup

Cluster::Cluster(ClusterOptions options, std::shared_ptr<Clock> clock) : options_(std::move(options)) {
  (void)clock;
}

Cluster::~Cluster() = default;

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Create(ClusterOptions options, std::shared_ptr<Clock> clock) {
  if (clock == nullptr) return absl::InvalidArgumentError("cluster: clock must not be null");
  if (options.max_endpoints_per_slice < 1 || options.max_endpoints_per_slice > 1000) {
    return absl::InvalidArgumentError("cluster: max_endpoints_per_slice must be between 1 and 1000");
  }
  if (options.zones.empty()) return absl::InvalidArgumentError("cluster: zones must not be empty");
  {
    std::set<std::string> seen;
    for (const std::string& z : options.zones) {
      if (z.empty() || !seen.insert(z).second) {
        return absl::InvalidArgumentError(absl::StrCat("cluster: zone names must be non-empty and distinct: \"", z, "\""));
      }
    }
  }
  if (options.nodes_per_zone < 1) return absl::InvalidArgumentError("cluster: nodes_per_zone must be at least 1");
  if (options.history_limit < 1) return absl::InvalidArgumentError("cluster: history_limit must be at least 1");
  if (options.slice_batching_nanos < 0 || options.crash_detect_nanos < 0) {
    return absl::InvalidArgumentError("cluster: slice_batching and crash_detect must not be negative");
  }
  absl::StatusOr<IPv4Pool> pool = IPv4Pool::Parse(options.pod_cidr);
  if (!pool.ok()) return absl::InvalidArgumentError(absl::StrCat("cluster: ", pool.status().message()));
  std::unique_ptr<Cluster> c(new Cluster(std::move(options), clock));
  c->resource_version_ = 1;
  c->compacted_rv_ = 1;
  c->impl_ = std::make_unique<Impl>(c.get(), std::move(clock), std::move(*pool));
  return c;
}

ClusterOptions Cluster::OptionsFromScenario(const scenario::Scenario& s) {
  ClusterOptions o;
  o.max_endpoints_per_slice = s.cluster.max_endpoints_per_slice;
  o.slice_batching_nanos = SecondsToNanos(s.cluster.slice_batching_s);
  o.pod_cidr = s.cluster.pod_cidr;
  o.zones = s.cluster.zones;
  o.nodes_per_zone = s.cluster.nodes_per_zone;
  o.crash_detect_nanos = SecondsToNanos(s.cluster.crash_detect_s);
  o.seed = s.seed;
  o.pod_timing = PodTiming{.startup_nanos = SecondsToNanos(s.pods.startup_s),
                           .termination_grace_nanos = SecondsToNanos(s.pods.termination_grace_s),
                           .drain_nanos = SecondsToNanos(s.pods.drain_s)};
  return o;
}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::FromScenario(const scenario::Scenario& s,
                                                                std::shared_ptr<Clock> clock) {
  return FromScenario(s, OptionsFromScenario(s), std::move(clock));
}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::FromScenario(const scenario::Scenario& s, ClusterOptions options,
                                                                std::shared_ptr<Clock> clock) {
  absl::StatusOr<std::unique_ptr<Cluster>> c = Create(std::move(options), std::move(clock));
  if (!c.ok()) return c.status();
  Impl& impl = *(*c)->impl_;
  impl.recording_ = false;  // setup writes get RVs but no history (first watchable RV is after setup)
  impl.batching_ = false;
  impl.scenario_ns_ = s.service.namespace_name;
  impl.scenario_deployment_ = "echo";
  ServiceConfig svc{.name = s.service.name, .namespace_name = s.service.namespace_name, .port = s.service.port,
                    .port_name = s.service.port_name, .target_port = 0,
                    .traffic_distribution = s.service.traffic_distribution,
                    .selector = {{"app", "echo"}}, .labels = {{"app", "echo"}}};
  if (absl::Status st = (*c)->CreateService(svc); !st.ok()) return st;
  DeploymentConfig dep{.name = "echo", .namespace_name = s.service.namespace_name, .replicas = s.pods.replicas,
                       .pod_labels = {{"app", "echo"}}, .container_port = s.service.port,
                       .port_name = s.service.port_name, .timing = (*c)->options_.pod_timing,
                       .max_surge = 1, .max_unavailable = 0};
  if (absl::Status st = (*c)->CreateDeployment(dep, PodStart::kAlreadyRunning); !st.ok()) return st;
  impl.recording_ = true;
  impl.batching_ = true;
  (*c)->compacted_rv_ = (*c)->resource_version_;
  return c;
}

absl::Status Cluster::CreateService(const ServiceConfig& config) {
  Json ports = Json::array();
  Json port = {{"name", config.port_name}, {"port", config.port}, {"protocol", "TCP"},
               {"targetPort", config.target_port > 0 ? config.target_port : config.port}};
  ports.push_back(port);
  Json spec = {{"selector", LabelsJson(config.selector)}, {"ports", ports}};
  if (!config.traffic_distribution.empty()) spec["trafficDistribution"] = config.traffic_distribution;
  Json object = {{"metadata", {{"name", config.name}, {"namespace", config.namespace_name},
                               {"labels", LabelsJson(config.labels)}}},
                 {"spec", spec}};
  return Create(ResourceKind::kService, config.namespace_name, object).status();
}

namespace {
Json DeploymentObject(const DeploymentConfig& c, const std::string& image) {
  Json container = {{"name", "echo"}, {"image", image}};
  if (c.container_port > 0) {
    Json port = {{"containerPort", c.container_port}, {"protocol", "TCP"}};
    if (!c.port_name.empty()) port["name"] = c.port_name;
    container["ports"] = Json::array({port});
  }
  Json tspec = {{"containers", Json::array({container})}};
  if (c.timing) tspec["terminationGracePeriodSeconds"] = c.timing->termination_grace_nanos / kNanosPerSecond;
  return Json{{"metadata", {{"name", c.name}, {"namespace", c.namespace_name}, {"labels", LabelsJson(c.pod_labels)}}},
              {"spec",
               {{"replicas", c.replicas},
                {"selector", {{"matchLabels", LabelsJson(c.pod_labels)}}},
                {"template", {{"metadata", {{"labels", LabelsJson(c.pod_labels)}}}, {"spec", tspec}}},
                {"strategy", {{"type", "RollingUpdate"},
                              {"rollingUpdate", {{"maxSurge", c.max_surge}, {"maxUnavailable", c.max_unavailable}}}}}}}};
}
}  // namespace

// Internal creation path shared by CreateDeployment and Create(kDeployment).
absl::Status Cluster::CreateDeployment(const DeploymentConfig& config, PodStart start) {
  Impl& impl = *impl_;
  Json object = DeploymentObject(config, options_.image);
  if (impl.Exists(ResourceKind::kDeployment, config.namespace_name, config.name)) {
    return absl::AlreadyExistsError(
        absl::StrCat(QualifiedResource(ResourceKind::kDeployment), " \"", config.name, "\" already exists"));
  }
  auto d = std::make_unique<DeploymentState>();
  d->timing = config.timing.value_or(options_.pod_timing);
  if (absl::Status st = impl.ParseDeploymentSpec(config.name, object, *d); !st.ok()) return st;
  d->timing = config.timing.value_or(options_.pod_timing);  // the template's grace period is this one
  d->ns = config.namespace_name;
  d->name = config.name;
  d->uid = impl.NewUid();
  impl.StampMeta(object, ResourceKind::kDeployment, d->ns, d->name, d->uid, impl.NowTimestamp());
  object["metadata"]["generation"] = 1;
  d->object = std::move(object);
  DeploymentState& ref = *d;
  impl.deployments_[MakeKey(ref.ns, ref.name)] = std::move(d);
  impl.WriteDeployment(ref, ChangeType::kAdded);
  for (int i = 0; i < ref.replicas; ++i) impl.CreateDeploymentPod(ref, start);
  ref.dirty = false;
  impl.Flush();
  return absl::OkStatus();
}

// ================================================================================================
// Time

std::optional<int64_t> Cluster::NextTimerNanos() const {
  if (impl_->timers_.empty()) return std::nullopt;
  return impl_->timers_.top().due;
}

void Cluster::RunDue() {
  Impl& impl = *impl_;
  // Bounded: timers created for the same instant run in this call; a pathological chain stops.
  for (int guard = 0; guard < 10'000'000; ++guard) {
    if (impl.timers_.empty() || impl.timers_.top().due > impl.Now()) break;
    Timer t = impl.timers_.top();
    impl.timers_.pop();
    t.run();
    if (impl.timers_.empty() || impl.timers_.top().due > impl.Now()) impl.Flush();
  }
  impl.Flush();
}

// ================================================================================================
// Operations

absl::Status Cluster::Scale(std::string_view ns, std::string_view deployment, int replicas) {
  Impl& impl = *impl_;
  auto it = impl.deployments_.find(MakeKey(ns, deployment));
  if (it == impl.deployments_.end()) return NotFound(ResourceKind::kDeployment, deployment);
  if (replicas < 0) {
    return Invalid(ResourceKind::kDeployment, deployment,
                   "spec.replicas: Invalid value: must be greater than or equal to 0");
  }
  DeploymentState& d = *it->second;
  if (d.replicas == replicas) return absl::OkStatus();
  d.replicas = replicas;
  d.object["spec"]["replicas"] = replicas;
  d.object["metadata"]["generation"] = d.object["metadata"].value("generation", 1) + 1;
  impl.WriteDeployment(d, ChangeType::kModified);
  d.dirty = true;
  impl.Flush();
  return absl::OkStatus();
}

absl::Status Cluster::DeletePod(std::string_view ns, std::string_view name) {
  absl::StatusOr<PodState*> p = impl_->FindPod(ns, name);
  if (!p.ok()) return p.status();
  impl_->BeginDeletion(**p);
  impl_->Flush();
  return absl::OkStatus();
}

absl::Status Cluster::Rollout(std::string_view ns, std::string_view deployment, int max_surge, int max_unavailable) {
  Impl& impl = *impl_;
  auto it = impl.deployments_.find(MakeKey(ns, deployment));
  if (it == impl.deployments_.end()) return NotFound(ResourceKind::kDeployment, deployment);
  if (max_surge < 0 || max_unavailable < 0 || (max_surge == 0 && max_unavailable == 0)) {
    return Invalid(ResourceKind::kDeployment, deployment,
                   "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: may not be 0 when `maxSurge` is 0");
  }
  DeploymentState& d = *it->second;
  // As `kubectl rollout restart`: a template annotation changes, hence the template hash.
  ++d.rollouts;
  Json& tmeta = d.object["spec"]["template"]["metadata"];
  tmeta["annotations"]["kubectl.kubernetes.io/restartedAt"] = impl.NowTimestamp();
  tmeta["annotations"]["k8slb.fake/rollout"] = std::to_string(d.rollouts);
  d.object["spec"]["strategy"] = {{"type", "RollingUpdate"},
                                  {"rollingUpdate", {{"maxSurge", max_surge}, {"maxUnavailable", max_unavailable}}}};
  d.object["metadata"]["generation"] = d.object["metadata"].value("generation", 1) + 1;
  PodTiming timing = d.timing;
  if (absl::Status st = impl.ParseDeploymentSpec(d.name, d.object, d); !st.ok()) return st;
  d.timing = timing;
  impl.WriteDeployment(d, ChangeType::kModified);
  d.dirty = true;
  impl.Flush();
  return absl::OkStatus();
}

absl::Status Cluster::SetPodNotReady(std::string_view ns, std::string_view name, int64_t duration_nanos) {
  Impl& impl = *impl_;
  absl::StatusOr<PodState*> found = impl.FindPod(ns, name);
  if (!found.ok()) return found.status();
  if (duration_nanos <= 0) return absl::InvalidArgumentError("notReady: duration must be positive");
  PodState* p = *found;
  int64_t until = impl.Now() + duration_nanos;
  p->not_ready_until = std::max(p->not_ready_until, until);
  impl.RecomputePod(*p);
  impl.AddTimer(until, [&impl, p] { impl.RecomputePod(*p); });
  impl.Flush();
  return absl::OkStatus();
}

absl::Status Cluster::SetPodSlow(std::string_view ns, std::string_view name, double factor, int64_t duration_nanos) {
  Impl& impl = *impl_;
  absl::StatusOr<PodState*> found = impl.FindPod(ns, name);
  if (!found.ok()) return found.status();
  if (!(factor > 0)) return absl::InvalidArgumentError("slow: factor must be positive");
  if (duration_nanos < 0) return absl::InvalidArgumentError("slow: duration must not be negative");
  PodState* p = *found;
  p->info.latency_factor = factor;
  uint64_t token = ++p->slow_token;
  impl.NotifyPod(*p);
  if (duration_nanos > 0) {
    impl.AddTimer(impl.Now() + duration_nanos, [&impl, p, token] {
      if (p->removed || p->slow_token != token) return;
      p->info.latency_factor = 1.0;
      impl.NotifyPod(*p);
    });
  }
  return absl::OkStatus();
}

absl::Status Cluster::CrashPod(std::string_view ns, std::string_view name) {
  Impl& impl = *impl_;
  absl::StatusOr<PodState*> found = impl.FindPod(ns, name);
  if (!found.ok()) return found.status();
  PodState* p = *found;
  if (p->info.crashed) return absl::OkStatus();
  p->info.crashed = true;
  uint64_t epoch = ++p->epoch;  // a pending startup no longer applies
  p->started = false;
  impl.RecomputePod(*p);  // serving → false; Ready unchanged until noticed
  impl.AddTimer(impl.Now() + options_.crash_detect_nanos, [this, &impl, p, epoch] {
    if (p->removed || p->epoch != epoch) return;
    p->crash_noticed = true;
    p->cached.reset();
    impl.RecomputePod(*p);
    bool zone_up = impl.zones_up_[p->info.zone];
    if (options_.crash_recovery == CrashRecovery::kRestart && !p->info.terminating && zone_up) {
      impl.ScheduleStartup(*p, impl.Now() + p->timing.startup_nanos);
    }
  });
  impl.Flush();
  return absl::OkStatus();
}

absl::Status Cluster::ZoneDown(std::string_view zone) {
  Impl& impl = *impl_;
  auto z = impl.zones_up_.find(std::string(zone));
  if (z == impl.zones_up_.end()) return absl::NotFoundError(absl::StrCat("zone \"", AV(zone), "\" not found"));
  if (!z->second) return absl::OkStatus();
  z->second = false;
  std::vector<PodState*> victims;
  for (auto& [key, p] : impl.live_pods_) {
    if (p->info.zone == zone) victims.push_back(p);
  }
  std::sort(victims.begin(), victims.end(), [](const PodState* a, const PodState* b) { return a->seq < b->seq; });
  for (PodState* p : victims) {
    if (!p->info.crashed) {
      p->info.crashed = true;
      ++p->epoch;
      p->started = false;
      impl.RecomputePod(*p);
    }
  }
  std::string zone_name(zone);
  // The nodes are gone crash_detect later: the pod GC removes their pods, Deployments replace them.
  impl.AddTimer(impl.Now() + options_.crash_detect_nanos, [&impl, zone_name] {
    std::vector<PodState*> gone;
    for (auto& [key, p] : impl.live_pods_) {
      if (p->info.zone == zone_name) gone.push_back(p);
    }
    std::sort(gone.begin(), gone.end(), [](const PodState* a, const PodState* b) { return a->seq < b->seq; });
    for (PodState* p : gone) impl.RemovePod(*p);
  });
  impl.Flush();
  return absl::OkStatus();
}

absl::Status Cluster::ApplyScenarioEvent(const scenario::Event& e) {
  Impl& impl = *impl_;
  const std::string& ns = impl.scenario_ns_;
  const std::string& dep = impl.scenario_deployment_;
  using K = scenario::EventKind;
  switch (e.kind) {
    case K::kScale: return Scale(ns, dep, e.replicas);
    case K::kEvict: {
      if (!e.pod.empty()) return DeletePod(ns, e.pod);
      std::vector<PodState*> candidates;
      for (auto it = impl.live_pods_.lower_bound(MakeKey(ns, "")); it != impl.live_pods_.end() && it->first.first == ns;
           ++it) {
        if (!it->second->info.terminating) candidates.push_back(it->second);
      }
      std::sort(candidates.begin(), candidates.end(),
                [](const PodState* a, const PodState* b) { return a->seq < b->seq; });
      for (int i = 0; i < e.count && !candidates.empty(); ++i) {
        size_t pick = impl.rng_->Uniform(candidates.size());
        impl.BeginDeletion(*candidates[pick]);
        candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(pick));
      }
      impl.Flush();
      return absl::OkStatus();
    }
    case K::kRollout: return Rollout(ns, dep, e.max_surge, e.max_unavailable);
    case K::kNotReady: return SetPodNotReady(ns, e.pod, SecondsToNanos(e.for_s));
    case K::kSlow: return SetPodSlow(ns, e.pod, e.factor, SecondsToNanos(e.for_s));
    case K::kCrash: return CrashPod(ns, e.pod);
    case K::kZoneDown: return ZoneDown(e.zone);
    case K::kDisconnect:
    case K::kExpire:
    case K::kErrors:
    case K::kStall: return absl::UnimplementedError("api fault: handled by the API front");
  }
  return absl::InvalidArgumentError("unknown scenario event kind");
}

// ================================================================================================
// Generic store

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::Get(ResourceKind kind, std::string_view ns,
                                                                   std::string_view name) const {
  const Impl& impl = *impl_;
  Key k = MakeKey(ns, name);
  switch (kind) {
    case ResourceKind::kService: {
      auto it = impl.services_.find(k);
      if (it != impl.services_.end()) return it->second->cached;
      break;
    }
    case ResourceKind::kDeployment: {
      auto it = impl.deployments_.find(k);
      if (it != impl.deployments_.end()) return it->second->cached;
      break;
    }
    case ResourceKind::kPod: {
      auto it = impl.live_pods_.find(k);
      if (it != impl.live_pods_.end()) return impl.PodObject(*it->second);
      break;
    }
    case ResourceKind::kEndpointSlice: {
      auto it = impl.slices_.find(k);
      if (it != impl.slices_.end()) return impl.SliceObject(it->second);
      break;
    }
  }
  return NotFound(kind, name);
}

namespace {
template <typename Map, typename Fn>
void ForRange(const Map& m, std::string_view ns, Fn fn) {
  auto it = ns.empty() ? m.begin() : m.lower_bound(MakeKey(ns, ""));
  for (; it != m.end() && (ns.empty() || it->first.first == ns); ++it) fn(it->second);
}
}  // namespace

ListResult Cluster::List(ResourceKind kind, std::string_view ns) const {
  const Impl& impl = *impl_;
  ListResult out;
  out.resource_version = resource_version_;
  switch (kind) {
    case ResourceKind::kService:
      ForRange(impl.services_, ns, [&](const auto& s) { out.items.push_back(s->cached); });
      break;
    case ResourceKind::kDeployment:
      ForRange(impl.deployments_, ns, [&](const auto& d) { out.items.push_back(d->cached); });
      break;
    case ResourceKind::kPod:
      ForRange(impl.live_pods_, ns, [&](const PodState* p) { out.items.push_back(impl.PodObject(*p)); });
      break;
    case ResourceKind::kEndpointSlice:
      ForRange(impl.slices_, ns, [&](const SliceEntry& e) { out.items.push_back(impl.SliceObject(e)); });
      break;
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::Create(ResourceKind kind, std::string_view ns,
                                                                      const nlohmann::json& object) {
  Impl& impl = *impl_;
  if (ns.empty()) return absl::FailedPreconditionError("a namespace is required to create an object");
  absl::StatusOr<std::string> name = impl.ObjectName(kind, ns, object, /*generate=*/true);
  if (!name.ok()) return name.status();
  if (impl.Exists(kind, ns, *name)) {
    return absl::AlreadyExistsError(absl::StrCat(QualifiedResource(kind), " \"", *name, "\" already exists"));
  }
  const std::string now = impl.NowTimestamp();
  switch (kind) {
    case ResourceKind::kService: {
      auto s = std::make_unique<ServiceState>();
      if (absl::Status st = impl.ParseServiceSpec(*name, object, *s); !st.ok()) return st;
      s->ns = std::string(ns);
      s->name = *name;
      s->uid = impl.NewUid();
      s->object = object;
      impl.StampMeta(s->object, kind, ns, *name, s->uid, now);
      s->object["metadata"].erase("generateName");
      Json& spec = s->object["spec"];
      if (!spec.contains("type")) spec["type"] = "ClusterIP";
      if (!spec.contains("clusterIP")) {
        int n = impl.next_cluster_ip_++;
        std::string ip = absl::StrFormat("10.96.%d.%d", (n >> 8) & 255, n & 255);
        spec["clusterIP"] = ip;
        spec["clusterIPs"] = Json::array({ip});
      }
      s->object["status"] = {{"loadBalancer", Json::object()}};
      ServiceState& ref = *s;
      impl.services_[MakeKey(ns, *name)] = std::move(s);
      impl.WriteService(ref, ChangeType::kAdded);
      ref.dirty = true;
      bool batching = impl.batching_;
      impl.batching_ = false;  // a new Service gets its slices (or placeholder) at once
      impl.Flush();
      impl.batching_ = batching;
      return ref.cached;
    }
    case ResourceKind::kDeployment: {
      auto d = std::make_unique<DeploymentState>();
      d->timing = options_.pod_timing;
      if (absl::Status st = impl.ParseDeploymentSpec(*name, object, *d); !st.ok()) return st;
      d->ns = std::string(ns);
      d->name = *name;
      d->uid = impl.NewUid();
      d->object = object;
      impl.StampMeta(d->object, kind, ns, *name, d->uid, now);
      d->object["metadata"]["generation"] = 1;
      d->object.erase("status");
      DeploymentState& ref = *d;
      impl.deployments_[MakeKey(ns, *name)] = std::move(d);
      impl.WriteDeployment(ref, ChangeType::kAdded);
      ref.dirty = true;
      impl.Flush();
      return ref.cached;
    }
    case ResourceKind::kPod: {
      std::map<std::string, std::string> labels, annotations;
      const Json* meta = Member(object, "metadata");
      if (meta != nullptr) {
        if (auto st = ReadLabels(*meta, "labels", "metadata.labels", &labels); !st.ok()) {
          return Invalid(kind, *name, SV(st.message()));
        }
        if (auto st = ReadLabels(*meta, "annotations", "metadata.annotations", &annotations); !st.ok()) {
          return Invalid(kind, *name, SV(st.message()));
        }
      }
      std::optional<std::string> node;
      std::vector<ContainerPort> ports;
      PodTiming timing = options_.pod_timing;
      if (const Json* spec = Member(object, "spec"); spec != nullptr) {
        if (const Json* n = Member(*spec, "nodeName"); n != nullptr && n->is_string()) node = n->get<std::string>();
        if (const Json* cs = Member(*spec, "containers"); cs != nullptr && cs->is_array() && !cs->empty()) {
          if (const Json* ps = Member((*cs)[0], "ports"); ps != nullptr && ps->is_array()) {
            for (const Json& p : *ps) {
              ContainerPort cp;
              if (const Json* pn = Member(p, "name"); pn != nullptr && pn->is_string()) cp.name = pn->get<std::string>();
              if (const Json* pc = Member(p, "containerPort"); pc != nullptr && pc->is_number_integer()) {
                cp.port = static_cast<int32_t>(pc->get<int64_t>());
              }
              if (cp.port > 0) ports.push_back(cp);
            }
          }
        }
        if (const Json* g = Member(*spec, "terminationGracePeriodSeconds"); g != nullptr && g->is_number_integer()) {
          timing.termination_grace_nanos = g->get<int64_t>() * kNanosPerSecond;
        }
      }
      PodState& p = impl.NewPod(std::string(ns), *name, std::move(labels), std::move(ports), timing, node);
      p.annotations = std::move(annotations);
      impl.StartPod(p, PodStart::kStarting);
      impl.Flush();
      return impl.PodObject(p);
    }
    case ResourceKind::kEndpointSlice: {
      Json body = object;
      body["metadata"]["name"] = *name;
      body["metadata"]["namespace"] = std::string(ns);
      absl::StatusOr<EndpointSlice> parsed = EndpointSliceFromJson(body);
      if (!parsed.ok()) return Invalid(kind, *name, SV(parsed.status().message()));
      parsed->metadata.uid = impl.NewUid();
      parsed->metadata.creation_timestamp = now;
      parsed->metadata.generation = 1;
      impl.WriteSlice(std::move(*parsed), ChangeType::kAdded);
      // The controller owns slices with its managed-by label: it reconciles them (reverts).
      auto svc = impl.services_.find(MakeKey(ns, impl.slices_.at(MakeKey(ns, *name)).slice->ServiceName()));
      if (svc != impl.services_.end() && impl.IsManagedBy(*impl.slices_.at(MakeKey(ns, *name)).slice, *svc->second)) {
        svc->second->dirty = true;
      }
      std::shared_ptr<const Json> out = impl.SliceObject(impl.slices_.at(MakeKey(ns, *name)));
      impl.Flush();
      return out;
    }
  }
  return absl::InvalidArgumentError("unknown kind");
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::Replace(ResourceKind kind, std::string_view ns,
                                                                       std::string_view name,
                                                                       const nlohmann::json& object) {
  Impl& impl = *impl_;
  absl::StatusOr<std::shared_ptr<const Json>> current = Get(kind, ns, name);
  if (!current.ok()) return current.status();
  absl::StatusOr<std::string> body_name = impl.ObjectName(kind, ns, object, /*generate=*/false);
  if (!body_name.ok()) return body_name.status();
  if (*body_name != name) {
    return absl::FailedPreconditionError(absl::StrCat("the name of the object (", *body_name,
                                                      ") does not match the name on the URL (", AV(name), ")"));
  }
  const Json& cur_meta = (**current)["metadata"];
  std::string cur_rv = cur_meta.value("resourceVersion", "");
  if (const Json* meta = Member(object, "metadata"); meta != nullptr) {
    if (const Json* rv = Member(*meta, "resourceVersion"); rv != nullptr) {
      if (!rv->is_string()) return Invalid(kind, name, "metadata.resourceVersion: expected string");
      if (!rv->get<std::string>().empty() && rv->get<std::string>() != cur_rv) return Conflict(kind, name);
    }
  }
  Key key = MakeKey(ns, name);
  switch (kind) {
    case ResourceKind::kEndpointSlice: {
      const EndpointSlice& old = *impl.slices_.at(key).slice;
      Json body = object;
      body["metadata"]["namespace"] = std::string(ns);
      absl::StatusOr<EndpointSlice> parsed = EndpointSliceFromJson(body);
      if (!parsed.ok()) return Invalid(kind, name, SV(parsed.status().message()));
      parsed->metadata.uid = old.metadata.uid;
      parsed->metadata.creation_timestamp = old.metadata.creation_timestamp;
      parsed->metadata.generation = old.metadata.generation;
      parsed->metadata.resource_version = old.metadata.resource_version;
      // A no-op update writes nothing (the API server keeps the RV).
      if (EndpointSliceToJson(*parsed, true) == EndpointSliceToJson(old, true)) return *current;
      parsed->metadata.generation = old.metadata.generation + 1;
      const std::string old_service = old.ServiceName();  // `old` dies with the write below
      impl.WriteSlice(std::move(*parsed), ChangeType::kModified);
      const EndpointSlice& now = *impl.slices_.at(key).slice;
      std::shared_ptr<const Json> out = impl.SliceObject(impl.slices_.at(key));
      for (const std::string& svc_name : {old_service, now.ServiceName()}) {
        auto svc = impl.services_.find(MakeKey(ns, svc_name));
        if (svc != impl.services_.end()) svc->second->dirty = true;
      }
      impl.Flush();
      return out;
    }
    case ResourceKind::kPod: {
      PodState* p = impl.live_pods_.at(key);
      std::map<std::string, std::string> labels, annotations;
      const Json* meta = Member(object, "metadata");
      if (meta != nullptr) {
        if (auto st = ReadLabels(*meta, "labels", "metadata.labels", &labels); !st.ok()) {
          return Invalid(kind, name, SV(st.message()));
        }
        if (auto st = ReadLabels(*meta, "annotations", "metadata.annotations", &annotations); !st.ok()) {
          return Invalid(kind, name, SV(st.message()));
        }
      }
      if (labels == p->info.labels && annotations == p->annotations) return *current;
      impl.MarkPodDependents(*p);  // services selecting the old labels
      p->info.labels = std::move(labels);
      p->annotations = std::move(annotations);
      impl.WritePod(*p, ChangeType::kModified);
      impl.NotifyPod(*p);
      impl.Flush();
      return impl.PodObject(*p);
    }
    case ResourceKind::kService: {
      ServiceState& s = *impl.services_.at(key);
      ServiceState parsed;
      if (absl::Status st = impl.ParseServiceSpec(s.name, object, parsed); !st.ok()) return st;
      Json next = object;
      impl.StampMeta(next, kind, ns, s.name, s.uid, cur_meta.value("creationTimestamp", ""));
      next["metadata"]["resourceVersion"] = cur_rv;
      Json& spec = next["spec"];
      for (const char* f : {"type", "clusterIP", "clusterIPs"}) {
        if (!spec.contains(f) && s.object["spec"].contains(f)) spec[f] = s.object["spec"][f];
      }
      next["status"] = s.object.value("status", Json::object());
      if (next == s.object) return *current;
      s.selector = parsed.selector;
      s.labels = parsed.labels;
      s.ports = parsed.ports;
      s.prefer_close = parsed.prefer_close;
      s.object = std::move(next);
      impl.WriteService(s, ChangeType::kModified);
      s.dirty = true;
      impl.Flush();
      return s.cached;
    }
    case ResourceKind::kDeployment: {
      DeploymentState& d = *impl.deployments_.at(key);
      DeploymentState parsed;
      parsed.timing = d.timing;
      if (absl::Status st = impl.ParseDeploymentSpec(d.name, object, parsed); !st.ok()) return st;
      Json next = object;
      impl.StampMeta(next, kind, ns, d.name, d.uid, cur_meta.value("creationTimestamp", ""));
      next["metadata"]["resourceVersion"] = cur_rv;
      next["metadata"]["generation"] = cur_meta.value("generation", 1);
      next["status"] = d.object.value("status", Json::object());
      if (next == d.object) return *current;
      if (next["spec"] != d.object["spec"]) {
        next["metadata"]["generation"] = cur_meta.value("generation", 1) + 1;
      }
      d.replicas = parsed.replicas;
      d.selector = parsed.selector;
      d.template_labels = parsed.template_labels;
      d.template_annotations = parsed.template_annotations;
      d.ports = parsed.ports;
      d.max_surge = parsed.max_surge;
      d.max_unavailable = parsed.max_unavailable;
      d.template_hash = parsed.template_hash;  // a changed template starts a rollout
      d.timing.termination_grace_nanos = parsed.timing.termination_grace_nanos;
      d.object = std::move(next);
      impl.WriteDeployment(d, ChangeType::kModified);
      d.dirty = true;
      impl.Flush();
      return d.cached;
    }
  }
  return absl::InvalidArgumentError("unknown kind");
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::MergePatch(ResourceKind kind, std::string_view ns,
                                                                          std::string_view name,
                                                                          const nlohmann::json& patch) {
  absl::StatusOr<std::shared_ptr<const Json>> current = Get(kind, ns, name);
  if (!current.ok()) return current.status();
  if (!patch.is_object()) return absl::FailedPreconditionError("the patch must be a JSON object");
  Json next = **current;
  // The RV in the current object must not turn the patch into a conflict check; only an RV the
  // patch names is checked (as the API server does).
  next["metadata"].erase("resourceVersion");
  next.merge_patch(patch);
  return Replace(kind, ns, name, next);
}

absl::StatusOr<std::shared_ptr<const nlohmann::json>> Cluster::Delete(ResourceKind kind, std::string_view ns,
                                                                      std::string_view name) {
  Impl& impl = *impl_;
  absl::StatusOr<std::shared_ptr<const Json>> current = Get(kind, ns, name);
  if (!current.ok()) return current.status();
  Key key = MakeKey(ns, name);
  switch (kind) {
    case ResourceKind::kPod: {
      PodState* p = impl.live_pods_.at(key);
      impl.BeginDeletion(*p);
      std::shared_ptr<const Json> out = impl.PodObject(*p);
      impl.Flush();
      return out;
    }
    case ResourceKind::kEndpointSlice: {
      EndpointSlice last = *impl.slices_.at(key).slice;
      std::string svc_name = last.ServiceName();
      impl.WriteSlice(last, ChangeType::kDeleted);
      auto svc = impl.services_.find(MakeKey(ns, svc_name));
      if (svc != impl.services_.end()) svc->second->dirty = true;  // the controller recreates what it owns
      impl.Flush();
      return *current;
    }
    case ResourceKind::kService: {
      std::unique_ptr<ServiceState> s = std::move(impl.services_.at(key));
      impl.services_.erase(key);
      s->rv = impl.NextRv();
      auto obj = std::make_shared<Json>(s->object);
      (*obj)["metadata"]["resourceVersion"] = std::to_string(s->rv);
      impl.Record(kind, ChangeType::kDeleted, s->ns, s->name, obj, nullptr);
      // Owner GC: the Service's managed slices go with it.
      std::vector<EndpointSlice> owned;
      for (auto it = impl.slices_.lower_bound(MakeKey(ns, "")); it != impl.slices_.end() && it->first.first == ns; ++it) {
        if (impl.IsManagedBy(*it->second.slice, *s)) owned.push_back(*it->second.slice);
      }
      for (EndpointSlice& sl : owned) impl.WriteSlice(std::move(sl), ChangeType::kDeleted);
      impl.Flush();
      return std::shared_ptr<const Json>(obj);
    }
    case ResourceKind::kDeployment: {
      std::unique_ptr<DeploymentState> d = std::move(impl.deployments_.at(key));
      impl.deployments_.erase(key);
      d->rv = impl.NextRv();
      auto obj = std::make_shared<Json>(d->object);
      (*obj)["metadata"]["resourceVersion"] = std::to_string(d->rv);
      impl.Record(kind, ChangeType::kDeleted, d->ns, d->name, obj, nullptr);
      std::vector<PodState*> pods;
      for (auto it = impl.live_pods_.lower_bound(MakeKey(ns, "")); it != impl.live_pods_.end() && it->first.first == ns;
           ++it) {
        if (it->second->info.deployment == d->name) pods.push_back(it->second);
      }
      for (PodState* p : pods) impl.BeginDeletion(*p);
      impl.Flush();
      return std::shared_ptr<const Json>(obj);
    }
  }
  return absl::InvalidArgumentError("unknown kind");
}

// ================================================================================================
// Watch support

absl::StatusOr<std::vector<StoredEvent>> Cluster::EventsAfter(uint64_t rv, ResourceKind kind) const {
  if (rv < compacted_rv_) {
    // The real server's wording (watch_cache.go): "too old resource version: %d (%d)".
    return absl::OutOfRangeError(absl::StrCat("too old resource version: ", rv, " (", compacted_rv_, ")"));
  }
  const auto& h = impl_->history_;
  auto it = std::upper_bound(h.begin(), h.end(), rv,
                             [](uint64_t v, const StoredEvent& e) { return v < e.resource_version; });
  std::vector<StoredEvent> out;
  for (; it != h.end(); ++it) {
    if (it->kind == kind) out.push_back(*it);
  }
  return out;
}

void Cluster::Subscribe(EventListener listener) { impl_->listeners_.push_back(std::move(listener)); }
void Cluster::SubscribePods(PodListener listener) { impl_->pod_listeners_.push_back(std::move(listener)); }
void Cluster::Compact(uint64_t rv) { impl_->Compact(rv); }

void Cluster::JumpResourceVersion(uint64_t delta) {
  resource_version_ += delta;
  impl_->Compact(resource_version_);
}

// ================================================================================================
// Reads

std::vector<PodInfo> Cluster::Pods() const {
  std::vector<PodInfo> out;
  out.reserve(impl_->all_pods_.size());
  for (const auto& p : impl_->all_pods_) out.push_back(p->info);
  return out;
}

std::optional<PodInfo> Cluster::Pod(std::string_view ns, std::string_view name) const {
  auto it = impl_->live_pods_.find(MakeKey(ns, name));
  if (it != impl_->live_pods_.end()) return it->second->info;
  // A removed pod: the most recent one of that name.
  for (auto r = impl_->all_pods_.rbegin(); r != impl_->all_pods_.rend(); ++r) {
    if ((*r)->info.namespace_name == ns && (*r)->info.name == name) return (*r)->info;
  }
  return std::nullopt;
}

std::vector<EndpointSlice> Cluster::Slices(std::string_view ns, std::string_view service) const {
  std::vector<EndpointSlice> out;
  ForRange(impl_->slices_, ns, [&](const SliceEntry& e) {
    if (e.slice->metadata.namespace_name == ns && e.slice->ServiceName() == service) out.push_back(*e.slice);
  });
  return out;
}

std::vector<std::string> Cluster::LiveZones() const { return impl_->LiveZones(); }

}  // namespace k8slb::fake
