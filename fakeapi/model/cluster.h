// The cluster model shared by k8slb-fakeapi (real time) and the simulator's engines: Services,
// Deployments, Pods, zones and nodes, and an emulation of the EndpointSlice controller, behind a
// versioned object store with a watchable event history. Nothing here is written twice: the HTTP
// front serves these objects verbatim and the simulator reads the same pods and slices.
//
// Semantics follow the Kubernetes documentation: EndpointSlices (slice shape, conditions, greedy
// placement without rebalancing, the placeholder slice, PreferClose hints;
// https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/) and API concepts (one
// global decimal resourceVersion, DELETED carrying the deletion's RV, 410 Gone below the
// compaction point; https://kubernetes.io/docs/reference/using-api/api-concepts/).
//
// Errors: every fallible call returns an absl::Status whose message is already worded as the
// Kubernetes API words it, so the HTTP front can copy it into a Status body. Code mapping:
//   NotFound           → 404 NotFound       `endpointslices.discovery.k8s.io "foo" not found`
//   AlreadyExists      → 409 AlreadyExists  `endpointslices.discovery.k8s.io "foo" already exists`
//   Aborted            → 409 Conflict       `Operation cannot be fulfilled on ... the object has been modified; ...`
//   InvalidArgument    → 422 Invalid        (bad object: missing name, wrong field types, ...)
//   FailedPrecondition → 400 BadRequest     (e.g. name in body differs from name in URL)
//   OutOfRange         → 410 Expired        `too old resource version: 123 (456)`
//   Unimplemented      → not a model error: ApplyScenarioEvent's API-fault kinds (the front handles them)
#ifndef K8SLB_FAKEAPI_MODEL_CLUSTER_H_
#define K8SLB_FAKEAPI_MODEL_CLUSTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fakeapi/model/cluster_scenario.h"
#include "k8slb/endpoint_slice.h"
#include "k8slb/random.h"

