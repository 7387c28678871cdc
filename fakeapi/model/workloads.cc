// The Deployment/Pod model of the cluster (contract in cluster.h, layout in cluster_internal.h):
// scheduling and pod addresses, the pod lifecycle (start, readiness, crash, graceful deletion),
// the Deployment controller's rolling update, and the operations a scenario or kubectl applies.
#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "fakeapi/model/cluster.h"
#include "fakeapi/model/cluster_internal.h"

namespace k8slb::fake {

using cluster_internal::AV;
using cluster_internal::ContainerPort;
using cluster_internal::DeploymentState;
using cluster_internal::Invalid;
using cluster_internal::IPv4Pool;
using cluster_internal::Json;
using cluster_internal::kTemplateHashLabel;
using cluster_internal::MakeKey;
using cluster_internal::NotFound;
using cluster_internal::PodState;
using cluster_internal::SecondsToNanos;

namespace cluster_internal {

absl::StatusOr<IPv4Pool> IPv4Pool::Parse(std::string_view cidr) {
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

std::optional<uint32_t> IPv4Pool::Allocate() {
  for (uint32_t tries = 0; tries < count; ++tries) {
    uint32_t addr = first + cursor;
    cursor = (cursor + 1) % count;
    if (in_use.insert(addr).second) return addr;
  }
  return std::nullopt;
}

std::string IPv4Pool::Format(uint32_t a) {
  return absl::StrFormat("%d.%d.%d.%d", (a >> 24) & 255, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

}  // namespace cluster_internal

absl::Status ValidatePodCidr(std::string_view cidr) { return IPv4Pool::Parse(cidr).status(); }

namespace {

// ReplicaSet scale-down preference (controller.ActivePods ordering, simplified): unscheduled,
// then not ready, then the most recently ready, then the newest.
bool DeleteFirst(const PodState* a, const PodState* b) {
  bool as = !a->info.address.empty(), bs = !b->info.address.empty();
  if (as != bs) return !as;
  if (a->info.ready != b->info.ready) return !a->info.ready;
  int64_t ar = a->info.ready_since_nanos.value_or(0), br = b->info.ready_since_nanos.value_or(0);
  if (ar != br) return ar > br;
  return a->seq > b->seq;
}

}  // namespace

// ================================================================================================
// Pods

void Cluster::Impl::NotifyPod(const PodState& p) {
  for (const auto& l : pod_listeners_) l(p.info);
}

// An API write of the pod (its object changed).
void Cluster::Impl::WritePod(PodState& p, ChangeType type) {
  p.rv = NextRv();
  p.cached.reset();
  if (recording_) {
    std::shared_ptr<const Json> obj = PodObject(p);
    Record(ResourceKind::kPod, type, p.info.namespace_name, p.info.name, obj, nullptr);
  }
  MarkPodDependents(p);
}

void Cluster::Impl::MarkPodDependents(const PodState& p) {
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
void Cluster::Impl::RecomputePod(PodState& p) {
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

void Cluster::Impl::Schedule(PodState& p, std::optional<std::string> node_hint) {
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

PodState& Cluster::Impl::NewPod(std::string ns, std::string name, std::map<std::string, std::string> labels,
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
void Cluster::Impl::StartPod(PodState& p, PodStart start) {
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

void Cluster::Impl::ScheduleStartup(PodState& p, int64_t due) {
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

std::string Cluster::Impl::DeploymentPodName(DeploymentState& d) {
  while (true) {
    std::string name = absl::StrCat(d.name, "-", d.next_index++);
    if (live_pods_.count(MakeKey(d.ns, name)) == 0) return name;
  }
}

PodState& Cluster::Impl::CreateDeploymentPod(DeploymentState& d, PodStart start) {
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

void Cluster::Impl::RemovePod(PodState& p) {
  if (p.removed) return;
  int64_t now = Now();
  p.info.deleted_nanos = now;
  p.info.serving = false;
  p.info.ready = false;
  p.info.ready_since_nanos.reset();
  // DELETED carries the state immediately before deletion, with the deletion's RV
  // (https://kubernetes.io/docs/reference/kubernetes-api/definitions/watch-event-v1-meta/).
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

absl::StatusOr<PodState*> Cluster::Impl::FindPod(std::string_view ns, std::string_view name) {
  auto it = live_pods_.find(MakeKey(ns, name));
  if (it == live_pods_.end()) return NotFound(ResourceKind::kPod, name);
  return it->second;
}

void Cluster::Impl::BeginDeletion(PodState& p) {
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

// ================================================================================================
// Deployment controller

std::vector<PodState*> Cluster::Impl::DeploymentPods(const DeploymentState& d) {
  std::vector<PodState*> out;
  for (auto it = live_pods_.lower_bound(MakeKey(d.ns, "")); it != live_pods_.end() && it->first.first == d.ns;
       ++it) {
    PodState* p = it->second;
    if (p->info.deployment == d.name && !p->info.terminating) out.push_back(p);
  }
  return out;  // by name; DeleteSome orders by its own total order
}

void Cluster::Impl::DeleteSome(std::vector<PodState*> pods, int n) {
  std::sort(pods.begin(), pods.end(), DeleteFirst);
  for (int i = 0; i < n && i < static_cast<int>(pods.size()); ++i) BeginDeletion(*pods[i]);
}

// One reconcile pass (Deployment + its ReplicaSets, rolling update per the deployment
// controller's rolling.go: scale up the new RS within maxSurge, clean up unhealthy old pods,
// then scale old ones down only as far as availability allows).
void Cluster::Impl::ReconcileDeployment(DeploymentState& d) {
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

void Cluster::Impl::UpdateDeploymentStatus(DeploymentState& d) {
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

absl::Status Cluster::ApplyScenarioEvent(const TimelineEvent& e) {
  Impl& impl = *impl_;
  const std::string& ns = impl.scenario_ns_;
  const std::string& dep = impl.scenario_deployment_;
  using K = TimelineEventKind;
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

}  // namespace k8slb::fake
