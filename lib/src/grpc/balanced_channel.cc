// BalancedChannel: the control thread that follows the endpoint source and creates endpoint
// channels, the published PickState the RPC path reads, picks, metrics and the errors that
// explain a failed pick. Interceptors and the connectivity thread live in files of their own.
#include "k8slb/balanced_channel.h"

#include <arpa/inet.h>
#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpc/connectivity_watcher.h"
#include "grpc/endpoint_conn.h"
#include "grpc/interceptors.h"
#include "k8slb/orca.h"
#include "k8slb/target.h"
#include "util/string_view.h"

namespace k8slb {
namespace internal {
namespace {

// "ipv4:1.2.3.4:80", "ipv6:[::1]:80" or "dns:///host:80": gRPC target for one endpoint, so the
// pod address is used as is (no DNS for IPs).
std::string EndpointTarget(const Endpoint& e) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, e.address.c_str(), buf) == 1) return "ipv4:" + e.HostPort();
  if (inet_pton(AF_INET6, e.address.c_str(), buf) == 1) return "ipv6:" + e.HostPort();
  return "dns:///" + e.HostPort();
}

std::shared_ptr<grpc::Channel> DefaultChannelFactory(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const grpc::ChannelArguments& args,
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors) {
  return grpc::experimental::CreateCustomChannelWithInterceptors(target, credentials, args, std::move(interceptors));
}

// How long a pick may wait for endpoints until `deadline`, capped at a day so "no deadline"
// values stay representable.
absl::Duration TimeLeft(std::chrono::system_clock::time_point deadline) {
  auto left = deadline - std::chrono::system_clock::now();
  if (left <= std::chrono::system_clock::duration::zero()) return absl::ZeroDuration();
  if (left > std::chrono::hours(24)) left = std::chrono::hours(24);
  return absl::FromChrono(std::chrono::duration_cast<std::chrono::nanoseconds>(left));
}

// New endpoints are published in batches that double from the first to the last size: a large
// new set becomes usable within the first few channel creations, and the picker is rebuilt only
// O(log n) + n / kLastBatch times while it fills (see Reconcile).
constexpr size_t kFirstBatch = 16;
constexpr size_t kLastBatch = 1024;

}  // namespace

// The published picking state: an immutable picker over the endpoints that have a channel, and
// their connections in the picker's order. Built by the control thread, read by every pick.
struct PickState {
  std::unique_ptr<Picker> picker;
  std::vector<std::shared_ptr<EndpointConn>> conns;  // conns[i] ↔ picker->set().endpoints()[i]
  const Endpoint* base = nullptr;
};

}  // namespace internal

using internal::EndpointConn;
using internal::PickState;

// The implementation behind BalancedChannel. Threads:
// - any thread: the pick path (PickHandle, an atomic load of state_), Metrics(), CurrentSet(),
//   WaitForEndpoints(), FailingChannel();
// - the source's publishing thread: Offer() only, which stores the snapshot in pending_ (latest
//   wins) and returns;
// - the control thread (ControlLoop): everything that builds state — channel creation,
//   reconciliation, publishing. conns_, applied_*, retired_ and the source subscription's effects
//   are touched by it alone;
// - the connectivity thread (ConnectivityWatcher).
class BalancedChannel::Impl {
 public:
  Impl(std::shared_ptr<EndpointSource> source, BalancedChannelOptions options, std::string authority, bool tls)
      : options_(std::move(options)),
        source_(std::move(source)),
        name_(source_->Describe()),
        authority_(std::move(authority)),
        tls_(tls),
        clock_(options_.clock != nullptr ? options_.clock : MakeSteadyClock()),
        detector_(std::make_shared<OutlierDetector>(options_.outlier, clock_, name_)),
        latency_(RecordsLatency(options_.load_signal)
                     ? std::make_shared<const LatencySignal>(options_.ewma_decay, clock_, options_.load_signal)
                     : nullptr),
        factory_(options_.channel_factory ? options_.channel_factory : ChannelFactory(&internal::DefaultChannelFactory)),
        watcher_(std::make_unique<internal::ConnectivityWatcher>(options_.connectivity_poll)) {
    picker_options_.policy = options_.policy;
    picker_options_.load_signal = options_.load_signal;
    picker_options_.latency_decay = options_.ewma_decay;
    picker_options_.slow_start = options_.slow_start;
    picker_options_.topology_spill = options_.topology_spill;
    picker_options_.client_zone = ResolveClientZone(options_);
    picker_options_.client_node = ResolveClientNode(options_);
    picker_options_.random = options_.random != nullptr ? options_.random : MakeThreadLocalRandom(options_.seed);
    picker_options_.clock = clock_;
    picker_options_.seed = options_.seed;
    auto empty = std::make_shared<PickState>();
    empty->picker = MakePicker(nullptr, picker_options_);
    empty->base = empty->picker->set().endpoints().data();
    state_.store(std::move(empty));
  }

