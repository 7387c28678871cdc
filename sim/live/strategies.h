// The live engine's strategy clients: how one scenario client of each strategy sends an Echo RPC.
//   clusterip     a plain grpc channel to the ClusterIP proxy's VIP (PinningTcpProxy): one
//                 HTTP/2 connection, pinned by the proxy to one pod until it breaks.
//   headless-dns  resolve the ready set once (what a headless Service's DNS name returns) and use
//                 a native grpc channel "ipv4:a:p,b:p,..." with round_robin; re-resolve only
//                 after a connection failure (an UNAVAILABLE RPC, or a connection that broke
//                 because its pod stopped) and at most every 30 scenario seconds (grpc's DNS
//                 resolver minimum re-resolution interval; peers.md).
//   round-robin,  k8slb: a BalancedChannel with real discovery (list+watch of EndpointSlices
//   least-request over HTTPS against fakeapi) and the named pick policy.
//
// Every client owns its channel(s) and uses a local subchannel pool, so two clients never share
// a TCP connection (they stand for separate client pods). Call() is thread-safe.
#ifndef K8SLB_SIM_LIVE_STRATEGIES_H_
#define K8SLB_SIM_LIVE_STRATEGIES_H_

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "sim/live/load_generator.h"
#include "sim/live/tcp_proxy.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace k8slb {
class BalancedChannel;
}  // namespace k8slb

namespace k8slb::sim::live {

class StrategyClient {
 public:
  virtual ~StrategyClient() = default;
  virtual CallOutcome Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) = 0;
};

// A grpc channel to `target` ("ipv4:..." or "host:port") with its own subchannel pool.
std::shared_ptr<grpc::Channel> MakeIsolatedChannel(const std::string& target,
                                                   const std::string& lb_policy);

// One Echo RPC on `channel`.
CallOutcome EchoOnce(const std::shared_ptr<grpc::Channel>& channel, uint64_t request_id,
                     std::chrono::system_clock::time_point deadline, bool* unavailable = nullptr);

class ClusterIpClient : public StrategyClient {
 public:
  explicit ClusterIpClient(const std::string& vip_address);  // "127.0.0.2:PORT"
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
  void ResolveLocked(double now_s);
  void MaybeResolveLocked();

  std::function<std::vector<Backend>()> resolve_;
  std::function<double()> now_s_;
  double min_reresolve_s_;
  mutable std::mutex mu_;
  std::shared_ptr<grpc::Channel> channel_;  // guarded by mu_ (null when DNS returned nothing)
  double last_resolve_s_ = 0;               // guarded by mu_
  std::vector<Backend> resolved_;           // guarded by mu_
  bool reresolve_requested_ = false;        // guarded by mu_
  int resolutions_ = 0;                     // guarded by mu_
};

// round-robin / least-request: a BalancedChannel (one per client) with its own discovery.
class K8slbClient : public StrategyClient {
 public:
  explicit K8slbClient(std::shared_ptr<BalancedChannel> channel) : channel_(std::move(channel)) {}
  CallOutcome Call(uint64_t request_id, std::chrono::system_clock::time_point deadline) override;
  BalancedChannel& channel() { return *channel_; }

 private:
  std::shared_ptr<BalancedChannel> channel_;
};

}  // namespace k8slb::sim::live

#endif  // K8SLB_SIM_LIVE_STRATEGIES_H_
