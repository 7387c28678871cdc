// BalancedChannel implementation: per-endpoint channels, the published PickState, the
// connectivity thread, the outcome interceptor and the explaining "failing channel".
#include "k8slb/balanced_channel.h"

#include <arpa/inet.h>
#include <grpc/grpc.h>
#include <grpcpp/alarm.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/interceptor.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "grpc/endpoint_conn.h"
#include "grpc/outlier_detector.h"
#include "k8slb/target.h"

namespace k8slb {
namespace internal {

EndpointConn::~EndpointConn() {
  // Cached objects (stubs) hold the channel; destroy them first.
  for (CacheSlot& s : slots_) {
    if (s.key.load(std::memory_order_acquire) != nullptr && s.destroy != nullptr) s.destroy(s.value);
  }
  for (Overflow& o : overflow_) o.destroy(o.value);
}

void* EndpointConn::CachedObject(const void* key, void* (*make)(const std::shared_ptr<grpc::Channel>&),
                                 void (*destroy)(void*)) {
  for (CacheSlot& s : slots_) {
    if (s.key.load(std::memory_order_acquire) == key) return s.value;
  }
  std::lock_guard<std::mutex> lock(cache_mu_);
  for (CacheSlot& s : slots_) {
    const void* k = s.key.load(std::memory_order_relaxed);
    if (k == key) return s.value;
    if (k == nullptr) {
      s.value = make(channel);
      s.destroy = destroy;
      s.key.store(key, std::memory_order_release);
      return s.value;
    }
  }
  for (Overflow& o : overflow_) {
    if (o.key == key) return o.value;
  }
  overflow_.push_back(Overflow{key, make(channel), destroy});
  return overflow_.back().value;
}

void OutcomeRecorder::RecordLatency(int64_t rtt_nanos) {
  const int64_t now = clock->NowNanos();
  const double rtt = static_cast<double>(std::max<int64_t>(rtt_nanos, 0));
  const double prev = ewma_nanos.load(std::memory_order_relaxed);
  const int64_t stamp = ewma_stamp_nanos.load(std::memory_order_relaxed);
  double next = rtt;
  if (rtt <= prev) {
    const double dt = static_cast<double>(std::max<int64_t>(now - stamp, 0));
    const double w = std::exp(-dt / static_cast<double>(std::max<int64_t>(decay_nanos, 1)));
    next = prev * w + rtt * (1.0 - w);
  }
  ewma_nanos.store(next, std::memory_order_relaxed);
  ewma_stamp_nanos.store(now, std::memory_order_relaxed);
}

double OutcomeRecorder::Cost() const {
  return ewma_nanos.load(std::memory_order_relaxed) *
         static_cast<double>(stats->in_flight.load(std::memory_order_relaxed) + 1);
}

namespace {

namespace gx = grpc::experimental;

// Records every call's final status on the endpoint (successes, failures, outlier ejection), and
// explains failures when no endpoint of the set is usable.
class OutcomeInterceptor final : public gx::Interceptor {
 public:
  explicit OutcomeInterceptor(std::shared_ptr<OutcomeRecorder> recorder)
      : recorder_(std::move(recorder)), start_nanos_(recorder_->track_latency ? recorder_->clock->NowNanos() : 0) {}
  void Intercept(gx::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::POST_RECV_STATUS)) {
      grpc::Status* status = methods->GetRecvStatus();
      CallOutcome outcome = ClassifyStatusCode(status->error_code());
      if (recorder_->track_latency && outcome == CallOutcome::kSuccess) {
        recorder_->RecordLatency(recorder_->clock->NowNanos() - start_nanos_);
      }
      recorder_->detector->Record(*recorder_->stats, recorder_->state, outcome, recorder_->name);
      if (outcome == CallOutcome::kUnavailable) {
        std::string note = recorder_->detector->AllIneligibleNote();
        if (!note.empty()) {
          *status = grpc::Status(status->error_code(), status->error_message() + note, status->error_details());
        }
      }
    }
    methods->Proceed();
  }

