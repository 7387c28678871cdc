// BalancedChannel: per-RPC load balancing over the pods of a Kubernetes Service for gRPC C++.
//
// gRPC C++ has no public API for custom name resolvers or LB policies (grpc.io
// custom-name-resolution.md / custom-load-balancing.md: "not supported"), so the channel keeps one
// grpc::Channel per endpoint and picks one per call with the core pickers (picker.h). Unlike
// tonic's balance channel (peers.md §1) the pick is load-aware (in-flight counts), and an endpoint
// whose connection fails or that keeps returning UNAVAILABLE is not picked while others are
// usable.
//
// Lifecycle of an endpoint: when a snapshot adds it, its channel is created and asked to connect
// at once (GetState(true)), so the first RPC does not pay the handshake. A small thread watches
// every channel's connectivity: TRANSIENT_FAILURE sets EndpointStats::connection_failing, READY
// clears it, IDLE (e.g. after the server closed the connection) reconnects. Every call's final
// status is recorded by a client interceptor on the endpoint's channel: N consecutive UNAVAILABLE
// (default 5, as Envoy's consecutive_5xx) eject the endpoint for base × k (k grows per ejection,
// decays while healthy, capped), never more than max_ejection_percent of the set (Envoy's rule).
// When a snapshot drops an endpoint, no new call picks it; calls already holding its handle keep
// the channel alive and complete; the channel is released with the last of them.
//
// Threading: Create() from any thread. Pick*(), Metrics(), CurrentSet() and WaitForEndpoints()
// are thread-safe and may be called concurrently from any number of RPC threads; the pick path
// takes no mutex (an atomic shared_ptr load, the picker's atomics, reference counts). Snapshots
// are applied on the source's publishing thread. The destructor stops following the source and
// waits for the connectivity thread (at most BalancedChannelOptions::connectivity_poll); calls in
// progress keep their endpoint channels alive and may outlive the BalancedChannel.
#ifndef K8SLB_BALANCED_CHANNEL_H_
#define K8SLB_BALANCED_CHANNEL_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "k8slb/discovery.h"
#include "k8slb/endpoint_source.h"
#include "k8slb/kube_config.h"
#include "k8slb/metrics.h"
#include "k8slb/picker.h"
#include "k8slb/random.h"

namespace k8slb {

namespace internal {
class EndpointConn;
}  // namespace internal

// Passive outlier detection, after Envoy's consecutive_5xx with gRPC's UNAVAILABLE as the 5xx.
struct OutlierDetectionOptions {
  // Consecutive UNAVAILABLE results that eject an endpoint; 0 disables ejection. OK and
  // application errors (the server answered) reset the count; DEADLINE_EXCEEDED and CANCELLED
  // leave it unchanged (they say nothing about the endpoint).
  uint32_t consecutive_unavailable = 5;
  // Ejection time = base × k, where k counts ejections, decreases by one for every base period
  // spent healthy, and the product is capped at max (Envoy's base/max_ejection_time).
  std::chrono::milliseconds base_ejection_time{30000};
  std::chrono::milliseconds max_ejection_time{300000};
  // Never eject beyond this share of the current set (Envoy's max_ejection_percent). With one
  // endpoint and 50 % nothing is ejected: there would be nothing else to send to.
  uint32_t max_ejection_percent = 50;
};

// What an RPC does when the set is empty.
enum class NoEndpointMode {
  kWaitForEndpoints,  // wait up to the call's deadline for a non-empty set (gRPC wait_for_ready style)
  kFailFast,          // fail at once with UNAVAILABLE
};

// What least-request compares between its two candidates.
enum class LoadSignal {
  // In-flight count only (the core picker's P2C; Envoy's least_request).
  kInFlight,
  // Peak-EWMA latency × (in-flight + 1), as Finagle's and Linkerd's balancers: an endpoint that is
  // slow but not yet busy is avoided too. P2C over two distinct eligible endpoints, in-zone first
  // (same zone and eligibility rules as the core pickers). Round robin ignores it.
  kPeakEwmaLatency,
};

struct BalancedChannelOptions {
  PickPolicy policy = PickPolicy::kLeastRequest;
  LoadSignal load_signal = LoadSignal::kInFlight;
  // Decay time of the latency EWMA (Linkerd's default is 10 s).
  std::chrono::milliseconds ewma_decay{10000};
  // Zone-aware picking (hints.forZones). nullopt: read the environment variable below (set it from
  // the downward API, e.g. a topology.kubernetes.io/zone label); empty variable: zone-unaware.
  std::optional<std::string> client_zone;
  std::string zone_env_var = "K8SLB_ZONE";
  // Credentials for the pod channels; null: insecure.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Copied into every pod channel. k8slb sets GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL (each endpoint
  // channel owns its connection), GRPC_ARG_MAX_RECONNECT_BACKOFF_MS (below) and, when an
  // authority applies, GRPC_ARG_DEFAULT_AUTHORITY and GRPC_SSL_TARGET_NAME_OVERRIDE_ARG.
  grpc::ChannelArguments channel_args;
  // :authority and TLS server name for every pod, so a certificate issued for the Service verifies
  // when dialling pod IPs (kuberesolver #23/#25). nullopt: with credentials, the Service's DNS name
  // "svc.ns.svc" when created from a target; without credentials, gRPC's default (the pod address).
  std::optional<std::string> authority;
  std::chrono::milliseconds max_reconnect_backoff{10000};
  NoEndpointMode no_endpoint_mode = NoEndpointMode::kWaitForEndpoints;
  // How long a pick waits for endpoints when the call has no deadline.
  std::chrono::milliseconds max_wait_without_deadline{10000};
  OutlierDetectionOptions outlier;
  // Connectivity watches are re-armed at this interval; bounds how long the destructor waits.
  std::chrono::milliseconds connectivity_poll{1000};
  std::shared_ptr<Clock> clock;          // null: steady clock
  std::shared_ptr<RandomSource> random;  // null: per-thread generator seeded with `seed`
  uint64_t seed = 0;
  LogSink log;  // null: warnings and errors to stderr
  // Used by Create(target, config): discovery tuning (its config, target, log, clock and random
  // fields are filled in by Create).
  DiscoveryOptions discovery;
};

// Counts one call against the picked endpoint until Done() or destruction (move-only). Holding it
// also keeps the endpoint's channel alive, so an endpoint that leaves the set while the call runs
// is released only after the call ends. The call's result needs no reporting: the endpoint
// channel's interceptor records it for outlier ejection.
class CallHandle {
 public:
  CallHandle() = default;
  explicit CallHandle(std::shared_ptr<internal::EndpointConn> conn);  // starts the in-flight count
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
  // A per-endpoint cache slot for objects built on the channel (Client<Service> keeps its stubs
  // there, one per service type and endpoint). `key` identifies the type; `make` runs at most once
  // per key and endpoint; `destroy` runs when the endpoint is released.
  void* CachedObject(const void* key, void* (*make)(const std::shared_ptr<grpc::Channel>&),
                     void (*destroy)(void*)) const;

 private:
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

  class Impl;

 private:
  explicit BalancedChannel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// absl and gRPC share status code numbering; this keeps code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The zone a channel uses: options.client_zone, else the environment variable, else none.
std::optional<std::string> ResolveClientZone(const BalancedChannelOptions& options);

}  // namespace k8slb

#endif  // K8SLB_BALANCED_CHANNEL_H_
