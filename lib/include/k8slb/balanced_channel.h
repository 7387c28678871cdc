// BalancedChannel: per-RPC load balancing over the pods of a Kubernetes Service for gRPC C++.
//
// gRPC C++ has no public API for custom name resolvers or LB policies
// (https://grpc.io/docs/guides/custom-name-resolution/ and
// https://grpc.io/docs/guides/custom-load-balancing/ cover other languages only), so the channel
// keeps one grpc::Channel per endpoint and picks one per call with the library's pickers
// (picker.h): load-aware (power of two choices over latency and in-flight counts by default), and
// an endpoint whose connection fails or that keeps returning UNAVAILABLE is not picked while
// others are usable.
//
// Lifecycle of an endpoint: when a snapshot adds it, the channel's control thread creates its
// grpc::Channel and asks it to connect at once (GetState(true)), so the first RPC does not pay
// the handshake. An endpoint joins the picker when its channel exists: a pick never lands on an
// endpoint whose channel is not created yet. Small changes are published in one step; a large
// new set is published in growing batches as its channels are created (so 10,000 new endpoints
// become usable gradually instead of after the last one), and removals take effect at once. A
// connectivity thread watches every channel: TRANSIENT_FAILURE sets
// EndpointStats::connection_failing, READY clears it, IDLE (e.g. after the server closed the
// connection) reconnects. Every call's final status is recorded by a client interceptor on the
// endpoint's channel into the library's OutlierDetector (outlier_detector.h) and, with a latency
// signal, its LatencySignal (load_signal.h). When a snapshot drops an endpoint, no new
// call picks it; calls already holding its handle keep the channel alive and complete; the channel
// is released with the last of them.
//
// Threading: Create() from any thread. Pick*(), Metrics(), CurrentSet() and WaitForEndpoints()
// are thread-safe and may be called concurrently from any number of RPC threads; the pick path
// takes no mutex (an atomic shared_ptr load, the picker's atomics, reference counts). The
// source's listener only hands the snapshot to the control thread (the latest one wins), so the
// publishing thread (discovery's watcher) never waits for channel creation. The destructor stops
// following the source and joins both threads (the connectivity thread within
// BalancedChannelOptions::connectivity_poll); calls in progress keep their endpoint channels alive
// and may outlive the BalancedChannel.
#ifndef K8SLB_BALANCED_CHANNEL_H_
#define K8SLB_BALANCED_CHANNEL_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "k8slb/discovery.h"
#include "k8slb/endpoint_source.h"
#include "k8slb/kube_config.h"
#include "k8slb/load_signal.h"
#include "k8slb/metrics.h"
#include "k8slb/outlier_detector.h"
#include "k8slb/picker.h"
#include "k8slb/random.h"
#include "k8slb/slow_start.h"

namespace k8slb {

namespace internal {
class EndpointConn;
}  // namespace internal

// What an RPC does when the set is empty.
enum class NoEndpointMode {
  kWaitForEndpoints,  // wait up to the call's deadline for a non-empty set (gRPC wait_for_ready style)
  kFailFast,          // fail at once with UNAVAILABLE
};

// Makes one endpoint's grpc::Channel (BalancedChannelOptions::channel_factory). `target` is
// "ipv4:ADDR:PORT", "ipv6:[ADDR]:PORT" or "dns:///HOST:PORT"; `interceptors` must be passed on:
// they record each call's outcome for ejection and the load signal.
using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const grpc::ChannelArguments& args,
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors)>;