 private:
  std::shared_ptr<OutcomeRecorder> recorder_;
  int64_t start_nanos_;  // the interceptor is created when the call is
};

class OutcomeInterceptorFactory final : public gx::ClientInterceptorFactoryInterface {
 public:
  explicit OutcomeInterceptorFactory(std::shared_ptr<OutcomeRecorder> recorder) : recorder_(std::move(recorder)) {}
  gx::Interceptor* CreateClientInterceptor(gx::ClientRpcInfo* /*info*/) override {
    return new OutcomeInterceptor(recorder_);
  }

 private:
  std::shared_ptr<OutcomeRecorder> recorder_;
};

// Hijacks every call and completes it with a fixed status without touching the network
// (grpc++'s hijacking interceptors): how Client<Service> hands a stub-based caller the reason a
// pick failed as an ordinary grpc::Status.
class FailInterceptor final : public gx::Interceptor {
 public:
  explicit FailInterceptor(grpc::Status status) : status_(std::move(status)) {}
  void Intercept(gx::InterceptorBatchMethods* methods) override {
    bool hijack = methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA);
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_RECV_MESSAGE)) {
      methods->FailHijackedRecvMessage();
    }
    if (methods->QueryInterceptionHookPoint(gx::InterceptionHookPoints::PRE_RECV_STATUS)) {
      *methods->GetRecvStatus() = status_;
    }
    if (hijack) {
      methods->Hijack();
    } else {
      methods->Proceed();
    }
  }

 private:
  grpc::Status status_;
};

class FailInterceptorFactory final : public gx::ClientInterceptorFactoryInterface {
 public:
  explicit FailInterceptorFactory(grpc::Status status) : status_(std::move(status)) {}
  gx::Interceptor* CreateClientInterceptor(gx::ClientRpcInfo* /*info*/) override {
    return new FailInterceptor(status_);
  }

 private:
  grpc::Status status_;
};

// "ipv4:1.2.3.4:80", "ipv6:[::1]:80" or "dns:///host:80": gRPC target for one endpoint, so the
// pod address is used as is (no DNS for IPs).
std::string EndpointTarget(const Endpoint& e) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, e.address.c_str(), buf) == 1) return "ipv4:" + e.HostPort();
  if (inet_pton(AF_INET6, e.address.c_str(), buf) == 1) return "ipv6:" + e.HostPort();
  return "dns:///" + e.HostPort();
}

Connectivity ToConnectivity(int state) {
  switch (static_cast<grpc_connectivity_state>(state)) {
    case GRPC_CHANNEL_IDLE:
      return Connectivity::kIdle;
    case GRPC_CHANNEL_CONNECTING:
      return Connectivity::kConnecting;
    case GRPC_CHANNEL_READY:
      return Connectivity::kReady;
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return Connectivity::kTransientFailure;
    case GRPC_CHANNEL_SHUTDOWN:
      return Connectivity::kShutdown;
  }
  return Connectivity::kIdle;
}

std::chrono::steady_clock::time_point SteadyDeadline(std::chrono::system_clock::time_point deadline) {
  auto now_sys = std::chrono::system_clock::now();
  auto now = std::chrono::steady_clock::now();
  if (deadline <= now_sys) return now;
  auto left = deadline - now_sys;
  // Cap at a day: "no deadline" values must not overflow the steady clock.
  if (left > std::chrono::hours(24)) left = std::chrono::hours(24);
  return now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

}  // namespace

// The published picking state: an immutable picker and the endpoint objects parallel to its set.
struct PickState {
  std::unique_ptr<Picker> picker;
  std::vector<std::shared_ptr<EndpointConn>> conns;  // conns[i] ↔ picker->set().endpoints()[i]
  const Endpoint* base = nullptr;
  std::vector<size_t> all;      // 0..n-1 (peak-EWMA sampling)
  std::vector<size_t> in_zone;  // indices whose hints include the client's zone (peak-EWMA)
};

}  // namespace internal

using internal::EndpointConn;
using internal::PickState;

