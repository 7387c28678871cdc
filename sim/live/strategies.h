// The live engine's strategy clients: how one scenario client of each strategy sends an Echo RPC.
//   clusterip     a plain grpc channel to the ClusterIP proxy's virtual IP (PinningTcpProxy):
//                 one HTTP/2 connection, pinned by the proxy to one pod until it breaks.
//   headless-dns  resolve the ready set once (what a headless Service's DNS name returns) and use
//                 a native grpc channel "ipv4:a:p,b:p,..." with round_robin; re-resolve only
//                 after a connection failure (an UNAVAILABLE RPC, or a connection that broke
//                 because its pod stopped) and at most every 30 scenario seconds, the minimum
//                 re-resolution interval of gRPC's DNS resolver
//                 (https://github.com/grpc/grpc/blob/master/doc/naming.md).
//   grpc-dns      real grpc++ name resolution: a channel to
//                 dns://DNS/<svc>-headless.<ns>.svc.cluster.local:<port> with round_robin, where
//                 DNS is the run's cluster DNS (fakeapi/dns, answering from the model's
//                 EndpointSlices of a headless twin of the scenario's Service). gRPC's own c-ares
//                 resolver decides when to resolve again (after a connection is lost, at most
//                 every grpc.dns_min_time_between_resolutions_ms, 30 s by default, which the
//                 engine scales by the run's speed so it stays 30 scenario seconds).
//   round-robin,  k8slb: a BalancedChannel with real discovery (list+watch of EndpointSlices
//   least-request over HTTPS against the run's API server) and the named pick policy, with the
//                 library's default DiscoveryOptions unless the scenario overrides them.
//   xds           a proxyless grpc++ client (gRPC's built-in xDS resolver and balancer) dialing
//                 xds:///echo.default:grpc through the run's k8slb-xds (in-process, started by
//                 the first xds client, watching the run's API server with the clients' config).
//                 Each client has a bootstrap of its own (its node id and the scenario's zone),
//                 hence its own ADS stream, as separate client pods would.
//
// Every client owns its channel(s) and uses a local subchannel pool, so two clients never share
// a TCP connection (they stand for separate client pods), and keeps gRPC's default reconnect
// backoff, as a user's client would. MakeStrategyClient() is the one place that knows the
// strategy names; a new strategy adds a case there and its client class here.
//
// Threading: MakeStrategyClient() from the engine's control thread (inside the pods' network
// namespace: the channels' sockets are created by threads that inherit it). Call() and
// WaitReady() are thread-safe.
#ifndef K8SLB_SIM_LIVE_STRATEGIES_H_
#define K8SLB_SIM_LIVE_STRATEGIES_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "k8slb/discovery.h"
#include "k8slb/kube_config.h"
#include "sim/live/load_generator.h"
#include "sim/live/tcp_proxy.h"
#include "sim/scenario/scenario.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace k8slb {
class BalancedChannel;
}  // namespace k8slb

namespace k8slb::sim::live {

class PodFleet;
class XdsControlPlane;  // xds_strategy.cc

// One simulated client pod of a strategy: Call() sends one Echo RPC the way that strategy
// routes it and says which pod answered. Implementations are thread-safe (a LoadGenerator calls
// them from its worker threads) and own their connections.
class StrategyClient {
 public:
  virtual ~StrategyClient() = default;
  virtual CallOutcome Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) = 0;
  // Blocks until the client could send its first RPC (k8slb: the first list arrived) or the
  // timeout; the error says why not.
  virtual absl::Status WaitReady(std::chrono::milliseconds timeout) { return absl::OkStatus(); }
};

// What the strategies of one run share. Pointers stay valid until every client is destroyed.
struct StrategyEnvironment {
  std::string target;               // "kubernetes:///echo.default:grpc"
  KubeConfig kube_config;           // how k8slb clients reach the run's API server
  scenario::DiscoveryOverrides discovery;  // the scenario's explicit overrides
  // clients.slowStart per k8slb strategy, windows in scenario seconds (scaled by the run's speed).
  std::map<std::string, SlowStartOptions> slow_start;
  std::string client_zone;          // "" when the scenario names none
  std::string client_node;          // "" when the scenario names none
  TopologySpillOptions topology_spill;  // clients.topologySpill (every k8slb strategy)
  std::string clusterip_address;    // the ClusterIP proxy, "ip:port"
  // grpc-dns: "dns://127.0.0.1:PORT/echo-headless.default.svc.cluster.local:50051" ("" when
  // the run has no cluster DNS).
  std::string dns_target;
  const ScenarioClock* clock = nullptr;
  PodFleet* fleet = nullptr;
  LogSink log;                      // the k8slb clients' log lines
  uint64_t seed = 1;
  // The run's k8slb-xds while any xds client holds it (the first xds client starts it; the
  // last one to go stops it, before the run's API server stops).
  std::weak_ptr<XdsControlPlane> xds;
  // Turned off before the clients are destroyed: the fleet's server-stopped listeners check it.
  std::shared_ptr<std::atomic<bool>> clients_alive = std::make_shared<std::atomic<bool>>(true);
};

