// Private to the k8slb_cluster library (included only by the files below): the state behind
// fake::Cluster and the one Cluster::Impl that owns it. Impl's members are defined by concern:
//   cluster.cc                   object store, watch history, timers, Flush, setup, reads
//   objects.cc                   API objects: names, parsing, JSON views, the generic write path
//   workloads.cc                 the Deployment controller, the pod lifecycle, scenario operations
//   endpointslice_controller.cc  the EndpointSlice controller emulation
//
// Every public mutation of Cluster ends with Impl::Flush(): dirty Deployments are reconciled
// (which may create or delete pods) until stable, then dirty Services get their slices synced (at
// once, or after the batching period), then Deployment statuses are written. So after each call
// (and after each RunDue) the slices reflect the pods exactly.
#ifndef K8SLB_FAKEAPI_MODEL_CLUSTER_INTERNAL_H_
#define K8SLB_FAKEAPI_MODEL_CLUSTER_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fakeapi/model/cluster.h"

namespace k8slb::fake {
namespace cluster_internal {

using Json = nlohmann::json;
using Key = std::pair<std::string, std::string>;  // (namespace, name)

// The characters Kubernetes uses for generated name suffixes (k8s.io/apimachinery utilrand).
inline constexpr std::string_view kNameAlphabet = "bcdfghjklmnpqrstvwxz2456789";
inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
inline constexpr std::string_view kTemplateHashLabel = "pod-template-hash";
inline constexpr std::string_view kTriggerTimeAnnotation = "endpoints.kubernetes.io/last-change-trigger-time";

// Debian's Abseil has its own string_view type (not std's): convert at the boundary.
inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

inline int64_t SecondsToNanos(double s) { return static_cast<int64_t>(s * 1e9); }

inline Key MakeKey(std::string_view ns, std::string_view name) { return {std::string(ns), std::string(name)}; }

// Calls fn on every value of a Key-ordered map in namespace ns ("" = all namespaces).
template <typename Map, typename Fn>
void ForRange(const Map& m, std::string_view ns, Fn fn) {
  auto it = ns.empty() ? m.begin() : m.lower_bound(MakeKey(ns, ""));
  for (; it != m.end() && (ns.empty() || it->first.first == ns); ++it) fn(it->second);
}

// Errors worded as the API words them (code mapping in cluster.h). Defined in objects.cc.
absl::Status NotFound(ResourceKind kind, std::string_view name);
absl::Status Invalid(ResourceKind kind, std::string_view name, std::string_view detail);

// Equality-based selector match; an empty selector selects nothing. Defined in objects.cc.
bool LabelsMatch(const std::map<std::string, std::string>& selector,
                 const std::map<std::string, std::string>& labels);

// Pod addresses: a CIDR handed out in order, wrapping, never an address still in use. Defined in
// workloads.cc.
struct IPv4Pool {
  uint32_t first = 0;  // first usable address
  uint32_t count = 0;  // usable addresses
  uint32_t cursor = 0; // next offset to try (addresses are handed out in order, wrapping)
  absl::flat_hash_set<uint32_t> in_use;

  static absl::StatusOr<IPv4Pool> Parse(std::string_view cidr);
  std::optional<uint32_t> Allocate();
  void Release(uint32_t addr) { in_use.erase(addr); }
  static std::string Format(uint32_t a);
};

// A named container port, as read from a PodSpec's first container.
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
  bool prefer_close = false;      // trafficDistribution PreferClose / PreferSameZone: zone hints
  bool prefer_same_node = false;  // PreferSameNode (1.33+): node hints and zone hints
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

}  // namespace cluster_internal

// The model's state and its controllers. Owned by one Cluster, which forwards to it; the caller
// serializes every call (Cluster's contract). Plain members on purpose: the four files above
// share them, and no one outside this library sees this class.
class Cluster::Impl {
 public:
  using Json = cluster_internal::Json;
  using Key = cluster_internal::Key;
  using IPv4Pool = cluster_internal::IPv4Pool;
  using ContainerPort = cluster_internal::ContainerPort;
  using PodState = cluster_internal::PodState;
  using ServiceState = cluster_internal::ServiceState;
  using DeploymentState = cluster_internal::DeploymentState;
  using SliceEntry = cluster_internal::SliceEntry;
  using Timer = cluster_internal::Timer;

  Impl(Cluster* owner, std::shared_ptr<Clock> clock, IPv4Pool pool);