namespace k8slb::fake {

enum class ResourceKind { kService, kDeployment, kPod, kEndpointSlice };
enum class ChangeType { kAdded, kModified, kDeleted };

// "services", "deployments", "pods", "endpointslices" (the URL resource name).
std::string_view ResourceName(ResourceKind kind);
// "" (core), "apps", "", "discovery.k8s.io".
std::string_view ResourceGroup(ResourceKind kind);
// "services", "deployments.apps", "pods", "endpointslices.discovery.k8s.io" (as in Status messages).
std::string QualifiedResource(ResourceKind kind);
// "Service", "Deployment", "Pod", "EndpointSlice".
std::string_view KindName(ResourceKind kind);
// "v1", "apps/v1", "v1", "discovery.k8s.io/v1".
std::string_view ApiVersion(ResourceKind kind);
// "ADDED", "MODIFIED", "DELETED".
std::string_view ChangeTypeName(ChangeType type);

// One write, as a watch sees it. Objects include kind/apiVersion and carry `resource_version` in
// metadata.resourceVersion. A DELETED event carries the object's last state with the deletion's RV.
struct StoredEvent {
  uint64_t resource_version = 0;
  ResourceKind kind = ResourceKind::kEndpointSlice;
  ChangeType type = ChangeType::kAdded;
  std::string namespace_name = {};
  std::string name = {};
  std::shared_ptr<const nlohmann::json> object = {};  // never null
  std::shared_ptr<const EndpointSlice> slice = {};    // set iff kind == kEndpointSlice
};

// What happens to a crashed pod once the model has noticed (crash_detect later).
enum class CrashRecovery {
  kRestart,   // kubelet restarts the container: ready again after the pod's startup time
  kStayDown,  // stays not ready until deleted
};

// Per-pod timings (scenario `pods:`); a Deployment's pods share one.
struct PodTiming {
  int64_t startup_nanos = 1'000'000'000;         // creation → Ready
  int64_t termination_grace_nanos = 30'000'000'000;  // upper bound of termination
  int64_t drain_nanos = 1'000'000'000;           // preStop: keeps serving while terminating
};

struct ClusterOptions {
  int max_endpoints_per_slice = 100;  // 1..1000 (API limit)
  // EndpointSlice controller batching period: changes within it coalesce into one slice update.
  int64_t slice_batching_nanos = 0;
  std::string pod_cidr = "127.0.1.0/24";  // IPv4 CIDR; network and broadcast addresses skipped
  std::vector<std::string> zones = {"zone-a"};
  int nodes_per_zone = 1;
  // Events kept for watches; older ones are compacted (watching from before → 410).
  size_t history_limit = 100'000;
  int64_t crash_detect_nanos = 3'000'000'000;
  CrashRecovery crash_recovery = CrashRecovery::kRestart;
  uint64_t seed = 1;  // slice name suffixes, uids, random evictions
  // Wall time of clock nanos 0, for creationTimestamp etc. (2025-01-01T00:00:00Z by default;
  // the live server may pass the real start time). Never read from the system clock here.
  int64_t epoch_unix_seconds = 1'735'689'600;
  PodTiming pod_timing = {};  // for Deployments/Pods created without explicit timing (kubectl)
  std::string image = "k8slb-echo-server:latest";
};

// OK if the model can take pod addresses from `cidr` (IPv4, prefix length 8..30; the network and
// broadcast addresses are skipped); else the error Create gives for such a pod_cidr.
absl::Status ValidatePodCidr(std::string_view cidr);

struct ServiceConfig {
  std::string name = "echo";
  std::string namespace_name = "default";
  int32_t port = 50051;
  std::string port_name = "grpc";
  int32_t target_port = 0;  // 0 = same as port
  std::string traffic_distribution = {};  // "", PreferClose, PreferSameZone or PreferSameNode
  std::map<std::string, std::string> selector = {{"app", "echo"}};
  std::map<std::string, std::string> labels = {{"app", "echo"}};
};

struct DeploymentConfig {
  std::string name = "echo";
  std::string namespace_name = "default";
  int replicas = 1;
  std::map<std::string, std::string> pod_labels = {{"app", "echo"}};  // also the selector
  int32_t container_port = 50051;
  std::string port_name = "grpc";
  std::optional<PodTiming> timing = std::nullopt;  // nullopt: ClusterOptions::pod_timing
  int max_surge = 1;
  int max_unavailable = 0;
};

// How the pods of a Deployment created by CreateDeployment start.
enum class PodStart {
  kStarting,        // created now, Ready after startup (the normal path)
  kAlreadyRunning,  // Ready at once (the cluster existed before t=0; no startup delay)
};

// A pod as the simulator sees it. Times are Clock nanos; removed pods stay listed by Pods().
struct PodInfo {
  std::string name = {};
  std::string namespace_name = {};
  std::string uid = {};
  std::string deployment = {};  // owning Deployment, or "" for a standalone pod
  std::string template_hash = {};
  std::string address = {};  // pod IP ("" while unscheduled)
  std::string zone = {};
  std::string node = {};
  int64_t created_nanos = 0;
  std::optional<int64_t> first_ready_nanos = {};
  std::optional<int64_t> ready_since_nanos = {};   // start of the current Ready period
  std::optional<int64_t> deletion_nanos = {};  // deletionTimestamp (graceful deletion began)
  std::optional<int64_t> deleted_nanos = {};       // removed from the API
  bool ready = false;        // the Pod's Ready condition as the API reports it (= slice `serving`)
  bool serving = false;      // the process accepts RPCs now: started, not crashed, not yet exited
  bool terminating = false;  // deletionTimestamp set
  bool crashed = false;      // process died; RPCs to it fail at once
  double latency_factor = 1.0;  // `slow` multiplier on the scenario's latency model
  int restart_count = 0;
  std::map<std::string, std::string> labels = {};
};

// A consistent list: items sorted by (namespace, name) with kind/apiVersion, and the store's RV
// at the time of listing (≥ every item's RV).
struct ListResult {
  uint64_t resource_version = 0;
  std::vector<std::shared_ptr<const nlohmann::json>> items = {};
};

// The cluster. Single-threaded: all calls (including RunDue and the const reads) must be
// serialized by the caller (the HTTP server holds one mutex around every call; the virtual engine
// runs on one thread). Listeners are called synchronously inside the mutating call, in RV order,
// and must not call back into the Cluster. Deterministic: same options, seed, clock readings and
// call sequence → identical objects, names and event stream.
//
// Controllers run synchronously at the end of each mutating call and of RunDue (Deployments are
// reconciled, then slices synced, then Deployment status written), so between calls the slices
// reflect the pods exactly (unless a batching period is pending). Within one call, pod writes get
// lower RVs than the slice writes they cause.
//
// Pod and slice JSON is built lazily and cached: the first List of a bulk-created 100,000-endpoint
// Service builds it (~0.7 s here), later ones return the cached objects (shared, immutable).
class Cluster {
 public:
  using EventListener = std::function<void(const StoredEvent&)>;
  // Any PodInfo change, including those with no API write (crash, slow, process exit).
  using PodListener = std::function<void(const PodInfo&)>;