class BalancedChannel::Impl {
 public:
  Impl(std::shared_ptr<EndpointSource> source, BalancedChannelOptions options, std::string authority, bool tls)
      : options_(std::move(options)),
        source_(std::move(source)),
        name_(source_->Describe()),
        authority_(std::move(authority)),
        tls_(tls),
        clock_(options_.clock != nullptr ? options_.clock : MakeSteadyClock()),
        detector_(std::make_shared<internal::OutlierDetector>(options_.outlier, clock_, options_.log, name_)) {
    picker_options_.policy = options_.policy;
    picker_options_.client_zone = ResolveClientZone(options_);
    picker_options_.random = options_.random != nullptr ? options_.random : MakeThreadLocalRandom(options_.seed);
    picker_options_.clock = clock_;
    picker_options_.seed = options_.seed;
    peak_ewma_ = options_.policy == PickPolicy::kLeastRequest && options_.load_signal == LoadSignal::kPeakEwmaLatency;
    state_.store(std::make_shared<const PickState>(MakeState(nullptr, {})));
  }

  void Start() {
    thread_ = std::thread([this] { ConnectivityLoop(); });
    subscription_ = source_->Subscribe([this](const std::shared_ptr<const EndpointSet>& set) { Apply(set); });
    // After subscribing: a snapshot published in between is applied by the listener or here, and
    // Apply ignores versions it has already seen.
    Apply(source_->Current());
  }

  ~Impl() {
    subscription_.reset();  // no Apply() runs or will run
    {
      std::lock_guard<std::mutex> lock(wait_mu_);
      shutting_down_.store(true);
    }
    wait_cv_.notify_all();
    wake_.Set(&cq_, std::chrono::system_clock::now(), &wake_tag_);
    thread_.join();
  }