  // ---- store, history, timers (cluster.cc) -----------------------------------------------------
  int64_t Now() const { return clock_->NowNanos(); }
  std::string Timestamp(int64_t nanos) const;
  std::string NowTimestamp() const { return Timestamp(Now()); }
  std::string NewUid();
  std::string RandomSuffix();
  uint64_t NextRv() { return ++owner_->resource_version_; }
  // Appends a watch event (unless recording is off during setup) and calls the listeners.
  void Record(ResourceKind kind, ChangeType type, const std::string& ns, const std::string& name,
              std::shared_ptr<const Json> object, std::shared_ptr<const EndpointSlice> slice);
  void Compact(uint64_t rv);
  void AddTimer(int64_t due, std::function<void()> fn);
  // Runs the controllers until the state is consistent (see the top of this file).
  void Flush();
  std::vector<std::string> LiveZones() const;

  // ---- API objects (objects.cc) ------------------------------------------------------------------
  Json PodJson(const PodState& p) const;
  std::shared_ptr<const Json> PodObject(const PodState& p) const;
  // Takes name/namespace from metadata (generateName → name + 5 random chars).
  absl::StatusOr<std::string> ObjectName(ResourceKind kind, std::string_view ns, const Json& object,
                                         bool generate);
  bool Exists(ResourceKind kind, std::string_view ns, std::string_view name) const;
  // Fills metadata common to stored objects.
  void StampMeta(Json& object, ResourceKind kind, std::string_view ns, const std::string& name,
                 const std::string& uid, const std::string& created);
  absl::Status ParseServiceSpec(const std::string& name, const Json& object, ServiceState& s);
  absl::Status ParseDeploymentSpec(const std::string& name, const Json& object, DeploymentState& d);
  void WriteDeployment(DeploymentState& d, ChangeType type);
  void WriteService(ServiceState& s, ChangeType type);

  // ---- pods and the Deployment controller (workloads.cc) -----------------------------------------
  void NotifyPod(const PodState& p);
  // An API write of the pod (its object changed).
  void WritePod(PodState& p, ChangeType type);
  void MarkPodDependents(const PodState& p);
  // Recomputes Ready and serving from the pod's state; writes the pod if Ready changed.
  void RecomputePod(PodState& p);
  void Schedule(PodState& p, std::optional<std::string> node_hint);
  PodState& NewPod(std::string ns, std::string name, std::map<std::string, std::string> labels,
                   std::vector<ContainerPort> ports, PodTiming timing, std::optional<std::string> node);
  // Starts the pod's container clock: Ready after startup (or now, for pre-existing pods).
  void StartPod(PodState& p, PodStart start);
  void ScheduleStartup(PodState& p, int64_t due);
  std::string DeploymentPodName(DeploymentState& d);
  PodState& CreateDeploymentPod(DeploymentState& d, PodStart start);
  void RemovePod(PodState& p);
  absl::StatusOr<PodState*> FindPod(std::string_view ns, std::string_view name);
  void BeginDeletion(PodState& p);
  std::vector<PodState*> DeploymentPods(const DeploymentState& d);
  void DeleteSome(std::vector<PodState*> pods, int n);
  // One reconcile pass of a Deployment and its ReplicaSets.
  void ReconcileDeployment(DeploymentState& d);
  void UpdateDeploymentStatus(DeploymentState& d);

  // ---- EndpointSlice controller (endpointslice_controller.cc) ------------------------------------
  std::shared_ptr<const Json> SliceObject(const SliceEntry& e) const;
  void WriteSlice(EndpointSlice slice, ChangeType type);
  bool IsManagedBy(const EndpointSlice& s, const ServiceState& svc) const;
  std::map<std::string, std::string> SliceLabels(const ServiceState& svc) const;
  // The slice ports a pod resolves to (targetPort by number, or by the container port's name).
  std::optional<std::vector<SlicePort>> ResolvePorts(const ServiceState& svc, const PodState& p) const;
  EndpointSlice NewSlice(const ServiceState& svc);
  // Reconciles the Service's controller-managed slices with its pods.
  void SyncService(ServiceState& svc);

  // ---- state -------------------------------------------------------------------------------------
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
  std::priority_queue<Timer, std::vector<Timer>, cluster_internal::TimerLater> timers_;
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

}  // namespace k8slb::fake

#endif  // K8SLB_FAKEAPI_MODEL_CLUSTER_INTERNAL_H_