  void Start() {
    control_thread_ = std::thread([this] { ControlLoop(); });
    subscription_ = source_->Subscribe([this](const std::shared_ptr<const EndpointSet>& set) { Offer(set); });
    // After subscribing: a snapshot published in between reaches Offer as well, and the control
    // thread skips versions it has applied.
    std::shared_ptr<const EndpointSet> initial = source_->Current();
    Offer(initial);
    // Create() returns once what the source already knows is pickable (its first batch at least),
    // as it did when snapshots were applied synchronously. Not the source's thread: waiting is fine.
    if (initial != nullptr && !initial->empty()) {
      const uint64_t version = initial->version();
      auto applied = [this, version] { return published_version_.load() >= version || stopped_.load(); };
      absl::MutexLock lock(&wait_mu_);
      wait_mu_.Await(absl::Condition(&applied));
    }
  }

  ~Impl() {
    subscription_.reset();  // Offer() is not running and will not run again
    {
      absl::MutexLock lock(&control_mu_);
      stopping_ = true;
    }
    control_thread_.join();
    {
      absl::MutexLock lock(&wait_mu_);
      stopped_.store(true);  // wakes waiting picks
    }
    watcher_.reset();  // joins the connectivity thread
  }

  absl::StatusOr<CallHandle> PickHandle(std::chrono::system_clock::time_point deadline) {
    std::shared_ptr<const PickState> state = state_.load(std::memory_order_acquire);
    if (state->conns.empty()) {
      if (options_.no_endpoint_mode == NoEndpointMode::kFailFast) return NoEndpointError(std::nullopt);
      const auto start = std::chrono::steady_clock::now();
      {
        absl::MutexLock lock(&wait_mu_);
        wait_mu_.AwaitWithTimeout(absl::Condition(this, &Impl::HasEndpointsOrStopped), internal::TimeLeft(deadline));
      }
      state = state_.load(std::memory_order_acquire);
      if (state->conns.empty()) {
        return NoEndpointError(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start));
      }
    }
    const Endpoint* picked = state->picker->Pick();
    const std::shared_ptr<EndpointConn>& conn = state->conns[static_cast<size_t>(picked - state->base)];
    // The core picker does not count picks; the channel does (metrics).
    conn->stats->picks.fetch_add(1, std::memory_order_relaxed);
    return BalancedChannel::MakeHandle(conn);
  }

  absl::Status WaitForEndpoints(std::chrono::milliseconds timeout) {
    const auto start = std::chrono::steady_clock::now();
    {
      absl::MutexLock lock(&wait_mu_);
      wait_mu_.AwaitWithTimeout(absl::Condition(this, &Impl::HasEndpointsOrStopped),
                                absl::FromChrono(std::max(timeout, std::chrono::milliseconds(0))));
    }
    if (!state_.load(std::memory_order_acquire)->conns.empty()) return absl::OkStatus();
    return NoEndpointError(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start));
  }

  std::shared_ptr<const EndpointSet> CurrentSet() const {
    std::shared_ptr<const PickState> state = state_.load(std::memory_order_acquire);
    // The picker owns the set; alias it so the caller keeps the whole state alive.
    return std::shared_ptr<const EndpointSet>(state, &state->picker->set());
  }

  ChannelMetrics Metrics() {
    ChannelMetrics m;
    m.name = name_;
    m.policy = std::string(PickPolicyName(options_.policy));
    m.client_zone = picker_options_.client_zone;
    std::shared_ptr<const PickState> state = state_.load(std::memory_order_acquire);
    const EndpointSet& set = state->picker->set();
    m.topology_spilled = state->picker->topology_spilled();
    m.endpoint_set_version = set.version();
    m.known_endpoints = set.known_endpoints();
    const int64_t now = clock_->NowNanos();
    for (const auto& conn : state->conns) {
      EndpointMetrics e;
      e.address = conn->host_port;
      e.pod_name = conn->pod_name;
      e.zone = conn->zone;
      const EndpointStats& s = *conn->stats;
      e.picks = s.picks.load(std::memory_order_relaxed);
      e.in_flight = s.in_flight.load(std::memory_order_relaxed);
      e.successes = s.successes.load(std::memory_order_relaxed);
      e.failures = s.failures.load(std::memory_order_relaxed);
      e.ejections = s.ejections.load(std::memory_order_relaxed);
      e.consecutive_failures = s.consecutive_failures.load(std::memory_order_relaxed);
      int64_t until = s.ejected_until_nanos.load(std::memory_order_relaxed);
      e.ejected = until > now;
      e.ejected_remaining_s = e.ejected ? static_cast<double>(until - now) / 1e9 : 0.0;
      e.connectivity = internal::ToConnectivity(conn->connectivity.load(std::memory_order_relaxed));
      e.connection_failing = s.connection_failing.load(std::memory_order_relaxed);
      e.latency_ewma_ms = LatencySignal::Ewma(s) / 1e6;
      e.orca_reports = s.orca_reports.load(std::memory_order_relaxed);
      e.orca_malformed = s.orca_malformed.load(std::memory_order_relaxed);
      e.orca_weight = OrcaWeight(s, now);
      m.endpoints.push_back(std::move(e));
    }
    {
      absl::MutexLock lock(&draining_mu_);
      PruneDrainingLocked();
      m.draining_endpoints = draining_.size();
    }
    m.pending_endpoints = pending_endpoints_.load(std::memory_order_relaxed);
    m.no_endpoint_failures = no_endpoint_failures_.load(std::memory_order_relaxed);
    m.discovery = source_->Discovery();
    m.collected_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    return m;
  }

  std::shared_ptr<grpc::Channel> FailingChannel(const absl::Status& status) {
    absl::MutexLock lock(&fail_mu_);
    if (fail_channel_ != nullptr && fail_status_ == status) return fail_channel_;
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
    factories.push_back(internal::MakeFailInterceptorFactory(ToGrpcStatus(status)));
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // Calls are hijacked before they reach the transport; the target is never dialled.
    fail_channel_ = grpc::experimental::CreateCustomChannelWithInterceptors(
        "ipv4:127.0.0.1:9", grpc::InsecureChannelCredentials(), args, std::move(factories));
    fail_status_ = status;
    return fail_channel_;
  }

  const std::string& name() const { return name_; }
  const std::string& authority() const { return authority_; }
  std::chrono::milliseconds max_wait_without_deadline() const { return options_.max_wait_without_deadline; }

 private:
  bool HasEndpointsOrStopped() const {
    return !state_.load(std::memory_order_acquire)->conns.empty() || stopped_.load();
  }
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(control_mu_) { return pending_ != nullptr || stopping_; }

  // The source's listener, on the source's thread: hand the snapshot over and return.
  void Offer(const std::shared_ptr<const EndpointSet>& set) {
    if (set == nullptr) return;
    absl::MutexLock lock(&control_mu_);
    if (pending_ == nullptr || set->version() > pending_->version()) pending_ = set;
  }

  // Stopping, or a newer snapshot is waiting: the current reconciliation should yield.
  bool Interrupted() {
    absl::MutexLock lock(&control_mu_);
    return stopping_ || pending_ != nullptr;
  }

  void ControlLoop() {
    for (;;) {
      std::shared_ptr<const EndpointSet> set;
      {
        absl::MutexLock lock(&control_mu_);
        // While replaced states wait to be released, wake now and then to release them here.
        if (retired_.empty()) {
          control_mu_.Await(absl::Condition(this, &Impl::HasWorkLocked));
        } else {
          control_mu_.AwaitWithTimeout(absl::Condition(this, &Impl::HasWorkLocked), absl::Milliseconds(50));
        }
        if (stopping_) return;
        set = std::move(pending_);
      }
      ReleaseRetiredStates();
      if (set != nullptr) Reconcile(std::move(set));
    }
  }

  // Makes the published state follow `set`: endpoints that left are dropped at once, endpoints
  // that stay keep their channel, new ones get a channel in batches (see kFirstBatch). Yields to a
  // newer snapshot between channel creations, keeping the channels made so far.
  void Reconcile(std::shared_ptr<const EndpointSet> set) {
    if (applied_any_ && set->version() <= applied_version_) return;
    applied_any_ = true;
    applied_version_ = set->version();
    set = WithStats(std::move(set));
    if (options_.slow_start.enabled()) {
      // Endpoints new since the last snapshot start their ramp now; the others keep theirs.
      StartSlowStartRamps(ramped_set_.get(), *set, clock_->NowNanos());
      ramped_set_ = set;
    }

    std::map<std::string, std::shared_ptr<EndpointConn>> next;
    std::vector<const Endpoint*> missing;
    for (const Endpoint& e : set->endpoints()) {
      std::string key = e.HostPort();
      auto it = conns_.find(key);
      // Same address, same stats object (SliceStore keeps it while the endpoint is known) and
      // same pod: the same endpoint. Otherwise (e.g. a pod IP reused) a fresh channel.
      if (it != conns_.end() && it->second->stats == e.stats && it->second->pod_name == e.pod_name) {
        next.emplace(std::move(key), it->second);
      } else {
        missing.push_back(&e);
      }
    }
    size_t removed = 0;
    for (auto& [key, conn] : conns_) {
      auto it = next.find(key);
      if (it != next.end() && it->second == conn) continue;
      conn->removed.store(true);
      absl::MutexLock lock(&draining_mu_);
      draining_.push_back(conn);
      ++removed;
    }
    conns_ = std::move(next);
    pending_endpoints_.store(missing.size(), std::memory_order_relaxed);
    if (missing.empty() || removed > 0) Publish(set);

    size_t batch = internal::kFirstBatch;
    size_t in_batch = 0;
    size_t added = 0;
    for (const Endpoint* e : missing) {
      if (Interrupted()) {
        // The channels made so far stay in conns_ for the next round; publish them now so a
        // stream of snapshots cannot keep new endpoints out of the picker.
        if (in_batch > 0) Publish(set);
        return;
      }
      if (std::shared_ptr<EndpointConn> conn = NewConn(*e)) {
        conns_.emplace(e->HostPort(), std::move(conn));
        ++added;
      }
      pending_endpoints_.fetch_sub(1, std::memory_order_relaxed);
      if (++in_batch == batch) {
        Publish(set);
        in_batch = 0;
        batch = std::min(batch * 2, internal::kLastBatch);
      }
    }
    if (in_batch > 0) Publish(set);
    PruneDraining();
    internal::LogTo(options_.log, LogLevel::kDebug,
                    "k8slb: " + name_ + ": endpoint set v" + std::to_string(set->version()) + ": " +
                        std::to_string(set->size()) + " endpoints (+" + std::to_string(added) + " -" +
                        std::to_string(removed) + ")");
  }

  // Publishes a picker over the endpoints of `target` that have a channel.
  void Publish(const std::shared_ptr<const EndpointSet>& target) {
    auto state = std::make_shared<PickState>();
    state->conns.reserve(target->size());
    std::shared_ptr<const EndpointSet> usable = target;
    std::vector<Endpoint> subset;
    bool all = true;
    for (const Endpoint& e : target->endpoints()) {
      auto it = conns_.find(e.HostPort());
      if (it == conns_.end()) {
        if (all) {
          subset.assign(target->endpoints().data(), &e);  // the ones before, all with channels
          all = false;
        }
        continue;
      }
      state->conns.push_back(it->second);
      if (!all) subset.push_back(e);
    }
    if (!all) {
      usable = std::make_shared<const EndpointSet>(target->version(), std::move(subset), target->reason(),
                                                   target->known_endpoints(), target->slice_count());
    }
    state->picker = MakePicker(usable, picker_options_);
    state->base = state->picker->set().endpoints().data();
    detector_->SetEndpoints(usable);
    std::shared_ptr<const PickState> old;
    {
      absl::MutexLock lock(&wait_mu_);  // waiting picks re-check when it is released
      old = state_.exchange(std::move(state), std::memory_order_acq_rel);
      published_version_.store(target->version());
    }
    // An RPC thread that still holds the old state would otherwise be the one to destroy it, and
    // with it the channels of removed endpoints; keep it until only this thread holds it.
    retired_.push_back(std::move(old));
  }

  void ReleaseRetiredStates() {
    retired_.erase(std::remove_if(retired_.begin(), retired_.end(),
                                  [](const std::shared_ptr<const PickState>& s) { return s.use_count() == 1; }),
                   retired_.end());
  }

  // Normalizes a set so every endpoint has stats (hand-built sets may not): reuses the stats of a
  // known endpoint with the same address, so counts survive.
  std::shared_ptr<const EndpointSet> WithStats(std::shared_ptr<const EndpointSet> set) const {
    bool missing = false;
    for (const Endpoint& e : set->endpoints()) missing = missing || e.stats == nullptr;
    if (!missing) return set;
    std::vector<Endpoint> copy = set->endpoints();
    for (Endpoint& e : copy) {
      if (e.stats != nullptr) continue;
      auto it = conns_.find(e.HostPort());
      e.stats = it != conns_.end() ? it->second->stats : std::make_shared<EndpointStats>();
    }
    return std::make_shared<const EndpointSet>(set->version(), std::move(copy), set->reason(), set->known_endpoints(),
                                               set->slice_count());
  }

  // The endpoint's channel with the outcome interceptor, connecting; null when the factory failed.
  std::shared_ptr<EndpointConn> NewConn(const Endpoint& e) {
    auto conn = std::make_shared<EndpointConn>(e.HostPort(), e.pod_name, e.zone.value_or(""), e.stats);
    auto signals = std::make_shared<internal::CallSignals>();
    signals->stats = e.stats;
    signals->detector = detector_;
    signals->latency = latency_;
    signals->clock = clock_;
    signals->channel_name = name_;
    signals->endpoint_name = e.pod_name.empty() ? e.HostPort() : e.HostPort() + " (" + e.pod_name + ")";
    signals->log = options_.log;
    grpc::ChannelArguments args = options_.channel_args;
    // Each endpoint channel owns its connection: it goes away with the endpoint, and it is never
    // shared with other channels of the process (e.g. a second BalancedChannel or a plain channel).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(options_.max_reconnect_backoff.count()));
    if (!authority_.empty()) {
      args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, authority_);
      if (tls_) args.SetSslTargetNameOverride(authority_);
    }
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
    interceptors.push_back(internal::MakeOutcomeInterceptorFactory(std::move(signals)));
    auto creds = options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials();
    conn->channel = factory_(internal::EndpointTarget(e), creds, args, std::move(interceptors));
    if (conn->channel == nullptr) {
      internal::LogTo(options_.log, LogLevel::kError,
                      "k8slb: " + name_ + ": the channel factory made no channel for " + e.HostPort());
      return nullptr;
    }
    watcher_->Watch(conn);
    return conn;
  }

  void PruneDraining() {
    absl::MutexLock lock(&draining_mu_);
    PruneDrainingLocked();
  }
  void PruneDrainingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(draining_mu_) {
    draining_.erase(std::remove_if(draining_.begin(), draining_.end(),
                                   [](const std::weak_ptr<EndpointConn>& w) { return w.expired(); }),
                    draining_.end());
  }

  // `waited`: how long the pick waited (DEADLINE_EXCEEDED); nullopt: failing fast (UNAVAILABLE).
  absl::Status NoEndpointError(std::optional<std::chrono::milliseconds> waited) {
    no_endpoint_failures_.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<const EndpointSet> set = CurrentSet();
    std::optional<DiscoveryStats> discovery = source_->Discovery();
    const size_t pending = pending_endpoints_.load(std::memory_order_relaxed);
    std::string why;
    if (pending > 0) {
      why = "the channels of its " + std::to_string(pending) + " new endpoints are still being created";
    } else if (discovery.has_value() && !discovery->synced) {
      why = "discovery has not completed its first list";
      why += discovery->last_error.empty() ? " yet" : ": " + discovery->last_error;
    } else if (set->known_endpoints() > 0) {
      why = "none of its " + std::to_string(set->known_endpoints()) + " known endpoints is ready";
    } else if (discovery.has_value() && set->slice_count() == 0) {
      why = "the service has no EndpointSlices (check the service name and namespace, and that its selector "
            "matches running pods)";
    } else if (discovery.has_value()) {
      why = "its EndpointSlices list no endpoints for the selected port";
    } else {
      why = "the endpoint source has published no endpoints";
    }
    if (discovery.has_value() && discovery->synced && !discovery->last_error.empty()) {
      why += "; discovery is failing: " + discovery->last_error;
    }
    std::string message = "k8slb: no endpoints for " + name_ + ": " + why;
    if (waited.has_value()) {
      return absl::DeadlineExceededError(message + " (after waiting " + std::to_string(waited->count()) + " ms)");
    }
    return absl::UnavailableError(message);
  }

  const BalancedChannelOptions options_;
  const std::shared_ptr<EndpointSource> source_;
  const std::string name_;
  const std::string authority_;
  const bool tls_;
  const std::shared_ptr<Clock> clock_;
  const std::shared_ptr<OutlierDetector> detector_;
  const std::shared_ptr<const LatencySignal> latency_;
  const ChannelFactory factory_;
  PickerOptions picker_options_;  // set in the constructor, then read-only

  // Read by every pick: an atomic shared_ptr swap publishes a new state (the RCU of grpc's
  // picker updates); picks never take a mutex unless they wait for endpoints.
  std::atomic<std::shared_ptr<const PickState>> state_;
  std::atomic<uint64_t> published_version_{0};
  std::atomic<size_t> pending_endpoints_{0};  // in the last snapshot, channel not made yet

  // Picks waiting for a non-empty set wait on this mutex's conditions; publishing holds it.
  absl::Mutex wait_mu_;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> no_endpoint_failures_{0};

  // Hand-over from the source's thread to the control thread.
  absl::Mutex control_mu_;
  std::shared_ptr<const EndpointSet> pending_ ABSL_GUARDED_BY(control_mu_);
  bool stopping_ ABSL_GUARDED_BY(control_mu_) = false;

  // Control thread only.
  std::map<std::string, std::shared_ptr<EndpointConn>> conns_;
  bool applied_any_ = false;
  uint64_t applied_version_ = 0;
  std::shared_ptr<const EndpointSet> ramped_set_;  // the last snapshot slow start saw (null: none yet)
  std::vector<std::shared_ptr<const PickState>> retired_;

  // Endpoints that left the set, kept until their last call ends (metrics).
  absl::Mutex draining_mu_;
  std::vector<std::weak_ptr<EndpointConn>> draining_ ABSL_GUARDED_BY(draining_mu_);

  absl::Mutex fail_mu_;
  absl::Status fail_status_ ABSL_GUARDED_BY(fail_mu_);
  std::shared_ptr<grpc::Channel> fail_channel_ ABSL_GUARDED_BY(fail_mu_);

  std::unique_ptr<internal::ConnectivityWatcher> watcher_;
  std::thread control_thread_;
  std::unique_ptr<EndpointSource::Subscription> subscription_;
};