  absl::StatusOr<CallHandle> PickHandle(std::chrono::system_clock::time_point deadline) {
    std::shared_ptr<const PickState> state = state_.load(std::memory_order_acquire);
    if (state->conns.empty()) {
      if (options_.no_endpoint_mode == NoEndpointMode::kFailFast) return NoEndpointError(std::nullopt);
      auto start = std::chrono::steady_clock::now();
      auto until = internal::SteadyDeadline(deadline);
      std::unique_lock<std::mutex> lock(wait_mu_);
      wait_cv_.wait_until(lock, until, [&] {
        state = state_.load(std::memory_order_acquire);
        return !state->conns.empty() || shutting_down_.load();
      });
      if (state->conns.empty()) {
        lock.unlock();
        return NoEndpointError(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start));
      }
    }
    size_t index = SIZE_MAX;
    if (peak_ewma_) index = PickPeakEwma(*state);
    if (index == SIZE_MAX) index = static_cast<size_t>(state->picker->Pick() - state->base);
    const std::shared_ptr<EndpointConn>& conn = state->conns[index];
    // The core picker does not count picks; the channel does (metrics).
    conn->stats->picks.fetch_add(1, std::memory_order_relaxed);
    return CallHandle(conn);
  }

  // P2C over two *distinct* eligible endpoints by peak-EWMA cost, in-zone first (the zone-aware
  // rule of design.md). SIZE_MAX when no eligible pair or single was found in a few draws: the
  // core picker then decides (it handles "none eligible").
  size_t PickPeakEwma(const PickState& state) const {
    RandomSource& random = *picker_options_.random;
    const int64_t now = clock_->NowNanos();
    auto eligible = [&](size_t i) { return state.conns[i]->stats->Eligible(now); };
    auto from = [&](const std::vector<size_t>& subset) -> size_t {
      const size_t n = subset.size();
      if (n == 1) return eligible(subset[0]) ? subset[0] : SIZE_MAX;
      for (int attempt = 0; attempt < 4; ++attempt) {
        auto [i, j] = SampleDistinctPair(random, n);
        size_t a = subset[i];
        size_t b = subset[j];
        bool ea = eligible(a);
        bool eb = eligible(b);
        if (ea && eb) return state.conns[b]->recorder->Cost() < state.conns[a]->recorder->Cost() ? b : a;
        if (ea) return a;
        if (eb) return b;
      }
      return SIZE_MAX;
    };
    if (!state.in_zone.empty()) {
      size_t picked = from(state.in_zone);
      if (picked != SIZE_MAX) return picked;
    }
    return from(state.all);
  }

  absl::Status WaitForEndpoints(std::chrono::milliseconds timeout) {
    auto start = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(wait_mu_);
    bool ok = wait_cv_.wait_for(lock, timeout, [&] {
      return !state_.load(std::memory_order_acquire)->conns.empty() || shutting_down_.load();
    });
    lock.unlock();
    if (ok && !state_.load()->conns.empty()) return absl::OkStatus();
    return NoEndpointError(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start));
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
      e.latency_ewma_ms = conn->recorder->ewma_nanos.load(std::memory_order_relaxed) / 1e6;
      m.endpoints.push_back(std::move(e));
    }
    {
      std::lock_guard<std::mutex> lock(update_mu_);
      PruneDrainingLocked();
      m.draining_endpoints = draining_.size();
    }
    m.no_endpoint_failures = no_endpoint_failures_.load(std::memory_order_relaxed);
    m.discovery = source_->Discovery();
    m.collected_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    return m;
  }

  std::shared_ptr<grpc::Channel> FailingChannel(const absl::Status& status) {
    std::lock_guard<std::mutex> lock(fail_mu_);
    if (fail_channel_ != nullptr && fail_status_ == status) return fail_channel_;
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<internal::FailInterceptorFactory>(ToGrpcStatus(status)));
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
  struct WatchTag {
    std::shared_ptr<EndpointConn> conn;
    grpc_connectivity_state last;
  };

  void Log(LogLevel level, const std::string& message) const {
    if (options_.log) {
      options_.log(level, message);
    } else if (level >= LogLevel::kWarning) {
      std::cerr << message << "\n";
    }
  }

  PickState MakeState(std::shared_ptr<const EndpointSet> set,
                      const std::map<std::string, std::shared_ptr<EndpointConn>>& conns) const {
    PickState state;
    state.picker = MakePicker(std::move(set), picker_options_);
    const EndpointSet& picked = state.picker->set();
    state.base = picked.endpoints().data();
    for (const Endpoint& e : picked.endpoints()) {
      size_t i = state.conns.size();
      state.conns.push_back(conns.at(e.HostPort()));
      state.all.push_back(i);
      if (picker_options_.client_zone.has_value() &&
          std::find(e.hint_zones.begin(), e.hint_zones.end(), *picker_options_.client_zone) != e.hint_zones.end()) {
        state.in_zone.push_back(i);
      }
    }
    return state;
  }

  std::shared_ptr<EndpointConn> NewConn(const Endpoint& e) {
    auto conn = std::make_shared<EndpointConn>(e.HostPort(), e.pod_name, e.zone.value_or(""), e.stats);
    auto recorder = std::make_shared<internal::OutcomeRecorder>();
    recorder->stats = e.stats;
    recorder->detector = detector_;
    recorder->name = e.pod_name.empty() ? e.HostPort() : e.HostPort() + " (" + e.pod_name + ")";
    recorder->track_latency = options_.load_signal == LoadSignal::kPeakEwmaLatency;
    recorder->decay_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.ewma_decay).count();
    recorder->clock = clock_;
    conn->recorder = recorder;
    grpc::ChannelArguments args = options_.channel_args;
    // Each endpoint channel owns its connection: it goes away with the endpoint, and it is never
    // shared with other channels of the process (e.g. a second BalancedChannel or a plain channel).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(options_.max_reconnect_backoff.count()));
    if (!authority_.empty()) {
      args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, authority_);
      if (tls_) args.SetSslTargetNameOverride(authority_);
    }
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<internal::OutcomeInterceptorFactory>(recorder));
    auto creds = options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials();
    conn->channel = grpc::experimental::CreateCustomChannelWithInterceptors(internal::EndpointTarget(e), creds, args,
                                                                           std::move(factories));
    // Connect now, so the first RPC does not pay the handshake.
    grpc_connectivity_state state = conn->channel->GetState(/*try_to_connect=*/true);
    ApplyConnectivity(*conn, state);
    WatchLocked(conn, state);
    return conn;
  }

  // Normalizes a set so every endpoint has stats (hand-built sets may not): reuses the stats of a
  // known endpoint with the same address, so counts survive.
  std::shared_ptr<const EndpointSet> WithStatsLocked(std::shared_ptr<const EndpointSet> set) const {
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

  void Apply(std::shared_ptr<const EndpointSet> set) {
    if (set == nullptr) return;
    std::lock_guard<std::mutex> lock(update_mu_);
    if (applied_any_ && set->version() <= applied_version_) return;
    applied_any_ = true;
    applied_version_ = set->version();
    set = WithStatsLocked(std::move(set));

    std::map<std::string, std::shared_ptr<EndpointConn>> next;
    size_t added = 0;
    for (const Endpoint& e : set->endpoints()) {
      std::string key = e.HostPort();
      auto it = conns_.find(key);
      // Same address, same stats object (SliceStore keeps it while the endpoint is known) and
      // same pod: the same endpoint. Otherwise (e.g. a pod IP reused) a fresh channel.
      if (it != conns_.end() && it->second->stats == e.stats && it->second->pod_name == e.pod_name) {
        next.emplace(key, it->second);
      } else {
        next.emplace(key, NewConn(e));
        ++added;
      }
    }
    size_t removed = 0;
    for (auto& [key, conn] : conns_) {
      auto it = next.find(key);
      if (it != next.end() && it->second == conn) continue;
      conn->removed.store(true);
      draining_.push_back(conn);
      ++removed;
    }
    conns_ = std::move(next);
    PruneDrainingLocked();

    auto state = std::make_shared<const PickState>(MakeState(set, conns_));
    detector_->SetEndpoints(set);
    {
      std::lock_guard<std::mutex> wait_lock(wait_mu_);
      state_.store(std::move(state), std::memory_order_release);
    }
    wait_cv_.notify_all();
    Log(LogLevel::kDebug, "k8slb: " + name_ + ": endpoint set v" + std::to_string(set->version()) + ": " +
                              std::to_string(set->size()) + " endpoints (+" + std::to_string(added) + " -" +
                              std::to_string(removed) + ")");
  }

  void PruneDrainingLocked() {
    draining_.erase(std::remove_if(draining_.begin(), draining_.end(),
                                   [](const std::weak_ptr<EndpointConn>& w) { return w.expired(); }),
                    draining_.end());
  }

  static void ApplyConnectivity(EndpointConn& conn, grpc_connectivity_state state) {
    conn.connectivity.store(static_cast<int>(state), std::memory_order_relaxed);
    // TRANSIENT_FAILURE: the connection failed; skip the endpoint while others are usable (design.md;
    // tonic keeps routing to such endpoints, peers.md §1). READY clears it. CONNECTING and IDLE keep
    // the last verdict: a reconnect attempt proves nothing yet.
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      conn.stats->connection_failing.store(true, std::memory_order_relaxed);
    } else if (state == GRPC_CHANNEL_READY) {
      conn.stats->connection_failing.store(false, std::memory_order_relaxed);
    }
  }

  // Called with update_mu_ held (from Apply via NewConn) or from the connectivity thread.
  void WatchLocked(const std::shared_ptr<EndpointConn>& conn, grpc_connectivity_state last) {
    outstanding_.fetch_add(1);
    auto* tag = new WatchTag{conn, last};
    conn->channel->NotifyOnStateChange(last, std::chrono::system_clock::now() + options_.connectivity_poll, &cq_, tag);
  }

  void ConnectivityLoop() {
    void* tag = nullptr;
    bool ok = false;
    bool cq_shut = false;
    while (cq_.Next(&tag, &ok)) {
      if (tag == &wake_tag_) {
        if (outstanding_.load() == 0 && !cq_shut) {
          cq_.Shutdown();
          cq_shut = true;
        }
        continue;
      }
      auto* watch = static_cast<WatchTag*>(tag);
      std::shared_ptr<EndpointConn> conn = watch->conn;
      grpc_connectivity_state state = conn->channel->GetState(false);
      ApplyConnectivity(*conn, state);
      if (shutting_down_.load() || conn->removed.load()) {
        delete watch;
        if (outstanding_.fetch_sub(1) == 1 && shutting_down_.load() && !cq_shut) {
          cq_.Shutdown();
          cq_shut = true;
        }
        continue;
      }
      // IDLE: the server closed the connection (GOAWAY, max age) or it idled; reconnect at once so
      // the endpoint stays warm and a dead pod is detected (TRANSIENT_FAILURE) before RPCs hit it.
      if (state == GRPC_CHANNEL_IDLE) state = conn->channel->GetState(true);
      watch->last = state;
      conn->channel->NotifyOnStateChange(state, std::chrono::system_clock::now() + options_.connectivity_poll, &cq_,
                                         watch);
    }
  }

  // `waited`: how long the pick waited (DEADLINE_EXCEEDED); nullopt: failing fast (UNAVAILABLE).
  absl::Status NoEndpointError(std::optional<std::chrono::milliseconds> waited) {
    no_endpoint_failures_.fetch_add(1, std::memory_order_relaxed);
    std::shared_ptr<const EndpointSet> set = CurrentSet();
    std::optional<DiscoveryStats> discovery = source_->Discovery();
    std::string why;
    if (discovery.has_value() && !discovery->synced) {
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
  const std::shared_ptr<internal::OutlierDetector> detector_;
  PickerOptions picker_options_;
  bool peak_ewma_ = false;

  // Read by every pick: an atomic shared_ptr swap publishes a new state (the RCU of grpc's
  // picker updates); pickers never take a mutex.
  std::atomic<std::shared_ptr<const PickState>> state_;

  mutable std::mutex update_mu_;  // serializes Apply(); guards the members below
  std::map<std::string, std::shared_ptr<EndpointConn>> conns_;
  std::vector<std::weak_ptr<EndpointConn>> draining_;
  bool applied_any_ = false;
  uint64_t applied_version_ = 0;

  std::mutex wait_mu_;  // with wait_cv_: picks waiting for a non-empty set
  std::condition_variable wait_cv_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<uint64_t> no_endpoint_failures_{0};

  std::mutex fail_mu_;
  absl::Status fail_status_;                      // guarded by fail_mu_
  std::shared_ptr<grpc::Channel> fail_channel_;  // guarded by fail_mu_

  grpc::CompletionQueue cq_;
  grpc::Alarm wake_;
  char wake_tag_ = 0;
  std::atomic<int> outstanding_{0};
  std::thread thread_;
  std::unique_ptr<EndpointSource::Subscription> subscription_;
};

// ---- CallHandle ----

CallHandle::CallHandle(std::shared_ptr<internal::EndpointConn> conn) : conn_(std::move(conn)) {
  if (conn_ != nullptr) conn_->stats->in_flight.fetch_add(1, std::memory_order_relaxed);
}

CallHandle& CallHandle::operator=(CallHandle&& other) noexcept {
  if (this != &other) {
    Done();
    conn_ = std::move(other.conn_);
  }
  return *this;
}

CallHandle::~CallHandle() { Done(); }

void CallHandle::Done() {
  if (conn_ != nullptr) {
    conn_->stats->in_flight.fetch_sub(1, std::memory_order_relaxed);
    conn_.reset();
  }
}

const std::shared_ptr<grpc::Channel>& CallHandle::channel() const { return conn_->channel; }
const std::string& CallHandle::address() const { return conn_->host_port; }
const std::string& CallHandle::pod_name() const { return conn_->pod_name; }

void* CallHandle::CachedObject(const void* key, void* (*make)(const std::shared_ptr<grpc::Channel>&),
                               void (*destroy)(void*)) const {
  return conn_->CachedObject(key, make, destroy);
}

// ---- BalancedChannel ----

absl::StatusOr<std::shared_ptr<BalancedChannel>> BalancedChannel::Create(std::string_view target,
                                                                         const KubeConfig& config,
                                                                         BalancedChannelOptions options) {
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
  if (source == nullptr) return absl::InvalidArgumentError("k8slb: BalancedChannel needs an endpoint source");
  if (options.outlier.max_ejection_percent > 100) {
    return absl::InvalidArgumentError("k8slb: outlier.max_ejection_percent must be at most 100");
  }
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

std::optional<std::string> ResolveClientZone(const BalancedChannelOptions& options) {
  if (options.client_zone.has_value()) {
    if (options.client_zone->empty()) return std::nullopt;
    return options.client_zone;
  }
  if (options.zone_env_var.empty()) return std::nullopt;
  const char* value = std::getenv(options.zone_env_var.c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

}  // namespace k8slb
