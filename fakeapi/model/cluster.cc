// The cluster model's core (see cluster.h for the contract and cluster_internal.h for the layout):
// the versioned store and its watch history, model timers, Flush (the controllers' schedule),
// construction from options or a scenario, and the reads the simulator uses.
#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "fakeapi/model/cluster.h"
#include "fakeapi/model/cluster_internal.h"

namespace k8slb::fake {

using cluster_internal::AV;
using cluster_internal::ForRange;
using cluster_internal::IPv4Pool;
using cluster_internal::Json;
using cluster_internal::kNameAlphabet;
using cluster_internal::MakeKey;
using cluster_internal::SecondsToNanos;
using cluster_internal::SliceEntry;
using cluster_internal::Timer;

namespace {
// Bound on controller rounds inside one Flush (each round is idempotent; 2-3 suffice).
constexpr int kMaxFlushRounds = 64;
}  // namespace

Cluster::Impl::Impl(Cluster* owner, std::shared_ptr<Clock> clock, IPv4Pool pool)
    : owner_(owner), opts_(owner->options_), clock_(std::move(clock)), pool_(std::move(pool)),
      rng_(MakeSeededRandom(opts_.seed)) {
  for (const std::string& z : opts_.zones) zones_up_[z] = true;
}

std::string Cluster::Impl::Timestamp(int64_t nanos) const {
  absl::Time t = absl::FromUnixSeconds(opts_.epoch_unix_seconds) + absl::Nanoseconds(nanos);
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string Cluster::Impl::NewUid() {
  uint64_t a = rng_->Next(), b = rng_->Next();
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                         0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffULL);
}

std::string Cluster::Impl::RandomSuffix() {
  std::string s;
  for (int i = 0; i < 5; ++i) s.push_back(kNameAlphabet[rng_->Uniform(kNameAlphabet.size())]);
  return s;
}

void Cluster::Impl::Record(ResourceKind kind, ChangeType type, const std::string& ns, const std::string& name,
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

void Cluster::Impl::Compact(uint64_t rv) {
  rv = std::min(rv, owner_->resource_version_);
  while (!history_.empty() && history_.front().resource_version <= rv) history_.pop_front();
  owner_->compacted_rv_ = std::max(owner_->compacted_rv_, rv);
}

void Cluster::Impl::AddTimer(int64_t due, std::function<void()> fn) {
  timers_.push(Timer{.due = due, .seq = next_timer_seq_++, .run = std::move(fn)});
}

void Cluster::Impl::Flush() {
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

std::vector<std::string> Cluster::Impl::LiveZones() const {
  std::vector<std::string> out;
  for (const std::string& z : opts_.zones) {
    auto it = zones_up_.find(z);
    if (it != zones_up_.end() && it->second) out.push_back(z);
  }
  return out;
}

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

ClusterOptions Cluster::OptionsFromScenario(const ClusterScenario& s) {
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

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::FromScenario(const ClusterScenario& s, std::shared_ptr<Clock> clock) {
  return FromScenario(s, OptionsFromScenario(s), std::move(clock));
}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::FromScenario(const ClusterScenario& s, ClusterOptions options,
                                                                std::shared_ptr<Clock> clock) {
  absl::StatusOr<std::unique_ptr<Cluster>> c = Create(std::move(options), std::move(clock));
  if (!c.ok()) return c.status();
  Impl& impl = *(*c)->impl_;
  impl.recording_ = false;  // setup writes get RVs but no history (first watchable RV is after setup)
  impl.batching_ = false;
  // The Deployment carries the Service's name, so pods are `<service>-N` as scenarios name them.
  impl.scenario_ns_ = s.service.namespace_name;
  impl.scenario_deployment_ = s.service.name;
  const std::map<std::string, std::string> app = {{"app", s.service.name}};
  ServiceConfig svc{.name = s.service.name, .namespace_name = s.service.namespace_name, .port = s.service.port,
                    .port_name = s.service.port_name, .target_port = 0,
                    .traffic_distribution = s.service.traffic_distribution, .selector = app, .labels = app};
  if (absl::Status st = (*c)->CreateService(svc); !st.ok()) return st;
  DeploymentConfig dep{.name = s.service.name, .namespace_name = s.service.namespace_name, .replicas = s.pods.replicas,
                       .pod_labels = app, .container_port = s.service.port,
                       .port_name = s.service.port_name, .timing = (*c)->options_.pod_timing,
                       .max_surge = 1, .max_unavailable = 0};
  if (absl::Status st = (*c)->CreateDeployment(dep, PodStart::kAlreadyRunning); !st.ok()) return st;
  impl.recording_ = true;
  impl.batching_ = true;
  (*c)->compacted_rv_ = (*c)->resource_version_;
  return c;
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