// The DiscoveryOptions a k8slb client of the run uses: the library's defaults, with the
// scenario's overrides applied.
void ApplyDiscoveryOverrides(const scenario::DiscoveryOverrides& overrides, DiscoveryOptions* options);

// One client (`client_index` of the scenario's clients.count) of `strategy`, the
// `strategy_index`-th strategy of the run. InvalidArgument for an unknown name.
absl::StatusOr<std::unique_ptr<StrategyClient>> MakeStrategyClient(const std::string& strategy,
                                                                   size_t strategy_index,
                                                                   int client_index,
                                                                   StrategyEnvironment& env);

// A grpc channel to `target` ("ipv4:..." or "host:port") with its own subchannel pool.
std::shared_ptr<grpc::Channel> MakeIsolatedChannel(const std::string& target,
                                                   const std::string& lb_policy);

// One Echo RPC on `channel`.
CallOutcome EchoOnce(const std::shared_ptr<grpc::Channel>& channel, uint64_t request_id,
                     std::chrono::system_clock::time_point deadline, bool* unavailable = nullptr);

class ClusterIpClient : public StrategyClient {
 public:
  explicit ClusterIpClient(const std::string& vip_address);  // "198.19.0.1:PORT"
  CallOutcome Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) override;

 private:
  std::shared_ptr<grpc::Channel> channel_;
};

class HeadlessDnsClient : public StrategyClient {
 public:
  // `resolve` returns the ready pods (the DNS answer); `now_s` the scenario time.
  HeadlessDnsClient(std::function<std::vector<Backend>()> resolve, std::function<double()> now_s,
                    double min_reresolve_s = 30.0);
  CallOutcome Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) override;
  int resolutions() const;
  // A connection to `host` broke (its pod's process stopped). grpc's DNS resolver asks for
  // re-resolution when a subchannel disconnects; the next call after the minimum interval
  // resolves again. Thread-safe.
  void OnConnectionBroken(const std::string& host);

 private:
  void ResolveLocked(double now_s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeResolveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::function<std::vector<Backend>()> resolve_;
  const std::function<double()> now_s_;
  const double min_reresolve_s_;
  mutable absl::Mutex mu_;
  std::shared_ptr<grpc::Channel> channel_ ABSL_GUARDED_BY(mu_);  // null when DNS returned nothing
  double last_resolve_s_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Backend> resolved_ ABSL_GUARDED_BY(mu_);
  bool reresolve_requested_ ABSL_GUARDED_BY(mu_) = false;
  int resolutions_ ABSL_GUARDED_BY(mu_) = 0;
};

// grpc-dns: one grpc++ channel resolved by gRPC's DNS resolver (see the strategy list above).
class GrpcDnsClient : public StrategyClient {
 public:
  // `min_reresolve_wall` is grpc.dns_min_time_between_resolutions_ms for this channel.
  GrpcDnsClient(const std::string& dns_target, std::chrono::milliseconds min_reresolve_wall);
  CallOutcome Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) override;
  // Until the channel is READY (the first answer resolved and one pod connected).
  absl::Status WaitReady(std::chrono::milliseconds timeout) override;

 private:
  std::shared_ptr<grpc::Channel> channel_;
};

// round-robin / least-request: a BalancedChannel (one per client) with its own discovery.
class K8slbClient : public StrategyClient {
 public:
  explicit K8slbClient(std::shared_ptr<BalancedChannel> channel) : channel_(std::move(channel)) {}
  CallOutcome Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) override;
  absl::Status WaitReady(std::chrono::milliseconds timeout) override;
  BalancedChannel& channel() { return *channel_; }

 private:
  std::shared_ptr<BalancedChannel> channel_;
};

// xds: one proxyless grpc++ client through the run's k8slb-xds (xds_strategy.cc; in a build
// without k8slb-xds, -DK8SLB_BUILD_XDS=OFF, a FailedPrecondition that says so).
absl::StatusOr<std::unique_ptr<StrategyClient>> MakeXdsClient(int client_index, StrategyEnvironment& env);

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_STRATEGIES_H_