// Options of BalancedChannel::Create; both Create paths check them the same way (an
// InvalidArgument naming the field).
struct BalancedChannelOptions {
  PickPolicy policy = PickPolicy::kLeastRequest;
  // What least-request compares (load_signal.h); round robin ignores it. The defaults are the
  // named policy kDefaultPolicyName (picker.h).
  LoadSignal load_signal = LoadSignal::kLatencyEwma;
  // Decay time τ of the latency EWMA (peak-ewma and latency-ewma); must be positive.
  std::chrono::milliseconds ewma_decay{kDefaultLatencyDecay};
  // Slow start (slow_start.h): an endpoint that appears after the channel's first snapshot, or
  // returns from ejection, ramps its share up over the window. Off (window 0) by default.
  SlowStartOptions slow_start = {};
  // Zone-aware picking (hints.forZones). nullopt: read the environment variable below (set it from
  // the downward API, e.g. a topology.kubernetes.io/zone label); empty variable: zone-unaware.
  std::optional<std::string> client_zone;
  std::string zone_env_var = "K8SLB_ZONE";
  // Node-aware picking (hints.forNodes, Kubernetes 1.33+ trafficDistribution PreferSameNode):
  // the same rules with the node's name (the downward API's spec.nodeName). Same-node endpoints
  // are preferred over same-zone ones by kube-proxy's rule (topology.h).
  std::optional<std::string> client_node;
  std::string node_env_var = "K8SLB_NODE";
  // Spill out of the preferred endpoints while this channel's load on them is above a band
  // (topology.h: HAZL's 0.8 to 2.0 requests in flight per endpoint by default; enabled = false:
  // kube-proxy's rule alone).
  TopologySpillOptions topology_spill = {};
  // Credentials for the pod channels; null: insecure.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Copied into every pod channel. k8slb sets GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL (each endpoint
  // channel owns its connection), GRPC_ARG_MAX_RECONNECT_BACKOFF_MS (below) and, when an
  // authority applies, GRPC_ARG_DEFAULT_AUTHORITY and GRPC_SSL_TARGET_NAME_OVERRIDE_ARG.
  grpc::ChannelArguments channel_args;
  // Null: grpc::experimental::CreateCustomChannelWithInterceptors. Called on the channel's control
  // thread, once per new endpoint (never on the endpoint source's thread); may wrap channels or add
  // interceptors of its own.
  ChannelFactory channel_factory;
  // :authority and TLS server name for every pod, so a certificate issued for the Service verifies
  // when dialling pod IPs (kuberesolver sets "svc.ns" for the same reason:
  // https://github.com/sercand/kuberesolver/issues/23). nullopt: with credentials, the Service's
  // DNS name "svc.ns.svc" when created from a target; without credentials, gRPC's default (the pod
  // address).
  std::optional<std::string> authority;
  std::chrono::milliseconds max_reconnect_backoff{10000};  // positive, at most INT_MAX ms
  NoEndpointMode no_endpoint_mode = NoEndpointMode::kWaitForEndpoints;
  // How long a pick waits for endpoints when the call has no deadline.
  std::chrono::milliseconds max_wait_without_deadline{10000};
  OutlierDetectionOptions outlier;
  // Connectivity watches are re-armed at this interval; bounds how long the destructor waits.
  // Positive.
  std::chrono::milliseconds connectivity_poll{1000};
  std::shared_ptr<Clock> clock;          // null: steady clock
  std::shared_ptr<RandomSource> random;  // null: per-thread generator seeded with `seed`
  uint64_t seed = 0;
  LogSink log;  // null: warnings and errors to stderr
  // Used by Create(target, config): discovery tuning (its config, target, log, clock and random
  // fields are filled in by Create).
  DiscoveryOptions discovery;
};

// Base of the objects a CallHandle keeps per endpoint (CallHandle::PerEndpoint).
class PerEndpointObject {
 public:
  virtual ~PerEndpointObject() = default;
};

// Counts one call against the picked endpoint until Done() or destruction (move-only). Holding it
// also keeps the endpoint's channel alive, so an endpoint that leaves the set while the call runs
// is released only after the call ends. The call's result needs no reporting: the endpoint
// channel's interceptor records it. Made only by BalancedChannel's picks. One handle is used by one
// thread at a time; different handles (also of the same endpoint) from any threads.
class CallHandle {
 public:
  CallHandle() = default;
  CallHandle(CallHandle&& other) noexcept = default;
  CallHandle& operator=(CallHandle&& other) noexcept;
  CallHandle(const CallHandle&) = delete;
  CallHandle& operator=(const CallHandle&) = delete;
  ~CallHandle();

  // Ends the in-flight count and releases the endpoint (idempotent).
  void Done();
  bool active() const { return conn_ != nullptr; }
  // The picked endpoint; valid while active().
  const std::shared_ptr<grpc::Channel>& channel() const;
  const std::string& address() const;
  const std::string& pod_name() const;

  // The picked endpoint's instance of T (active() only): made by `make(channel())`, which returns
  // std::unique_ptr<T>, the first time a call on this endpoint asks for a T, and destroyed when
  // the endpoint's channel is released. One instance per endpoint and type; lock-free once made,
  // thread-safe. Client<Service> keeps its stubs here.
  template <typename T, typename Make>
  T& PerEndpoint(Make&& make) const {
    PerEndpointObject& object = FindOrMake(typeid(Holder<T>), [&]() -> std::unique_ptr<PerEndpointObject> {
      return std::make_unique<Holder<T>>(make(channel()));
    });
    // The object was made for exactly this type (the lookup key is typeid(Holder<T>)).
    return *static_cast<Holder<T>&>(object).value;
  }