  // An empty cluster (no Service, no Deployment): kubectl may fill it. Validates options.
  static absl::StatusOr<std::unique_ptr<Cluster>> Create(ClusterOptions options,
                                                         std::shared_ptr<Clock> clock);
  // The options a scenario implies (cluster spec, seed, pod timings).
  static ClusterOptions OptionsFromScenario(const ClusterScenario& scenario);
  // A Service and a Deployment both named scenario.service.name (pods `<name>-N`, label
  // app=<name>) with the scenario's replicas already Ready at the clock's now,
  // and their slices. The setup writes get RVs but no history: the first watchable RV is the
  // one after setup. Fast in bulk (100,000 pods → 1,000 slices, no per-pod quadratic work).
  static absl::StatusOr<std::unique_ptr<Cluster>> FromScenario(const ClusterScenario& scenario,
                                                               std::shared_ptr<Clock> clock);
  // Same, with options (e.g. OptionsFromScenario() adjusted by the caller).
  static absl::StatusOr<std::unique_ptr<Cluster>> FromScenario(const ClusterScenario& scenario,
                                                               ClusterOptions options,
                                                               std::shared_ptr<Clock> clock);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // --- Setup --------------------------------------------------------------------------------
  absl::Status CreateService(const ServiceConfig& config);
  absl::Status CreateDeployment(const DeploymentConfig& config, PodStart start = PodStart::kStarting);

  // --- Time ---------------------------------------------------------------------------------
  // Earliest pending model timer (pod ready, drain end, batching flush, crash detection,
  // notReady end, ...), or nullopt. May be ≤ now (then RunDue has work).
  std::optional<int64_t> NextTimerNanos() const;
  // Runs every timer due at clock->NowNanos(), in (due time, creation) order, including timers
  // those create for the same instant.
  void RunDue();

  // --- Operations (scenario events, kubectl scale / delete pod) --------------------------------
  absl::Status Scale(std::string_view ns, std::string_view deployment, int replicas);
  // Graceful: deletionTimestamp now, serving+terminating until the drain ends (capped by the
  // grace period), then removed. A pod already terminating: OK, no change.
  absl::Status DeletePod(std::string_view ns, std::string_view name);
  // New template hash; new pods replace old ones within max_surge / max_unavailable, old pods
  // are deleted only as new ones become Ready. Both 0 is InvalidArgument (as the API rejects it).
  absl::Status Rollout(std::string_view ns, std::string_view deployment, int max_surge,
                       int max_unavailable);
  // Readiness probe fails for `duration_nanos`; the process keeps serving.
  absl::Status SetPodNotReady(std::string_view ns, std::string_view name, int64_t duration_nanos);
  // Latency ×factor for `duration_nanos` (0 = until further notice). No API change.
  absl::Status SetPodSlow(std::string_view ns, std::string_view name, double factor,
                          int64_t duration_nanos);
  // The process dies now (RPCs fail at once); Ready turns false crash_detect later, then
  // CrashRecovery applies.
  absl::Status CrashPod(std::string_view ns, std::string_view name);
  // Every pod in the zone crashes now; crash_detect later the zone's nodes are gone, their pods
  // are removed (pod GC) and Deployments recreate them in the remaining zones.
  absl::Status ZoneDown(std::string_view zone);
  // Maps a scenario timeline event (in the scenario Service's namespace) to the calls above.
  // evict with count: that many distinct random live pods (seeded). API-fault kinds (disconnect,
  // expire, errors, stall): UnimplementedError("api fault: handled by the API front").
  absl::Status ApplyScenarioEvent(const TimelineEvent& event);