// ---- BalancedChannel ----

absl::Status ValidateBalancedChannelOptions(const BalancedChannelOptions& options) {
  auto bad = [](std::string_view what) { return absl::InvalidArgumentError("k8slb: " + std::string(what)); };
  if (absl::Status outlier = ValidateOutlierDetectionOptions(options.outlier); !outlier.ok()) {
    return bad(util::StdView(outlier.message()));
  }
  if (options.ewma_decay.count() <= 0) return bad("ewma_decay must be positive");
  if (absl::Status slow_start = ValidateSlowStartOptions(options.slow_start); !slow_start.ok()) {
    return bad(util::StdView(slow_start.message()));
  }
  if (absl::Status spill = ValidateTopologySpillOptions(options.topology_spill); !spill.ok()) {
    return bad(util::StdView(spill.message()));
  }
  if (options.max_reconnect_backoff.count() <= 0 || options.max_reconnect_backoff.count() > INT_MAX) {
    return bad("max_reconnect_backoff must be positive and at most " + std::to_string(INT_MAX) + " ms");
  }
  if (options.connectivity_poll.count() <= 0) return bad("connectivity_poll must be positive");
  if (options.max_wait_without_deadline.count() < 0) return bad("max_wait_without_deadline must not be negative");
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<BalancedChannel>> BalancedChannel::Create(std::string_view target,
                                                                         const KubeConfig& config,
                                                                         BalancedChannelOptions options) {
  if (absl::Status valid = ValidateBalancedChannelOptions(options); !valid.ok()) return valid;
  absl::StatusOr<Target> parsed = ParseTarget(target);
  if (!parsed.ok()) return parsed.status();
  DiscoveryOptions discovery = options.discovery;
  discovery.config = config;
  discovery.target = *parsed;
  if (!discovery.log) discovery.log = options.log;
  if (discovery.clock == nullptr) discovery.clock = options.clock;
  if (discovery.random == nullptr) discovery.random = options.random;
  std::string authority = options.authority.value_or("");
  if (!options.authority.has_value() && options.credentials != nullptr) {
    authority = parsed->ServiceDnsName(config.default_namespace);
  }
  absl::StatusOr<std::shared_ptr<EndpointSource>> source = MakeDiscoverySource(std::move(discovery));
  if (!source.ok()) return source.status();
  bool tls = options.credentials != nullptr;
  auto impl = std::make_unique<Impl>(*std::move(source), std::move(options), std::move(authority), tls);
  impl->Start();
  return std::shared_ptr<BalancedChannel>(new BalancedChannel(std::move(impl)));
}

absl::StatusOr<std::shared_ptr<BalancedChannel>> BalancedChannel::Create(std::shared_ptr<EndpointSource> source,
                                                                         BalancedChannelOptions options) {
  if (absl::Status valid = ValidateBalancedChannelOptions(options); !valid.ok()) return valid;
  if (source == nullptr) return absl::InvalidArgumentError("k8slb: BalancedChannel needs an endpoint source");
  std::string authority = options.authority.value_or("");
  bool tls = options.credentials != nullptr;
  auto impl = std::make_unique<Impl>(std::move(source), std::move(options), std::move(authority), tls);
  impl->Start();
  return std::shared_ptr<BalancedChannel>(new BalancedChannel(std::move(impl)));
}

BalancedChannel::BalancedChannel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BalancedChannel::~BalancedChannel() = default;

absl::StatusOr<CallHandle> BalancedChannel::PickHandle(std::chrono::system_clock::time_point deadline) {
  return impl_->PickHandle(deadline);
}

absl::StatusOr<CallHandle> BalancedChannel::PickHandle(const grpc::ClientContext& context) {
  auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return PickHandle();
  return impl_->PickHandle(deadline);
}

absl::StatusOr<CallHandle> BalancedChannel::PickHandle() {
  return impl_->PickHandle(std::chrono::system_clock::now() + impl_->max_wait_without_deadline());
}

absl::StatusOr<PickedChannel> BalancedChannel::Pick(std::chrono::system_clock::time_point deadline) {
  absl::StatusOr<CallHandle> handle = impl_->PickHandle(deadline);
  if (!handle.ok()) return handle.status();
  PickedChannel picked;
  picked.channel = handle->channel();
  picked.handle = *std::move(handle);
  return picked;
}

absl::StatusOr<PickedChannel> BalancedChannel::Pick(const grpc::ClientContext& context) {
  auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return Pick();
  return Pick(deadline);
}

absl::StatusOr<PickedChannel> BalancedChannel::Pick() {
  return Pick(std::chrono::system_clock::now() + impl_->max_wait_without_deadline());
}

absl::Status BalancedChannel::WaitForEndpoints(std::chrono::milliseconds timeout) {
  return impl_->WaitForEndpoints(timeout);
}

std::shared_ptr<const EndpointSet> BalancedChannel::CurrentSet() const { return impl_->CurrentSet(); }
ChannelMetrics BalancedChannel::Metrics() const { return impl_->Metrics(); }
const std::string& BalancedChannel::name() const { return impl_->name(); }
const std::string& BalancedChannel::authority() const { return impl_->authority(); }

std::shared_ptr<grpc::Channel> BalancedChannel::FailingChannel(const absl::Status& status) {
  return impl_->FailingChannel(status);
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

namespace {

// An explicit value (empty: none), else the environment variable's (unset or empty: none).
std::optional<std::string> ExplicitOrEnvironment(const std::optional<std::string>& value, const std::string& env_var) {
  if (value.has_value()) {
    if (value->empty()) return std::nullopt;
    return value;
  }
  if (env_var.empty()) return std::nullopt;
  const char* from_env = std::getenv(env_var.c_str());
  if (from_env == nullptr || *from_env == '\0') return std::nullopt;
  return std::string(from_env);
}

}  // namespace

std::optional<std::string> ResolveClientZone(const BalancedChannelOptions& options) {
  return ExplicitOrEnvironment(options.client_zone, options.zone_env_var);
}

std::optional<std::string> ResolveClientNode(const BalancedChannelOptions& options) {
  return ExplicitOrEnvironment(options.client_node, options.node_env_var);
}

}  // namespace k8slb