 private:
  friend class BalancedChannel;
  template <typename T>
  struct Holder final : PerEndpointObject {
    explicit Holder(std::unique_ptr<T> v) : value(std::move(v)) {}
    std::unique_ptr<T> value;
  };
  explicit CallHandle(std::shared_ptr<internal::EndpointConn> conn);  // starts the in-flight count
  PerEndpointObject& FindOrMake(const std::type_info& type,
                                absl::FunctionRef<std::unique_ptr<PerEndpointObject>()> make) const;

  std::shared_ptr<internal::EndpointConn> conn_;
};

// A pick for one call: the channel to start the call on and its in-flight handle.
struct PickedChannel {
  std::shared_ptr<grpc::Channel> channel;
  CallHandle handle;
};

class BalancedChannel {
 public:
  // Production: parses `target` (target.h grammar), starts discovery with `config`, and balances
  // across the Service's endpoints. Errors: bad target, bad config (the message says which).
  static absl::StatusOr<std::shared_ptr<BalancedChannel>> Create(std::string_view target, const KubeConfig& config,
                                                                 BalancedChannelOptions options = {});
  // Any endpoint source: a ManualEndpointSource in tests, a SliceStore source in the simulator.
  static absl::StatusOr<std::shared_ptr<BalancedChannel>> Create(std::shared_ptr<EndpointSource> source,
                                                                 BalancedChannelOptions options = {});

  ~BalancedChannel();
  BalancedChannel(const BalancedChannel&) = delete;
  BalancedChannel& operator=(const BalancedChannel&) = delete;

  // Picks an endpoint for one call. With an empty set: waits until `deadline` (or fails at once
  // with NoEndpointMode::kFailFast); the error says why (no endpoints known, none ready, discovery
  // not synced or failing with its last error) and is DEADLINE_EXCEEDED after waiting, UNAVAILABLE
  // when failing fast.
  absl::StatusOr<PickedChannel> Pick(std::chrono::system_clock::time_point deadline);
  // Uses the context's deadline, or max_wait_without_deadline when it has none.
  absl::StatusOr<PickedChannel> Pick(const grpc::ClientContext& context);
  absl::StatusOr<PickedChannel> Pick();
  // Same as Pick without copying the channel pointer (Client<Service> uses them).
  absl::StatusOr<CallHandle> PickHandle(std::chrono::system_clock::time_point deadline);
  absl::StatusOr<CallHandle> PickHandle(const grpc::ClientContext& context);
  absl::StatusOr<CallHandle> PickHandle();

  // Blocks until the set is non-empty or `timeout`; the error is the same as Pick's.
  absl::Status WaitForEndpoints(std::chrono::milliseconds timeout);
  // The snapshot currently used for picking.
  std::shared_ptr<const EndpointSet> CurrentSet() const;
  ChannelMetrics Metrics() const;
  const std::string& name() const;
  const std::string& authority() const;  // empty: gRPC's default per pod

  // A channel on which every call fails at once with `status` (the error of a failed pick), so a
  // stub-based caller gets a grpc::Status that explains why. Cached per distinct status.
  std::shared_ptr<grpc::Channel> FailingChannel(const absl::Status& status);

 private:
  class Impl;
  explicit BalancedChannel(std::unique_ptr<Impl> impl);
  // The only way to make an active CallHandle (for Impl, which may use BalancedChannel's privates).
  static CallHandle MakeHandle(std::shared_ptr<internal::EndpointConn> conn) { return CallHandle(std::move(conn)); }
  std::unique_ptr<Impl> impl_;
};

// OK, or InvalidArgument naming the first bad field ("k8slb: outlier.max_ejection_percent must be
// at most 100"). Both Create paths call it before they start anything.
absl::Status ValidateBalancedChannelOptions(const BalancedChannelOptions& options);

// absl and gRPC share status code numbering; this keeps code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The zone a channel uses: options.client_zone, else the environment variable, else none.
std::optional<std::string> ResolveClientZone(const BalancedChannelOptions& options);
// The node a channel uses: options.client_node, else the environment variable, else none.
std::optional<std::string> ResolveClientNode(const BalancedChannelOptions& options);

}  // namespace k8slb

#endif  // K8SLB_BALANCED_CHANNEL_H_