  // --- Generic store (the HTTP front) --------------------------------------------------------
  absl::StatusOr<std::shared_ptr<const nlohmann::json>> Get(ResourceKind kind, std::string_view ns,
                                                            std::string_view name) const;
  // ns "" = all namespaces.
  ListResult List(ResourceKind kind, std::string_view ns) const;
  // metadata.name or metadata.generateName required; metadata.namespace, if given, must equal ns.
  // Slices: parsed as the API would (422 on a bad field). Pods: labels and nodeName are taken,
  // the model assigns address/zone and runs the pod. Services/Deployments: spec as ServiceConfig /
  // DeploymentConfig read it. Returns the stored object.
  absl::StatusOr<std::shared_ptr<const nlohmann::json>> Create(ResourceKind kind, std::string_view ns,
                                                               const nlohmann::json& object);
  // Full replace. If object.metadata.resourceVersion is non-empty it must equal the current one
  // (else Aborted/409 Conflict). Pods: only metadata.labels/annotations are taken (status is the
  // model's). Deployments: replicas → scale; a changed pod template → rollout.
  absl::StatusOr<std::shared_ptr<const nlohmann::json>> Replace(ResourceKind kind, std::string_view ns,
                                                                std::string_view name,
                                                                const nlohmann::json& object);
  // RFC 7386 JSON merge patch on the current object, then as Replace.
  absl::StatusOr<std::shared_ptr<const nlohmann::json>> MergePatch(ResourceKind kind, std::string_view ns,
                                                                   std::string_view name,
                                                                   const nlohmann::json& patch);
  // Pods: graceful deletion (returns the pod with deletionTimestamp). Services: their slices go
  // too. Deployments: their pods are deleted gracefully. Returns the object's last state.
  absl::StatusOr<std::shared_ptr<const nlohmann::json>> Delete(ResourceKind kind, std::string_view ns,
                                                               std::string_view name);

  // --- Watch support -------------------------------------------------------------------------
  uint64_t resource_version() const { return resource_version_; }
  // Events of `kind` with RV > rv, in RV order. OutOfRange (410) if rv < oldest_watchable_rv().
  // rv > resource_version(): empty (the front decides about "too large resource version").
  absl::StatusOr<std::vector<StoredEvent>> EventsAfter(uint64_t rv, ResourceKind kind) const;
  // The smallest RV a watch may start from (the compaction point).
  uint64_t oldest_watchable_rv() const { return compacted_rv_; }
  void Subscribe(EventListener listener);
  void SubscribePods(PodListener listener);
  // Drops history up to rv (clamped to the current RV): watching from below it gets 410.
  void Compact(uint64_t rv);
  // Compaction point = now (the `expire` fault).
  void ExpireHistory() { Compact(resource_version_); }
  // The RV jumps forward by delta (as after an etcd restore); history before it is compacted.
  void JumpResourceVersion(uint64_t delta);

  // --- Reads for the simulator ----------------------------------------------------------------
  // Every pod ever created (removed ones with deleted_nanos), in creation order. Pod names are
  // `<deployment>-<n>`, n counting up from 0 per Deployment and never reused while a pod of that
  // name exists; addresses come from pod_cidr in order (echo-0 → .1), never one still in use.
  std::vector<PodInfo> Pods() const;
  std::optional<PodInfo> Pod(std::string_view ns, std::string_view name) const;
  // Every slice labelled kubernetes.io/service-name=service in ns (the controller's and any a
  // client created), sorted by name: what a watcher of that Service unions.
  std::vector<EndpointSlice> Slices(std::string_view ns, std::string_view service) const;
  const ClusterOptions& options() const { return options_; }
  // Zones whose nodes are up, in option order.
  std::vector<std::string> LiveZones() const;

 private:
  class Impl;
  Cluster(ClusterOptions options, std::shared_ptr<Clock> clock);

  ClusterOptions options_;
  uint64_t resource_version_ = 0;
  uint64_t compacted_rv_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace k8slb::fake

#endif  // K8SLB_FAKEAPI_MODEL_CLUSTER_H_
